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


def test_wgan_gp_from_record_reads_the_benchmark_rows(tmp_path):
    import json
    row = {"modes": [7, 8], "quality": [0.4, 0.5], "median_dist": [0.1, 0.2], "seconds": 12.0}
    path = tmp_path / "wgan_gp_ring_1000.json"
    path.write_text(json.dumps({"b(0.5,0.9) lr1e-3 lambda=0.1": row,
                                "b(0.5,0.9) lr1e-3 lambda=10": {**row, "modes": [0, 7]}}))
    r = ls.wgan_gp_from_record(path)
    assert r.steps == 1000 and r.modes == {0.1: [7, 8], 10.0: [0, 7]} and r.quality[0.1] == [0.4, 0.5]
    with pytest.raises(KeyError, match="no row"):
        ls.wgan_gp_from_record(path, lr=1e-4)
    with pytest.raises(FileNotFoundError, match="wgan_gp_ring.py"):
        ls.wgan_gp_from_record(tmp_path / "wgan_gp_ring_5.json")
