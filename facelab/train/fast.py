"""The fast path the training loops share: what makes a PyTorch step fast, decided in one place.

Each switch is a field of every loop's config (``facelab.train.config.TrainConfig``);
``None`` means "on where it helps", decided by :func:`decide_fast_path` from the device:

* **mixed precision** (Micikevicius et al. 2018): the forward pass in bf16 on GPUs that
  support it, else fp16 with a ``GradScaler`` (a loss scale that keeps small fp16 gradients
  from flushing to zero). CPUs stay in float32: bf16 convolutions are slower than float32 on
  CPUs without matrix units, and results stay exact.
* **channels-last memory** (NHWC): the layout tensor cores read without transposing. On by
  default on CUDA. On CPU only where a loop asks for it (``cpu_channels_last``): the
  recognition loop, whose embedder trains ~1.4x faster in NHWC on CPU (benchmarks/) and
  avoids strided 1x1 convolutions, whose CPU backward pass in this layout has corrupted
  memory in PyTorch; the GAN loop gains little on CPU and stays contiguous.
* **optimiser kernels**: ``fused`` (one kernel for every parameter) on CUDA, ``foreach``
  (one kernel per operation over lists of tensors) elsewhere, instead of a Python loop over
  parameters.
* **data on the device**: an in-memory data set moves to the GPU once when it fits in half
  of the free memory; batches are then gathered there, with no host-to-device copy per step.
* **cuDNN autotuning** (``torch.backends.cudnn.benchmark``): picks the fastest convolution
  algorithm for each shape once; the shapes of a training loop never change.
* **torch.compile** (opt-in): fuses the elementwise work between convolutions; it costs a
  compilation at the start, so it pays only on long runs (see ``benchmarks/``).
* **no host synchronisation in the step**: the loops keep per-step statistics as device
  tensors and copy them to the host once per ``log_every`` steps.
* **several processes** (``facelab.train.distributed``): the models a loop calls are wrapped
  in DistributedDataParallel when a process group is running.
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, ContextManager

import torch
from torch import nn

from . import distributed
from .distributed import DistributedContext

__all__ = ["FastPath", "decide_fast_path", "setup_fast_path", "fits_on_device",
           "OPTIMIZER_IMPLS"]

OPTIMIZER_IMPLS = ("fused", "foreach", "for-loop")


@dataclass(frozen=True)
class FastPath:
    """The speed settings a training loop runs with, and the helpers that apply them."""

    device: torch.device
    amp_dtype: torch.dtype | None = None   # autocast dtype of the forward pass; None: float32
    channels_last: bool = False            # NHWC memory layout for models and image batches
    optimizer_impl: str = "for-loop"       # "fused", "foreach" or "for-loop" (PyTorch's reference)
    data_on_device: bool | None = None     # None: when the data set fits (see fits_on_device)
    compile: bool = False                  # torch.compile the models
    cudnn_benchmark: bool = False          # cuDNN autotuning (CUDA only)
    context: DistributedContext = field(default_factory=DistributedContext)

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    @property
    def is_main(self) -> bool:
        """True in the process that logs, calls back and checkpoints (always, for one process)."""
        return self.context.is_main

    def autocast(self) -> ContextManager:
        """The mixed-precision context of a forward pass (a no-op in float32)."""
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A ``GradScaler``, active only for fp16 (bf16 and float32 need no loss scaling)."""
        active = self.amp_dtype == torch.float16
        return torch.amp.GradScaler(self.device.type if self.device.type == "cuda" else "cpu", enabled=active)

    def optimizer_kwargs(self) -> dict[str, bool]:
        """Keyword arguments that pick the optimiser implementation (``torch.optim.Adam(..., **kw)``)."""
        if self.optimizer_impl == "fused":
            return {"fused": True}
        return {"foreach": self.optimizer_impl == "foreach"}

    def prepare(self, module: nn.Module) -> nn.Module:
        """Move ``module`` to the device and memory format, compile it if asked, in place.

        Returns:
            The module the loop should *call*: ``module`` itself, or a DistributedDataParallel
            wrapper of it when several processes train. Read weights and call other methods
            (``sample_latent``, ``state_dict``) on ``module``, never on the wrapper.
        """
        module.to(self.device, memory_format=self.memory_format)
        if self.compile and getattr(module, "_compiled_call_impl", None) is None:
            module.compile()  # in place: state-dict keys stay those of the plain module
        return distributed.wrap_ddp(module, self.device, self.context)

    def batch(self, images: torch.Tensor) -> torch.Tensor:
        """An image batch on the device, in the memory format of the models."""
        images = images.to(self.device, non_blocking=True)
        return images.contiguous(memory_format=self.memory_format) if images.ndim == 4 else images

    def place(self, tensor: torch.Tensor) -> torch.Tensor:
        """Where a data set lives during training: the device if it fits (or if asked), else the host.

        On the host a CUDA run keeps it in pinned memory, so that batch copies can
        overlap with compute.
        """
        on_device = self.data_on_device
        if on_device is None:
            on_device = fits_on_device(tensor.numel() * tensor.element_size(), self.device)
        if on_device:
            return tensor.to(self.device)
        tensor = tensor.cpu()
        return tensor.pin_memory() if self.device.type == "cuda" else tensor

    def all_mean(self, tensor: torch.Tensor) -> torch.Tensor:
        """Mean over the processes (the tensor itself for one process): logged statistics of all ranks."""
        return distributed.all_mean(tensor) if self.context.enabled else tensor

    def barrier(self) -> None:
        """Wait for every process (e.g. while rank 0 writes a checkpoint)."""
        if self.context.enabled:
            distributed.barrier()

    def decorrelate_rng(self, seed: int, step: int) -> None:
        """Give every rank but 0 its own random stream (its own noise and batches).

        Rank 0 keeps the single-process stream, so exact resumption still holds for it;
        the others are reseeded from ``(seed, rank, step)``: deterministic, and different
        after a resume from the uninterrupted run.
        """
        if self.context.enabled and self.context.rank > 0:
            torch.manual_seed((seed * 1_000_003 + self.context.rank * 7_919 + step) % 2**63)

    def describe(self) -> str:
        """One line for logs, e.g. ``"bf16 autocast, channels-last, fused Adam, compiled"``."""
        parts = [str(self.amp_dtype).replace("torch.", "") + " autocast" if self.amp_dtype else "float32",
                 "channels-last" if self.channels_last else "contiguous", f"{self.optimizer_impl} optimiser"]
        if self.cudnn_benchmark:
            parts.append("cudnn autotuning")
        if self.compile:
            parts.append("compiled")
        if self.context.enabled:
            parts.append(f"DDP rank {self.context.rank}/{self.context.world_size} ({self.context.backend})")
        return ", ".join(parts)


