"""A small GAN for 1-D and 2-D data: two multilayer perceptrons.

Low-dimensional data lets us *see* everything a GAN does: the generated density,
the discriminator's output at every point, and how both move during training.
"""
from __future__ import annotations

import torch
from torch import nn

from .sampling import standard_normal_latents


def _mlp(sizes: list[int], activation: type[nn.Module]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


class ToyGenerator(nn.Module):
    """MLP generator ``z (B, latent_dim) -> x (B, data_dim)``.

    Args:
        data_dim: 1 or 2 (any size works).
        latent_dim: size of the noise vector.
        hidden: width of the hidden layers.
        depth: number of hidden layers.
    """

    def __init__(self, *, data_dim: int = 2, latent_dim: int = 8, hidden: int = 64, depth: int = 3):
        super().__init__()
        self.data_dim, self.latent_dim = data_dim, latent_dim
        self.net = _mlp([latent_dim] + [hidden] * depth + [data_dim], nn.ReLU)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)

    def sample_latent(self, n: int, device=None, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw ``n`` latent vectors ``z ~ N(0, I)``."""
        return standard_normal_latents(n, self.latent_dim, device, generator)


class ToyDiscriminator(nn.Module):
    """MLP discriminator ``x (B, data_dim) -> score (B,)``; ``D(x) = sigmoid(score)``."""

    def __init__(self, *, data_dim: int = 2, hidden: int = 64, depth: int = 3):
        super().__init__()
        self.data_dim = data_dim
        self.net = _mlp([data_dim] + [hidden] * depth + [1], lambda: nn.LeakyReLU(0.2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()
