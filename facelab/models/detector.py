"""A small CNN that tells real faces from generated ones, and its training loop.

Detectors of GAN images are ordinary binary classifiers: Wang et al. (CVPR 2020)
showed that a ResNet trained on one GAN's images (ProGAN) with blur and JPEG
augmentation catches many other GANs, and that without augmentation it
generalises much worse. Generated images carry traces of the up-sampling layers
(checkerboard and spectral artefacts, Odena et al. 2016; Frank et al. 2020) that a
few convolutions pick up. This module is the few-convolutions version, sized for a
CPU; :func:`facelab.train.detector.train_detector` trains it.
"""
from __future__ import annotations

import torch
from torch import nn

from ..utils import evaluating

__all__ = ["FakeFaceDetector", "fake_probability"]


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


@torch.no_grad()
def fake_probability(detector: nn.Module, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """``sigmoid(score)`` of each image in eval mode, ``(N,)`` on the CPU."""
    device = next(detector.parameters()).device
    with evaluating(detector):
        return torch.cat([torch.sigmoid(detector(chunk.to(device)).float()).cpu() for chunk in images.split(batch_size)])
