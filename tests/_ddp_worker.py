"""Run by tests/test_distributed.py under ``torch.distributed.run``: both CLI trainings, then a DDP check.

Usage: python -m torch.distributed.run --nproc_per_node=2 tests/_ddp_worker.py OUT_DIR
"""
import sys
from pathlib import Path

import torch

from facelab.cli import main
from facelab.models.dcgan import Discriminator, Generator
from facelab.train.distributed import distributed_session
from facelab.train.gan import GANTrainConfig, train_gan

out = Path(sys.argv[1])
common = ["--profile", "quick", "--steps", "3", "--batch-size", "8", "--num-identities", "4", "--device", "cpu",
          "--no-progress"]
# one process group for the whole script: the commands' own sessions join it
with distributed_session("cpu") as (context, device):
    assert main(["train-gan", *common, "--checkpoint", str(out / "gan.pt"), "--out", str(out / "gan")]) == 0
    assert main(["train-recognizer", *common, "--checkpoint", str(out / "recognizer.pt")]) == 0

    # the replicas must stay identical: DDP averages the gradients of different data shards
    torch.manual_seed(0)
    generator, discriminator = Generator(latent_dim=8, channels=4, image_size=32), Discriminator(channels=4,
                                                                                               image_size=32)
    data = torch.rand(64, 3, 32, 32) * 2 - 1
    config = GANTrainConfig(steps=3, batch_size=8, num_samples=4, progress=False)
    train_gan(generator, discriminator, data, config, device=device)
    torch.save({"generator": [p.detach() for p in generator.parameters()],
                "discriminator": [p.detach() for p in discriminator.parameters()]},
               out / f"replica{context.rank}.pt")
