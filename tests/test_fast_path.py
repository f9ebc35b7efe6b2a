"""The fast path: its decisions per device, and that it trains to the same results as the plain path."""
import sys

import pytest
import torch

from facelab.losses.margin import get_head
from facelab.models.dcgan import Discriminator, Generator
from facelab.models.recognition import FaceEmbedder
from facelab.train.fast import decide_fast_path, fits_on_device, setup_fast_path
from facelab.train.gan import GANTrainConfig, train_gan
from facelab.train.recognition import RecognizerTrainConfig, train_recognizer

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
PLAIN = dict(channels_last=False, optimizer_impl="for-loop")
FAST = dict(channels_last=True, optimizer_impl="foreach")  # what differs on a CPU (no AMP there)


def test_cpu_runs_float32_contiguous_with_foreach_kernels():
    fast = decide_fast_path("cpu")
    assert fast.amp_dtype is None and not fast.channels_last and fast.memory_format == torch.contiguous_format
    assert fast.optimizer_kwargs() == {"foreach": True} and not fast.cudnn_benchmark and not fast.compile
    assert not fast.grad_scaler().is_enabled() and fast.is_main


@pytest.mark.parametrize("bf16, dtype", [(True, torch.bfloat16), (False, torch.float16)])
def test_cuda_gets_mixed_precision_channels_last_fused_and_autotuning(bf16, dtype):
    fast = decide_fast_path("cuda", bf16_supported=bf16)  # a decision only: no GPU needed
    assert fast.amp_dtype == dtype and fast.channels_last and fast.memory_format == torch.channels_last
    assert fast.optimizer_kwargs() == {"fused": True} and fast.cudnn_benchmark
    assert "autocast" in fast.describe() and "fused" in fast.describe()


def test_explicit_switches_win_over_the_automatic_choice():
    fast = decide_fast_path("cuda", amp=False, channels_last=False, optimizer_impl="for-loop",
                            cudnn_benchmark=False, compile=True, bf16_supported=True)
    assert fast.amp_dtype is None and not fast.channels_last and not fast.cudnn_benchmark and fast.compile
    assert fast.optimizer_kwargs() == {"foreach": False}
    assert decide_fast_path("cpu", channels_last=True).channels_last
    assert decide_fast_path("cpu", cpu_channels_last=True).channels_last  # the recognition loop's CPU default
    assert not decide_fast_path("cpu", channels_last=False, cpu_channels_last=True).channels_last


def test_bad_switches_are_rejected_with_the_valid_values():
    with pytest.raises(ValueError, match="fused"):
        decide_fast_path("cpu", optimizer_impl="turbo")
    with pytest.raises(ValueError, match="optimizer_impl"):
        GANTrainConfig(optimizer_impl="turbo")
    with pytest.raises(ValueError, match="channels_last"):
        RecognizerTrainConfig(channels_last="yes")
    with pytest.raises(ValueError, match="compile"):
        GANTrainConfig(compile=None)


def test_data_placement_and_global_settings_on_cpu():
    assert fits_on_device(10**12, torch.device("cpu"))  # host memory: the data already live there
    before = torch.backends.cudnn.benchmark
    fast = setup_fast_path("cpu", GANTrainConfig(data_on_device=False))
    assert torch.backends.cudnn.benchmark == before  # autotuning is a CUDA-only switch
    assert fast.place(torch.ones(3)).device.type == "cpu"


def _gan_losses(images, **switches):
    torch.manual_seed(0)
    generator, discriminator = Generator(latent_dim=8, channels=4, image_size=32), Discriminator(channels=4,
                                                                                               image_size=32)
    config = GANTrainConfig(steps=30, batch_size=16, log_every=5, sample_every=30, num_samples=4, progress=False,
                            **switches)
    history = train_gan(generator, discriminator, images, config, device="cpu")
    return torch.tensor([history.loss_d, history.loss_g, history.d_real])


