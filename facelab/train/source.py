"""Training data, sorted by kind once: :func:`training_data` turns what a loop was given into batches.

A loop accepts several kinds of data: an in-memory tensor, a dataset with ``.images`` (and ``.labels``),
an ``(images, labels)`` pair, a sampling function ``n -> samples`` (a toy distribution), or any
iterable of batches (a ``DataLoader``). :func:`training_data` checks it, takes this process's share
(:func:`facelab.train.distributed.shard`), places in-memory tensors where the fast path keeps them
(:meth:`facelab.train.fast.FastPath.place`), and returns a :class:`TrainingData` whose
:meth:`~TrainingData.batches` is an endless stream of ``(images, labels)`` on the device.

In-memory images are checked as datasets are (:func:`facelab.data.base.check_images`): a raw tensor of
``[0, 255]`` floats or with a NaN pixel is refused with the same message a ``FaceTensorDataset`` gives.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import torch

from ..data.base import check_images
from .distributed import shard
from .fast import FastPath

__all__ = ["TrainingData", "training_data"]


@dataclass
class TrainingData:
    """A loop's data, of one of three kinds.

    Attributes:
        kind: ``"memory"`` (tensors sampled with replacement), ``"sampler"`` (a function) or ``"loader"``.
        images: the in-memory images (``"memory"`` only).
        labels: the in-memory labels, or None.
        sampler: the sampling function (``"sampler"`` only).
        loader: the iterable of batches (``"loader"`` only).
    """

    kind: str
    device: torch.device
    images: torch.Tensor | None = None
    labels: torch.Tensor | None = None
    sampler: Callable[[int], torch.Tensor] | None = None
    loader: Iterable | None = None

    def sample_labels(self, n: int) -> torch.Tensor:
        """``n`` labels drawn from the data's label distribution (in memory: uniformly over its images)."""
        return self.labels[torch.randint(self.labels.shape[0], (n,), device=self.labels.device)].to(self.device)

    def batches(self, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        """An endless stream of ``(images, labels)`` on the device (labels None when the data has none).

        In memory, indices come from the global RNG, so an exactly resumed run draws the same batches.
        """
        if self.kind == "memory":
            while True:
                index = torch.randint(self.images.shape[0], (batch_size,), device=self.images.device)
                labels = None if self.labels is None else self.labels[index].to(self.device, non_blocking=True)
                yield self.images[index].to(self.device, non_blocking=True), labels
        elif self.kind == "sampler":
            while True:
                yield self.sampler(batch_size).to(self.device), None
        else:
            while True:
                for batch in self.loader:
                    if isinstance(batch, (tuple, list)):
                        labels = batch[1].to(self.device).long() if len(batch) >= 2 else None
                        yield batch[0].to(self.device, non_blocking=True), labels
                    else:
                        yield batch.to(self.device, non_blocking=True), None


def _split(data: Any) -> tuple[Any, Any]:
    """``(images, labels)`` of in-memory data (labels None when absent), or ``(None, None)``."""
    if isinstance(data, torch.Tensor):
        return data, None
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        return data[0], data[1]
    images = getattr(data, "images", None)
    if isinstance(images, torch.Tensor):
        labels = getattr(data, "labels", None)
        return images, labels if isinstance(labels, torch.Tensor) else None
    return None, None


def _check_labels(images: torch.Tensor, labels: torch.Tensor) -> None:
    if labels.shape != (images.shape[0],):
        raise ValueError(f"labels must have shape ({images.shape[0]},) to match the images, "
                         f"got {tuple(labels.shape)}.")
    if labels.is_floating_point() or labels.dtype == torch.bool or (labels.numel() and int(labels.min()) < 0):
        low = labels.min().item() if labels.numel() else None
        raise ValueError(f"labels must be integer identity ids 0..K-1, got dtype {labels.dtype} with minimum "
                         f"{low}; renumber them with torch.unique(labels, return_inverse=True)[1].")


def training_data(data: Any, fast: FastPath, *, seed: int = 0, labelled: bool = False,
                  loop: str = "the training loop", accepts: str = "", what: str = "") -> TrainingData:
    """Sort, check, shard and place a loop's data once.

    Args:
        data: a tensor, a dataset with ``.images`` (and ``.labels``), an ``(images, labels)`` pair,
            a function ``n -> samples``, or an iterable of batches.
        fast: the run's fast path (the device, the data placement, the processes).
        seed: seed of the shard permutation (several processes).
        labelled: the loop needs labels (a conditional GAN, a recogniser).
        loop: the loop, for messages.
        accepts: what the loop accepts, for the message when ``data`` is of another kind.
        what: what is trained, for that message (``"a conditional GAN"``).

    Raises:
        TypeError / ValueError: naming what was wrong and what the loop accepts.
    """
    accepts = accepts or ("a dataset with .images and .labels, a pair (images, labels) of tensors, or a "
                          "DataLoader of (images, labels)" if labelled else
                          "a tensor, a dataset with .images, a sampling function or a DataLoader")
    data = shard(data, fast.context, seed)  # several processes: each trains on its own share
    images, labels = _split(data)
    if images is not None:
        if labelled and labels is None:
            raise TypeError(f"Cannot train {what or 'this model'} on {type(data).__name__} without labels "
                            f"({loop} needs them); pass {accepts}.")
        if images.shape[0] == 0:
            raise ValueError(f"{loop} got an empty data set (0 images); check the folder or the subset you selected.")
        if images.ndim == 4:
            check_images(images, "the training images")
        elif images.is_floating_point() and not bool(torch.isfinite(images).all()):
            raise ValueError(f"{loop}: the training samples hold NaN or infinite values; expected finite "
                             "numbers. Drop those rows (keep data[data.isfinite().all(1)]).")
        if labels is not None:
            _check_labels(images, labels)
            labels = fast.place(labels.long())
        return TrainingData("memory", fast.device, images=fast.place(images), labels=labels)
    if callable(data) and not labelled:
        return TrainingData("sampler", fast.device, sampler=data)
    if isinstance(data, Iterable) and not isinstance(data, (str, bytes)):
        return TrainingData("loader", fast.device, loader=data)
    raise TypeError(f"Cannot train{' ' + what if what else ''} on {type(data).__name__}; pass {accepts}.")
