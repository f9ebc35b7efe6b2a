"""Training a real-vs-fake face detector (:class:`facelab.models.detector.FakeFaceDetector`).

:func:`detector_step` is one step of a binary classifier (Wang et al., CVPR 2020, without their
augmentations): a batch of half real and half generated faces, the binary cross-entropy of the raw
scores against "1 = fake", one Adam step. The classes are balanced whatever the set sizes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DetectorHistory", "detector_step", "train_detector"]


def detector_step(detector: nn.Module, optimiser: torch.optim.Optimizer, real: torch.Tensor, fake: torch.Tensor,
                  half: int, rng: torch.Generator, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """One step on a balanced batch: ``half`` real faces (label 0) and ``half`` generated ones (label 1).

    Returns:
        The batch's loss and accuracy (device tensors).
    """
    batch = torch.cat([real[torch.randint(len(real), (half,), generator=rng)],
                       fake[torch.randint(len(fake), (half,), generator=rng)]]).to(device)
    target = torch.cat([torch.zeros(half), torch.ones(half)]).to(device)
    scores = detector(batch)
    loss = F.binary_cross_entropy_with_logits(scores, target)
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    optimiser.step()
    return loss.detach(), ((scores.detach() > 0).float() == target).float().mean()


@dataclass
class DetectorHistory:
    """Training loss and batch accuracy every ``log_every`` steps."""

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)


def train_detector(
    detector: nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    steps: int = 300,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    log_every: int = 20,
) -> DetectorHistory:
    """Train ``detector`` to score ``fake`` images high and ``real`` ones low.

    Each step draws ``batch_size / 2`` images of each kind (with replacement), so
    the classes are balanced whatever the set sizes; the loss is binary
    cross-entropy on the raw scores (label 1 = fake).

    Args:
        detector: a module mapping images to ``(B,)`` scores, e.g. :class:`FakeFaceDetector`.
        real: ``(N, 3, S, S)`` real faces.
        fake: ``(M, 3, S, S)`` generated faces.
        steps: Adam steps.
        batch_size: images per step (even).
        lr: Adam learning rate.
        seed: seeds the batch sampler.
        log_every: steps between history records.

    Returns:
        The :class:`DetectorHistory`.
    """
    if real.shape[1:] != fake.shape[1:]:
        raise ValueError(f"real images {tuple(real.shape[1:])} and fake images {tuple(fake.shape[1:])} differ "
                         "in shape; resize one set to the other.")
    if steps < 1 or batch_size < 2 or batch_size % 2:
        raise ValueError(f"need steps >= 1 and an even batch_size >= 2, got steps={steps}, "
                         f"batch_size={batch_size}.")
    device = next(detector.parameters()).device
    rng = torch.Generator().manual_seed(seed)
    half = batch_size // 2
    optimiser = torch.optim.Adam(detector.parameters(), lr=lr)
    history = DetectorHistory()
    detector.train()
    for step in range(1, steps + 1):
        loss, accuracy = detector_step(detector, optimiser, real, fake, half, rng, device)
        if step % log_every == 0 or step == steps:
            history.step.append(step)
            history.loss.append(float(loss))
            history.accuracy.append(float(accuracy))
    detector.eval()
    return history
