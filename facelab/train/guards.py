"""Catch a diverging training run without slowing the loop down.

A NaN or infinite loss poisons every weight it touches, and a checkpoint written after
it would replace the last good state with garbage. A run can also diverge without any NaN:
with a learning rate far too high (``lr = 1e6``) the loss climbs to 1e12 and the weights to
5e27, all finite. Both count as divergence here: a loss beyond ``max_abs_loss`` or a weight
beyond ``max_abs_weight`` (1e8 by default; healthy GAN, recogniser and VAE runs stay orders
of magnitude below) is treated like a NaN. Testing the loss with
``loss.item()`` after every step would catch it, but it makes the host wait for the
accelerator once per step (a *synchronisation*), which costs a GPU loop much of its
speed. :class:`DivergenceGuard` instead keeps two small tensors on the training
device, updated asynchronously each step:

* ``first_bad``: the first step whose loss was not finite (or exploded), or ``-1``;
* ``bad_losses``: which of the watched losses were bad at that step, ``bad_values`` their values.

It reads them (one synchronisation) only with :meth:`DivergenceGuard.check`, which the
loops call where they synchronise anyway: when they log the history, before they write
a checkpoint, and at the end. A checkpoint is therefore never written after a bad step,
and the error names the step where training went wrong, not the step where it was
noticed.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

__all__ = ["TrainingDiverged", "DivergenceGuard"]


class TrainingDiverged(FloatingPointError):
    """A training loss became NaN or infinite.

    Attributes:
        step: the first bad step (1-based, as in ``history.step`` and checkpoints).
        losses: names of the losses that were not finite at that step.
        checkpoint_path: the last good checkpoint, if any was written (it is intact).
        checkpoint_step: the step stored in that checkpoint.
    """

    def __init__(self, message: str, *, step: int, losses: Sequence[str] = (),
                 checkpoint_path: Path | None = None, checkpoint_step: int | None = None) -> None:
        super().__init__(message)
        self.step = step
        self.losses = tuple(losses)
        self.checkpoint_path = checkpoint_path
        self.checkpoint_step = checkpoint_step


class DivergenceGuard:
    """Watch losses for NaN/inf on the device; raise :class:`TrainingDiverged` on :meth:`check`.

    Args:
        names: names of the watched losses, in the order :meth:`update` receives them.
        device: the training device (the flags live there).
        checkpoint_path: the run's checkpoint file, named in the error.
        last_good_step: the step of the checkpoint training resumed from (0 for a fresh run).
        advice: what to try instead, appended to the error (e.g. "lower lr_d and lr_g").
        max_abs_loss: a loss beyond this magnitude counts as divergence (``inf`` disables it).
        max_abs_weight: in :meth:`check` with modules, a weight beyond this magnitude counts too.

    In a loop: ``guard.update(step, loss)`` after each step, ``guard.check()`` where the loop
    synchronises anyway (logging), ``guard.check()`` before each checkpoint and
    ``guard.saved(step)`` after it.
    """

    def __init__(self, names: Sequence[str], *, device: torch.device | str = "cpu",
                 checkpoint_path: str | Path | None = None, last_good_step: int = 0,
                 advice: str = "lower the learning rate", max_abs_loss: float = 1e8,
                 max_abs_weight: float = 1e8) -> None:
        if not names:
            raise ValueError("DivergenceGuard needs the names of the losses it watches, e.g. ('loss_d', 'loss_g').")
        if not (max_abs_loss > 0 and max_abs_weight > 0):
            raise ValueError(f"max_abs_loss and max_abs_weight must be positive (inf disables the check), got "
                             f"{max_abs_loss} and {max_abs_weight}.")
        self.names = tuple(names)
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path is not None else None
        self.saved_step: int | None = last_good_step if last_good_step > 0 else None
        self.advice = advice
        self.max_abs_loss = float(max_abs_loss)
        self.max_abs_weight = float(max_abs_weight)
        device = torch.device(device)
        self.first_bad = torch.full((), -1, dtype=torch.long, device=device)  # () first non-finite/exploded step
        self.bad_losses = torch.zeros(len(self.names), dtype=torch.bool, device=device)  # (L,) at that step
        self.bad_values = torch.zeros(len(self.names), dtype=torch.float32, device=device)  # (L,) their values

    @torch.no_grad()
    def update(self, step: int, *losses: torch.Tensor) -> None:
        """Record whether the losses of ``step`` are finite; no host synchronisation.

        Args:
            step: the step just taken (1-based).
            *losses: one scalar tensor per name, on the guard's device.
        """
        if len(losses) != len(self.names):
            raise ValueError(f"DivergenceGuard watches {self.names} but got {len(losses)} losses; pass one each.")
        values = torch.stack([loss.detach().float().reshape(()) for loss in losses])  # (L,)
        bad = ~torch.isfinite(values) | (values.abs() > self.max_abs_loss)  # NaN, inf, or exploding (lr far too high)
        first = bad.any() & (self.first_bad < 0)  # () the first bad step is this one
        self.first_bad = torch.where(first, step, self.first_bad)
        self.bad_losses = torch.where(first, bad, self.bad_losses)
        self.bad_values = torch.where(first, values, self.bad_values)

    def saved(self, step: int) -> None:
        """Note that a checkpoint of ``step`` was written (named in a later error)."""
        self.saved_step = step

    def check(self, step: int | None = None, **modules: nn.Module) -> None:
        """Raise :class:`TrainingDiverged` if any step so far had a non-finite loss (one sync).

        Args:
            step: the current step; with ``modules``, named if their weights are not finite.
            **modules: models whose parameters must be finite too (pass them before writing a
                checkpoint: one huge update can make the weights infinite while the loss that
                caused it was still finite).

        Raises:
            TrainingDiverged: naming the first bad step, the losses, and the last good checkpoint.
        """
        first_bad = int(self.first_bad.item())  # the one synchronisation
        if first_bad >= 0:
            flags, values = self.bad_losses.tolist(), self.bad_values.tolist()
            losses = [name for name, bad in zip(self.names, flags) if bad]
            exploded = [f"{name} exploded to {value:.3g} (beyond the limit of +-{self.max_abs_loss:.3g})"
                        for name, bad, value in zip(self.names, flags, values) if bad and math.isfinite(value)]
            what = (f"{' and '.join(exploded)} at step {first_bad}" if exploded and len(exploded) == len(losses)
                    else f"{' and '.join(losses)} became NaN or infinite at step {first_bad}")
            self._raise(what, first_bad, losses)
        if modules:
            params = [p for module in modules.values() for p in module.parameters()]
            if params and not bool(torch.stack([self._weights_ok(p) for p in params]).all()):
                bad, largest = [], 0.0
                for name, module in modules.items():
                    if not all(bool(self._weights_ok(p)) for p in module.parameters()):
                        bad.append(name)
                        largest = max([largest] + [float(p.detach().abs().max()) for p in module.parameters()])
                at = step if step is not None else -1
                size = "NaN or infinite" if not math.isfinite(largest) else \
                    f"exploded (largest magnitude {largest:.3g}, beyond the limit of +-{self.max_abs_weight:.3g})"
                self._raise(f"the weights of the {' and '.join(bad)} became {size} by step {at} "
                            "(the losses were still within bounds)", at, [])

    def _weights_ok(self, parameter: torch.Tensor) -> torch.Tensor:
        """() bool on the device: all finite and none beyond ``max_abs_weight`` (NaN compares False, so it fails)."""
        return (parameter.detach().abs() <= self.max_abs_weight).all()

    def _raise(self, what: str, step: int, losses: list[str]) -> None:
        if self.checkpoint_path is not None and self.saved_step is not None:
            kept = (f"The last good checkpoint, {self.checkpoint_path} (step {self.saved_step}), is intact: "
                    f"{self.advice} and train again; it resumes from there.")
        else:
            kept = f"No checkpoint was written; {self.advice} and train again."
        raise TrainingDiverged(f"Training diverged: {what}. Expected finite losses and weights. {kept}",
                               step=step, losses=losses, checkpoint_path=self.checkpoint_path,
                               checkpoint_step=self.saved_step)
