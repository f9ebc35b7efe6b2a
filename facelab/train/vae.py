"""The VAE training loop: maximise the evidence lower bound (ELBO) with Adam.

One step (:func:`vae_step`; Kingma & Welling, ICLR 2014): encode a batch to ``q(z | x)``, draw ``z``
with the reparameterisation trick, decode, and take a gradient step on the negative ELBO,
``-log p(x | z) + KL(q(z | x) || N(0, I))`` averaged over the batch. Unlike a GAN there is one
network pair and one loss that goes down, which is the practical difference chapter 08 is about.

Around the step, the same :class:`~facelab.train.loop.TrainingRun` as the GAN loop: a config stored
in checkpoints (and compared on resume), a history the plotting helpers understand, a fixed latent batch
decoded every ``sample_every`` steps, callbacks, ``max_steps`` for tests, atomic checkpoints, mixed
precision on GPUs (the fast path's one mechanism), a progress bar, and the divergence guard.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Iterator, Sequence

import torch

from ..models.vae import VAE
from ..runtime import get_device
from ..utils import evaluating
from .config import TrainConfig, integer, interval, rate
from .fast import FastPath, setup_fast_path
from .history import History
from .loop import TrainingRun, update
from .source import training_data

__all__ = ["VAETrainConfig", "VAEHistory", "vae_step", "train_vae"]


@dataclass
class VAETrainConfig(TrainConfig):
    """Settings of a VAE training run (stored in its checkpoints); the shared ones are :class:`TrainConfig`'s."""

    steps: int = 1000                # optimiser steps
    batch_size: int = 64
    lr: float = 1e-3                 # Adam; a VAE is one model with one loss, so the usual 1e-3 works
    beta1: float = 0.9
    beta2: float = 0.999
    sample_every: int = 100          # steps between fixed-latent samples and callbacks
    num_samples: int = 64            # size of the fixed latent batch

    RULES: ClassVar = {"lr": rate(), "beta1": interval(0, 1, what="Adam's moment decay"),
                       "beta2": interval(0, 1, what="Adam's moment decay"),
                       "sample_every": integer(1), "num_samples": integer(1)}
    HINTS: ClassVar = {"lr": "1e-3 is a good start"}


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


def vae_step(vae: torch.nn.Module, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
             fast: FastPath, batches: Iterator[tuple]) -> torch.Tensor:
    """One step on the negative ELBO (Kingma & Welling 2014).

    Returns:
        The step's statistics on the device: ``(loss, nll, kl)`` in nats per image.
    """
    # (1) Encode, reparameterise, decode: one Monte Carlo sample of the ELBO per image
    images, _ = next(batches)
    with fast.autocast():
        out = vae(fast.batch(images))
    loss = out.loss  # -ELBO in nats per image, computed in float32

    # (2) One gradient step on the negative ELBO
    update(optimizer, scaler, loss)
    return torch.stack([loss.detach(), out.nll.detach().mean(), out.kl.detach().mean()])


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
        resume: continue from ``config.checkpoint_path`` when that file exists (its settings must match).

    Returns:
        The :class:`VAEHistory`.

    Raises:
        facelab.train.guards.TrainingDiverged: the loss became NaN or infinite.
    """
    config = config or VAETrainConfig()
    device = torch.device(device) if device is not None else get_device()
    fast = setup_fast_path(device, config)
    source = training_data(data, fast, seed=config.seed, loop="train_vae")
    model = fast.prepare(vae)  # what the step calls (a DDP wrapper when several processes train)
    vae.train()
    optimizer = torch.optim.Adam(vae.parameters(), lr=config.lr, betas=(config.beta1, config.beta2),
                                 **fast.optimizer_kwargs())
    scaler = fast.grad_scaler()

    with TrainingRun("train_vae", config, fast, VAEHistory(), stats=("loss", "nll", "kl"), resume=resume,
                     label="VAE", advice="lower lr or raise the likelihood's pixel_std") as run:
        fixed = run.resume(models={"vae": vae}, states={"optimizer": optimizer, "scaler": scaler},
                           tensors={"fixed_latent": vae.sample_latent(config.num_samples, device=device)})
        batches = source.batches(config.batch_size)
        for step in run.steps():
            run.record(step, vae_step(model, optimizer, scaler, fast, batches))
            if run.due(step, config.sample_every):
                run.history.sample_steps.append(step)
                with evaluating(vae), torch.no_grad():
                    run.history.samples.append(vae.decode(fixed["fixed_latent"]).float().cpu())
                for callback in callbacks if fast.is_main else ():
                    callback(run.history, step)
    return run.history
