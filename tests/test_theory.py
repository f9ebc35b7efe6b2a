"""Tests of facelab.theory on densities whose answers are known in closed form."""
from __future__ import annotations

import math

import pytest
import torch

from facelab import theory

GRID = torch.linspace(-12, 12, 4801, dtype=torch.float64)
DX = float(GRID[1] - GRID[0])


def normal_pdf(x: torch.Tensor, mean: float = 0.0, std: float = 1.0) -> torch.Tensor:
    return torch.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))


def uniform_pdf(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    inside = (x >= low) & (x < high)
    return inside.to(x.dtype) / (inside.sum() * DX)  # normalised on the grid


def test_optimal_discriminator_pointwise():
    p_data = torch.tensor([1.0, 0.0, 3.0, 0.0, 0.2])
    p_g = torch.tensor([1.0, 2.0, 1.0, 0.0, 0.2])
    d = theory.optimal_discriminator(p_data, p_g)
    assert torch.allclose(d, torch.tensor([0.5, 0.0, 0.75, 0.5, 0.5]))


def test_optimal_discriminator_maximises_the_value_function():
    p, q = normal_pdf(GRID, 0, 1), normal_pdf(GRID, 1.5, 0.7)
    d_star = theory.optimal_discriminator(p, q)
    v_star = theory.value_function(d_star, p, q, DX)
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        other = (d_star + 0.1 * torch.randn(GRID.shape, generator=g, dtype=GRID.dtype)).clamp(0.01, 0.99)
        assert theory.value_function(other, p, q, DX) < v_star
    assert theory.value_function(torch.full_like(p, 0.5), p, q, DX) == pytest.approx(-math.log(4), abs=1e-6)


@pytest.mark.parametrize("mean,std", [(0.0, 1.0), (1.0, 1.0), (3.0, 0.5), (6.0, 1.0)])
def test_value_at_optimum_is_minus_log_4_plus_2_js(mean, std):
    p, q = normal_pdf(GRID), normal_pdf(GRID, mean, std)
    v_star = theory.value_function(theory.optimal_discriminator(p, q), p, q, DX)
    assert v_star == pytest.approx(-math.log(4) + 2 * theory.js_divergence(p, q, DX), abs=1e-6)


def test_js_zero_for_identical_and_symmetric():
    p, q = normal_pdf(GRID), normal_pdf(GRID, 1.0, 2.0)
    assert theory.js_divergence(p, p, DX) == pytest.approx(0.0, abs=1e-12)
    assert theory.js_divergence(p, q, DX) == pytest.approx(theory.js_divergence(q, p, DX), abs=1e-12)
    assert 0 < theory.js_divergence(p, q, DX) < math.log(2)


def test_js_is_log_2_for_disjoint_supports():
    p, q = uniform_pdf(GRID, -3, -1), uniform_pdf(GRID, 1, 3)
    assert theory.js_divergence(p, q, DX) == pytest.approx(math.log(2), abs=1e-9)


def test_js_grows_with_separation():
    values = [theory.js_divergence(normal_pdf(GRID), normal_pdf(GRID, m), DX) for m in (0.5, 1, 2, 4)]
    assert values == sorted(values)


def test_kl_of_gaussians_matches_closed_form():
    # KL(N(0,1) || N(m,s^2)) = log s + (1 + m^2) / (2 s^2) - 1/2
    m, s = 1.0, 2.0
    expected = math.log(s) + (1 + m**2) / (2 * s**2) - 0.5
    assert theory.kl_divergence(normal_pdf(GRID), normal_pdf(GRID, m, s), DX) == pytest.approx(expected, abs=1e-6)
    assert theory.kl_divergence(normal_pdf(GRID), normal_pdf(GRID), DX) == pytest.approx(0.0, abs=1e-12)


def test_kde_integrates_to_one_and_matches_the_density():
    samples = torch.randn(5000, generator=torch.Generator().manual_seed(0))
    grid = torch.linspace(-6, 6, 241)
    dens = theory.kde_1d(samples, grid)
    assert float(dens.sum() * (grid[1] - grid[0])) == pytest.approx(1.0, abs=1e-3)
    assert float((dens - normal_pdf(grid.double()).float()).abs().max()) < 0.02
    narrow = theory.kde_1d(samples, grid, bandwidth=0.05)
    assert float(narrow.sum() * (grid[1] - grid[0])) == pytest.approx(1.0, abs=1e-3)


def test_value_function_in_float32_where_d_is_one():
    p_data = torch.tensor([1.0, 0.0])
    p_g = torch.tensor([0.0, 1.0])
    d_star = theory.optimal_discriminator(p_data, p_g)  # [1, 0]: a perfect discriminator
    assert theory.value_function(d_star, p_data, p_g, 1.0) == pytest.approx(0.0, abs=1e-6)
