"""facelab.experiments.loss_seeds: the weighting identities and tiny runs."""
import pytest
import torch

from facelab.data.toy import ring_2d
from facelab.experiments import loss_seeds as ls


def test_score_weights_are_d_and_one_minus_d():
    d = torch.tensor([1e-4, 0.01, 0.3, 0.5, 0.9])
    assert torch.allclose(ls.score_weights("minimax", d), d.double(), rtol=1e-6)
    assert torch.allclose(ls.score_weights("nonsaturating", d), 1 - d.double(), rtol=1e-6)


def test_score_weights_reject_scores_and_bad_probabilities():
    with pytest.raises(ValueError, match="cross-entropy"):
        ls.score_weights("wgan-gp", torch.tensor([0.5]))
    with pytest.raises(ValueError, match="strictly inside"):
        ls.score_weights("minimax", torch.tensor([0.0, 0.5]))


def test_effective_fraction():
    assert ls.effective_fraction(torch.ones(10)) == pytest.approx(1.0)
    assert ls.effective_fraction(torch.tensor([1.0] + [0.0] * 9)) == pytest.approx(0.1)


def test_strong_d_start_tiny():
    r = ls.strong_d_start(ring_2d(), seeds=(0, 1), d_pretrain=30, g_steps=2, num_samples=300)
    assert all(p < 0.5 for p in r.d_fake_start)  # D learned to reject the untrained G
    for i in range(2):  # the identities on the measured D values
        assert torch.allclose(r.weights_start["minimax"][i] + r.weights_start["nonsaturating"][i],
                              torch.ones(300), atol=1e-5)
    assert set(r.distance) == {"minimax", "nonsaturating"} and len(r.modes["minimax"]) == 2


def test_wgan_gp_seeds_tiny_members_per_weight():
    r = ls.wgan_gp_seeds(ring_2d(), seeds=(0, 1), gp_weights=(0.1, 10.0), steps=2, num_samples=200)
    assert set(r.modes) == {0.1, 10.0} and all(len(v) == 2 for v in r.modes.values())
    assert all(0 <= q <= 1 for v in r.quality.values() for q in v)


def test_wgan_gp_summary_words_follow_the_paired_interval():
    def result(small, paper):
        return ls.WGANGPSeeds(1000, 1e-3, (0.5, 0.9), list(range(5)), {0.1: small, 10.0: paper},
                              {0.1: [0.5] * 5, 10.0: [0.1] * 5}, 1.0)

    assert "gives more modes than" in ls.wgan_gp_summary(result([8, 8, 7, 8, 8], [0, 1, 0, 2, 0]), 200)
    assert "gives fewer modes than" in ls.wgan_gp_summary(result([0, 1, 0, 2, 0], [8, 8, 7, 8, 8]), 200)
    assert "no measurably different" in ls.wgan_gp_summary(result([8, 0, 8, 0, 8], [0, 8, 0, 8, 1]), 200)
    assert "7.8 ± 0.4" in ls.wgan_gp_summary(result([8, 8, 7, 8, 8], [0, 1, 0, 2, 0]), 200)


def test_wgan_gp_summary_without_a_run_names_the_budget_and_the_call():
    text = ls.wgan_gp_summary(None, 200)
    assert "200 generator" in text and "wgan_gp_seeds(ring)" in text and "prediction" in text
