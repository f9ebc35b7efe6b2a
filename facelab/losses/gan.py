"""GAN losses, each a small function of the discriminator's raw outputs.

Every discriminator in facelab returns a raw score (a *logit* for the
cross-entropy losses), never a probability: ``D(x) = sigmoid(score)``. Folding the
sigmoid into the loss (``softplus``) is exact and numerically stable, and it is
what lets mixed precision run these losses safely.

Notation: ``real = D(x)`` scores on data, ``fake = D(G(z))`` scores on samples,
``E`` the batch mean. All functions return a scalar to *minimise*.

Sources: Goodfellow et al. 2014 (minimax, non-saturating); Mao et al. 2017
(least squares); Lim & Ye 2017 and Miyato et al. 2018 (hinge); Arjovsky et al.
2017 and Gulrajani et al. 2017 (Wasserstein with gradient penalty).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

Tensor = torch.Tensor


# --- Goodfellow et al. 2014: the minimax game V(D, G) = E log D(x) + E log(1 - D(G(z))) ---

def minimax_loss_d(real: Tensor, fake: Tensor) -> Tensor:
    """Discriminator loss of the original GAN: ``-E[log D(x)] - E[log(1 - D(G(z)))]``.

    D *maximises* ``V(D, G)``; as a loss to minimise that is ``-V``, which is the
    binary cross-entropy with label 1 for data and 0 for samples.
    (Writing ``L_D = +V`` is a common slip: the sign is wrong for a loss that D minimises.)
    """
    # -log sigmoid(s) = softplus(-s);  -log(1 - sigmoid(s)) = softplus(s)
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def minimax_loss_g(fake: Tensor) -> Tensor:
    """Generator loss of the minimax game: ``E[log(1 - D(G(z)))]`` (G minimises ``V``).

    It *saturates*: when D confidently rejects samples early in training
    (``D(G(z)) -> 0``), its gradient with respect to the score vanishes.
    """
    return -F.softplus(fake).mean()


def nonsaturating_loss_g(fake: Tensor) -> Tensor:
    """Non-saturating generator loss: ``-E[log D(G(z))]`` (Goodfellow et al. 2014, §3).

    Same fixed point as the minimax loss, but strong gradients when D wins.
    """
    return F.softplus(-fake).mean()


# --- Mao et al. 2017: least squares GAN with targets a=0 (fake), b=1 (real), c=1 ---

def lsgan_loss_d(real: Tensor, fake: Tensor) -> Tensor:
    """LSGAN discriminator loss: ``1/2 E[(D(x) - 1)^2] + 1/2 E[D(G(z))^2]``."""
    return 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake**2).mean()


def lsgan_loss_g(fake: Tensor) -> Tensor:
    """LSGAN generator loss: ``1/2 E[(D(G(z)) - 1)^2]``."""
    return 0.5 * ((fake - 1) ** 2).mean()


# --- Lim & Ye 2017; Miyato et al. 2018: hinge loss ---

def hinge_loss_d(real: Tensor, fake: Tensor) -> Tensor:
    """Hinge discriminator loss: ``E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]``."""
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()


def hinge_loss_g(fake: Tensor) -> Tensor:
    """Hinge generator loss: ``-E[D(G(z))]``."""
    return -fake.mean()


# --- Arjovsky et al. 2017; Gulrajani et al. 2017: Wasserstein GAN with gradient penalty ---

def wgan_loss_d(real: Tensor, fake: Tensor) -> Tensor:
    """Critic loss of the WGAN: ``E[D(G(z))] - E[D(x)]`` (add ``gradient_penalty``)."""
    return fake.mean() - real.mean()


def wgan_loss_g(fake: Tensor) -> Tensor:
    """Generator loss of the WGAN: ``-E[D(G(z))]``."""
    return -fake.mean()


def gradient_penalty(discriminator: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
    """WGAN-GP penalty ``E[(||grad_x D(x_hat)||_2 - 1)^2]`` (Gulrajani et al. 2017).

    ``x_hat`` is a random point on the segment between a real and a fake sample;
    the penalty pushes the critic towards being 1-Lipschitz there.

    Args:
        discriminator: the critic.
        real: a batch of data, shape ``(B, ...)``.
        fake: a batch of samples of the same shape (detach it first).

    Returns:
        The penalty, a scalar (multiply by ``lambda``, 10 in the paper).
    """
    alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    scores = discriminator(mixed)
    (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


@dataclass(frozen=True)
class GANLoss:
    """A pair of losses that define one GAN objective.

    Attributes:
        name: registry name.
        loss_d: ``(real_scores, fake_scores) -> scalar`` for the discriminator.
        loss_g: ``fake_scores -> scalar`` for the generator.
        probabilistic: scores are logits of ``D(x) = sigmoid(score)``.
        gradient_penalty: weight of the WGAN-GP penalty (0 for none).
        d_steps: discriminator updates per generator update the paper recommends.
    """

    name: str
    loss_d: Callable[[Tensor, Tensor], Tensor]
    loss_g: Callable[[Tensor], Tensor]
    probabilistic: bool
    gradient_penalty: float = 0.0
    d_steps: int = 1


GAN_LOSSES: dict[str, GANLoss] = {
    "minimax": GANLoss("minimax", minimax_loss_d, minimax_loss_g, probabilistic=True),
    "nonsaturating": GANLoss("nonsaturating", minimax_loss_d, nonsaturating_loss_g, probabilistic=True),
    "lsgan": GANLoss("lsgan", lsgan_loss_d, lsgan_loss_g, probabilistic=False),
    "hinge": GANLoss("hinge", hinge_loss_d, hinge_loss_g, probabilistic=False),
    "wgan-gp": GANLoss("wgan-gp", wgan_loss_d, wgan_loss_g, probabilistic=False, gradient_penalty=10.0, d_steps=5),
}


def get_gan_loss(name: str | GANLoss) -> GANLoss:
    """Look up a GAN objective by name (``minimax``, ``nonsaturating``, ``lsgan``, ``hinge``, ``wgan-gp``)."""
    if isinstance(name, GANLoss):
        return name
    key = name.strip().lower().replace("_", "-")
    if key not in GAN_LOSSES:
        raise ValueError(f"Unknown GAN loss {name!r}; expected one of {sorted(GAN_LOSSES)} "
                         "(e.g. loss='nonsaturating', the DCGAN default; check the spelling).")
    return GAN_LOSSES[key]
