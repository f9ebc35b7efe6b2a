"""Where code runs: device choice, seeding, mixed precision and the chapter banner.

Device handling lives here and nowhere else: models never call ``.cuda()``, and
nothing asserts a GPU at import time, so every chapter runs on a laptop CPU and
on a Colab GPU unchanged.
"""
from __future__ import annotations

import os
import platform
import random
import sys
from contextlib import nullcontext
from typing import ContextManager

import numpy as np
import torch

_DEVICE_ENV = "FACELAB_DEVICE"


def in_colab() -> bool:
    """True when running inside Google Colab."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def get_device(prefer: str | None = None) -> torch.device:
    """Pick the device to compute on: CUDA, then Apple MPS, then CPU.

    Args:
        prefer: force a device (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``);
            defaults to ``$FACELAB_DEVICE`` and then to the best available one.

    Returns:
        The chosen ``torch.device``.
    """
    prefer = prefer or os.environ.get(_DEVICE_ENV)
    if prefer:
        device = torch.device(prefer)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(
                f"Device {prefer!r} was requested but CUDA is not available. "
                "On Colab choose Runtime > Change runtime type > GPU, or unset FACELAB_DEVICE."
            )
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and PyTorch (all devices) and return a seeded CPU generator.

    Args:
        seed: the seed.

    Returns:
        A ``torch.Generator`` seeded with ``seed``, for code that wants its own stream.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)


def native_bf16(device: torch.device) -> bool:
    """True when ``device`` computes bf16 in hardware (an NVIDIA GPU of compute capability 8.0 or newer).

    ``torch.cuda.is_bf16_supported()`` also answers True on older GPUs such as Colab's free T4 (sm75), where
    bf16 is emulated and cuDNN has no bf16 convolutions; asking the compute capability avoids that trap on
    every torch version (``including_emulation=False`` exists only from torch 2.4). ROCm reports its own answer.
    """
    if device.type != "cuda":
        return False
    if getattr(torch.version, "hip", None):
        return bool(torch.cuda.is_bf16_supported())
    major, _minor = torch.cuda.get_device_capability(device)
    return major >= 8


def amp_dtype(device: torch.device) -> torch.dtype | None:
    """The mixed-precision dtype for ``device``, or ``None`` for plain float32.

    bf16 where the GPU has it natively (no loss scaling needed), else fp16 with a
    ``GradScaler`` (a T4 or V100). CPU and MPS stay in float32: usability over speed.
    """
    if device.type != "cuda":
        return None
    return torch.bfloat16 if native_bf16(device) else torch.float16


def autocast(device: torch.device, enabled: bool = True) -> ContextManager:
    """Mixed-precision context for the forward pass (a no-op on CPU/MPS)."""
    dtype = amp_dtype(device)
    if not enabled or dtype is None:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(device: torch.device, enabled: bool = True) -> torch.amp.GradScaler:
    """A ``GradScaler`` that is active only for fp16 (bf16 and fp32 need none)."""
    active = enabled and amp_dtype(device) == torch.float16
    return torch.amp.GradScaler(device.type if device.type == "cuda" else "cpu", enabled=active)


def describe_device(device: torch.device) -> str:
    """A short human name for ``device`` (GPU model, or the CPU and its thread count)."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "mps":
        return "mps (Apple GPU)"
    return f"cpu ({platform.machine()}, {torch.get_num_threads()} threads)"


def banner(profile=None, device: torch.device | None = None) -> str:
    """The one line a chapter prints at its top: versions, profile and device."""
    from .profile import get_profile

    profile = profile or get_profile()
    device = device or get_device()
    amp = amp_dtype(device)
    precision = str(amp).replace("torch.", "") + " autocast" if amp else "float32"
    return (
        f"facelab {__import__('facelab').__version__} | torch {torch.__version__} | "
        f"profile {profile.name} ({profile.image_size}x{profile.image_size}, {profile.dataset}) | "
        f"device {describe_device(device)} | {precision}"
    )
