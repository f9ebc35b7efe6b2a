"""Tests of facelab.metrics.privacy: nearest neighbours, memorisation ratio, membership AUC."""
import numpy as np
import pytest
import torch

from facelab.metrics.privacy import membership_auc, memorisation_ratio, nearest_neighbours


def test_nearest_neighbours_known_points():
    refs = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 10.0]])
    queries = torch.tensor([[2.0, 0.0], [0.0, 9.0]])
    d, i = nearest_neighbours(queries, refs, k=2)
    assert i.tolist() == [[1, 0], [2, 0]]
    assert torch.allclose(d, torch.tensor([[1.0, 2.0], [1.0, 9.0]]))


def test_nearest_neighbours_flattens_images_and_excludes_self():
    images = torch.randn(5, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    d, i = nearest_neighbours(images, images, k=1)
    assert torch.allclose(d[:, 0], torch.zeros(5), atol=1e-3) and i[:, 0].tolist() == list(range(5))
    d, i = nearest_neighbours(images, images, k=1, exclude_self=True)
    assert (i[:, 0] != torch.arange(5)).all() and (d > 0).all()


def test_nearest_neighbours_bad_input():
    with pytest.raises(ValueError, match="between 1 and 2"):
        nearest_neighbours(torch.zeros(1, 2), torch.zeros(2, 2), k=3)
    with pytest.raises(ValueError, match="same size"):
        nearest_neighbours(torch.zeros(1, 2), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="between 1 and 0"):
        nearest_neighbours(torch.zeros(1, 2), torch.zeros(1, 2), exclude_self=True)


def test_memorisation_ratio_detects_copies():
    g = torch.Generator().manual_seed(0)
    training, held_out = torch.randn(40, 16, generator=g), torch.randn(40, 16, generator=g)
    copies = training[:20] + 0.01 * torch.randn(20, 16, generator=g)
    fresh = torch.randn(20, 16, generator=g)
    assert memorisation_ratio(copies, training, held_out) > 50
    assert 0.7 < memorisation_ratio(fresh, training, held_out) < 1.4


def test_membership_auc_values():
    assert membership_auc([3, 4, 5], [0, 1, 2]) == 1.0
    assert membership_auc([0, 1], [2, 3]) == 0.0
    assert membership_auc([1, 1], [1, 1]) == 0.5  # ties count half
    rng = np.random.default_rng(0)
    assert abs(membership_auc(rng.normal(size=4000), rng.normal(size=4000)) - 0.5) < 0.03
    with pytest.raises(ValueError, match="both members and non-members"):
        membership_auc([], [1.0])
    with pytest.raises(ValueError, match="NaN"):
        membership_auc([float("nan")], [1.0])
