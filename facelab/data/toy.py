"""Toy distributions for the 1-D and 2-D GAN experiments: mixtures of Gaussians.

A mixture has a density we can write down, so the book can compare what a GAN
learned with the truth: the optimal discriminator, the Jensen-Shannon divergence
and the modes a collapsed generator misses all become computable.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class GaussianMixture:
    """An isotropic Gaussian mixture ``p(x) = sum_k w_k N(x; mu_k, sigma_k^2 I)``.

    Attributes:
        means: ``(K, d)`` component means.
        stds: ``(K,)`` component standard deviations.
        weights: ``(K,)`` mixing weights summing to one.
    """

    means: torch.Tensor
    stds: torch.Tensor
    weights: torch.Tensor

    def __post_init__(self) -> None:
        k = self.means.shape[0]
        if self.means.ndim != 2 or self.stds.shape != (k,) or self.weights.shape != (k,):
            raise ValueError("means must be (K, d), stds and weights (K,).")
        if not torch.isclose(self.weights.sum(), torch.tensor(1.0, dtype=self.weights.dtype)):
            raise ValueError(f"weights must sum to 1, got {self.weights.sum().item():.4f}.")

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` samples, shape ``(n, d)``."""
        component = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        noise = torch.randn(n, self.dim, generator=generator)
        return self.means[component] + self.stds[component, None] * noise

    def pdf(self, x: torch.Tensor) -> torch.Tensor:
        """Density at points ``x`` of shape ``(n, d)`` (or ``(n,)`` in 1-D); returns ``(n,)``."""
        x = x.reshape(-1, self.dim).to(self.means.dtype)
        sq = ((x[:, None, :] - self.means[None]) ** 2).sum(-1)  # (n, K)
        var = self.stds**2
        norm = (2 * math.pi * var) ** (-self.dim / 2)
        return (self.weights * norm * torch.exp(-0.5 * sq / var)).sum(-1)


def mixture_1d() -> GaussianMixture:
    """The 1-D target of chapter 01: two well-separated bumps of unequal weight."""
    return GaussianMixture(
        means=torch.tensor([[-2.0], [2.0]]),
        stds=torch.tensor([0.5, 0.7]),
        weights=torch.tensor([0.4, 0.6]),
    )


def ring_2d(modes: int = 8, radius: float = 2.0, std: float = 0.05) -> GaussianMixture:
    """The classic mode-collapse benchmark: ``modes`` equal Gaussians on a circle."""
    angles = torch.arange(modes) * 2 * math.pi / modes
    means = radius * torch.stack([angles.cos(), angles.sin()], dim=1)
    return GaussianMixture(means, torch.full((modes,), std), torch.full((modes,), 1.0 / modes))


def modes_covered(samples: torch.Tensor, mixture: GaussianMixture, num_std: float = 3.0, min_fraction: float = 0.2) -> int:
    """How many mixture components a set of samples covers.

    A sample belongs to its nearest component when it lies within ``num_std`` standard
    deviations of it; a component counts as covered when it receives at least
    ``min_fraction`` of the share a uniform spread over all components would give it.
    This is the mode count used in the unrolled-GAN and VEEGAN papers.
    """
    d = torch.cdist(samples.float(), mixture.means.float())  # (n, K)
    dist, nearest = d.min(dim=1)
    good = dist <= num_std * mixture.stds[nearest]
    counts = torch.bincount(nearest[good], minlength=mixture.means.shape[0])
    expected = samples.shape[0] / mixture.means.shape[0]
    return int((counts >= min_fraction * expected).sum())


def high_quality_fraction(samples: torch.Tensor, mixture: GaussianMixture, num_std: float = 3.0) -> float:
    """Fraction of samples within ``num_std`` standard deviations of some component."""
    d = torch.cdist(samples.float(), mixture.means.float())
    dist, nearest = d.min(dim=1)
    return float((dist <= num_std * mixture.stds[nearest]).float().mean())
