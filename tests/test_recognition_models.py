"""Tests of the face embedder (facelab.models.recognition) and the margin heads (facelab.losses.margin)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from facelab.losses.margin import (
    MarginHead,
    SoftmaxHead,
    arcface_head,
    cosface_head,
    get_head,
    softmax_head,
)
from facelab.models.recognition import FaceEmbedder


@pytest.mark.parametrize("size", [32, 64])
def test_embedder_shapes_and_unit_norm(size):
    torch.manual_seed(0)
    embedder = FaceEmbedder(embedding_dim=12, channels=4, image_size=size).eval()
    images = torch.rand(5, 3, size, size) * 2 - 1
    embeddings = embedder(images)
    assert embeddings.shape == (5, 12)
    torch.testing.assert_close(embeddings.norm(dim=1), torch.ones(5))
    features = embedder.features(images)
    assert features.shape == (5, 12)
    torch.testing.assert_close(F.normalize(features, dim=1), embeddings)


def test_embedder_trains_in_batches_and_channels_last():
    embedder = FaceEmbedder(embedding_dim=8, channels=4, image_size=32).to(memory_format=torch.channels_last)
    images = torch.randn(4, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    embedder(images).sum().backward()
    assert all(p.grad is not None for p in embedder.parameters() if p.requires_grad)


@pytest.mark.parametrize("size", [28, 48, 128])
def test_embedder_rejects_unsupported_size(size):
    with pytest.raises(ValueError, match="image_size"):
        FaceEmbedder(image_size=size)


def test_embedder_rejects_wrong_input_shape():
    embedder = FaceEmbedder(embedding_dim=8, channels=4, image_size=32)
    with pytest.raises(ValueError, match=r"\(B, 3, 32, 32\)"):
        embedder(torch.zeros(2, 3, 64, 64))


def _unit_pair(angle: float) -> tuple[torch.Tensor, torch.Tensor]:
    """An embedding at ``angle`` radians from class 0's weight (e_0); class 1's weight is e_1."""
    embedding = torch.tensor([[math.cos(angle), math.sin(angle), 0.0]])
    weight = torch.eye(3)[:2]  # class 0 = e_0, class 1 = e_1
    return embedding, weight


def test_zero_margin_is_scaled_cosine_softmax():
    torch.manual_seed(0)
    head = MarginHead(6, 4, scale=10.0, m1=1.0, m2=0.0, m3=0.0)
    x, y = torch.randn(7, 6), torch.randint(4, (7,))
    expected = 10.0 * F.normalize(x, dim=1) @ F.normalize(head.weight, dim=1).T
    torch.testing.assert_close(head(x, y), expected)
    torch.testing.assert_close(head(x), expected)


def test_arcface_target_logit_is_s_cos_theta_plus_m():
    head = arcface_head(3, 2, scale=8.0, margin=0.5)
    x, weight = _unit_pair(math.pi / 3)  # theta_0 = 60 degrees, theta_1 = 30 degrees
    with torch.no_grad():
        head.weight.copy_(weight * 5.0)  # row lengths do not matter: the head normalises them
    logits = head(x * 3.0, torch.tensor([0]))
    assert logits[0, 0].item() == pytest.approx(8.0 * math.cos(math.pi / 3 + 0.5), abs=1e-5)
    assert logits[0, 1].item() == pytest.approx(8.0 * math.cos(math.pi / 6), abs=1e-5)  # non-target unchanged


def test_cosface_subtracts_s_m_on_the_target_only():
    torch.manual_seed(1)
    head = cosface_head(5, 3, scale=16.0, margin=0.35)
    x, y = torch.randn(6, 5), torch.tensor([0, 1, 2, 0, 1, 2])
    plain, margin = head(x), head(x, y)
    difference = plain - margin
    target = F.one_hot(y, 3).bool()
    torch.testing.assert_close(difference[target], torch.full((6,), 16.0 * 0.35))
    torch.testing.assert_close(difference[~target], torch.zeros(12))


def test_margin_changes_only_the_target_column():
    torch.manual_seed(2)
    head = MarginHead(4, 5, scale=30.0, m1=1.2, m2=0.2, m3=0.1)
    x, y = torch.randn(8, 4), torch.randint(5, (8,))
    target = F.one_hot(y, 5).bool()
    torch.testing.assert_close(head(x, y)[~target], head(x)[~target])
    assert (head(x, y)[target] < head(x)[target]).all()  # the margin makes the true class harder


def test_arcface_fallback_beyond_pi_keeps_the_logit_decreasing():
    head = arcface_head(3, 2, scale=1.0, margin=0.5)
    with torch.no_grad():
        head.weight.copy_(torch.eye(3)[:2])
    angles = torch.linspace(0.1, math.pi - 0.01, 200)
    x = torch.stack([torch.cos(angles), torch.sin(angles).neg(), torch.zeros_like(angles)], 1)
    target = head(x, torch.zeros(200, dtype=torch.long))[:, 0]
    assert (target[1:] < target[:-1]).all()
    beyond = angles > math.pi - 0.5
    expected = torch.cos(angles[beyond]) - 0.5 * math.sin(0.5)  # insightface: cos(theta) - m sin(m)
    torch.testing.assert_close(target[beyond], expected, atol=1e-5, rtol=0)


def test_margin_head_gradients_are_finite_at_the_poles():
    head = arcface_head(3, 2, scale=16.0)
    with torch.no_grad():
        head.weight.copy_(torch.eye(3)[:2])
    x = torch.tensor([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]], requires_grad=True)  # theta = 0 and pi
    F.cross_entropy(head(x, torch.tensor([0, 0])), torch.tensor([0, 0])).backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(head.weight.grad).all()


def test_softmax_head_is_a_linear_layer_with_bias():
    head = softmax_head(4, 3)
    assert isinstance(head, SoftmaxHead) and head.bias is not None
    x = torch.randn(2, 4)
    torch.testing.assert_close(head(x, torch.tensor([0, 1])), x @ head.weight.T + head.bias)


def test_get_head_builds_by_name_and_rejects_unknown():
    assert isinstance(get_head("ArcFace", 8, 3, scale=16.0, margin=0.3), MarginHead)
    assert get_head("cosface", 8, 3).m3 == pytest.approx(0.35)
    assert isinstance(get_head("softmax", 8, 3), SoftmaxHead)
    with pytest.raises(ValueError, match="Unknown recognition head 'sphereface'"):
        get_head("sphereface", 8, 3)
    with pytest.raises(ValueError, match="softmax head takes no options"):
        get_head("softmax", 8, 3, scale=16.0)


@pytest.mark.parametrize("kwargs", [dict(scale=0.0), dict(m1=0.5), dict(m2=-0.1), dict(m3=-1.0)])
def test_margin_head_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError, match="MarginHead"):
        MarginHead(4, 3, **kwargs)
