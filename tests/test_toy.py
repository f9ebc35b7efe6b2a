"""Tests of the toy GAN pieces: facelab.data.toy, facelab.models.toy and facelab.experiments.toy."""
from __future__ import annotations

import math

import pytest
import torch

from facelab import theory
from facelab.data.toy import GaussianMixture, high_quality_fraction, mixture_1d, modes_covered, ring_2d
from facelab.experiments import toy as X
from facelab.models.toy import ToyDiscriminator, ToyGenerator
from facelab.profile import get_profile

QUICK = get_profile("quick")

# The first optimiser a process builds imports torch._dynamo (seconds on a busy CPU); pay it once here,
# so that the test durations measure the tests.
torch.optim.Adam([torch.zeros(1, requires_grad=True)])


# ----------------------------------------------------------------------------- data/toy
def test_mixture_1d_pdf_integrates_to_one():
    grid = torch.linspace(-10, 10, 4001)
    p = mixture_1d().pdf(grid)
    assert p.shape == grid.shape and (p >= 0).all()
    assert float(p.sum() * (grid[1] - grid[0])) == pytest.approx(1.0, abs=1e-4)


def test_ring_pdf_integrates_to_one():
    ring = ring_2d(std=0.2)
    axis = torch.linspace(-4, 4, 401)
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    p = ring.pdf(torch.stack([xx.flatten(), yy.flatten()], 1))
    assert float(p.sum() * (axis[1] - axis[0]) ** 2) == pytest.approx(1.0, abs=1e-3)


def test_mixture_sample_moments():
    mix = mixture_1d()  # weights .4/.6 at -2/+2, stds .5/.7
    x = mix.sample(40_000, generator=torch.Generator().manual_seed(0)).flatten()
    mean = 0.4 * -2 + 0.6 * 2
    second = 0.4 * (4 + 0.25) + 0.6 * (4 + 0.49)
    assert float(x.mean()) == pytest.approx(mean, abs=0.03)
    assert float(x.var()) == pytest.approx(second - mean**2, rel=0.02)
    assert float((x > 0).float().mean()) == pytest.approx(0.6, abs=0.01)


def test_ring_geometry_and_sampling_shape():
    ring = ring_2d(modes=8, radius=2.0)
    assert ring.means.shape == (8, 2) and ring.dim == 2
    assert torch.allclose(ring.means.norm(dim=1), torch.full((8,), 2.0), atol=1e-6)
    assert ring.sample(5).shape == (5, 2)


def test_mixture_validation_errors():
    with pytest.raises(ValueError, match="sum to 1"):
        GaussianMixture(torch.zeros(2, 1), torch.ones(2), torch.tensor([0.5, 0.6]))
    with pytest.raises(ValueError, match="means must be"):
        GaussianMixture(torch.zeros(2), torch.ones(2), torch.tensor([0.5, 0.5]))


def test_modes_covered_and_quality_on_constructed_samples():
    ring = ring_2d()
    on_three = ring.means[[0, 2, 5]].repeat_interleave(100, dim=0)      # 100 each on modes 0, 2, 5
    assert modes_covered(on_three, ring) == 3
    assert high_quality_fraction(on_three, ring) == 1.0
    far = torch.zeros(300, 2)                                            # the centre: no mode within 3 std
    assert modes_covered(torch.cat([on_three, far]), ring) == 3
    assert high_quality_fraction(torch.cat([on_three, far]), ring) == pytest.approx(0.5)
    # a mode with only 2 of 302 samples falls below 20 % of the uniform share (302 / 8 * 0.2 = 7.55)
    few = torch.cat([on_three, ring.means[[7]].repeat(2, 1)])
    assert modes_covered(few, ring) == 3
    assert modes_covered(ring.sample(4000, generator=torch.Generator().manual_seed(0)), ring) == 8


# ----------------------------------------------------------------------------- models/toy
def test_toy_models_shapes():
    g = ToyGenerator(data_dim=2, latent_dim=5, hidden=16, depth=2)
    d = ToyDiscriminator(data_dim=2, hidden=16, depth=2)
    z = g.sample_latent(7)
    assert z.shape == (7, 5)
    assert g(z).shape == (7, 2)
    assert d(g(z)).shape == (7,)


# ----------------------------------------------------------------------------- experiments/toy
def test_torch_threads_restores_the_setting():
    before = torch.get_num_threads()
    with X.torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), X.torch_threads(1):
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before


def test_toy_grid_shapes():
    assert X.toy_grid(mixture_1d()).shape == (601,)
    grid2 = X.toy_grid(ring_2d(), points=11)
    assert grid2.shape == (121, 2)
    assert float(grid2.abs().max()) >= 2.25  # holds the ring and its spread


def test_binned_kde_matches_exact_kde():
    samples = mixture_1d().sample(3000, generator=torch.Generator().manual_seed(1))
    grid = torch.linspace(-6, 6, 601)
    fast, exact = X.binned_kde_1d(samples, grid, 0.1), theory.kde_1d(samples, grid, 0.1)
    assert float((fast - exact).abs().max()) < 0.01 * float(exact.max()) + 2e-3
    assert float(fast.sum() * (grid[1] - grid[0])) == pytest.approx(1.0, abs=1e-3)


