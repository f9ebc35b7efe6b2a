"""Walking in a generator's latent space: interpolation and directions.

Radford et al. (2016, §6) showed that walks in a DCGAN's latent space change the
faces smoothly, evidence that the generator has not memorised images. These
helpers make such walks; ``facelab.widgets`` puts sliders on them.
"""
from __future__ import annotations

import torch

from .models.sampling import sample


def slerp(z_a: torch.Tensor, z_b: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Spherical interpolation between latent vectors (White 2016).

    Gaussian latents concentrate on a sphere of radius ``sqrt(d)``; the straight line
    between two of them passes through the low-norm interior the generator rarely
    saw in training, while the great-circle path stays on the shell.

    Args:
        z_a, z_b: latent vectors of shape ``(d,)``.
        t: interpolation weights in ``[0, 1]``, a float or a ``(n,)`` tensor.

    Returns:
        ``(n, d)`` latent vectors (``n = 1`` for a float ``t``).
    """
    t = torch.as_tensor(t, dtype=z_a.dtype, device=z_a.device).reshape(-1, 1)
    a, b = z_a / z_a.norm(), z_b / z_b.norm()
    omega = torch.arccos((a * b).sum().clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / so) * z_a + (torch.sin(t * omega) / so) * z_b


def interpolate(generator: torch.nn.Module, z_a: torch.Tensor, z_b: torch.Tensor, steps: int = 8,
                spherical: bool = True) -> torch.Tensor:
    """Images along the path from ``z_a`` to ``z_b``; returns ``(steps, C, H, W)``."""
    t = torch.linspace(0, 1, steps, device=z_a.device)
    z = slerp(z_a, z_b, t) if spherical else (1 - t[:, None]) * z_a + t[:, None] * z_b
    return sample(generator, z)


def latent_directions(latent_dim: int, count: int, seed: int = 0) -> torch.Tensor:
    """``count`` orthonormal directions in latent space, shape ``(count, latent_dim)``."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(latent_dim, count, generator=g))
    return q.T.contiguous()


def walk(generator: torch.nn.Module, z: torch.Tensor, direction: torch.Tensor,
         amounts: torch.Tensor | None = None) -> torch.Tensor:
    """Images at ``z + a * direction`` for each amount ``a``; returns ``(len(amounts), C, H, W)``."""
    amounts = torch.linspace(-3, 3, 7) if amounts is None else amounts
    amounts = amounts.to(z.device, z.dtype)
    return sample(generator, z[None] + amounts[:, None] * direction.to(z.device)[None])
