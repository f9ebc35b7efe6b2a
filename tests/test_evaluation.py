"""Tests of facelab.experiments.evaluation and facelab.threshold_explorer on small hand-made data."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from torch import nn

from facelab import threshold_explorer as te
from facelab.data.base import FaceTensorDataset
from facelab.experiments import evaluation as ev
from facelab.experiments import face_gan
from facelab.metrics import equal_error_rate, roc


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _gaussian_scores(n_genuine: int = 200, n_impostor: int = 2000, seed: int = 0):
    rng = np.random.default_rng(seed)
    same = np.r_[np.ones(n_genuine, bool), np.zeros(n_impostor, bool)]
    scores = np.where(same, 0.6, 0.1) + 0.15 * rng.normal(size=same.size)
    return scores, same


class _MeanColour(nn.Module):
    """A toy 'embedder': the mean colour of the image plus a constant, so images of one colour match."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return torch.cat([x.mean(dim=(2, 3)), torch.full((x.shape[0], 1), 0.1)], dim=1) * self.scale


class _ColourStats(nn.Module):
    """Toy features for FID/KID: per-channel mean and standard deviation of the pixels."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1) * self.scale


def _colour_faces(num_ids: int = 6, per_id: int = 5, seed: int = 0) -> FaceTensorDataset:
    g = torch.Generator().manual_seed(seed)
    colours = torch.rand(num_ids, 3, generator=g) * 2 - 1
    labels = torch.arange(num_ids).repeat_interleave(per_id)
    images = colours[labels][:, :, None, None] + 0.02 * torch.randn(labels.numel(), 3, 8, 8, generator=g)
    return FaceTensorDataset(images.clamp(-1, 1), labels)


# ----------------------------------------------------------------------------- decisions at a threshold
def test_classification_report_at_counts_a_hand_made_case():
    scores = np.array([0.9, 0.8, 0.3, 0.7, 0.2, 0.1])
    same = np.array([True, True, True, False, False, False])
    r = ev.classification_report_at(scores, same, threshold=0.5)
    np.testing.assert_array_equal(r.confusion, [[2, 1], [1, 2]])  # rows impostor/genuine, cols reject/accept
    assert r.accuracy == pytest.approx(4 / 6)
    assert r.precision == pytest.approx(2 / 3) and r.recall == pytest.approx(2 / 3)
    assert r.f1 == pytest.approx(2 / 3)
    assert r.far == pytest.approx(1 / 3) and r.frr == pytest.approx(1 / 3)
    strict = ev.classification_report_at(scores, same, threshold=2.0)  # accept nothing
    assert strict.precision == 0.0 and strict.recall == 0.0 and strict.f1 == 0.0 and strict.far == 0.0


def test_metrics_vs_pair_mix_matches_resampled_test_sets():
    scores, same = _gaussian_scores()
    mix = ev.metrics_vs_pair_mix(scores, same, threshold=0.35, ratios=(1, 10))
    # build the 1:1 mix explicitly: the formula must agree with counting
    genuine, impostor = scores[same], scores[~same]
    acc_1 = 0.5 * ((genuine >= 0.35).mean() + (impostor < 0.35).mean())
    assert mix.accuracy[0] == pytest.approx(acc_1)
    assert mix.always_reject_accuracy.tolist() == pytest.approx([0.5, 10 / 11])
    assert mix.precision[1] < mix.precision[0]  # more impostors: more of the accepts are false
    assert mix.recall == pytest.approx((genuine >= 0.35).mean())
    with pytest.raises(ValueError, match="positive"):
        ev.metrics_vs_pair_mix(scores, same, 0.35, ratios=(0, 1))


# ----------------------------------------------------------------------------- verification
def test_verification_scores_pairs_unseen_faces_and_separates_colours():
    faces = _colour_faces()
    result = ev.verification_scores(_MeanColour(), faces, num_genuine=40, num_impostor=200, seed=1)
    assert result.num_genuine == 40 and result.num_impostor == 200 and result.num_identities == 6
    assert result.scores[result.same].min() > 0.99  # same colour: almost identical embeddings
    assert ev.verification_report(result, num_folds=5).auc > 0.9
    clipped = ev.verification_scores(_MeanColour(), faces, num_genuine=10_000, num_impostor=50)
    assert clipped.num_genuine == 6 * 10  # every genuine pair that exists (6 ids x C(5, 2))
    with pytest.raises(TypeError, match="train_face_recognizer"):
        ev.verification_scores("not a model", faces)


def test_verification_report_eer_tar_and_kfold():
    scores, same = _gaussian_scores()
    report = ev.verification_report(ev.VerificationScores(scores, same), fars=(1e-2, 1e-3), num_folds=10)
    assert 0 <= report.eer < 0.5
    assert report.far_at_eer == pytest.approx(report.frr_at_eer, abs=0.02)
    assert report.tar_at_far[1e-2] is not None and report.tar_at_far[1e-3] is None  # 2000 impostors: 2 < 10
    assert report.kfold.accuracies.size == 10
    assert report.kfold.accuracies.min() <= report.kfold.mean <= report.kfold.accuracies.max()
    assert report.num_genuine == 200 and report.num_impostor == 2000


def test_balanced_subset_and_official_folds():
    scores, same = _gaussian_scores()
    bal = ev.VerificationScores(scores, same).balanced(seed=0)
    assert bal.num_genuine == bal.num_impostor == 200
    folds = np.arange(scores.size) % 4
    report = ev.verification_report(ev.VerificationScores(scores, same, folds=folds))
    assert report.kfold.accuracies.size == 4  # the given folds, not num_folds


def test_lfw_verification_uses_official_folds(monkeypatch):
    from facelab.data import real

    faces = _colour_faces(num_ids=4, per_id=10)
    n = 20  # 10 genuine then 10 impostor pairs, in 2 folds of 5 + 5
    a = faces.images[torch.arange(n) % 40]
    b = torch.cat([faces.images[torch.arange(10) % 40 + 1], faces.images[(torch.arange(10) + 15) % 40]])
    same = torch.arange(n) < 10
    folds = torch.tensor([0] * 5 + [1] * 5 + [0] * 5 + [1] * 5)
    fake = real.LfwPairs(a, b, same, folds)
    monkeypatch.setattr(real, "load_lfw_pairs", lambda **kwargs: fake)
    result = ev.lfw_verification(_MeanColour(), size=8, download=False)
    np.testing.assert_array_equal(result.folds, folds.numpy())
    class Split:  # the full profile's recognition split carries the pairs: nothing is loaded
        lfw_pairs = fake
    monkeypatch.setattr(real, "load_lfw_pairs", None)
    np.testing.assert_array_equal(ev.lfw_verification(_MeanColour(), Split()).scores, result.scores)
    assert ev.verification_report(result, fars=()).kfold.accuracies.size == 2


# ----------------------------------------------------------------------------- plots and widget
def test_static_plots_return_figures():
    scores, same = _gaussian_scores()
    _, t = equal_error_rate(scores, same)
    assert isinstance(te.plot_threshold_state(scores, same, t), Figure)
    assert isinstance(te.plot_threshold_tradeoff(scores, same, marks={"strict": 0.5}), Figure)
    assert isinstance(te.plot_threshold_tradeoff(scores, same, thresholds=np.linspace(-0.5, 1.2, 50)), Figure)
    other = roc(scores + 0.1 * np.random.default_rng(1).normal(size=scores.size), same)
    assert isinstance(te.plot_roc({"a": roc(scores, same), "b": other}, far_marks=(1e-2, 1e-1)), Figure)
    assert isinstance(te.plot_pair_mix(ev.metrics_vs_pair_mix(scores, same, t)), Figure)
    with pytest.raises(ValueError, match="empty"):
        te.plot_roc({})
    with pytest.raises(ValueError, match="two values"):
        te.plot_threshold_tradeoff(scores, same, thresholds=[0.3])


def test_threshold_explorer_builds_and_reacts():
    widgets = pytest.importorskip("ipywidgets")
    scores, same = _gaussian_scores(50, 300)
    box = te.threshold_explorer(scores, same)
    assert isinstance(box, widgets.VBox)
    slider, readout = box.children[0], box.children[1]
    _, t = equal_error_rate(scores, same)
    assert slider.value == pytest.approx(t, abs=slider.step)
    slider.value = slider.max  # strictest threshold: (almost) nothing accepted
    assert "FAR</b> 0.0000" in readout.value


def test_plot_fid_over_training_with_hand_made_curve():
    curve = ev.FidKidCurve(steps=[100, 200, 300], fid=[0.5, 0.2, 0.1], kid=[0.05, 0.02, 0.01],
                           kid_std=[0.01] * 3, num_samples=64, feature_dim=8,
                           baselines={"fid_real_vs_real": 0.01, "kid_real_vs_real": -1e-4,
                                      "fid_real_vs_noise": 2.0, "kid_real_vs_noise": 0.5})
    assert curve.final_fid == 0.1 and curve.final_kid == 0.01
    assert isinstance(ev.plot_fid_over_training(curve), Figure)


def test_fid_kid_over_training_measures_chapter_03_gan_without_changing_it():
    from facelab import get_profile

    profile = get_profile("quick").replace(gan_channels=4, gan_batch_size=8, gan_steps=4, sample_every=2,
                                           latent_dim=8)
    faces = _colour_faces(num_ids=8, per_id=5)
    faces = FaceTensorDataset(torch.nn.functional.interpolate(faces.images, size=32), faces.labels)
    curve = ev.fid_kid_over_training(profile, _ColourStats(), data=faces, num_samples=16, seed=0, progress=False)
    assert curve.steps == [2, 4] and len(curve.fid) == len(curve.kid) == 2
    assert all(np.isfinite(curve.fid)) and curve.num_samples == 16 and curve.feature_dim == 6
    assert curve.baselines["fid_real_vs_real"] < curve.baselines["fid_real_vs_noise"]
    # the same run without the measurements gives the same generator: measuring draws no random numbers
    plain = face_gan.train_face_gan(profile, data=faces, seed=0, progress=False)
    for a, b in zip(plain.generator.state_dict().values(), curve.run.generator.state_dict().values()):
        torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="multiple"):
        ev.fid_kid_over_training(profile, _MeanColour(), data=faces, every=3, num_samples=16)
