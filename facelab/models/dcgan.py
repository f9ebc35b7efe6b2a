"""DCGAN generator and discriminator (Radford, Metz & Chintala, ICLR 2016).

The architecture guidelines of the paper, as the PyTorch DCGAN example implements them:
strided (transposed) convolutions instead of pooling, batch norm in both networks
except G's output and D's input layers, ReLU in G (``tanh`` at the output), LeakyReLU
(slope 0.2) in D, no fully connected hidden layers, and weights drawn from
``N(0, 0.02)``.

With ``image_size=64``, ``latent_dim=100`` and ``channels=64`` these are exactly the
standard DCGAN networks (3,576,704 and 2,765,568 parameters), except that D returns
the raw score (logit) and the sigmoid lives in the loss (``facelab.losses.gan``),
which is numerically stable and lets the same D serve every GAN objective.
At ``image_size=32`` one resolution block is dropped from each network.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .sampling import standard_normal_latents

SUPPORTED_SIZES = (32, 64)


def num_blocks(image_size: int) -> int:
    if image_size not in SUPPORTED_SIZES:
        raise ValueError(f"DCGAN supports image_size in {SUPPORTED_SIZES}, got {image_size}; resize the images.")
    return int(math.log2(image_size)) - 3  # 64 -> 3 inner blocks, 32 -> 2


def dcgan_init_(module: nn.Module) -> None:
    """The paper's initialisation: conv weights ~ N(0, 0.02), batch-norm scale ~ N(1, 0.02), bias 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class Generator(nn.Module):
    """DCGAN generator: noise ``z`` of shape ``(B, latent_dim)`` -> images ``(B, 3, S, S)`` in ``[-1, 1]``.

    Args:
        latent_dim: size of ``z`` (100 in the paper).
        channels: width of the last hidden layer; earlier layers have 2x, 4x, 8x (64 in the paper).
        image_size: 32 or 64.
        out_channels: 3 for colour images.
    """

    def __init__(self, *, latent_dim: int = 100, channels: int = 64, image_size: int = 64, out_channels: int = 3):
        super().__init__()
        self.latent_dim, self.image_size = latent_dim, image_size
        blocks = num_blocks(image_size)
        width = channels * 2**blocks  # 512 at 64x64 with channels=64
        layers: list[nn.Module] = [
            # project and reshape: (B, latent_dim, 1, 1) -> (B, width, 4, 4)
            nn.ConvTranspose2d(latent_dim, width, 4, 1, 0, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(True),
        ]
        for _ in range(blocks):  # each block doubles the resolution and halves the width
            layers += [
                nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width // 2),
                nn.ReLU(True),
            ]
            width //= 2
        layers += [nn.ConvTranspose2d(width, out_channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init_)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], self.latent_dim, 1, 1))  # (B, 3, S, S)

    def sample_latent(self, n: int, device=None, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw ``n`` latent vectors ``z ~ N(0, I)``, shape ``(n, latent_dim)``."""
        return standard_normal_latents(n, self.latent_dim, device, generator)


class Discriminator(nn.Module):
    """DCGAN discriminator: images ``(B, 3, S, S)`` -> one raw score per image, shape ``(B,)``.

    ``D(x) = sigmoid(score)`` is the probability that ``x`` is real.

    Args:
        channels: width of the first layer; later layers have 2x, 4x, 8x (64 in the paper).
        image_size: 32 or 64.
        in_channels: 3 for colour images.
    """

    def __init__(self, *, channels: int = 64, image_size: int = 64, in_channels: int = 3):
        super().__init__()
        self.image_size = image_size
        self.in_channels = in_channels
        blocks = num_blocks(image_size)
        width = channels
        # no batch norm on the input layer (paper: it caused sample oscillation)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, width, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        for _ in range(blocks):
            layers += [
                nn.Conv2d(width, width * 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width * 2),
                nn.LeakyReLU(0.2, True),
            ]
            width *= 2
        layers += [nn.Conv2d(width, 1, 4, 1, 0, bias=False)]  # (B, 1, 1, 1): the score
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init_)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[-1] != self.image_size or images.shape[-2] != self.image_size:
            raise ValueError(
                f"Discriminator built for {self.image_size}x{self.image_size} images got "
                f"{tuple(images.shape[-2:])}; resize the data or build it with image_size={images.shape[-1]}."
            )
        if images.ndim != 4 or images.shape[1] != self.in_channels:
            raise ValueError(
                f"Discriminator expects images of shape (B, {self.in_channels}, {self.image_size}, "
                f"{self.image_size}), got {tuple(images.shape)}; expand grey images with "
                f".expand(-1, 3, -1, -1) or build it with in_channels={images.shape[1] if images.ndim == 4 else 3}."
            )
        if not images.is_floating_point():
            raise TypeError(f"Discriminator expects float images in [-1, 1], got dtype {images.dtype}; "
                            "convert uint8 pixels with images.float() / 127.5 - 1.")
        return self.net(images).flatten()  # (B,)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
