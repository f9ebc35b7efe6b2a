"""Runtime: device choice, seeding, mixed precision, the banner, and profiles."""
import pytest
import torch

import facelab
from facelab import runtime
from facelab.profile import PROFILES, get_profile
from facelab.runtime import autocast, banner, get_device, grad_scaler, seed_everything

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the behaviour without CUDA")


def test_get_device_cpu(monkeypatch):
    monkeypatch.delenv("FACELAB_DEVICE", raising=False)
    assert get_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available() and not torch.backends.mps.is_available():
        assert get_device() == torch.device("cpu")


def test_device_env_override(monkeypatch):
    monkeypatch.setenv("FACELAB_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")


@no_cuda
def test_cuda_without_cuda_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("FACELAB_DEVICE", "cuda")
    with pytest.raises(RuntimeError, match="CUDA is not available.*Change runtime type"):
        get_device()


def test_seed_everything_is_deterministic():
    seed_everything(5)
    first = (torch.rand(3), torch.randn(2))
    gen = seed_everything(5)
    assert torch.equal(torch.rand(3), first[0]) and torch.equal(torch.randn(2), first[1])
    assert torch.equal(torch.rand(2, generator=gen), torch.rand(2, generator=torch.Generator().manual_seed(5)))


def test_autocast_is_a_no_op_on_cpu():
    layer = torch.nn.Linear(4, 4)
    with autocast(torch.device("cpu")):
        out = layer(torch.randn(2, 4))
    assert out.dtype == torch.float32
    assert not grad_scaler(torch.device("cpu")).is_enabled()


def test_banner_names_versions_profile_and_device():
    text = banner(get_profile("quick"), torch.device("cpu"))
    for part in (f"facelab {facelab.__version__}", f"torch {torch.__version__}", "profile quick",
                 "32x32", "synthetic", "device cpu", "float32"):
        assert part in text


@no_cuda
def test_default_profile_without_cuda_is_quick(monkeypatch):
    monkeypatch.delenv("FACELAB_PROFILE", raising=False)
    assert get_profile().name == "quick"


def test_profile_env_override(monkeypatch):
    monkeypatch.setenv("FACELAB_PROFILE", "full")
    assert get_profile().name == "full" and get_profile().image_size == 64
    monkeypatch.setenv("FACELAB_PROFILE", " Quick ")
    assert get_profile().name == "quick"


def test_unknown_profile_lists_the_choices():
    with pytest.raises(ValueError, match=r"'huge'.*\['full', 'quick'\]"):
        get_profile("huge")


def test_full_profile_is_the_dcgan_paper_size():
    full = PROFILES["full"]
    assert (full.image_size, full.latent_dim, full.gan_channels, full.gan_batch_size) == (64, 100, 64, 128)
    assert get_profile("quick").replace(gan_steps=3).gan_steps == 3


@pytest.mark.parametrize(("capability", "expected"), [((7, 5), torch.float16), ((7, 0), torch.float16),
                                                     ((8, 0), torch.bfloat16), ((9, 0), torch.bfloat16)])
def test_amp_dtype_follows_the_compute_capability_not_emulated_bf16(monkeypatch, capability, expected):
    # A T4 (sm75) answers is_bf16_supported() == True through emulation; cuDNN has no bf16 convolutions there,
    # so it must get fp16 with a GradScaler. An A100/H100 gets bf16 and no scaler.
    monkeypatch.setattr(torch.version, "hip", None, raising=False)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    device = torch.device("cuda")
    assert runtime.native_bf16(device) is (capability[0] >= 8)
    assert runtime.amp_dtype(device) == expected


def test_amp_dtype_is_float32_off_cuda():
    assert runtime.amp_dtype(torch.device("cpu")) is None
    assert runtime.native_bf16(torch.device("cpu")) is False


def test_lower_bounds_cover_the_apis_the_code_calls():
    """`torch.amp.GradScaler(device)` (runtime.grad_scaler) exists from torch 2.3, and `torch.load(weights_only=True)`
    (every checkpoint load) can be bypassed before torch 2.6 (CVE-2025-32434); torchvision 0.21 pairs with 2.6.
    requirements.txt and pyproject.toml must not promise an older torch, and must agree."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    bounds = {}
    for name, text in (("requirements.txt", (root / "requirements.txt").read_text()),
                       ("pyproject.toml", (root / "pyproject.toml").read_text())):
        for package in ("torch", "torchvision"):
            match = re.search(rf'^\s*"?{package}>=([0-9.]+)', text, re.MULTILINE)
            assert match, f"{name} has no lower bound for {package}"
            bounds.setdefault(package, set()).add(tuple(int(p) for p in match.group(1).split(".")))
    assert min(bounds["torch"]) >= (2, 6), bounds
    assert len(bounds["torch"]) == 1 and len(bounds["torchvision"]) == 1, f"the two files disagree: {bounds}"
    assert min(bounds["torchvision"]) >= (0, 21), bounds
    assert hasattr(torch.amp, "GradScaler")
