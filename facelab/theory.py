"""The GAN theory of Goodfellow et al. (2014), computed on a grid.

For a fixed generator with density ``p_g`` the discriminator that maximises
``V(D, G) = E_{p_data}[log D(x)] + E_{p_g}[log(1 - D(x))]`` is

    D*(x) = p_data(x) / (p_data(x) + p_g(x)),

and at that optimum ``V(D*, G) = -log 4 + 2 JS(p_data || p_g)``: training G against
an optimal D minimises the Jensen-Shannon divergence, whose minimum ``-log 4`` is
reached exactly when ``p_g = p_data``. These functions evaluate each side of those
statements on a 1-D grid so chapter 01 can check them numerically.
"""
from __future__ import annotations

import math

import torch

_EPS = 1e-12


def optimal_discriminator(p_data: torch.Tensor, p_model: torch.Tensor) -> torch.Tensor:
    """``D*(x) = p_data / (p_data + p_model)`` pointwise (0.5 where both vanish)."""
    total = p_data + p_model
    return torch.where(total > _EPS, p_data / total.clamp_min(_EPS), torch.full_like(total, 0.5))


def value_function(d: torch.Tensor, p_data: torch.Tensor, p_model: torch.Tensor, dx: float) -> float:
    """``V(D, G) = integral p_data log D + p_g log(1 - D) dx`` by the rectangle rule."""
    # float64 (where 1 - 1e-12 < 1) and xlogy (0 * log 0 = 0): no NaN where D = 1 and p_g = 0
    d, p_data, p_model = d.double().clamp(_EPS, 1 - _EPS), p_data.double(), p_model.double()
    return float(((torch.xlogy(p_data, d) + torch.xlogy(p_model, 1 - d)) * dx).sum())


def kl_divergence(p: torch.Tensor, q: torch.Tensor, dx: float) -> float:
    """``KL(p || q) = integral p log(p / q) dx`` (terms with ``p = 0`` contribute 0)."""
    mask = p > _EPS
    return float((p[mask] * (p[mask] / q[mask].clamp_min(_EPS)).log() * dx).sum())


def js_divergence(p: torch.Tensor, q: torch.Tensor, dx: float) -> float:
    """Jensen-Shannon divergence ``1/2 KL(p || m) + 1/2 KL(q || m)``, ``m = (p + q) / 2``; in ``[0, log 2]``."""
    m = 0.5 * (p + q)
    return 0.5 * kl_divergence(p, m, dx) + 0.5 * kl_divergence(q, m, dx)


def kde_1d(samples: torch.Tensor, grid: torch.Tensor, bandwidth: float | None = None) -> torch.Tensor:
    """Gaussian kernel density estimate of 1-D ``samples`` on ``grid``.

    Args:
        samples: ``(n,)`` or ``(n, 1)`` sample values.
        grid: ``(m,)`` evaluation points.
        bandwidth: kernel width; defaults to Silverman's rule ``1.06 sigma n^(-1/5)``.

    Returns:
        ``(m,)`` density values (integrating to ~1 over a wide enough grid).
    """
    x = samples.reshape(-1).double()
    if bandwidth is None:
        bandwidth = max(1.06 * float(x.std()) * x.numel() ** (-0.2), 1e-3)
    z = (grid.double()[:, None] - x[None, :]) / bandwidth
    dens = torch.exp(-0.5 * z**2).sum(1) / (x.numel() * bandwidth * math.sqrt(2 * math.pi))
    return dens.to(grid.dtype)
