"""Tests of facelab.metrics: known cases, cross-checks against scikit-learn, properties."""
from __future__ import annotations

import socket
import urllib.error

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.stats import norm
from sklearn import metrics as skm

from facelab import metrics as fm
from facelab.metrics import gan as gan_module


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any attempt to open a network connection."""

    def refuse(*args, **kwargs):
        raise OSError("network access is disabled in the tests")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def _separable(n: int = 50) -> tuple[np.ndarray, np.ndarray]:
    same = np.r_[np.ones(n, bool), np.zeros(n, bool)]
    scores = np.where(same, 0.8, 0.1) + np.linspace(0, 0.05, 2 * n)
    return scores, same


def _gaussian_pairs(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    same = np.r_[np.ones(n, bool), np.zeros(n, bool)]
    return np.where(same, 1.0, -1.0) + rng.normal(size=2 * n), same


# ----------------------------------------------------------------------------- classification
def test_classification_matches_sklearn() -> None:
    rng = np.random.default_rng(0)
    t, p = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    assert fm.accuracy(torch.from_numpy(t), p) == pytest.approx(skm.accuracy_score(t, p))
    prf = skm.precision_recall_fscore_support(t, p, average="macro", zero_division=0)[:3]
    assert fm.precision_recall_f1(t, p) == pytest.approx(prf)
    np.testing.assert_array_equal(fm.confusion_matrix(t, p), skm.confusion_matrix(t, p))


def test_classification_logits_and_fixed_classes() -> None:
    logits = torch.tensor([[2.0, 0.1, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 1.0]])
    assert fm.accuracy([0, 1, 1], logits) == pytest.approx(2 / 3)
    cm = fm.confusion_matrix([0, 1], [0, 1], num_classes=4)
    assert cm.shape == (4, 4) and cm.trace() == 2


def test_classification_bad_inputs() -> None:
    with pytest.raises(ValueError, match="same length"):
        fm.accuracy([0, 1, 2], [0, 1])
    with pytest.raises(ValueError, match="num_classes"):
        fm.confusion_matrix([0, 5], [0, 1], num_classes=3)
    with pytest.raises(ValueError, match="average"):
        fm.precision_recall_f1([0, 1], [0, 1], average="mean")


# ----------------------------------------------------------------------------- verification
def test_perfect_separation() -> None:
    scores, same = _separable()
    assert fm.auc(scores, same) == 1.0
    eer, threshold = fm.equal_error_rate(scores, same)
    assert eer == 0.0
    assert fm.far_frr(scores, same, threshold) == (0.0, 0.0)
    assert fm.tar_at_far(scores, same, 0.0) == 1.0
    assert fm.verification_accuracy(scores, same, fm.best_threshold(scores, same)) == 1.0


def test_reversed_and_random_scores() -> None:
    scores, same = _separable()
    assert fm.auc(-scores, same) == 0.0
    assert fm.equal_error_rate(-scores, same)[0] == 1.0
    rng = np.random.default_rng(1)
    same = rng.random(20000) < 0.5
    assert fm.auc(rng.random(20000), same) == pytest.approx(0.5, abs=0.02)


def test_symmetric_gaussians_eer_at_midpoint() -> None:
    scores, same = _gaussian_pairs()
    eer, threshold = fm.equal_error_rate(scores, same)
    assert threshold == pytest.approx(0.0, abs=0.06)
    assert eer == pytest.approx(norm.cdf(-1.0), abs=0.015)
    far, frr = fm.far_frr(scores, same, threshold)
    assert far == pytest.approx(frr, abs=0.005)
    assert fm.best_threshold(scores, same) == pytest.approx(0.0, abs=0.15)


def test_roc_auc_and_tar_match_sklearn() -> None:
    scores, same = _gaussian_pairs(500, seed=3)
    curve = fm.roc(scores, same)
    far, tar, _ = skm.roc_curve(same, scores)
    assert curve.auc == pytest.approx(skm.auc(far, tar))
    assert fm.auc(scores, same) == pytest.approx(skm.roc_auc_score(same, scores))
    np.testing.assert_allclose(curve.frr, 1 - curve.tar)
    for target in (0.0, 0.01, 0.1, 0.5):
        assert fm.tar_at_far(scores, same, target) == pytest.approx(tar[far <= target].max())
    result = fm.tar_at_far(scores, same, np.array([[0.01], [0.1]]))
    assert result.shape == (2, 1)


def test_far_frr_and_accuracy_by_hand() -> None:
    scores = np.array([0.9, 0.6, 0.4, 0.7, 0.2, 0.1])
    same = np.array([1, 1, 1, 0, 0, 0])
    assert fm.far_frr(scores, same, 0.5) == pytest.approx((1 / 3, 1 / 3))
    assert fm.verification_accuracy(scores, same, 0.5) == pytest.approx(4 / 6)
    assert fm.verification_accuracy(scores, same, fm.best_threshold(scores, same)) == pytest.approx(5 / 6)


def test_kfold_separable_and_given_folds() -> None:
    scores, same = _separable(100)
    result = fm.kfold_verification(scores, same)
    assert result.mean == 1.0 and result.std == 0.0
    assert len(result.accuracies) == 10 and str(result) == "1.0000 ± 0.0000"

    # Given folds (any ids, uneven sizes) are used as they are: compare with the protocol by hand.
    noisy, labels = _gaussian_pairs(60, seed=5)
    folds = np.random.default_rng(0).permutation(np.r_[np.full(30, 7), np.full(50, 3), np.full(40, 9)])
    result = fm.kfold_verification(noisy, labels, folds=torch.from_numpy(folds))
    expected = []
    for f in (3, 7, 9):
        t = fm.best_threshold(noisy[folds != f], labels[folds != f])
        expected.append(fm.verification_accuracy(noisy[folds == f], labels[folds == f], t))
    np.testing.assert_allclose(result.accuracies, expected)


def test_kfold_gaussian_close_to_best_accuracy() -> None:
    scores, same = _gaussian_pairs(1000)
    result = fm.kfold_verification(scores, same, num_folds=5, seed=1)
    assert result.mean == pytest.approx(norm.cdf(1.0), abs=0.03)
    assert result.thresholds.shape == (5,) and 0 < result.std < 0.05


def test_make_pairs_labels_and_determinism() -> None:
    labels = np.repeat(np.arange(6), [1, 2, 3, 4, 5, 6])
    pairs, same = fm.make_pairs(labels, 30, 40, seed=3)
    assert pairs.shape == (70, 2) and same.sum() == 30
    assert (pairs[:, 0] != pairs[:, 1]).all()
    np.testing.assert_array_equal(labels[pairs[:, 0]] == labels[pairs[:, 1]], same)
    assert len({tuple(sorted(p)) for p in pairs.tolist()}) == 70
    again, _ = fm.make_pairs(torch.from_numpy(labels), 30, 40, seed=3)
    np.testing.assert_array_equal(pairs, again)
    assert not np.array_equal(pairs, fm.make_pairs(labels, 30, 40, seed=4)[0])
    everything, _ = fm.make_pairs(labels, 1 + 3 + 6 + 10 + 15, 0)  # all genuine pairs
    assert len({tuple(p) for p in everything.tolist()}) == 35


def test_make_pairs_errors() -> None:
    with pytest.raises(ValueError, match="two or more images"):
        fm.make_pairs(np.arange(10), 1, 5)
    with pytest.raises(ValueError, match="at least two people"):
        fm.make_pairs(np.zeros(10, int), 5, 1)


def test_cosine_scores() -> None:
    embeddings = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0], [-1.0, 0.0]])
    scores = fm.cosine_scores(embeddings, np.array([[0, 1], [0, 2], [0, 3]]))
    np.testing.assert_allclose(scores, [1.0, 0.0, -1.0], atol=1e-12)
    np.testing.assert_allclose(fm.paired_cosine_scores(embeddings[:2], embeddings[2:]), [0.0, -1.0], atol=1e-12)
    with pytest.raises(ValueError, match="index images"):
        fm.cosine_scores(embeddings, np.array([[0, 4]]))


def test_verification_bad_inputs() -> None:
    with pytest.raises(ValueError, match="same length"):
        fm.auc([0.1, 0.2, 0.3], [1, 0])
    with pytest.raises(ValueError, match="both genuine and impostor"):
        fm.equal_error_rate([0.1, 0.2], [1, 1])
    with pytest.raises(ValueError, match="bool or 0/1"):
        fm.roc([0.1, 0.2], [2, 0])
    with pytest.raises(ValueError, match=r"far must lie in \[0, 1\]"):
        fm.tar_at_far([0.1, 0.2], [1, 0], 1.5)
    with pytest.raises(ValueError, match="folds need at least"):
        fm.kfold_verification([0.1, 0.2, 0.3], [1, 0, 1])


score_arrays = hnp.arrays(np.float64, st.integers(4, 60), elements=st.floats(-10, 10, allow_nan=False))


@settings(max_examples=40, deadline=None)
@given(scores=score_arrays, data=st.data())
def test_properties(scores: np.ndarray, data: st.DataObject) -> None:
    n = len(scores)
    same = np.zeros(n, bool)
    same[: data.draw(st.integers(1, n - 1))] = True
    eer, _ = fm.equal_error_rate(scores, same)
    area = fm.auc(scores, same)
    assert 0.0 <= eer <= 1.0 and 0.0 <= area <= 1.0
    order = np.random.default_rng(data.draw(st.integers(0, 1000))).permutation(n)
    assert fm.auc(scores[order], same[order]) == pytest.approx(area)
    assert fm.equal_error_rate(scores[order], same[order])[0] == pytest.approx(eer)
    fars = np.sort(np.asarray(data.draw(st.lists(st.floats(0, 1), min_size=2, max_size=6))))
    tars = fm.tar_at_far(scores, same, fars)
    assert np.all(np.diff(tars) >= 0) and np.all((tars >= 0) & (tars <= 1))
    best = fm.verification_accuracy(scores, same, fm.best_threshold(scores, same))
    assert best >= max(fm.verification_accuracy(scores, same, t) for t in scores)


# ----------------------------------------------------------------------------- GAN metrics
def test_fid_identical_and_shifted() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 8))
    assert fm.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    mu = np.array([1.0, -2.0, 0.5, 0, 0, 0, 0, 3.0])
    assert fm.frechet_distance(a, a + mu) == pytest.approx(mu @ mu, rel=1e-6)
    b = rng.normal(size=(400, 8)) * 1.5 + 0.3
    assert fm.frechet_distance(a, b) == pytest.approx(fm.frechet_distance(b, a), rel=1e-6)


def test_fid_closed_form_for_gaussians() -> None:
    # N(0, I) vs N(mu, s^2 I) in d dims: FID = ||mu||^2 + d (1 - s)^2.
    rng = np.random.default_rng(1)
    d, s = 4, 2.0
    mu = np.full(d, 0.5)
    a = rng.normal(size=(20000, d))
    b = mu + s * rng.normal(size=(20000, d))
    assert fm.frechet_distance(torch.from_numpy(a), b) == pytest.approx(mu @ mu + d * (1 - s) ** 2, rel=0.05)


def test_kid_same_and_shifted() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(400, 16)), rng.normal(size=(400, 16))
    same_mean, same_std = fm.kernel_inception_distance(a, b, subset_size=200)
    shifted_mean, _ = fm.kernel_inception_distance(a, b + 1.0, subset_size=200)
    assert abs(same_mean) < 3 * same_std + 0.01
    assert shifted_mean > 0.5 and shifted_mean > 20 * abs(same_mean)
    assert fm.kernel_inception_distance(a[:50], b, subset_size=1000)[0] == pytest.approx(
        fm.kernel_inception_distance(a[:50], b, subset_size=50)[0]
    )


def test_gan_metric_bad_inputs() -> None:
    with pytest.raises(ValueError, match="same dimension"):
        fm.frechet_distance(np.zeros((10, 3)), np.zeros((10, 4)))
    with pytest.raises(ValueError, match="at least 2"):
        fm.kernel_inception_distance(np.zeros((1, 3)), np.zeros((10, 3)))


def test_extract_features_batches_and_restores_mode() -> None:
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 2), torch.nn.Dropout(0.5))
    net.train()
    images = torch.randn(10, 3, 8, 8)
    features = fm.extract_features(net, images, batch_size=3)
    assert features.shape == (10, 2) and features.device.type == "cpu" and not features.requires_grad
    net.eval()
    np.testing.assert_allclose(features.numpy(), net(images).detach().numpy(), rtol=1e-5, atol=1e-6)
    assert fm.extract_features(net, images, batch_size=100).shape == (10, 2)


def test_fid_kid_baselines() -> None:
    rng = np.random.default_rng(3)
    real = rng.normal(size=(400, 6))
    noise = rng.normal(size=(200, 6)) * 3 + 2
    result = fm.fid_kid_baselines(real, noise)
    assert result["fid_real_vs_real"] < 0.5 < result["fid_real_vs_noise"]
    assert result["kid_real_vs_real"] < result["kid_real_vs_noise"]
    assert set(fm.fid_kid_baselines(real)) == {"fid_real_vs_real", "kid_real_vs_real", "kid_real_vs_real_std"}


def test_inception_extractor_fails_cleanly_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.models

    def no_weights(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torchvision.models, "inception_v3", no_weights)
    with pytest.raises(RuntimeError, match="face embedder"):
        gan_module.inception_feature_extractor()
