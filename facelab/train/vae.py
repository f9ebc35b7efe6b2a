"""The VAE training loop: maximise the evidence lower bound (ELBO) with Adam.

One step (Kingma & Welling, ICLR 2014): encode a batch to ``q(z | x)``, draw ``z`` with the
reparameterisation trick, decode, and take a gradient step on the negative ELBO,
``-log p(x | z) + KL(q(z | x) || N(0, I))`` averaged over the batch. Unlike a GAN there is one
network pair and one loss that goes down, which is the practical difference chapter 08 is about.

The loop follows the course's conventions (see :mod:`facelab.train.gan`): a config dataclass stored
in checkpoints, a history the plotting helpers understand, a fixed latent batch decoded every
``sample_every`` steps, callbacks, ``max_steps`` for tests, atomic checkpoints that a run resumes from,
mixed precision on GPUs, a ``tqdm`` progress bar, and a guard that stops on a NaN loss.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from ..models.vae import VAE
from ..runtime import autocast, get_device, grad_scaler
from .checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .gan import _batches
from .guards import DivergenceGuard
from .history import History

__all__ = ["VAETrainConfig", "VAEHistory", "train_vae"]


@dataclass
class VAETrainConfig:
    """Settings of a VAE training run (stored in its checkpoints)."""

    steps: int = 1000                # optimiser steps
    batch_size: int = 64
    lr: float = 1e-3                 # Adam; a VAE is one model with one loss, so the usual 1e-3 works
    beta1: float = 0.9
    beta2: float = 0.999
    amp: bool = True                 # mixed precision on CUDA; CPU always runs float32
    log_every: int = 10              # steps between history records
    sample_every: int = 100          # steps between fixed-latent samples and callbacks
    num_samples: int = 64            # size of the fixed latent batch
    checkpoint_path: str | None = None
    checkpoint_every: int = 0        # steps between checkpoints; 0: only at the end
    seed: int = 0
    max_steps: int | None = None     # stop after this many steps of this call (tests, dry runs)
    progress: bool = True            # tqdm progress bar

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "log_every", "sample_every", "num_samples"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"VAETrainConfig.{name} must be an integer >= 1, got {value!r}.")
        if not isinstance(self.checkpoint_every, int) or self.checkpoint_every < 0:
            raise ValueError(f"VAETrainConfig.checkpoint_every must be an integer >= 0, got {self.checkpoint_every!r}.")
        if self.max_steps is not None and (not isinstance(self.max_steps, int) or self.max_steps < 0):
            raise ValueError(f"VAETrainConfig.max_steps must be None or an integer >= 0, got {self.max_steps!r}.")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"VAETrainConfig.lr (the learning rate) must be a finite number > 0, got {self.lr!r}; "
                             "1e-3 is a good start.")
        for name in ("beta1", "beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"VAETrainConfig.{name} (Adam's moment decay) must lie in [0, 1), "
                                 f"got {getattr(self, name)!r}.")


@dataclass
class VAEHistory(History):
    """What happened during training (means over each ``log_every`` window, nats per image).

    ``loss`` is the negative ELBO, ``nll`` its reconstruction term ``-log p(x | z)`` and ``kl`` the
    ``KL(q(z | x) || p(z))`` term, so ``loss == nll + kl`` record by record.
    """

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    nll: list[float] = field(default_factory=list)
    kl: list[float] = field(default_factory=list)
    sample_steps: list[int] = field(default_factory=list)
    samples: list[torch.Tensor] = field(default_factory=list)  # fixed-latent decodings, on CPU
    seconds: float = 0.0


def train_vae(
    vae: VAE,
    data: Any,
    config: VAETrainConfig | None = None,
    *,
    device: torch.device | str | None = None,
    callbacks: Sequence[Callable[[VAEHistory, int], None]] = (),
    resume: bool = True,
) -> VAEHistory:
    """Train a VAE by maximising the ELBO.

    Args:
        vae: the model (:class:`facelab.models.vae.VAE`); its likelihood is part of the model.
        data: a tensor of images in ``[-1, 1]``, a dataset with ``.images``, or a ``DataLoader``.
        config: the run's settings (defaults: ``VAETrainConfig()``).
        device: where to train; default ``facelab.get_device()``.
        callbacks: called as ``callback(history, step)`` every ``sample_every`` steps, after the
            fixed-latent samples are recorded (e.g. a live plot).
        resume: continue from ``config.checkpoint_path`` when that file exists.

    Returns:
        The :class:`VAEHistory`.

    Raises:
        facelab.train.guards.TrainingDiverged: the loss became NaN or infinite.
    """
    config = config or VAETrainConfig()
    device = torch.device(device) if device is not None else get_device()
    vae.to(device).train()
    optimizer = torch.optim.Adam(vae.parameters(), lr=config.lr, betas=(config.beta1, config.beta2))
    scaler = grad_scaler(device, config.amp)

    torch.manual_seed(config.seed)
    fixed_latent = vae.sample_latent(config.num_samples, device=device)
    history = VAEHistory()
    start = 0
    ckpt = Path(config.checkpoint_path) if config.checkpoint_path else None
    if resume and ckpt is not None and ckpt.exists():
        state = load_checkpoint(ckpt, map_location=device)
        missing = [key for key in ("vae", "optimizer", "scaler", "history", "fixed_latent", "step", "rng")
                   if key not in state]
        if missing:
            raise RuntimeError(f"Checkpoint {ckpt} lacks {missing}: it was not written by train_vae. "
                               "Pass another checkpoint_path, or delete the file to train from scratch.")
        vae.load_state_dict(state["vae"])
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        history = VAEHistory.from_dict(state["history"])
        fixed_latent = state["fixed_latent"].to(device)
        start = state["step"]
        set_rng_state(state["rng"])

    guard = DivergenceGuard(("loss",), device=device, checkpoint_path=ckpt, last_good_step=start,
                            advice="lower lr or raise the likelihood's pixel_std")

    def checkpoint(step: int) -> None:
        if ckpt is None:
            return
        guard.check()  # never overwrite the last good checkpoint with a diverged state
        save_checkpoint(ckpt, {
            "vae": vae.state_dict(), "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
            "history": history.to_dict(), "fixed_latent": fixed_latent.cpu(), "step": step,
            "config": dataclasses.asdict(config), "rng": rng_state(),
        })
        guard.saved(step)

    end = config.steps if config.max_steps is None else min(config.steps, start + config.max_steps)
    batches = _batches(data, config.batch_size, device)
    pending: list[torch.Tensor] = []  # per-step stats stay on the device until a log step
    tic = time.perf_counter()
    bar = _progress(range(start, end), config.progress, total=config.steps, initial=start)
    for step in bar:
        # (1) Encode, reparameterise, decode: one Monte Carlo sample of the ELBO per image
        images = next(batches)
        with autocast(device, config.amp):
            out = vae(images)
        loss = out.loss  # -ELBO in nats per image, computed in float32

        # (2) One gradient step on the negative ELBO
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

        # (3) Book-keeping: stats, samples, callbacks, checkpoints
        pending.append(torch.stack([loss.detach(), out.nll.detach().mean(), out.kl.detach().mean()]))
        done = step + 1
        guard.update(done, loss)
        if done % config.log_every == 0 or done == end:
            guard.check()
            stats = torch.stack(pending).mean(0).tolist()  # one host sync per log_every steps
            pending.clear()
            history.step.append(done)
            for key, value in zip(("loss", "nll", "kl"), stats):
                getattr(history, key).append(value)
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{stats[0]:.1f}", kl=f"{stats[2]:.1f}", refresh=False)
        if done % config.sample_every == 0 or done == end:
            history.sample_steps.append(done)
            history.samples.append(_decode(vae, fixed_latent))
            for callback in callbacks:
                callback(history, done)
        if config.checkpoint_every and done % config.checkpoint_every == 0:
            history.seconds += time.perf_counter() - tic
            tic = time.perf_counter()
            checkpoint(done)
    guard.check()
    if end > start:  # a finished run that is only reloaded keeps its training time
        history.seconds += time.perf_counter() - tic
        checkpoint(end)
    return history


@torch.no_grad()
def _decode(vae: VAE, z: torch.Tensor) -> torch.Tensor:
    was_training = vae.training
    vae.eval()
    out = vae.decode(z).float().cpu()
    vae.train(was_training)
    return out


def _progress(iterable, enabled: bool, **kwargs):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc="VAE", unit="step", dynamic_ncols=True, mininterval=1.0, **kwargs)
