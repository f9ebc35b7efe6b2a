"""Impostor faces made by optimising a generator's latent vector (a "master face" style attack).

A trained generator ``G`` maps latents ``z ~ N(0, I)`` to faces; a recogniser's
embedder ``E`` maps faces to unit vectors. To impersonate a target whose enrolled
template is the unit embedding ``e_t``, search the latent space for a face the
recogniser takes for them:

.. math::

    \\max_z \\; \\cos\\big(E(G(z)),\\, e_t\\big) \\; - \\; \\lambda \\, \\big(\\lVert z \\rVert / \\sqrt{d} - 1\\big)^2

The first term is what the recogniser compares with its threshold; the second, a
prior term, keeps ``z`` on the shell of radius ``sqrt(d)`` where almost all of a
``d``-dimensional standard normal lies, so ``G(z)`` stays a face of the kind the
generator learnt rather than an adversarial pattern from an untrained corner of
its input space. This is the latent-space search of "master face" attacks
(Nguyen et al. 2022; Shmelkin et al. 2021) in its simplest white-box form: the
attacker has gradients of the recogniser. A black-box attacker would use an
evolutionary search on the scores alone, which is slower but finds the same kind
of faces.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["LatentAttackResult", "latent_prior_penalty", "latent_attack_step", "optimise_latents_towards"]


def latent_prior_penalty(z: torch.Tensor) -> torch.Tensor:
    """``(||z|| / sqrt(d) - 1)^2`` per row: zero on the typical shell of ``N(0, I_d)``.

    Args:
        z: ``(B, d)`` latent vectors.

    Returns:
        ``(B,)`` penalties.
    """
    radius = z.norm(dim=1) / math.sqrt(z.shape[1])
    return (radius - 1.0) ** 2


@dataclass
class LatentAttackResult:
    """Outcome of :func:`optimise_latents_towards` for a batch of targets.

    Attributes:
        z_start, z_final: ``(B, d)`` latents before and after the search (CPU).
        start, final: ``(B, 3, S, S)`` the generator's faces for them (CPU, in ``[-1, 1]``).
        score_start, score_final: ``(B,)`` cosine similarity of each face's embedding
            to its target's template.
        score_trace: ``(steps + 1, B)`` the cosine after each step (row 0: the start).
    """

    z_start: torch.Tensor
    z_final: torch.Tensor
    start: torch.Tensor
    final: torch.Tensor
    score_start: torch.Tensor
    score_final: torch.Tensor
    score_trace: torch.Tensor


def _frozen(module: nn.Module) -> list[tuple[nn.Parameter, bool]]:
    """Switch off gradients of a module's parameters; returns what to restore."""
    state = [(p, p.requires_grad) for p in module.parameters()]
    for p, _ in state:
        p.requires_grad_(False)
    return state


def latent_attack_step(generator: nn.Module, embedder: nn.Module, z: torch.Tensor, target: torch.Tensor,
                       optimiser: torch.optim.Optimizer, prior_weight: float) -> torch.Tensor:
    """One Adam step on the latents ``z`` towards the unit-length ``target`` templates.

    Returns:
        ``(B,)`` the cosine between each face's embedding and its target *before* the step.
    """
    faces = generator(z)
    cosine = (F.normalize(embedder(faces).float(), dim=1) * target).sum(1)  # (B,)
    # maximise the cosine, keep z typical; each row's loss only moves its own z
    loss = (-cosine + prior_weight * latent_prior_penalty(z)).sum()
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    optimiser.step()
    return cosine.detach()


def optimise_latents_towards(
    generator: nn.Module,
    embedder: nn.Module,
    targets: torch.Tensor,
    z_start: torch.Tensor,
    steps: int = 100,
    lr: float = 0.05,
    prior_weight: float = 1.0,
) -> LatentAttackResult:
    """Search each latent for a face whose embedding points at its target template.

    Both networks stay fixed (eval mode: batch norm uses running statistics, so the
    faces do not depend on each other); only the latents move, with Adam.

    Args:
        generator: maps ``(B, d)`` latents to ``(B, 3, S, S)`` faces.
        embedder: maps faces to ``(B, D)`` embeddings (normalised here).
        targets: ``(B, D)`` target templates, one per latent (normalised here).
        z_start: ``(B, d)`` starting latents, e.g. ``generator.sample_latent(B)``.
        steps: Adam steps, ``>= 1``.
        lr: Adam learning rate on ``z``.
        prior_weight: ``lambda`` of :func:`latent_prior_penalty`; 0 lets ``z`` drift.

    Returns:
        A :class:`LatentAttackResult` on the CPU.

    Raises:
        ValueError: mismatched batch sizes or a bad setting.
    """
    if targets.ndim != 2 or z_start.ndim != 2 or targets.shape[0] != z_start.shape[0]:
        raise ValueError(f"need one target template per latent: targets (B, D) and z_start (B, d), got "
                         f"{tuple(targets.shape)} and {tuple(z_start.shape)}; repeat the template for "
                         "several starts of one target.")
    if steps < 1 or lr <= 0 or prior_weight < 0:
        raise ValueError(f"need steps >= 1, lr > 0 and prior_weight >= 0, got steps={steps}, lr={lr}, "
                         f"prior_weight={prior_weight}.")
    device = next(generator.parameters()).device
    modes = (generator.training, embedder.training)
    frozen = _frozen(generator) + _frozen(embedder)
    generator.eval()
    embedder.eval()
    target = F.normalize(targets.float().to(device), dim=1)
    z = z_start.detach().clone().float().to(device).requires_grad_(True)
    optimiser = torch.optim.Adam([z], lr=lr)
    trace = []
    try:
        start = generator(z).detach()
        for _ in range(steps):
            trace.append(latent_attack_step(generator, embedder, z, target, optimiser, prior_weight))
        with torch.no_grad():
            final = generator(z)
            final_cosine = (F.normalize(embedder(final).float(), dim=1) * target).sum(1)
        trace.append(final_cosine)
    finally:
        for p, flag in frozen:
            p.requires_grad_(flag)
        generator.train(modes[0])
        embedder.train(modes[1])
    scores = torch.stack(trace).cpu()
    return LatentAttackResult(z_start.detach().cpu().float(), z.detach().cpu(), start.cpu().float(),
                              final.cpu().float(), scores[0], scores[-1], scores)
