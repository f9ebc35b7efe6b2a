"""DistributedDataParallel on CPU (gloo): two processes launched as torchrun launches them."""
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from facelab.models.dcgan import Generator
from facelab.profile import get_profile
from facelab.train.checkpoint import load_checkpoint
from facelab.train.distributed import DistributedContext, EpochLoader, all_mean, current, shard
from facelab.train.gan import sample

WORKER = Path(__file__).with_name("_ddp_worker.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "FACELAB_PROFILE": "quick", "MASTER_ADDR": "127.0.0.1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
               "--master_addr=127.0.0.1", f"--master_port={_free_port()}", str(WORKER), str(out)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300,
                            cwd=Path(__file__).parents[1])
    return result, out


def test_two_process_run_exits_cleanly_and_rank_0_writes_the_checkpoints(ddp_run):
    result, out = ddp_run
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (out / "gan.pt").is_file() and (out / "recognizer.pt").is_file()
    assert (out / "gan" / "samples.png").is_file()
    # rank 0 alone prints: one banner per command, not two
    assert result.stdout.count("DDP rank 0/2 (gloo)") == 2 and "DDP rank 1/2" not in result.stdout


def test_replicas_stay_identical(ddp_run):
    result, out = ddp_run
    assert result.returncode == 0, result.stderr[-3000:]
    replicas = [torch.load(out / f"replica{r}.pt") for r in range(2)]
    for name in ("generator", "discriminator"):
        for p0, p1 in zip(replicas[0][name], replicas[1][name]):
            torch.testing.assert_close(p0, p1, rtol=0, atol=1e-6)


def test_distributed_checkpoint_loads_into_a_single_process_model_and_samples(ddp_run):
    result, out = ddp_run
    assert result.returncode == 0, result.stderr[-3000:]
    state = load_checkpoint(out / "gan.pt")
    assert state["step"] == 3
    assert not any(key.startswith("module.") for key in state["generator"])
    profile = get_profile("quick")
    generator = Generator(latent_dim=profile.latent_dim, channels=profile.gan_channels, image_size=32)
    generator.load_state_dict(state["generator"])  # strict: same keys as a plain model
    images = sample(generator, generator.sample_latent(4))
    assert images.shape == (4, 3, 32, 32) and images.abs().max() <= 1
    rec = load_checkpoint(out / "recognizer.pt")
    assert rec["step"] == 3 and not any(key.startswith("module.") for key in rec["embedder"])


def test_single_process_helpers_are_no_ops():
    assert current() == DistributedContext() and current().is_main and not current().enabled
    data = torch.arange(10)
    assert shard(data) is data
    value = torch.tensor([1.0, 2.0])
    assert all_mean(value) is value


def test_shards_are_disjoint_and_cover_the_data():
    images, labels = torch.arange(11).float(), torch.arange(11)
    shares = [shard((images, labels), DistributedContext(rank=r, world_size=3), seed=5) for r in range(3)]
    seen = torch.cat([s[1] for s in shares])
    assert sorted(seen.tolist()) == list(range(11)) and {len(s[1]) for s in shares} <= {3, 4}
    for share_images, share_labels in shares:
        assert torch.equal(share_images.long(), share_labels)  # images and labels stay paired
    with pytest.raises(ValueError, match="fewer processes"):
        shard(torch.arange(2), DistributedContext(rank=0, world_size=3))


def test_epoch_loader_reshuffles_each_epoch_and_splits_between_ranks():
    dataset = torch.utils.data.TensorDataset(torch.arange(16))
    loaders = [EpochLoader(dataset, batch_size=4, seed=1, context=DistributedContext(rank=r, world_size=2))
               for r in range(2)]
    first = [torch.cat([b[0] for b in loader]) for loader in loaders]
    assert sorted(torch.cat(first).tolist()) == list(range(16))  # disjoint halves
    second = torch.cat([b[0] for b in loaders[0]])
    assert not torch.equal(first[0], second) and len(loaders[0]) == 2
