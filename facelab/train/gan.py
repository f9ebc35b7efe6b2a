"""One GAN training loop for every model and objective in the course.

The step is the algorithm of Goodfellow et al. (2014) as the PyTorch DCGAN example
writes it: first update D on a real and a fake batch (the fake batch *detached*, so
D's loss does not push gradients into G), then update G through D. Around it: Adam
with the DCGAN paper's settings, mixed precision on GPUs, a fixed noise batch for
comparable sample grids, a history of losses and D outputs, atomic checkpoints,
callbacks for live plots, and ``max_steps`` for tests.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import torch
from torch import nn

from ..losses.gan import GANLoss, get_gan_loss, gradient_penalty
from ..runtime import autocast, get_device, grad_scaler
from .checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state


@dataclass
class GANTrainConfig:
    """Settings of a GAN training run (stored in its checkpoints)."""

    loss: str = "nonsaturating"      # a name in facelab.losses.GAN_LOSSES
    steps: int = 500                 # generator updates
    batch_size: int = 64             # 128 in the DCGAN paper
    lr_g: float = 2e-4               # Adam learning rates and betas from the DCGAN paper
    lr_d: float = 2e-4
    beta1: float = 0.5               # 0.9 made training oscillate in the paper
    beta2: float = 0.999
    d_steps: int | None = None       # D updates per G update; None: the loss's recommendation
    gp_weight: float | None = None   # WGAN-GP lambda; None: the loss's recommendation
    amp: bool = True                 # mixed precision on CUDA; CPU always runs float32
    log_every: int = 10              # steps between history records
    sample_every: int = 100          # steps between fixed-noise samples and callbacks
    num_samples: int = 64            # size of the fixed noise batch
    checkpoint_path: str | None = None
    checkpoint_every: int = 0        # steps between checkpoints; 0: only at the end
    seed: int = 0
    max_steps: int | None = None     # stop after this many steps of this call (tests, dry runs)
    progress: bool = True            # tqdm progress bar

    def __post_init__(self) -> None:
        get_gan_loss(self.loss)  # fail early on a typo
        for name in ("steps", "batch_size", "log_every", "sample_every", "num_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"GANTrainConfig.{name} must be >= 1, got {getattr(self, name)}.")
        for name in ("lr_g", "lr_d"):
            if not getattr(self, name) > 0:
                raise ValueError(f"GANTrainConfig.{name} must be > 0, got {getattr(self, name)}.")


@dataclass
class GANHistory:
    """What happened during training, in a form the plotting helpers understand.

    ``d_real``/``d_fake`` are the mean ``D(x)`` and ``D(G(z))`` as probabilities for
    the cross-entropy objectives, and mean raw scores for the others.
    """

    step: list[int] = field(default_factory=list)
    loss_d: list[float] = field(default_factory=list)
    loss_g: list[float] = field(default_factory=list)
    d_real: list[float] = field(default_factory=list)
    d_fake: list[float] = field(default_factory=list)
    sample_steps: list[int] = field(default_factory=list)
    samples: list[torch.Tensor] = field(default_factory=list)  # fixed-noise outputs, on CPU
    seconds: float = 0.0
    probabilistic: bool = True

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> "GANHistory":
        return cls(**state)

    def mean_last(self, key: str, n: int = 10) -> float:
        """Mean of the last ``n`` records of ``key`` (e.g. ``"d_real"``)."""
        values = getattr(self, key)[-n:]
        return sum(values) / max(len(values), 1)


def _batches(data: Any, batch_size: int, device: torch.device) -> Iterator[torch.Tensor]:
    """An endless stream of training batches on ``device``.

    ``data`` may be a tensor (or a dataset with an ``images`` tensor) held on the
    device and sampled with replacement, a callable ``n -> tensor`` (a toy
    distribution's ``sample``), or any iterable of batches (a ``DataLoader``).
    """
    images = getattr(data, "images", data)
    if isinstance(images, torch.Tensor):
        images = images.to(device)
        while True:  # indices from the global RNG: exact resumption restores it
            yield images[torch.randint(images.shape[0], (batch_size,))]
    elif callable(data):
        while True:
            yield data(batch_size).to(device)
    elif isinstance(data, Iterable):
        while True:
            for batch in data:
                batch = batch[0] if isinstance(batch, (tuple, list)) else batch
                yield batch.to(device, non_blocking=True)
    else:
        raise TypeError(f"Cannot train on {type(data).__name__}; pass a tensor, a dataset with .images, "
                        "a sampling function or a DataLoader.")


def train_gan(
    generator: nn.Module,
    discriminator: nn.Module,
    data: Any,
    config: GANTrainConfig | None = None,
    *,
    device: torch.device | str | None = None,
    callbacks: Sequence[Callable[[GANHistory, int], None]] = (),
    resume: bool = True,
) -> GANHistory:
    """Train a GAN.

    Args:
        generator: maps ``z`` of shape ``(B, latent_dim)`` to samples; has ``latent_dim``.
        discriminator: maps samples to one raw score each, shape ``(B,)``.
        data: a tensor of training samples, a dataset with ``.images``, a function
            ``n -> (n, ...) samples``, or a ``DataLoader``.
        config: the run's settings (defaults: ``GANTrainConfig()``).
        device: where to train; default ``facelab.get_device()``.
        callbacks: called as ``callback(history, step)`` every ``sample_every`` steps,
            after the new fixed-noise samples are recorded (e.g. a live plot).
        resume: continue from ``config.checkpoint_path`` when that file exists.

    Returns:
        The ``GANHistory``.
    """
    config = config or GANTrainConfig()
    device = torch.device(device) if device is not None else get_device()
    objective: GANLoss = get_gan_loss(config.loss)
    d_steps = config.d_steps or objective.d_steps
    gp_weight = objective.gradient_penalty if config.gp_weight is None else config.gp_weight

    generator.to(device).train()
    discriminator.to(device).train()
    opt_g = torch.optim.Adam(generator.parameters(), lr=config.lr_g, betas=(config.beta1, config.beta2))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=config.lr_d, betas=(config.beta1, config.beta2))
    # one scaler per optimiser: each loss is scaled and checked for overflow on its own (fp16 only)
    scaler_g, scaler_d = grad_scaler(device, config.amp), grad_scaler(device, config.amp)

    torch.manual_seed(config.seed)
    fixed_noise = generator.sample_latent(config.num_samples, device=device)
    history = GANHistory(probabilistic=objective.probabilistic)
    start = 0
    ckpt = Path(config.checkpoint_path) if config.checkpoint_path else None
    if resume and ckpt is not None and ckpt.exists():
        state = load_checkpoint(ckpt, map_location=device)
        generator.load_state_dict(state["generator"])
        discriminator.load_state_dict(state["discriminator"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        scaler_g.load_state_dict(state["scaler_g"])
        scaler_d.load_state_dict(state["scaler_d"])
        history = GANHistory.from_dict(state["history"])
        fixed_noise = state["fixed_noise"].to(device)
        start = state["step"]
        set_rng_state(state["rng"])

    def checkpoint(step: int) -> None:
        if ckpt is None:
            return
        save_checkpoint(ckpt, {
            "generator": generator.state_dict(), "discriminator": discriminator.state_dict(),
            "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
            "scaler_g": scaler_g.state_dict(), "scaler_d": scaler_d.state_dict(),
            "history": history.to_dict(), "fixed_noise": fixed_noise.cpu(), "step": step,
            "config": dataclasses.asdict(config), "rng": rng_state(),
        })

    def to_d_output(scores: torch.Tensor) -> torch.Tensor:
        scores = scores.detach().float()
        return torch.sigmoid(scores).mean() if objective.probabilistic else scores.mean()

    end = config.steps if config.max_steps is None else min(config.steps, start + config.max_steps)
    batches = _batches(data, config.batch_size, device)
    pending: list[torch.Tensor] = []  # per-step stats stay on the device until a log step (no sync per step)
    tic = time.perf_counter()
    bar = _progress(range(start, end), config.progress, total=config.steps, initial=start)
    for step in bar:
        # (1) Update D: maximise log D(x) + log(1 - D(G(z))), i.e. minimise objective.loss_d
        for _ in range(d_steps):
            real = next(batches)
            z = generator.sample_latent(real.shape[0], device=device)
            with autocast(device, config.amp):
                fake = generator(z)
                real_scores = discriminator(real)
                fake_scores = discriminator(fake.detach())  # detach: D's loss must not update G
                loss_d = objective.loss_d(real_scores.float(), fake_scores.float())
            if gp_weight:
                loss_d = loss_d + gp_weight * gradient_penalty(discriminator, real.float(), fake.float())
            opt_d.zero_grad(set_to_none=True)
            scaler_d.scale(loss_d).backward()
            scaler_d.step(opt_d)
            scaler_d.update()

        # (2) Update G: make D call the fake batch real (reuses the last fake batch, as the DCGAN example does)
        with autocast(device, config.amp):
            fake_scores_g = discriminator(fake)
            loss_g = objective.loss_g(fake_scores_g.float())
        opt_g.zero_grad(set_to_none=True)
        scaler_g.scale(loss_g).backward()
        scaler_g.step(opt_g)
        scaler_g.update()

        # (3) Book-keeping: stats, samples, callbacks, checkpoints
        pending.append(torch.stack([loss_d.detach().float(), loss_g.detach().float(),
                                    to_d_output(real_scores), to_d_output(fake_scores)]))
        done = step + 1
        if done % config.log_every == 0 or done == end:
            stats = torch.stack(pending).mean(0).tolist()  # the only host sync: once per log_every steps
            pending.clear()
            history.step.append(done)
            for key, value in zip(("loss_d", "loss_g", "d_real", "d_fake"), stats):
                getattr(history, key).append(value)
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss_d=f"{stats[0]:.3f}", loss_g=f"{stats[1]:.3f}",
                                d_real=f"{stats[2]:.2f}", d_fake=f"{stats[3]:.2f}", refresh=False)
        if done % config.sample_every == 0 or done == end:
            history.sample_steps.append(done)
            history.samples.append(sample(generator, fixed_noise).cpu())
            for callback in callbacks:
                callback(history, done)
        if config.checkpoint_every and done % config.checkpoint_every == 0:
            history.seconds += time.perf_counter() - tic
            tic = time.perf_counter()
            checkpoint(done)
    history.seconds += time.perf_counter() - tic
    if end > start:
        checkpoint(end)
    return history


@torch.no_grad()
def sample(generator: nn.Module, z: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Generator outputs for the latent batch ``z``, in eval mode, as float32.

    Eval mode makes batch norm use its running statistics, so a sample does not
    depend on the other samples in its batch; the module's mode is restored after.
    """
    was_training = generator.training
    generator.eval()
    out = torch.cat([generator(chunk).float() for chunk in z.split(batch_size)])
    generator.train(was_training)
    return out


def _progress(iterable, enabled: bool, **kwargs):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc="GAN", unit="step", dynamic_ncols=True, mininterval=1.0, **kwargs)
