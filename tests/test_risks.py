"""Tests of chapter 07's experiments (facelab.experiments.risks) and their figures, at tiny sizes."""
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from facelab.data.synthetic import make_synthetic_faces
from facelab.experiments import fairness, risks
from facelab.figures import risks as risk_plots
from facelab.experiments.evaluation import verification_scores
from facelab.models.dcgan import Discriminator, Generator
from facelab.models.recognition import FaceEmbedder
from facelab.profile import get_profile
from facelab.train.gan import GANHistory


def test_threshold_at_far_known_values():
    scores = np.array([0.9, 0.8, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.05, 0.15, 0.25])
    same = np.array([True, True] + [False] * 10)
    t = risks.threshold_at_far(scores, same, 0.2)  # 10 impostors: at most 2 accepted
    assert 0.5 < t <= 0.5 + 1e-9
    assert (scores[~same] >= t).sum() == 2
    assert (scores[~same] >= risks.threshold_at_far(scores, same, 0.05)).sum() == 0
    with pytest.raises(ValueError, match=r"in \(0, 1\)"):
        risks.threshold_at_far(scores, same, 0.0)
    with pytest.raises(ValueError, match="no impostor pairs"):
        risks.threshold_at_far(scores[:2], same[:2], 0.1)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    faces = make_synthetic_faces(num_identities=6, images_per_identity=4, size=32, seed=3)
    generator = Generator(latent_dim=8, channels=4, image_size=32)
    embedder = FaceEmbedder(embedding_dim=8, channels=4, image_size=32)
    return faces, generator, embedder


def test_impostor_experiment(tiny):
    faces, generator, embedder = tiny
    result = risks.impostor_experiment(generator, embedder, faces, threshold=0.5, far_target=0.01,
                                       genuine_accept=0.9, num_targets=3, num_random=10, steps=15)
    assert result.random_scores.shape == (10, 3)
    assert result.random_far == pytest.approx(float((result.random_scores >= 0.5).mean()))
    assert result.other_scores.shape == (3, 3)  # each target's 3 other images
    assert result.attack.score_final.mean() > result.attack.score_start.mean()
    assert 0 <= result.attack_far_before <= 1 and 0 <= result.attack_far_after <= 1
    assert torch.equal(result.targets[1], faces.images[4])  # identity 1's first image
    fig = risk_plots.plot_impostor_attack(result, num=3)
    assert isinstance(fig, Figure)
    # what is drawn: 3 rows x 3 targets of faces, titled with the scores, green exactly when accepted
    assert len(fig.axes) == 9 and all(len(ax.images) == 1 for ax in fig.axes)
    assert [ax.get_title() for ax in fig.axes[:3]] == ["target 0", "target 1", "target 2"]
    for k in range(3):
        for row, score in ((1, result.attack.score_start[k]), (2, result.attack.score_final[k])):
            title = fig.axes[row * 3 + k].title
            assert title.get_text() == f"cos {float(score):.2f}"
            assert (title.get_color() == "tab:green") == (float(score) >= result.threshold)


def test_detector_experiment_and_checkpoint_faces(tiny):
    faces, generator, _ = tiny
    history = GANHistory(sample_steps=[10, 20, 30], samples=[torch.zeros(4, 3, 32, 32)] * 3)
    early = risks.checkpoint_faces(history)
    assert list(early) == ["same GAN, step 10", "same GAN, step 20"]
    fakes = faces.images.flip(-1) * 0.2  # an easy, fixed "generator"
    result = risks.detector_experiment(faces.images[:16], fakes[:16], faces.images[16:], {"train": fakes[16:], **early},
                                       steps=20, channels=4)
    assert result.train_name == "train" and set(result.accuracy) == {"train", *early}
    assert all(0 <= v <= 1 for v in result.average_precision.values())
    assert set(result.drops) == set(early)
    many = GANHistory(sample_steps=list(range(10, 110, 10)), samples=[torch.zeros(1)] * 10)
    assert list(risks.checkpoint_faces(many, max_checkpoints=3)) == [f"same GAN, step {s}" for s in (10, 50, 90)]
    fig = risk_plots.plot_detector(result)
    assert isinstance(fig, Figure)
    names = list(result.average_precision)
    assert [ax.get_ylabel() for ax in fig.axes[:len(names)]] == names  # one strip of faces per generator
    bars = [patch.get_width() for patch in fig.axes[-1].patches]
    assert bars == pytest.approx([result.accuracy[n] for n in names] + [result.average_precision[n] for n in names])


def test_membership_experiment(tiny):
    faces, _, _ = tiny
    profile = get_profile("quick").replace(gan_channels=4, latent_dim=8, gan_batch_size=8)
    result = risks.membership_experiment(profile, faces=faces, num_members=12, steps=6, num_samples=5,
                                         num_attack_samples=20, k=2, record_every=3)
    assert result.members.shape[0] == 12 and result.non_members.shape[0] == 12
    assert result.sample_nn_distance.shape == (5, 2) and result.auc_steps == [3, 6]
    assert torch.all(result.sample_nn_distance[:, 0] <= result.sample_nn_distance[:, 1])
    assert 0 <= result.auc <= 1 and 0 <= result.sample_auc <= 1
    assert result.auc == pytest.approx(result.auc_trace[-1])  # the final record is the final model
    member_set = {tuple(x.flatten()[:5].tolist()) for x in result.members}
    assert not any(tuple(x.flatten()[:5].tolist()) in member_set for x in result.non_members)
    fig = risk_plots.plot_nearest_neighbours(result, num=2)
    assert isinstance(fig, Figure) and len(fig.axes) == 2 * 3  # 2 samples, each with its 2 nearest members
    closest = int(torch.argsort(result.sample_nn_distance[:, 0])[0])
    assert fig.axes[1].get_title() == f"d = {float(result.sample_nn_distance[closest, 0]):.1f}"
    fig = risk_plots.plot_membership(result)
    assert isinstance(fig, Figure)
    trace = fig.axes[2].lines[0]
    assert list(trace.get_xdata()) == result.auc_steps and list(trace.get_ydata()) == pytest.approx(result.auc_trace)
    with pytest.raises(ValueError, match="non-member"):
        risks.membership_experiment(profile, faces=faces, num_members=24)


def test_group_differentials(tiny):
    faces, _, embedder = tiny
    scores = verification_scores(embedder, faces, num_genuine=20, num_impostor=100)
    result = fairness.group_differentials(scores, faces, far=0.1, num_bootstrap=20)
    assert {(r.attribute, r.value) for r in result.rates} <= {("tone", 0), ("tone", 1), ("hair_long", 0),
                                                              ("hair_long", 1)}
    assert result.overall_fmr <= 0.1
    assert "FNMR" in result.table()
    tone = [r for r in result.rates if r.attribute == "tone"]
    assert sum(r.num_genuine for r in tone) == scores.num_genuine
    with pytest.raises(KeyError, match="no group"):
        result.get("tone", 7)
    fig = risk_plots.plot_group_rates(result)
    assert isinstance(fig, Figure)
    for ax, key in zip(fig.axes, ("fnmr", "fmr")):  # one bar per group, as high as its rate
        assert [p.get_height() for p in ax.patches] == pytest.approx([getattr(r, key) for r in result.rates])