def fits_on_device(nbytes: int, device: torch.device, fraction: float = 0.5) -> bool:
    """Whether ``nbytes`` of data fit in ``fraction`` of the device's free memory (always, off CUDA)."""
    if device.type != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    return nbytes <= fraction * free


def decide_fast_path(
    device: torch.device | str,
    *,
    amp: bool = True,
    channels_last: bool | None = None,
    optimizer_impl: str | None = None,
    data_on_device: bool | None = None,
    compile: bool = False,
    cudnn_benchmark: bool = True,
    bf16_supported: bool | None = None,
    context: DistributedContext | None = None,
    cpu_channels_last: bool = False,
) -> FastPath:
    """The fast-path settings for ``device``: ``None`` switches resolve to "on where it helps".

    A pure decision (it changes no global state), so it can be tested for a CUDA device
    on a machine without one by passing ``bf16_supported``.

    Args:
        device: where training runs.
        amp: allow mixed precision (bf16, else fp16) on CUDA; CPU and MPS run float32.
        channels_last: NHWC layout; ``None``: on CUDA only.
        optimizer_impl: ``"fused"``, ``"foreach"`` or ``"for-loop"``; ``None``: fused on CUDA,
            foreach elsewhere.
        data_on_device: hold in-memory data sets on the device; ``None``: when they fit.
        compile: ``torch.compile`` the models.
        cudnn_benchmark: cuDNN autotuning (only ever on CUDA).
        bf16_supported: whether the GPU does bf16; ``None``: ask CUDA.
        context: the distributed context; default ``facelab.train.distributed.current()``.
        cpu_channels_last: what ``channels_last=None`` means off CUDA (a loop whose models
            are measured faster in NHWC on CPU, and free of strided 1x1 convolutions, says True).

    Returns:
        The :class:`FastPath`.
    """
    device = torch.device(device)
    cuda = device.type == "cuda"
    if optimizer_impl is None:
        optimizer_impl = "fused" if cuda else "foreach"
    if optimizer_impl not in OPTIMIZER_IMPLS:
        raise ValueError(f"optimizer_impl must be one of {OPTIMIZER_IMPLS} or None, got {optimizer_impl!r}.")
    amp_dtype = None
    if amp and cuda:
        if bf16_supported is None:
            bf16_supported = torch.cuda.is_bf16_supported()
        amp_dtype = torch.bfloat16 if bf16_supported else torch.float16
    return FastPath(
        device=device,
        amp_dtype=amp_dtype,
        channels_last=(cuda or cpu_channels_last) if channels_last is None else bool(channels_last),
        optimizer_impl=optimizer_impl,
        data_on_device=data_on_device,
        compile=bool(compile),
        cudnn_benchmark=bool(cudnn_benchmark) and cuda,
        context=context if context is not None else distributed.current(),
    )


def setup_fast_path(device: torch.device | str, config: Any, *, cpu_channels_last: bool = False) -> FastPath:
    """Decide the fast path from a loop config and apply its global settings.

    Args:
        device: where training runs.
        config: a loop config with the fields ``amp``, ``channels_last``, ``optimizer_impl``,
            ``data_on_device``, ``compile`` and ``cudnn_benchmark``.
        cpu_channels_last: see :func:`decide_fast_path`.

    Returns:
        The :class:`FastPath`; apply it to models with :meth:`FastPath.prepare`.
    """
    fast = decide_fast_path(device, amp=config.amp, channels_last=config.channels_last,
                            optimizer_impl=config.optimizer_impl, data_on_device=config.data_on_device,
                            compile=config.compile, cudnn_benchmark=config.cudnn_benchmark,
                            cpu_channels_last=cpu_channels_last)
    if fast.cudnn_benchmark:
        torch.backends.cudnn.benchmark = True  # a training loop's shapes never change: tune once per shape
    return fast
