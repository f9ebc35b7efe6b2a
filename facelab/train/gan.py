"""One GAN training loop for every model and objective in the course.

The step is the algorithm of Goodfellow et al. (2014) as the PyTorch DCGAN example
writes it: first update D on a real and a fake batch (the fake batch *detached*, so
D's loss does not push gradients into G), then update G through D. Around it: Adam
with the DCGAN paper's settings, mixed precision on GPUs, a fixed noise batch for
comparable sample grids, a history of losses and D outputs, atomic checkpoints,
callbacks for live plots, and ``max_steps`` for tests. Conditional GANs (Mirza &
Osindero 2014; ``facelab.models.conditional``) run the same step with class labels
passed to both networks: the data's labels for the real batch, labels drawn from the
data's label distribution for the fakes.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import torch
from torch import nn

from ..losses.gan import GANLoss, get_gan_loss, gradient_penalty
from ..runtime import get_device
from .checkpoint import (load_checkpoint, load_state_dict_checked, require_keys, rng_state, save_checkpoint,
                         set_rng_state)
from .guards import DivergenceGuard
from .history import History
from .distributed import shard
from .fast import check_fast_path_fields, setup_fast_path


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
    # --- the fast path (facelab.train.fast); None: on where it helps ---
    amp: bool = True                 # bf16 (else fp16 + GradScaler) autocast on CUDA; CPU always runs float32
    channels_last: bool | None = None  # NHWC memory layout; None: on CUDA (tensor cores), off on CPU
    optimizer_impl: str | None = None  # "fused", "foreach" or "for-loop"; None: fused on CUDA, foreach on CPU
    data_on_device: bool | None = None  # hold in-memory data on the device; None: when it fits in half the free memory
    cudnn_benchmark: bool = True     # cuDNN autotuning (CUDA only)
    compile: bool = False            # torch.compile G and D: pays only on long runs (compilation takes a while)
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
        defaults = {f.name: f.default for f in dataclasses.fields(self)}

        def positive_int(name: str, minimum: int = 1, optional: bool = False) -> None:
            value = getattr(self, name)
            if optional and value is None:
                return
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
                raise ValueError(f"GANTrainConfig.{name} must be an integer >= {minimum}"
                                 f"{' or None' if optional else ''}, got {value!r}; "
                                 f"e.g. {name}={defaults[name]!r} (the default).")

        for name in ("steps", "batch_size", "log_every", "sample_every", "num_samples"):
            positive_int(name)
        positive_int("checkpoint_every", minimum=0)
        positive_int("d_steps", optional=True)
        positive_int("max_steps", minimum=0, optional=True)
        for name in ("lr_g", "lr_d"):
            value = getattr(self, name)
            if not (isinstance(value, numbers.Real) and math.isfinite(value) and value > 0):
                raise ValueError(f"GANTrainConfig.{name} (a learning rate) must be a finite number > 0, got "
                                 f"{value!r}; the DCGAN paper uses {name}=2e-4.")
        for name in ("beta1", "beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"GANTrainConfig.{name} (Adam's moment decay) must lie in [0, 1), got "
                                 f"{getattr(self, name)!r}; the DCGAN paper uses beta1=0.5, beta2=0.999.")
        if self.gp_weight is not None and not self.gp_weight >= 0:
            raise ValueError(f"GANTrainConfig.gp_weight must be >= 0 or None (the loss's default), got "
                             f"{self.gp_weight!r}; WGAN-GP uses 10.")
        check_fast_path_fields(self)


@dataclass
class GANHistory(History):
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


def _batches(data: Any, batch_size: int, device: torch.device) -> Iterator[torch.Tensor]:
    """An endless stream of training batches on ``device``.

    ``data`` may be a tensor (or a dataset with an ``images`` tensor) held on the
    device and sampled with replacement, a callable ``n -> tensor`` (a toy
    distribution's ``sample``), or any iterable of batches (a ``DataLoader``).
    """
    images = getattr(data, "images", data)
    if isinstance(images, torch.Tensor):
        while True:  # indices from the global RNG: exact resumption restores it; the loop moves the batch
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


def is_conditional(module: nn.Module) -> bool:
    """Whether a generator or discriminator takes class labels (it has ``num_classes > 0``)."""
    return bool(getattr(module, "num_classes", 0))


def _labelled_batches(data: Any, batch_size: int, device: torch.device) -> Iterator[tuple]:
    """An endless stream of ``(real, (real_labels,), (fake_labels,))`` for conditional GANs.

    ``data`` is a dataset with ``.images`` and ``.labels`` (a ``FaceTensorDataset``), a pair
    ``(images, labels)`` of tensors, or an iterable of ``(images, labels, ...)`` batches. The
    fakes' labels are drawn from the empirical label distribution of the data: independently
    of the real batch for tensors, the real batch's labels shuffled for iterables.
    """
    pair = data if isinstance(data, (tuple, list)) and len(data) == 2 else None
    images = pair[0] if pair else getattr(data, "images", None)
    labels = pair[1] if pair else getattr(data, "labels", None)
    if isinstance(images, torch.Tensor) and isinstance(labels, torch.Tensor):
        if labels.shape != (images.shape[0],):
            raise ValueError(f"labels must have shape ({images.shape[0]},) to match the images, "
                             f"got {tuple(labels.shape)}.")
        images, labels = images.to(device), labels.to(device).long()
        while True:
            index, fake_index = torch.randint(images.shape[0], (2, batch_size))
            yield images[index], (labels[index],), (labels[fake_index],)
    elif isinstance(data, Iterable) and not isinstance(data, torch.Tensor):
        while True:
            for batch in data:
                if not (isinstance(batch, (tuple, list)) and len(batch) >= 2):
                    raise TypeError("A conditional GAN needs (images, labels) batches; the data yielded "
                                    f"{type(batch).__name__}. Use a dataset with .labels or a DataLoader over one.")
                real, labels = batch[0].to(device, non_blocking=True), batch[1].to(device).long()
                yield real, (labels,), (labels[torch.randperm(labels.shape[0], device=labels.device)],)
    else:
        raise TypeError(f"Cannot train a conditional GAN on {type(data).__name__}; pass a dataset with "
                        ".images and .labels, a pair (images, labels) of tensors, or a DataLoader of (images, labels).")


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
            A conditional generator (``num_classes > 0``, e.g.
            ``facelab.models.conditional.ConditionalGenerator``) is called as
            ``generator(z, labels)`` with labels drawn from the data's label distribution.
        discriminator: maps samples to one raw score each, shape ``(B,)``; called as
            ``discriminator(x, labels)`` when the generator is conditional.
        data: a tensor of training samples, a dataset with ``.images``, a function
            ``n -> (n, ...) samples``, or a ``DataLoader``. For a conditional generator:
            a dataset with ``.images`` and ``.labels``, a pair ``(images, labels)``, or a
            ``DataLoader`` of ``(images, labels)`` batches.
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
    conditional = is_conditional(generator)
    if conditional != is_conditional(discriminator):
        raise ValueError("The generator and discriminator must both be conditional (num_classes > 0) or both "
                         f"unconditional; got generator num_classes={getattr(generator, 'num_classes', None)}, "
                         f"discriminator num_classes={getattr(discriminator, 'num_classes', None)}.")

    # the fast path: precision, memory layout, optimiser kernels, data placement, compilation, DDP
    fast = setup_fast_path(device, config)
    generator.train()
    discriminator.train()
    # the step calls these (DDP wrappers when several processes train); weights live in generator/discriminator
    run_generator, run_discriminator = fast.prepare(generator), fast.prepare(discriminator)
    opt_g = torch.optim.Adam(generator.parameters(), lr=config.lr_g, betas=(config.beta1, config.beta2),
                             **fast.optimizer_kwargs())
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=config.lr_d, betas=(config.beta1, config.beta2),
                             **fast.optimizer_kwargs())
    # one scaler per optimiser: each loss is scaled and checked for overflow on its own (fp16 only)
    scaler_g, scaler_d = fast.grad_scaler(), fast.grad_scaler()

    torch.manual_seed(config.seed)
    fixed_noise = generator.sample_latent(config.num_samples, device=device)
    # conditional: the fixed batch cycles through the classes 0, 1, ..., K-1, 0, 1, ...
    fixed_labels = torch.arange(config.num_samples, device=device) % generator.num_classes if conditional else None
    history = GANHistory(probabilistic=objective.probabilistic)
    start = 0
    ckpt = Path(config.checkpoint_path) if config.checkpoint_path else None
    if resume and ckpt is not None and ckpt.exists():
        state = load_checkpoint(ckpt, map_location=device)
        require_keys(state, ("generator", "discriminator", "opt_g", "opt_d", "step", "rng"), ckpt, "train_gan")
        load_state_dict_checked(generator, state["generator"], name="generator", path=ckpt)
        load_state_dict_checked(discriminator, state["discriminator"], name="discriminator", path=ckpt)
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        scaler_g.load_state_dict(state["scaler_g"])
        scaler_d.load_state_dict(state["scaler_d"])
        history = GANHistory.from_dict(state["history"])
        fixed_noise = state["fixed_noise"].to(device)
        if conditional:
            fixed_labels = state["fixed_labels"].to(device)
        start = state["step"]
        set_rng_state(state["rng"])
    fast.decorrelate_rng(config.seed, start)  # several processes: each rank its own noise and batches

    # NaN/inf losses are flagged on the device each step and checked where the loop syncs anyway
    guard = DivergenceGuard(("loss_d", "loss_g"), device=device, checkpoint_path=ckpt, last_good_step=start,
                            advice="lower lr_d and lr_g (or try loss='hinge' or 'wgan-gp')")

    def checkpoint(step: int) -> None:
        if ckpt is None:
            return
        guard.check(step, generator=generator, discriminator=discriminator)  # never save a diverged state
        if fast.is_main:  # one writer; with several processes the others wait at the barrier
            save_checkpoint(ckpt, {
                "generator": generator.state_dict(), "discriminator": discriminator.state_dict(),
                "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
                "scaler_g": scaler_g.state_dict(), "scaler_d": scaler_d.state_dict(),
                "history": history.to_dict(), "fixed_noise": fixed_noise.cpu(), "step": step,
                **({"fixed_labels": fixed_labels.cpu()} if conditional else {}),
                "config": dataclasses.asdict(config), "rng": rng_state(),
            })
        fast.barrier()
        guard.saved(step)

    def to_d_output(scores: torch.Tensor) -> torch.Tensor:
        scores = scores.detach().float()
        return torch.sigmoid(scores).mean() if objective.probabilistic else scores.mean()

    end = config.steps if config.max_steps is None else min(config.steps, start + config.max_steps)
    data = shard(data, fast.context, config.seed)  # several processes: each trains on its own share
    data = _placed(data, fast)  # in-memory data on the device when it fits, else on the host
    if conditional:  # (real, (real_labels,), (fake_labels,)): the models get labels as a second argument
        batches = _labelled_batches(data, config.batch_size, device)
    else:
        batches = ((real, (), ()) for real in _batches(data, config.batch_size, device))
    pending: list[torch.Tensor] = []  # per-step stats stay on the device until a log step (no sync per step)
    tic = time.perf_counter()
    bar = _progress(range(start, end), config.progress and fast.is_main, total=config.steps, initial=start)
    for step in bar:
        # (1) Update D: maximise log D(x) + log(1 - D(G(z))), i.e. minimise objective.loss_d
        for _ in range(d_steps):
            real, y_real, y_fake = next(batches)  # y_*: () or (labels,)
            real = fast.batch(real)  # on the device, in the models' memory format
            z = generator.sample_latent(real.shape[0], device=device)
            with fast.autocast():
                fake = run_generator(z, *y_fake)
                real_scores = run_discriminator(real, *y_real)
                fake_scores = run_discriminator(fake.detach(), *y_fake)  # detach: D's loss must not update G
                loss_d = objective.loss_d(real_scores.float(), fake_scores.float())
            if gp_weight:
                loss_d = loss_d + gp_weight * gradient_penalty(
                    (lambda x: discriminator(x, *y_real)) if conditional else discriminator, real.float(), fake.float())
            opt_d.zero_grad(set_to_none=True)
            scaler_d.scale(loss_d).backward()
            scaler_d.step(opt_d)
            scaler_d.update()

        # (2) Update G: make D call the fake batch real (reuses the last fake batch, as the DCGAN example does)
        with fast.autocast():
            fake_scores_g = run_discriminator(fake, *y_fake)
            loss_g = objective.loss_g(fake_scores_g.float())
        opt_g.zero_grad(set_to_none=True)
        scaler_g.scale(loss_g).backward()
        scaler_g.step(opt_g)
        scaler_g.update()

        # (3) Book-keeping: stats, samples, callbacks, checkpoints
        pending.append(torch.stack([loss_d.detach().float(), loss_g.detach().float(),
                                    to_d_output(real_scores), to_d_output(fake_scores)]))
        done = step + 1
        guard.update(done, loss_d, loss_g)  # on the device: no sync
        if done % config.log_every == 0 or done == end:
            guard.check()  # raises TrainingDiverged naming the first non-finite step
            # the only host sync: once per log_every steps (averaged over the processes, if several)
            stats = fast.all_mean(torch.stack(pending).mean(0)).tolist()
            pending.clear()
            history.step.append(done)
            for key, value in zip(("loss_d", "loss_g", "d_real", "d_fake"), stats):
                getattr(history, key).append(value)
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss_d=f"{stats[0]:.3f}", loss_g=f"{stats[1]:.3f}",
                                d_real=f"{stats[2]:.2f}", d_fake=f"{stats[3]:.2f}", refresh=False)
        if done % config.sample_every == 0 or done == end:
            history.sample_steps.append(done)
            history.samples.append(sample(generator, fixed_noise, fixed_labels).cpu())
            for callback in callbacks if fast.is_main else ():  # rank 0 only
                callback(history, done)
        if config.checkpoint_every and done % config.checkpoint_every == 0:
            history.seconds += time.perf_counter() - tic
            tic = time.perf_counter()
            checkpoint(done)
    history.seconds += time.perf_counter() - tic
    guard.check()
    if end > start:
        checkpoint(end)
    return history


@torch.no_grad()
def sample(generator: nn.Module, z: torch.Tensor, labels: torch.Tensor | None = None,
           batch_size: int = 256) -> torch.Tensor:
    """Generator outputs for the latent batch ``z``, in eval mode, as float32.

    Eval mode makes batch norm use its running statistics, so a sample does not
    depend on the other samples in its batch; the module's mode is restored after.

    Args:
        generator: an unconditional generator, or a conditional one (``num_classes > 0``).
        z: latent vectors, shape ``(B, latent_dim)``.
        labels: class labels, shape ``(B,)``: required for a conditional generator,
            forbidden for an unconditional one.
        batch_size: largest batch run at once.
    """
    if is_conditional(generator) != (labels is not None):
        raise ValueError("sample(): pass labels of shape (B,) for a conditional generator and none for an "
                         f"unconditional one; got num_classes={getattr(generator, 'num_classes', None)} and "
                         f"labels={'None' if labels is None else tuple(labels.shape)}.")
    if labels is not None and labels.shape != (z.shape[0],):
        raise ValueError(f"sample(): labels must have shape ({z.shape[0]},) to match z, got {tuple(labels.shape)}.")
    was_training = generator.training
    generator.eval()
    if labels is None:
        out = torch.cat([generator(chunk).float() for chunk in z.split(batch_size)])
    else:
        out = torch.cat([generator(chunk, y).float() for chunk, y in zip(z.split(batch_size), labels.split(batch_size))])
    generator.train(was_training)
    return out


def _placed(data: Any, fast: Any) -> Any:
    """In-memory data where the fast path keeps it (``FastPath.place``); other kinds of data unchanged."""
    if isinstance(data, torch.Tensor):
        return fast.place(data)
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        return type(data)(fast.place(t) for t in data)
    if isinstance(getattr(data, "images", None), torch.Tensor) and dataclasses.is_dataclass(data):
        changes = {"images": fast.place(data.images)}
        if isinstance(getattr(data, "labels", None), torch.Tensor):
            changes["labels"] = fast.place(data.labels)
        return dataclasses.replace(data, **changes)
    return data


def _progress(iterable, enabled: bool, **kwargs):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc="GAN", unit="step", dynamic_ncols=True, mininterval=1.0, **kwargs)