def test_saturation_curves():
    curves = X.saturation_curves(points=200)
    p = curves.d_fake
    assert torch.allclose(curves.loss["minimax"], torch.log1p(-p), atol=1e-6)
    assert torch.allclose(curves.loss["nonsaturating"], -torch.log(p), atol=1e-6)
    assert torch.allclose(curves.loss["lsgan"], 0.5 * (p - 1) ** 2, atol=1e-9)
    # d/dscore log(1 - sigmoid(s)) = -p: vanishes as D(G(z)) -> 0; -log sigmoid(s) gives -(1 - p) -> -1
    assert torch.allclose(curves.grad_score["minimax"], -p, atol=1e-6)
    assert torch.allclose(curves.grad_score["nonsaturating"], -(1 - p), atol=1e-6)
    assert abs(float(curves.grad_score["minimax"][0])) < 1e-3 < abs(float(curves.grad_score["nonsaturating"][0]))
    assert torch.allclose(curves.grad_d["minimax"], -1 / (1 - p), rtol=1e-5)
    assert torch.allclose(curves.grad_d["lsgan"], p - 1, atol=1e-9)


def test_train_toy_gan_tiny_run_records_snapshots():
    run = X.train_toy_gan(mixture_1d(), steps=20, snapshot_steps=(0, 10), profile=QUICK,
                          settings=X.toy_settings(mixture_1d(), hidden=16, batch_size=32, num_samples=500))
    assert [s.step for s in run.snapshots] == [0, 10, 20]
    assert run.history.step[-1] == 20
    first = run.snapshots[0]
    assert first.samples.shape == (500, 1) and first.d_grid.shape == run.grid.shape
    assert first.density is not None and 0 <= first.js <= math.log(2) + 1e-6
    assert ((first.d_grid >= 0) & (first.d_grid <= 1)).all()
    assert run.js_steps == [0, 10, 20] and len(run.js_values) == 3
    g10 = run.generator_at(10)
    assert torch.allclose(X.sample_points(g10, 4, seed=0), X.sample_points(g10, 4, seed=0))
    with pytest.raises(KeyError, match="No snapshot at step 5"):
        run.generator_at(5)


def test_train_toy_gan_max_steps_and_2d():
    run = X.train_toy_gan(ring_2d(), "hinge", steps=50, max_steps=6, snapshot_steps=(0,), profile=QUICK,
                          settings=X.toy_settings(ring_2d(), hidden=16, batch_size=32, num_samples=200))
    assert [s.step for s in run.snapshots] == [0, 6]
    assert run.final.samples.shape == (200, 2) and run.final.density is None
    assert 0 <= run.modes() <= 8 and 0.0 <= run.quality() <= 1.0
    with pytest.raises(ValueError, match="snapshot_steps"):
        X.train_toy_gan(ring_2d(), steps=10, snapshot_steps=(20,), profile=QUICK)
    with pytest.raises(ValueError, match="Unknown GAN loss"):
        X.train_toy_gan(ring_2d(), "vanilla", steps=10, profile=QUICK)


def test_compare_losses_tiny():
    settings = X.toy_settings(ring_2d(), hidden=16, batch_size=32, num_samples=100)
    cmp = X.compare_losses(ring_2d(), ("minimax", "wgan-gp"), steps=3, seeds=(0, 1), profile=QUICK, settings=settings)
    assert cmp.losses == ["minimax", "wgan-gp"] and len(cmp.results) == 4
    rows = cmp.summary()
    assert [r["seeds"] for r in rows] == [2, 2]
    assert rows[0]["d_is_probability"] and not rows[1]["d_is_probability"]
    assert rows[1]["d_steps"] == 5 * rows[1]["g_steps"]
    table = cmp.to_markdown()
    assert table.count("\n") == 3 and "| wgan-gp |" in table


def test_generator_gradients_tiny():
    out = X.generator_gradients(mixture_1d(), d_steps=20, record_every=10,
                                settings=X.toy_settings(mixture_1d(), hidden=16, batch_size=64))
    assert out.d_steps == [0, 10, 20]
    assert set(out.grad_norm) == {"minimax", "nonsaturating"}
    assert all(len(v) == 3 and all(x > 0 for x in v) for v in out.grad_norm.values())
    assert out.d_fake[-1] < out.d_fake[0]  # D learns to reject G's samples


def test_optimal_discriminator_check_on_a_known_generator():
    """A generator that *is* the data distribution's second bump: D* is known in closed form."""
    mix = mixture_1d()

    class Shift(torch.nn.Module):
        latent_dim = 1

        def forward(self, z):
            return 2.0 + 0.7 * z

    gen = Shift()
    disc = X.fit_discriminator(gen, mix, steps=5, settings=X.toy_settings(mix, hidden=16))
    check = X.optimal_discriminator_check(gen, disc, mix, num_samples=5000)
    p_g = torch.exp(-0.5 * ((check.grid - 2) / 0.7) ** 2) / (0.7 * math.sqrt(2 * math.pi))
    error = (check.d_star - theory.optimal_discriminator(check.p_data, p_g))[check.mask].abs()
    assert float(error.mean()) < 0.02 and float(error.max()) < 0.1  # p_g is a kernel estimate from samples
    assert check.identity_error < 1e-3
    assert check.v_trained <= check.v_star + 1e-6
    assert 0 < check.js < math.log(2)
    with pytest.raises(ValueError, match="1-D"):
        X.optimal_discriminator_check(gen, disc, ring_2d())
