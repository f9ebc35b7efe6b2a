"""Tests of facelab.attacks: the latent search for impostor faces."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from facelab.attacks import latent_prior_penalty, optimise_latents_towards
from facelab.models.dcgan import Generator


class _PixelEmbedder(nn.Module):
    """A fixed random linear embedding of the pixels: a stand-in recogniser with gradients."""

    def __init__(self, size: int = 32, dim: int = 16):
        super().__init__()
        self.linear = nn.Linear(3 * size * size, dim, bias=False)

    def forward(self, x):
        return self.linear(x.flatten(1))


def test_prior_penalty_zero_on_the_typical_shell():
    d = 64
    z = torch.randn(4, d)
    z = z / z.norm(dim=1, keepdim=True) * math.sqrt(d)
    assert torch.allclose(latent_prior_penalty(z), torch.zeros(4), atol=1e-6)
    assert torch.allclose(latent_prior_penalty(torch.zeros(2, d)), torch.ones(2))


def test_attack_raises_the_cosine_and_keeps_z_typical():
    torch.manual_seed(0)
    generator, embedder = Generator(latent_dim=16, channels=4, image_size=32), _PixelEmbedder()
    targets = F.normalize(embedder(torch.rand(3, 3, 32, 32) * 2 - 1).detach(), dim=1)  # faces it cannot copy
    z0 = torch.randn(3, 16)
    before = [p.clone() for p in generator.parameters()]
    result = optimise_latents_towards(generator, embedder, targets, z0, steps=40, lr=0.05, prior_weight=1.0)
    assert (result.score_final > result.score_start).all()
    assert result.score_trace.shape == (41, 3)
    assert torch.allclose(result.score_trace[0], result.score_start)
    assert result.final.shape == (3, 3, 32, 32) and result.final.abs().max() <= 1
    assert all(torch.equal(a, b) for a, b in zip(before, generator.parameters())), "the networks stay fixed"
    assert all(p.requires_grad for p in generator.parameters()), "gradients are switched back on"
    radius = result.z_final.norm(dim=1) / math.sqrt(16)
    assert ((radius - 1).abs() < 0.5).all()
    assert torch.equal(result.z_start, z0)


def test_attack_rejects_mismatched_targets():
    generator, embedder = Generator(latent_dim=8, channels=4, image_size=32), _PixelEmbedder()
    with pytest.raises(ValueError, match="one target template per latent"):
        optimise_latents_towards(generator, embedder, torch.randn(2, 16), torch.randn(3, 8))
    with pytest.raises(ValueError, match="steps >= 1"):
        optimise_latents_towards(generator, embedder, torch.randn(3, 16), torch.randn(3, 8), steps=0)
