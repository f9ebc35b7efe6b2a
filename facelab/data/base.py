"""The one in-memory dataset type every facelab face loader returns.

Images are float tensors in ``[-1, 1]`` with shape ``(N, 3, H, W)`` (the range a
``tanh`` generator produces), labels are integer identity ids ``0..K-1``.
Holding the whole set as one tensor keeps small face sets fast on CPU and lets
the training loops move them to the GPU once instead of per batch.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch.utils.data import Dataset

__all__ = ["FaceTensorDataset", "check_images"]


def check_images(images: torch.Tensor, what: str = "images") -> None:
    """Refuse pixels a model cannot learn from: integer dtypes, NaN/inf, and values far outside ``[-1, 1]``.

    The same check guards a ``FaceTensorDataset`` and a raw tensor handed to a training loop.

    Args:
        images: ``(N, C, H, W)`` images (any device).
        what: how the message names them, e.g. ``"the training images"``.

    Raises:
        TypeError: integer or boolean pixels.
        ValueError: NaN or infinite pixels, or values outside ``[-1.5, 1.5]`` ([0, 255] or ImageNet-normalised images).
    """
    if not images.is_floating_point():
        raise TypeError(
            f"{what} must be floating point in [-1, 1], got dtype {images.dtype}; "
            "convert uint8 pixels with images.float() / 127.5 - 1."
        )
    if not images.numel():
        return
    finite = torch.isfinite(images.detach()).flatten(1).all(1)  # (N,)
    if not bool(finite.all()):
        bad = (~finite).nonzero().flatten()
        raise ValueError(
            f"{what} hold NaN or infinite pixels in {bad.numel()} of {images.shape[0]} images (the first is image "
            f"{int(bad[0])}); expected finite pixels in [-1, 1]. This is a data problem, not divergence: drop "
            "those images (keep images[images.isfinite().flatten(1).all(1)]) or re-create them."
        )
    low, high = torch.aminmax(images.detach())
    # a little slack for resampling overshoot; [0, 255] pixels or ImageNet-normalised images fail
    if not (low >= -1.5 and high <= 1.5):
        raise ValueError(
            f"{what} must lie in [-1, 1], got values from {low.item():.3g} to {high.item():.3g}; "
            "map [0, 255] pixels with x / 127.5 - 1 and [0, 1] images with x * 2 - 1."
        )


@dataclass
class FaceTensorDataset(Dataset):
    """Faces held in memory as tensors.

    Attributes:
        images: ``(N, 3, H, W)`` float tensor in ``[-1, 1]``.
        labels: ``(N,)`` long tensor of identity ids in ``0..num_identities-1``.
        names: optional identity names, ``names[k]`` is the name of label ``k``.
        groups: optional per-image group attributes, ``{attribute: (N,) long tensor}``
            (used by the fairness experiments).
    """

    images: torch.Tensor
    labels: torch.Tensor
    names: list[str] | None = None
    groups: dict[str, torch.Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.shape[1] != 3:
            raise ValueError(
                f"images must have shape (N, 3, H, W), got {tuple(self.images.shape)}; "
                "convert grey images with .expand(-1, 3, -1, -1)."
            )
        check_images(self.images)
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(
                f"labels must have shape ({self.images.shape[0]},) to match the images, "
                f"got {tuple(self.labels.shape)}."
            )
        if self.labels.is_floating_point() or self.labels.is_complex():
            raise TypeError(
                f"labels must be integer identity ids 0..K-1, got dtype {self.labels.dtype}; "
                "convert them with labels.long()."
            )
        if self.labels.numel() and int(self.labels.min()) < 0:
            raise ValueError(
                f"labels must be identity ids 0..K-1, got a negative label {int(self.labels.min())}; "
                "renumber them with torch.unique(labels, return_inverse=True)[1]."
            )
        self.labels = self.labels.long()

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.labels[index]

    @property
    def num_identities(self) -> int:
        return int(self.labels.max().item()) + 1 if len(self) else 0

    @property
    def image_size(self) -> int:
        return self.images.shape[-1]

    def subset(self, mask_or_index: torch.Tensor, relabel: bool = False) -> "FaceTensorDataset":
        """Select images by boolean mask or index tensor.

        Args:
            mask_or_index: boolean mask of length N, or a tensor of indices.
            relabel: renumber the remaining identities ``0..K'-1`` (needed to
                train a classifier on a subset of identities).
        """
        images = self.images[mask_or_index]
        labels = self.labels[mask_or_index]
        groups = {k: v[mask_or_index] for k, v in self.groups.items()}
        names = self.names
        if relabel:
            kept, labels = torch.unique(labels, return_inverse=True)
            names = [self.names[k] for k in kept.tolist()] if self.names else None
        return FaceTensorDataset(images, labels, names, groups)
