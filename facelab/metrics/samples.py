"""Measures of a set of generated images: how far from the data, how varied, how sharp, how detectable.

Cheap, network-free companions of FID (:mod:`facelab.metrics.gan`) that the chapters use to follow
a GAN or a VAE: a pixel-space Frechet distance, the mean distance between samples (collapse makes it
small), the discriminator's real-vs-fake AUC, and a Laplacian sharpness (blur makes it small).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..utils import evaluating
from .gan import frechet_distance

__all__ = ["pixel_frechet_distance", "sample_diversity", "discriminator_auc", "laplacian_sharpness"]


def _pixel_features(images: torch.Tensor, pool: int) -> torch.Tensor:
    return nn.functional.adaptive_avg_pool2d(images.float(), pool).flatten(1)


def pixel_frechet_distance(images_a: torch.Tensor, images_b: torch.Tensor, pool: int = 8) -> float:
    """Fréchet distance between two image sets on ``pool x pool`` average-pooled pixels.

    A crude, network-free relative of FID (Heusel et al. 2017): it compares the mean
    and covariance of coarse colour layouts, enough to tell noise from faces and to
    follow a GAN's progress. It is *not* comparable with published FID values.
    """
    return frechet_distance(_pixel_features(images_a, pool), _pixel_features(images_b, pool))


def sample_diversity(images: torch.Tensor, max_images: int = 500) -> float:
    """Mean Euclidean distance between two different images of a set (pixels in ``[-1, 1]``).

    A collapsed generator, which makes the same few faces over and over, has a much
    smaller value than the data; a healthy one comes close to the data's value.
    """
    x = images[:max_images].float().flatten(1)
    d = torch.cdist(x, x)
    n = x.shape[0]
    return float(d.sum() / (n * (n - 1)))


@torch.no_grad()
def discriminator_auc(discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> float:
    """Probability that the discriminator scores a random real image above a random fake one.

    The area under the ROC curve of D used as a real-vs-fake detector: 0.5 is chance,
    1 perfect separation. D runs in eval mode (batch norm with running statistics),
    so a score does not depend on the rest of its batch.
    """
    device = next(discriminator.parameters()).device
    with evaluating(discriminator):
        real_scores = discriminator(real.to(device)).float().cpu()
        fake_scores = discriminator(fake.to(device)).float().cpu()
    greater = (real_scores[:, None] > fake_scores[None, :]).float()
    ties = (real_scores[:, None] == fake_scores[None, :]).float()
    return float((greater + 0.5 * ties).mean())


_LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def laplacian_sharpness(images: torch.Tensor) -> float:
    """Mean absolute Laplacian of the grey-level images: how much fine detail (edges) they hold.

    Blurring an image lowers it; a constant image has 0. Pixels in ``[-1, 1]``, border pixels excluded.

    Args:
        images: ``(N, C, H, W)`` tensor, ``H, W >= 3``.

    Returns:
        The mean over images and pixels.
    """
    if images.ndim != 4 or images.shape[-1] < 3 or images.shape[-2] < 3:
        raise ValueError(f"images must be (N, C, H, W) with H, W >= 3, got {tuple(images.shape)}.")
    grey = images.float().mean(dim=1, keepdim=True)  # (N, 1, H, W)
    return float(F.conv2d(grey, _LAPLACIAN.view(1, 1, 3, 3)).abs().mean())
