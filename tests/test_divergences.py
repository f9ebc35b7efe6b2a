"""facelab.experiments.divergences and facelab.metrics.seeds: properties that fail if the code is wrong."""
import math

import pytest
import torch

from facelab import theory
from facelab.data.toy import GaussianMixture
from facelab.experiments import divergences as dv
from facelab.metrics.seeds import compare_word, paired_difference, summarize


def _normal_js(shift: float) -> float:
    x = torch.linspace(-12, 12, 6001, dtype=torch.float64)
    pdf = lambda m: torch.exp(-0.5 * (x - m) ** 2) / math.sqrt(2 * math.pi)
    return theory.js_divergence(pdf(0.0), pdf(shift), float(x[1] - x[0]))


def test_recovered_js_of_two_gaussians_matches_the_grid():
    real = lambda n, r: torch.randn(n, 1, generator=r)
    fake = lambda n, r: torch.randn(n, 1, generator=r) + 1.0
    js = _normal_js(1.0)
    rec = dv.recover_js(real, fake, js, seeds=(0, 1, 2), steps=60, eval_samples=20_000)
    assert len(rec.js_hat) == 3
    for j in rec.js_hat:  # a lower bound, tight at D*: close below the grid value
        assert abs(j - js) < 0.1 * js + 0.005, (j, js)
    assert rec.summary.mean < js + 0.003


def test_untrained_discriminator_does_not_recover_js():
    real = lambda n, r: torch.randn(n, 1, generator=r)
    fake = lambda n, r: torch.randn(n, 1, generator=r) + 2.0
    js = _normal_js(2.0)
    rec = dv.recover_js(real, fake, js, seeds=(0, 1), steps=1, eval_samples=5000)
    assert max(rec.js_hat) < 0.5 * js  # one step of D is far from D*: the bound is loose


def test_mode_masses_counts_each_mode_and_the_rest():
    mix = dv.unequal_modes(0.2)
    x = torch.tensor([[-2.0], [-2.1], [2.0], [0.0]])
    masses = dv.mode_masses(x, mix)
    assert masses.tolist() == pytest.approx([0.5, 0.25, 0.25])
    assert float(masses.sum()) == pytest.approx(1.0)


def test_unequal_modes_rejects_bad_weight():
    with pytest.raises(ValueError, match="weight in"):
        dv.unequal_modes(1.5)


def test_d_on_data_reports_the_spread_of_a_known_discriminator():
    class Linear(torch.nn.Module):  # score = x: D = sigmoid(x)
        def forward(self, x):
            return x.flatten()
    mix = GaussianMixture(torch.tensor([[0.0]]), torch.tensor([1.0]), torch.tensor([1.0]))
    r = dv.d_on_data(Linear(), mix, n=50_000)
    assert r.q50 == pytest.approx(0.5, abs=0.01)
    assert r.q05 == pytest.approx(torch.sigmoid(torch.tensor(-1.645)).item(), abs=0.01)
    assert r.q95 == pytest.approx(torch.sigmoid(torch.tensor(1.645)).item(), abs=0.01)


def test_compare_generator_losses_tiny_run_shapes_and_pairing():
    cmp = dv.compare_generator_losses(seeds=(0, 1), steps=3, num_samples=500)
    for loss in ("minimax", "nonsaturating"):
        run = cmp.runs[loss]
        assert run.masses.shape == (2, 3)
        assert torch.allclose(run.masses.sum(1), torch.ones(2))
        assert all(0 <= j <= math.log(2) + 1e-6 for j in run.js)
    d = cmp.difference("off")
    assert d.values == pytest.approx(tuple(a - b for a, b in zip(cmp.values("nonsaturating", "off"),
                                                                 cmp.values("minimax", "off"))))


def test_seed_summary_interval_and_words():
    s = summarize([1.0, 2.0, 3.0])
    assert s.mean == 2.0 and s.std == pytest.approx(1.0)
    assert s.high - s.mean == pytest.approx(4.303 / math.sqrt(3))
    assert compare_word(paired_difference([2, 3, 4], [1, 2, 3.1])) == "more"
    assert compare_word(paired_difference([1, 2, 3.1], [2, 3, 4])) == "less"
    assert compare_word(paired_difference([1, 2, 3], [2, 1, 3])) == "no measurable difference in"
    with pytest.raises(ValueError, match="at least 2 seeds"):
        summarize([1.0])
    with pytest.raises(ValueError, match="one value per seed"):
        paired_difference([1, 2], [1])
