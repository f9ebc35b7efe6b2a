"""Tests of the recognition training loop (facelab.train.recognition)."""
from __future__ import annotations

import pytest
import torch

from facelab.data.base import FaceTensorDataset
from facelab.losses.margin import arcface_head, softmax_head
from facelab.models.recognition import FaceEmbedder
from facelab.train.recognition import RecognizerHistory, RecognizerTrainConfig, augment, train_recognizer


def _easy_faces(num_classes: int = 4, per_class: int = 8, seed: int = 0) -> FaceTensorDataset:
    """Each class a flat colour plus noise: separable at a glance."""
    gen = torch.Generator().manual_seed(seed)
    colours = torch.rand(num_classes, 3, 1, 1, generator=gen) * 1.6 - 0.8
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    images = colours[labels] + 0.1 * torch.randn(len(labels), 3, 32, 32, generator=gen)
    return FaceTensorDataset(images.clamp(-1, 1), labels)


def _models(num_classes: int = 4, head: str = "softmax"):
    torch.manual_seed(0)
    embedder = FaceEmbedder(embedding_dim=8, channels=8, image_size=32)
    classifier = softmax_head(8, num_classes) if head == "softmax" else arcface_head(8, num_classes, scale=8.0,
                                                                                       margin=0.2)
    return embedder, classifier


def _config(**changes) -> RecognizerTrainConfig:
    settings = dict(steps=30, batch_size=16, lr=0.05, log_every=5, eval_every=10, progress=False)
    settings.update(changes)
    return RecognizerTrainConfig(**settings)


def test_max_steps_fills_the_history_and_calls_back():
    embedder, head = _models()
    calls = []

    def callback(history: RecognizerHistory, step: int) -> None:
        history.record_eval(step, probe=float(step))
        calls.append((step, embedder.training))

    history = train_recognizer(embedder, head, _easy_faces(), _config(max_steps=10), device="cpu",
                               callbacks=[callback])
    assert history.step == [5, 10]
    assert len(history.loss) == len(history.accuracy) == len(history.lr) == 2
    assert all(0.0 <= a <= 1.0 for a in history.accuracy)
    assert calls == [(10, False)]  # callbacks run in eval mode
    assert history.eval_step == [10] and history.eval == {"probe": [10.0]}
    assert history.seconds > 0
    assert history.lr[-1] < 0.05  # cosine decay has begun


@pytest.mark.parametrize("head", ["softmax", "arcface"])
def test_loss_decreases_on_an_easy_set(head):
    embedder, classifier = _models(head=head)
    history = train_recognizer(embedder, classifier, _easy_faces(), _config(steps=30), device="cpu")
    assert history.loss[-1] < 0.5 * history.loss[0]
    assert history.accuracy[-1] > 0.9


def test_resume_from_checkpoint_equals_uninterrupted_run(tmp_path):
    data = _easy_faces()
    embedder, head = _models()
    full = train_recognizer(embedder, head, data, _config(steps=12), device="cpu")
    reference = {k: v.clone() for k, v in embedder.state_dict().items()}

    path = tmp_path / "recognizer.pt"
    embedder2, head2 = _models()
    train_recognizer(embedder2, head2, data, _config(steps=12, max_steps=5, checkpoint_path=str(path)), device="cpu")
    embedder3, head3 = _models()  # fresh models: everything comes from the checkpoint
    resumed = train_recognizer(embedder3, head3, data, _config(steps=12, checkpoint_path=str(path)), device="cpu")

    assert resumed.step == full.step
    assert resumed.loss == pytest.approx(full.loss, rel=1e-5, abs=1e-6)
    for key, value in embedder3.state_dict().items():
        torch.testing.assert_close(value, reference[key], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(head3.weight, head.weight, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("changes", [dict(steps=0), dict(batch_size=-1), dict(lr=0.0), dict(optimizer="adam"),
                                     dict(momentum=1.0), dict(max_shift=-1), dict(label_smoothing=1.0)])
def test_bad_config_raises(changes):
    with pytest.raises(ValueError, match="RecognizerTrainConfig"):
        RecognizerTrainConfig(**changes)


def test_labels_beyond_the_head_are_rejected():
    embedder, head = _models(num_classes=2)
    with pytest.raises(ValueError, match="classes"):
        train_recognizer(embedder, head, _easy_faces(num_classes=4), _config(max_steps=1), device="cpu")


def test_augment_keeps_shape_and_only_moves_pixels():
    torch.manual_seed(0)
    images = torch.rand(6, 3, 8, 8)
    assert torch.equal(augment(images, flip=False, max_shift=0), images)
    flipped = augment(images, flip=True, max_shift=0)
    for original, out in zip(images, flipped):
        assert torch.equal(out, original) or torch.equal(out, original.flip(-1))
    shifted = augment(images, flip=False, max_shift=2)
    assert shifted.shape == images.shape
    # a translated image is a window of the edge-padded one: its centre pixels come from the original
    assert torch.isin(shifted[:, :, 3:5, 3:5], images).all()
