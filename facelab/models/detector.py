"""A small CNN that tells real faces from generated ones, and its training loop.

Detectors of GAN images are ordinary binary classifiers: Wang et al. (CVPR 2020)
showed that a ResNet trained on one GAN's images (ProGAN) with blur and JPEG
augmentation catches many other GANs, and that without augmentation it
generalises much worse. Generated images carry traces of the up-sampling layers
(checkerboard and spectral artefacts, Odena et al. 2016; Frank et al. 2020) that a
few convolutions pick up. This module is the few-convolutions version, sized for a
CPU; :func:`train_detector` is a plain cross-entropy loop over balanced batches.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["FakeFaceDetector", "DetectorHistory", "train_detector", "fake_probability"]


class FakeFaceDetector(nn.Module):
    """Images ``(B, 3, S, S)`` in ``[-1, 1]`` -> one raw score per image, ``(B,)``; high means fake.

    Three stride-2 convolution blocks (no pooling before them, so pixel-level
    artefacts survive), then global average pooling and a linear score:
    ``sigmoid(score)`` is the probability that the image is generated.

    Args:
        channels: width of the first block (then 2x, 4x).
    """

    def __init__(self, *, channels: int = 16):
        super().__init__()
        if channels < 1:
            raise ValueError(f"channels must be >= 1, got {channels}.")
        layers: list[nn.Module] = []
        width_in = 3
        for width in (channels, 2 * channels, 4 * channels):
            layers += [nn.Conv2d(width_in, width, 3, 2, 1), nn.BatchNorm2d(width), nn.LeakyReLU(0.2, True)]
            width_in = width
        self.features = nn.Sequential(*layers)
        self.score = nn.Linear(width_in, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images of shape (B, 3, H, W), got {tuple(images.shape)}; "
                             "replicate grey images to 3 channels.")
        h = self.features(images)  # (B, 4c, S/8, S/8)
        return self.score(h.mean(dim=(2, 3))).squeeze(1)  # (B,)


@dataclass
class DetectorHistory:
    """Training loss and batch accuracy every ``log_every`` steps."""

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)


def train_detector(
    detector: nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    steps: int = 300,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    log_every: int = 20,
) -> DetectorHistory:
    """Train ``detector`` to score ``fake`` images high and ``real`` ones low.

    Each step draws ``batch_size / 2`` images of each kind (with replacement), so
    the classes are balanced whatever the set sizes; the loss is binary
    cross-entropy on the raw scores (label 1 = fake).

    Args:
        detector: a module mapping images to ``(B,)`` scores, e.g. :class:`FakeFaceDetector`.
        real: ``(N, 3, S, S)`` real faces.
        fake: ``(M, 3, S, S)`` generated faces.
        steps: Adam steps.
        batch_size: images per step (even).
        lr: Adam learning rate.
        seed: seeds the batch sampler.
        log_every: steps between history records.

    Returns:
        The :class:`DetectorHistory`.
    """
    if real.shape[1:] != fake.shape[1:]:
        raise ValueError(f"real images {tuple(real.shape[1:])} and fake images {tuple(fake.shape[1:])} differ "
                         "in shape; resize one set to the other.")
    if steps < 1 or batch_size < 2 or batch_size % 2:
        raise ValueError(f"need steps >= 1 and an even batch_size >= 2, got steps={steps}, "
                         f"batch_size={batch_size}.")
    device = next(detector.parameters()).device
    rng = torch.Generator().manual_seed(seed)
    half = batch_size // 2
    target = torch.cat([torch.zeros(half), torch.ones(half)]).to(device)
    optimiser = torch.optim.Adam(detector.parameters(), lr=lr)
    history = DetectorHistory()
    detector.train()
    for step in range(1, steps + 1):
        batch = torch.cat([real[torch.randint(len(real), (half,), generator=rng)],
                           fake[torch.randint(len(fake), (half,), generator=rng)]]).to(device)
        scores = detector(batch)
        loss = F.binary_cross_entropy_with_logits(scores, target)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        if step % log_every == 0 or step == steps:
            history.step.append(step)
            history.loss.append(float(loss.detach()))
            history.accuracy.append(float(((scores > 0).float() == target).float().mean()))
    detector.eval()
    return history


@torch.no_grad()
def fake_probability(detector: nn.Module, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """``sigmoid(score)`` of each image in eval mode, ``(N,)`` on the CPU."""
    was_training = detector.training
    detector.eval()
    device = next(detector.parameters()).device
    out = torch.cat([torch.sigmoid(detector(chunk.to(device)).float()).cpu() for chunk in images.split(batch_size)])
    detector.train(was_training)
    return out
