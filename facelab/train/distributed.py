"""Training on several processes: DistributedDataParallel under ``torchrun``.

Each process trains a replica of the models on its own share of the data; after
every backward pass DistributedDataParallel (DDP, Li et al. 2020, "PyTorch
Distributed: Experiences on Accelerating Data Parallel Training") averages the
gradients across processes, so all replicas take the same optimiser step. With
``N`` processes and a per-process batch ``B`` one step sees ``N * B`` images.

    torchrun --nproc_per_node=4 -m facelab.cli train-gan --profile full --steps 20000

``torchrun`` starts the processes and tells each its place through environment
variables (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``).
:func:`init_distributed` reads them and joins the process group: NCCL between GPUs
(one GPU per process, ``cuda:LOCAL_RANK``), gloo on CPUs (which is how the tests
run it). Without those variables everything here is a no-op for one process, so
the training loops call these helpers unconditionally.

Only rank 0 logs, shows progress, calls callbacks and writes checkpoints; the
others wait for it at a barrier. Checkpoints hold the plain modules' weights
(no ``module.`` prefix), so they load into a single-process model.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["DistributedContext", "current", "launched_by_torchrun", "init_distributed", "destroy_distributed",
           "distributed_session", "barrier", "all_mean", "shard", "wrap_ddp", "EpochLoader"]

_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands among the processes of a run (one process: rank 0 of 1)."""

    rank: int = 0          # this process, 0..world_size-1
    world_size: int = 1    # number of processes
    local_rank: int = 0    # this process on its machine (its GPU index)
    backend: str | None = None  # "nccl", "gloo", or None for a single process

    @property
    def enabled(self) -> bool:
        """True when several processes train together."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on rank 0, the process that logs and writes checkpoints."""
        return self.rank == 0


def current() -> DistributedContext:
    """The context of the running process group, or a single-process one when there is none."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistributedContext()
    return DistributedContext(rank=dist.get_rank(), world_size=dist.get_world_size(),
                              local_rank=int(os.environ.get("LOCAL_RANK", 0)), backend=dist.get_backend())


def launched_by_torchrun() -> bool:
    """True when ``torchrun`` (or ``torch.distributed.run``) started this process."""
    return all(name in os.environ for name in _ENV)


def init_distributed(device: str | None = None) -> tuple[DistributedContext, torch.device]:
    """Join the process group described by torchrun's environment variables.

    Args:
        device: ``"cpu"`` forces gloo on CPUs; ``None`` or ``"cuda"`` use NCCL and the GPU
            ``cuda:LOCAL_RANK`` when CUDA is available, gloo on CPUs otherwise.

    Returns:
        ``(context, device)``: this process's place and the device it trains on. Without
        torchrun's variables: a single-process context and ``facelab.get_device(device)``.

    Raises:
        RuntimeError: the environment asks for more GPUs than the machine has.
    """
    from ..runtime import get_device

    if not launched_by_torchrun():
        return DistributedContext(), get_device(device)
    rank, world_size, local_rank = (int(os.environ[name]) for name in _ENV)
    use_cuda = torch.cuda.is_available() and (device is None or device.startswith("cuda"))
    if use_cuda:
        if local_rank >= torch.cuda.device_count():
            raise RuntimeError(f"Process with LOCAL_RANK={local_rank} needs GPU {local_rank}, but only "
                               f"{torch.cuda.device_count()} GPU(s) are visible; start torchrun with "
                               f"--nproc_per_node={torch.cuda.device_count()} or fewer.")
        train_device = torch.device("cuda", local_rank)
        torch.cuda.set_device(train_device)
        backend = "nccl"
    else:
        train_device, backend = torch.device("cpu"), "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, init_method="env://", rank=rank, world_size=world_size)
    return DistributedContext(rank, world_size, local_rank, backend), train_device


def destroy_distributed() -> None:
    """Leave the process group (after a last barrier, so no process exits while others still talk)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


@contextmanager
def distributed_session(device: str | None = None) -> Iterator[tuple[DistributedContext, torch.device]]:
    """``with distributed_session() as (context, device): ...``: init, and a clean exit even on errors.

    Sessions nest: inside a running process group the inner session joins it and leaves it
    running (a process group cannot be reliably re-created under one torchrun launch).
    """
    owner = not (dist.is_available() and dist.is_initialized())
    context, train_device = init_distributed(device)
    try:
        yield context, train_device
    finally:
        if owner and context.enabled:
            destroy_distributed()


