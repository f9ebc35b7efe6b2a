"""Tests of facelab.metrics.fairness.group_error_rates."""
import numpy as np
import pytest

from facelab.metrics.fairness import group_error_rates
from facelab.metrics.verification import make_pairs


def _setup():
    labels = np.repeat(np.arange(6), 4)  # 6 people, 4 images each
    group = (labels >= 3).astype(int)  # people 0-2 in group 0, 3-5 in group 1
    pairs, same = make_pairs(labels, 30, 200, seed=0)
    return labels, group, pairs, same


def test_rates_count_the_right_pairs():
    labels, group, pairs, same = _setup()
    g_a = group[pairs[:, 0]]
    # group 1's genuine pairs all fail, every other pair scores as the truth
    scores = np.where(same, 1.0, -1.0)
    scores[same & (g_a == 1)] = -1.0
    cross = group[pairs[:, 0]] != group[pairs[:, 1]]
    scores[~same & cross] = 1.0  # cross-group impostors are accepted but must not count
    rates = group_error_rates(scores, same, pairs, labels, {"g": group}, threshold=0.0, num_bootstrap=50)
    by_value = {r.value: r for r in rates}
    assert by_value[0].fnmr == 0.0 and by_value[1].fnmr == 1.0
    assert by_value[0].fmr == 0.0 and by_value[1].fmr == 0.0
    assert by_value[0].num_identities == 3 and by_value[1].num_identities == 3
    assert by_value[0].num_genuine + by_value[1].num_genuine == int(same.sum())
    assert by_value[0].num_impostor + by_value[1].num_impostor == int((~same & ~cross).sum())
    lo, hi = by_value[1].fnmr_ci
    assert lo == hi == 1.0


def test_interval_contains_rate():
    labels, group, pairs, same = _setup()
    rng = np.random.default_rng(1)
    scores = rng.normal(size=len(same)) + same
    for r in group_error_rates(scores, same, pairs, labels, {"g": group}, threshold=0.5, num_bootstrap=200):
        assert r.fnmr_ci[0] <= r.fnmr <= r.fnmr_ci[1]
        assert 0 <= r.fmr_ci[0] <= r.fmr_ci[1] <= 1


def test_group_must_be_a_property_of_the_person():
    labels, group, pairs, same = _setup()
    group = group.copy()
    group[0] = 1 - group[0]
    with pytest.raises(ValueError, match="differs between images of one person"):
        group_error_rates(np.zeros(len(same)), same, pairs, labels, {"g": group}, threshold=0.0)
    with pytest.raises(ValueError, match="same P pairs"):
        group_error_rates(np.zeros(3), same, pairs, labels, {"g": group}, threshold=0.0)
