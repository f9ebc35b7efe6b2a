"""Tests of identification and verification helpers (facelab.recognition) and chapter 04's experiments."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from facelab.data.base import FaceTensorDataset
from facelab.recognition import class_centroids, embed, identify, verification_pairs, verify


def test_identify_picks_the_nearest_centroid_by_cosine():
    gallery = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [-1.0, 0.0]])
    gallery_labels = torch.tensor([7, 7, 3, 3, 5])
    probes = torch.tensor([[2.0, 0.1], [0.2, 5.0], [-0.5, -0.1], [0.6, 0.5]])  # lengths must not matter
    predicted = identify(gallery, gallery_labels, probes)
    assert predicted.tolist() == [7, 3, 5, 7]


def test_class_centroids_are_unit_means():
    centroids, classes = class_centroids(torch.tensor([[2.0, 0.0], [0.0, 3.0], [0.0, -1.0]]), [1, 1, 4])
    assert classes.tolist() == [1, 4]
    torch.testing.assert_close(centroids, torch.tensor([[0.5 ** 0.5, 0.5 ** 0.5], [0.0, -1.0]]))


def test_identify_rejects_mismatched_dimensions():
    with pytest.raises(ValueError, match="probe_embeddings"):
        identify(torch.eye(3), [0, 1, 2], torch.ones(2, 4))


def test_verification_pairs_labels_match_identities():
    labels = torch.arange(6).repeat_interleave(4)
    dataset = FaceTensorDataset(torch.zeros(24, 3, 4, 4), labels)
    pairs, same = verification_pairs(dataset, 40, seed=3)
    assert pairs.shape == (40, 2) and same.sum() == 20
    np.testing.assert_array_equal(same, labels[pairs[:, 0]].numpy() == labels[pairs[:, 1]].numpy())
    assert (pairs[:, 0] != pairs[:, 1]).all()
    again, _ = verification_pairs(labels, 40, seed=3)
    np.testing.assert_array_equal(pairs, again)
    with pytest.raises(ValueError, match="num_pairs"):
        verification_pairs(labels, 1)


def test_verify_thresholds_cosine_scores():
    embeddings = torch.tensor([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0]])
    accept, scores = verify(embeddings, np.array([[0, 1], [0, 2], [1, 2]]), threshold=0.5)
    assert accept.tolist() == [True, False, False]
    assert scores[1] == pytest.approx(0.0)


def test_embed_returns_unit_vectors_in_eval_mode_and_restores_mode():
    from facelab.models.recognition import FaceEmbedder

    embedder = FaceEmbedder(embedding_dim=6, channels=4, image_size=32).train()
    images = torch.randn(10, 3, 32, 32)
    out = embed(embedder, images, batch_size=3)
    assert out.shape == (10, 6) and embedder.training
    torch.testing.assert_close(out.norm(dim=1), torch.ones(10))
    torch.testing.assert_close(out[:3], embed(embedder, images[:3]))  # batch-independent (eval-mode BN)


def test_chapter_experiment_end_to_end_on_a_tiny_profile():
    from facelab import get_profile
    from facelab.experiments.recognition import evaluate_recognizer, recognition_split, results_markdown, results_table, \
        train_face_recognizer

    profile = get_profile("quick").replace(num_identities=8, images_per_identity=4, embedding_dim=8,
                                           recognizer_channels=8, recognizer_batch_size=8, recognizer_steps=3)
    split = recognition_split(profile, seed=0)
    assert split.num_classes == 6 and split.unseen.num_identities == 2
    assert len(split.train) == 18 and len(split.val) == 6  # one image in four held out per identity
    run = train_face_recognizer(profile, "arcface", data=split, progress=False)
    assert run.history.step[-1] == 3 and run.head.num_classes == 6
    result = evaluate_recognizer(run, split)
    assert 0.0 <= result.identification_accuracy <= 1.0 and result.chance == pytest.approx(1 / 6)
    assert 0.0 <= result.auc <= 1.0 and 0.0 <= result.eer <= 1.0
    assert result.embeddings.shape == (8, 8)
    assert "arcface" in results_table([result])
    table = results_markdown([result]).splitlines()
    assert table[0].startswith("| head |") and table[1].startswith("|---") and table[2].startswith(f"| {result.label} |")
    assert table[2].count("|") == table[0].count("|") == 7
    with pytest.raises(ValueError, match="Unknown training setting"):
        train_face_recognizer(profile, "arcface", data=split, learning_rate=0.1)


def test_full_profile_uses_lfw_people_and_official_pairs(monkeypatch, tmp_path):
    """The full-profile path, with the LFW loaders replaced by random faces (no download)."""
    from facelab import get_profile
    from facelab.data import real
    from facelab.experiments.recognition import evaluate_recognizer, recognition_split, train_face_recognizer

    gen = torch.Generator().manual_seed(0)
    counts = [20, 25, 20, 10, 12, 15]  # three people with >= 20 photos (trained on), three with 10-19 (unseen)
    labels = torch.cat([torch.full((c,), k) for k, c in enumerate(counts)])
    people = FaceTensorDataset(torch.rand(len(labels), 3, 32, 32, generator=gen) * 2 - 1, labels)
    pairs = real.LfwPairs(torch.rand(20, 3, 32, 32, generator=gen) * 2 - 1, torch.rand(20, 3, 32, 32, generator=gen),
                          torch.arange(20) % 2 == 0, torch.arange(20) // 2)
    monkeypatch.setattr(real, "load_lfw_people", lambda **kwargs: people)
    monkeypatch.setattr(real, "load_lfw_pairs", lambda **kwargs: pairs)
    monkeypatch.setenv("FACELAB_RUNS_DIR", str(tmp_path))

    profile = get_profile("full").replace(image_size=32, embedding_dim=8, recognizer_channels=8,
                                          recognizer_batch_size=8, recognizer_steps=2)
    split = recognition_split(profile)
    assert split.num_classes == 3 and split.unseen.num_identities == 3 and split.lfw_pairs is pairs
    run = train_face_recognizer(profile, "cosface", data=split, progress=False)
    assert run.config.checkpoint_path and list(tmp_path.glob("recognizer_cosface_full_*.pt"))
    result = evaluate_recognizer(run, split)
    assert result.protocol.startswith("LFW pairs") and len(result.verification.accuracies) == 10
    assert len(result.scores) == 20