def barrier() -> None:
    """Wait for every process (a no-op for one process)."""
    if current().enabled:
        dist.barrier()


def all_mean(tensor: torch.Tensor) -> torch.Tensor:
    """The mean of ``tensor`` over the processes (itself for one process)."""
    context = current()
    if not context.enabled:
        return tensor
    tensor = tensor.clone()
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor / context.world_size


def shard(data: Any, context: DistributedContext | None = None, seed: int = 0) -> Any:
    """This process's share of an in-memory data set.

    The examples are shuffled by a permutation seeded with ``seed`` (the same on every
    process) and dealt out like cards: process ``r`` keeps positions ``r, r + N, r + 2N, ...``
    so the shares are disjoint and differ in size by at most one. Tensors, ``(images, labels)``
    pairs and datasets with ``.images`` (``FaceTensorDataset``) are sharded; anything else
    (a sampling function, a ``DataLoader``: give it a ``DistributedSampler``, or use
    :class:`EpochLoader`) is returned unchanged.

    Args:
        data: the whole data set.
        context: the process's place; default :func:`current`.
        seed: seed of the shuffling permutation.

    Returns:
        The share of this process, of the same kind as ``data``.
    """
    context = context or current()
    if not context.enabled:
        return data
    images = data[0] if isinstance(data, (tuple, list)) and len(data) == 2 else getattr(data, "images", data)
    if not isinstance(images, torch.Tensor):
        return data
    n = images.shape[0]
    if n < context.world_size:
        raise ValueError(f"Cannot share {n} examples among {context.world_size} processes; "
                         "use more data or fewer processes (--nproc_per_node).")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    mine = order[context.rank::context.world_size].sort().values
    if isinstance(data, torch.Tensor):
        return data[mine.to(data.device)]
    if isinstance(data, (tuple, list)):
        return type(data)(part[mine.to(part.device)] for part in data)
    if hasattr(data, "subset"):
        return data.subset(mine)
    raise TypeError(f"Cannot shard {type(data).__name__}; pass a tensor, an (images, labels) pair or a "
                    "FaceTensorDataset.")


def wrap_ddp(module: nn.Module, device: torch.device, context: DistributedContext | None = None) -> nn.Module:
    """``module`` wrapped in DistributedDataParallel when several processes train, else ``module``.

    Buffers are not broadcast: each replica keeps its own batch-norm running statistics
    (rank 0's are the ones checkpointed). Broadcasting them at every forward pass would
    cost a collective per call and breaks GAN steps that call D twice before a backward
    pass (an in-place update of a tensor autograd saved).
    """
    context = context or current()
    if not context.enabled:
        return module
    from torch.nn.parallel import DistributedDataParallel

    import inspect

    device_ids = [device.index if device.index is not None else 0] if device.type == "cuda" else None
    # newer PyTorch renames broadcast_buffers (and warns about the old name); both keep buffers local
    newer = "forward_sync_buffers" in inspect.signature(DistributedDataParallel.__init__).parameters
    no_sync = {"forward_sync_buffers": False} if newer else {"broadcast_buffers": False}
    return DistributedDataParallel(module, device_ids=device_ids, **no_sync)


class EpochLoader:
    """An endless-epoch ``DataLoader`` over a dataset with a ``DistributedSampler``.

    Each pass over it is one epoch; the sampler is told the epoch number first, so
    every epoch has its own shuffle, the same on all processes, and every process
    sees its own disjoint share (``torch.utils.data.DistributedSampler``).

    Args:
        dataset: a map-style dataset (e.g. ``FaceTensorDataset``).
        batch_size: examples per batch *per process*.
        seed: seed of the shuffles.
        context: the process's place; default :func:`current`.
        **loader_kwargs: passed to ``DataLoader`` (``num_workers``, ``pin_memory``, ...).
    """

    def __init__(self, dataset: Any, batch_size: int, seed: int = 0, context: DistributedContext | None = None,
                 **loader_kwargs: Any):
        from torch.utils.data import DataLoader, DistributedSampler

        context = context or current()
        self.sampler = DistributedSampler(dataset, num_replicas=context.world_size, rank=context.rank,
                                          shuffle=True, seed=seed, drop_last=True)
        self.loader = DataLoader(dataset, batch_size=batch_size, sampler=self.sampler, drop_last=True,
                                 **loader_kwargs)
        self.epoch = 0

    def __iter__(self) -> Iterator[Any]:
        self.sampler.set_epoch(self.epoch)
        self.epoch += 1
        return iter(self.loader)

    def __len__(self) -> int:
        return len(self.loader)