def test_fast_and_plain_gan_loops_train_to_the_same_losses():
    images = torch.rand(128, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    plain, fast = _gan_losses(images, **PLAIN), _gan_losses(images, **FAST)
    assert plain.shape == (3, 6)
    torch.testing.assert_close(fast, plain, rtol=2e-3, atol=2e-3)


def test_fast_and_plain_recognition_loops_train_to_the_same_losses():
    gen = torch.Generator().manual_seed(2)
    images, labels = torch.rand(96, 3, 32, 32, generator=gen) * 2 - 1, torch.arange(96) % 6
    results = []
    for switches in (PLAIN, FAST):
        torch.manual_seed(0)
        embedder, head = FaceEmbedder(embedding_dim=8, channels=4, image_size=32), get_head("softmax", 8, 6)
        config = RecognizerTrainConfig(steps=30, batch_size=16, lr=0.05, log_every=5, progress=False, **switches)
        history = train_recognizer(embedder, head, (images, labels), config, device="cpu")
        results.append(torch.tensor([history.loss, history.accuracy]))
    assert results[0][0, -1] < results[0][0, 0]  # it learnt something
    torch.testing.assert_close(results[1], results[0], rtol=2e-3, atol=2e-3)


def test_host_syncs_do_not_grow_with_the_number_of_steps(monkeypatch):
    """Losses stay on the device between log steps: 4 and 16 steps per log cost the same syncs."""
    counts = {"n": 0}
    for name in ("item", "tolist", "__float__", "__bool__", "__int__"):
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _original=original, **kwargs):
            # facelab's own calls (PyTorch's optimisers read CPU step counters, which is no device sync)
            caller = sys._getframe(1).f_code.co_filename.replace("\\", "/")
            counts["n"] += "/facelab/" in caller and "/tests/" not in caller
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    images = torch.rand(64, 3, 32, 32) * 2 - 1
    syncs = []
    for steps in (4, 16):
        torch.manual_seed(0)
        generator, discriminator = Generator(latent_dim=8, channels=4, image_size=32), Discriminator(
            channels=4, image_size=32)
        counts["n"] = 0
        train_gan(generator, discriminator, images, GANTrainConfig(steps=steps, batch_size=8, log_every=steps,
                  sample_every=steps, num_samples=2, progress=False), device="cpu")
        syncs.append(counts["n"])
    assert syncs[0] == syncs[1]


@pytest.mark.gpu
@cuda
def test_gpu_gan_loop_runs_in_mixed_precision_channels_last_and_on_device_data(tmp_path):
    torch.manual_seed(0)
    generator, discriminator = Generator(latent_dim=16, channels=8, image_size=64), Discriminator(channels=8,
                                                                                                image_size=64)
    images = torch.rand(256, 3, 64, 64) * 2 - 1
    config = GANTrainConfig(steps=20, batch_size=32, log_every=5, sample_every=20, num_samples=4, progress=False,
                            checkpoint_path=str(tmp_path / "g.pt"))
    history = train_gan(generator, discriminator, images, config, device="cuda")
    assert all(torch.isfinite(torch.tensor(history.loss_d + history.loss_g)))
    assert next(generator.parameters()).is_cuda
    assert generator.net[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert (tmp_path / "g.pt").is_file()


@pytest.mark.gpu
@cuda
def test_gpu_fast_and_plain_recognition_agree_and_compile_runs():
    images, labels = torch.rand(256, 3, 32, 32) * 2 - 1, torch.arange(256) % 8
    losses = []
    for switches in ({"amp": False, **PLAIN}, {"amp": True}, {"amp": True, "compile": True}):
        torch.manual_seed(0)
        embedder, head = FaceEmbedder(embedding_dim=16, channels=8, image_size=32), get_head("softmax", 16, 8)
        config = RecognizerTrainConfig(steps=20, batch_size=32, lr=0.05, log_every=20, progress=False, **switches)
        losses.append(train_recognizer(embedder, head, (images, labels), config, device="cuda").loss[-1])
    assert abs(losses[1] - losses[0]) < 0.1 * abs(losses[0]) and abs(losses[2] - losses[1]) < 0.1 * abs(losses[1])
