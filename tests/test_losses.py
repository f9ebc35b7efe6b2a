"""Tests of facelab.losses.gan: known values, equivalences with cross-entropy, gradients."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from facelab.losses import gan as L


def _logits(n: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, generator=g) * 3, torch.randn(n, generator=g) * 3


def test_minimax_loss_d_at_zero_logits_is_2_log_2():
    zeros = torch.zeros(8)
    assert L.minimax_loss_d(zeros, zeros).item() == pytest.approx(2 * math.log(2))


def test_minimax_loss_d_is_bce_with_labels_one_and_zero_and_minus_v():
    real, fake = _logits()
    bce = F.binary_cross_entropy_with_logits(real, torch.ones_like(real)) + \
        F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
    v = torch.log(torch.sigmoid(real)).mean() + torch.log(1 - torch.sigmoid(fake)).mean()
    assert torch.allclose(L.minimax_loss_d(real, fake), bce, atol=1e-6)
    assert torch.allclose(L.minimax_loss_d(real, fake), -v, atol=1e-5)


def test_minimax_loss_d_is_stable_for_extreme_logits():
    loss = L.minimax_loss_d(torch.tensor([200.0, -200.0]), torch.tensor([-200.0, 200.0]))
    assert torch.isfinite(loss) and loss.item() == pytest.approx((200 + 200) / 2, rel=1e-6)


def test_minimax_loss_g_is_log_one_minus_d():
    _, fake = _logits()
    expected = torch.log(1 - torch.sigmoid(fake)).mean()
    assert torch.allclose(L.minimax_loss_g(fake), expected, atol=1e-5)


def test_nonsaturating_loss_g_is_bce_with_label_one():
    _, fake = _logits()
    expected = F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
    assert torch.allclose(L.nonsaturating_loss_g(fake), expected, atol=1e-6)
    assert L.nonsaturating_loss_g(torch.zeros(4)).item() == pytest.approx(math.log(2))


def test_minimax_gradient_saturates_and_nonsaturating_does_not():
    # D confidently rejects the sample: D(G(z)) = sigmoid(-10) ~ 4.5e-5
    s = torch.tensor([-10.0], requires_grad=True)
    (g_minimax,) = torch.autograd.grad(L.minimax_loss_g(s), s)
    (g_ns,) = torch.autograd.grad(L.nonsaturating_loss_g(s), s)
    assert abs(g_minimax.item()) == pytest.approx(torch.sigmoid(torch.tensor(-10.0)).item(), rel=1e-4)
    assert abs(g_ns.item()) == pytest.approx(1.0, abs=1e-4)


def test_lsgan_hand_values():
    real, fake = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])
    # 1/2 mean((real-1)^2) + 1/2 mean(fake^2) = 1/2 * 1/2 + 1/2 * 2
    assert L.lsgan_loss_d(real, fake).item() == pytest.approx(0.25 + 1.0)
    # 1/2 mean((fake-1)^2) = 1/2 * (1 + 1) / 2
    assert L.lsgan_loss_g(fake).item() == pytest.approx(0.5)
    assert L.lsgan_loss_d(torch.ones(3), torch.zeros(3)).item() == 0.0


def test_hinge_hand_values():
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.0])
    # mean(relu(1 - real)) = (0 + 0.5)/2; mean(relu(1 + fake)) = (0 + 1)/2
    assert L.hinge_loss_d(real, fake).item() == pytest.approx(0.25 + 0.5)
    assert L.hinge_loss_g(fake).item() == pytest.approx(1.0)


def test_wgan_hand_values():
    real, fake = torch.tensor([3.0, 1.0]), torch.tensor([0.0, -2.0])
    assert L.wgan_loss_d(real, fake).item() == pytest.approx(-1.0 - 2.0)
    assert L.wgan_loss_g(fake).item() == pytest.approx(1.0)


def test_gradient_penalty_is_zero_for_unit_norm_linear_critic():
    critic = nn.Linear(2, 1)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[0.6, 0.8]]))  # ||w|| = 1: gradient norm 1 everywhere
    real, fake = torch.randn(16, 2), torch.randn(16, 2)
    assert L.gradient_penalty(lambda x: critic(x).flatten(), real, fake).item() == pytest.approx(0.0, abs=1e-10)


def test_gradient_penalty_for_scaled_linear_critic():
    critic = nn.Linear(3, 1)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[0.0, 3.0, 4.0]]))  # ||w|| = 5: penalty (5 - 1)^2
    penalty = L.gradient_penalty(lambda x: critic(x).flatten(), torch.randn(8, 3), torch.randn(8, 3))
    assert penalty.item() == pytest.approx(16.0)


def test_gradient_penalty_reaches_the_critic_parameters():
    critic = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    penalty = L.gradient_penalty(lambda x: critic(x).flatten(), torch.randn(8, 2), torch.randn(8, 2))
    penalty.backward()  # create_graph=True: the penalty trains the critic (its last bias has no effect on it)
    assert critic[0].weight.grad is not None and critic[2].weight.grad.abs().sum() > 0


def test_get_gan_loss_names_and_errors():
    assert set(L.GAN_LOSSES) == {"minimax", "nonsaturating", "lsgan", "hinge", "wgan-gp"}
    assert L.get_gan_loss("WGAN_GP").name == "wgan-gp"
    assert L.get_gan_loss(L.GAN_LOSSES["hinge"]) is L.GAN_LOSSES["hinge"]
    assert L.get_gan_loss("wgan-gp").d_steps == 5 and L.get_gan_loss("wgan-gp").gradient_penalty == 10.0
    with pytest.raises(ValueError, match="Unknown GAN loss 'vanilla'.*expected one of"):
        L.get_gan_loss("vanilla")


@pytest.mark.parametrize("name", sorted(L.GAN_LOSSES))
def test_every_loss_returns_a_differentiable_scalar(name):
    objective = L.get_gan_loss(name)
    real, fake = (t.requires_grad_(True) for t in _logits(16))
    loss_d, loss_g = objective.loss_d(real, fake), objective.loss_g(fake)
    assert loss_d.shape == () and loss_g.shape == ()
    loss_d.backward()
    assert real.grad is not None and fake.grad is not None
