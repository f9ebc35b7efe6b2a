"""One GAN training loop for every model and objective in the course.

:func:`gan_step` is Algorithm 1 of Goodfellow et al. (2014): sample a real and a noise minibatch and
update D on them (the fake batch *detached*, so D's loss does not push gradients into G), ``d_steps``
times; then sample fresh noise and update G through D. Around it (:class:`~facelab.train.loop.TrainingRun`):
Adam with the DCGAN paper's settings, mixed precision on GPUs, a fixed noise batch for comparable sample
grids, a history of losses and D outputs, atomic checkpoints, callbacks for live plots, and ``max_steps``
for tests. Conditional GANs (Mirza & Osindero 2014; ``facelab.models.conditional``) run the same step
with class labels passed to both networks: the data's labels for the real batch, labels drawn from the
data's label distribution for the fakes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Iterator, Sequence

import torch
from torch import nn

from ..losses.gan import GANLoss, get_gan_loss, gradient_penalty
from ..models.sampling import is_conditional, sample
from ..runtime import get_device
from .config import TrainConfig, integer, interval, number, rate
from .fast import FastPath, setup_fast_path
from .history import History
from .loop import TrainingRun, update
from .source import TrainingData, training_data

__all__ = ["GANTrainConfig", "GANHistory", "GANParts", "gan_step", "train_gan", "sample", "is_conditional"]


@dataclass
class GANTrainConfig(TrainConfig):
    """Settings of a GAN training run (stored in its checkpoints); the shared ones are :class:`TrainConfig`'s."""

    loss: str = "nonsaturating"      # a name in facelab.losses.GAN_LOSSES
    steps: int = 500                 # generator updates
    batch_size: int = 64             # 128 in the DCGAN paper
    lr_g: float = 2e-4               # Adam learning rates and betas from the DCGAN paper
    lr_d: float = 2e-4
    beta1: float = 0.5               # 0.9 made training oscillate in the paper
    beta2: float = 0.999
    d_steps: int | None = None       # D updates per G update; None: the loss's recommendation
    gp_weight: float | None = None   # WGAN-GP lambda; None: the loss's recommendation
    sample_every: int = 100          # steps between fixed-noise samples and callbacks
    num_samples: int = 64            # size of the fixed noise batch

    RULES: ClassVar = {
        "lr_g": rate(), "lr_d": rate(), "beta1": interval(0, 1, what="Adam's moment decay"),
        "beta2": interval(0, 1, what="Adam's moment decay"), "d_steps": integer(1, optional=True),
        "gp_weight": number(0, optional=True), "sample_every": integer(1), "num_samples": integer(1),
    }
    HINTS: ClassVar = {"lr_g": "the DCGAN paper uses lr_g=2e-4", "lr_d": "the DCGAN paper uses lr_d=2e-4",
                       "beta1": "the DCGAN paper uses beta1=0.5, beta2=0.999",
                       "beta2": "the DCGAN paper uses beta1=0.5, beta2=0.999",
                       "gp_weight": "None is the loss's default; WGAN-GP uses 10"}

    def __post_init__(self) -> None:
        get_gan_loss(self.loss)  # fail early on a typo
        super().__post_init__()


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


@dataclass
class GANParts:
    """What :func:`gan_step` works with: the two networks, their optimisers and the objective."""

    generator: nn.Module             # holds the weights; has sample_latent
    G: nn.Module                     # what the step calls: the generator, or its DDP wrapper
    D: nn.Module                     # the discriminator (or its DDP wrapper)
    discriminator: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    scaler_g: torch.amp.GradScaler   # one per optimiser: each loss is scaled on its own (fp16 only)
    scaler_d: torch.amp.GradScaler
    objective: GANLoss
    d_steps: int
    gp_weight: float
    fast: FastPath

    def penalty(self, real: torch.Tensor, fake: torch.Tensor, labels: tuple) -> torch.Tensor:
        """WGAN-GP's gradient penalty at points between real and fake samples."""
        critic = (lambda x: self.discriminator(x, *labels)) if labels else self.discriminator
        return gradient_penalty(critic, real.float(), fake.float())

    def d_output(self, scores: torch.Tensor) -> torch.Tensor:
        """Mean D output of a batch: a probability for the cross-entropy objectives, else a raw score."""
        scores = scores.detach().float()
        return torch.sigmoid(scores).mean() if self.objective.probabilistic else scores.mean()


def gan_step(gan: GANParts, batches: Iterator[tuple]) -> torch.Tensor:
    """One iteration of Algorithm 1 (Goodfellow et al. 2014): ``d_steps`` updates of D, then one of G.

    Returns:
        The step's statistics on the device: ``(loss_d, loss_g, mean D(x), mean D(G(z)))``.
    """
    for _ in range(gan.d_steps):
        # (1) Sample a minibatch of data and one of noise; update D to tell them apart
        real, y_real, y_fake = next(batches)  # y_*: () or (class labels,) for a conditional GAN
        z = gan.generator.sample_latent(real.shape[0], device=real.device)
        with gan.fast.autocast():
            fake = gan.G(z, *y_fake)
            real_scores = gan.D(real, *y_real)
            fake_scores = gan.D(fake.detach(), *y_fake)  # detach: D's loss must not update G
            loss_d = gan.objective.loss_d(real_scores.float(), fake_scores.float())
        if gan.gp_weight:  # WGAN-GP: keep D's gradient norm near 1 between real and fake samples
            loss_d = loss_d + gan.gp_weight * gan.penalty(real, fake, y_real)
        update(gan.opt_d, gan.scaler_d, loss_d)

    # (2) Sample a fresh minibatch of noise; update G so that D calls its output real
    z = gan.generator.sample_latent(real.shape[0], device=real.device)
    with gan.fast.autocast():
        loss_g = gan.objective.loss_g(gan.D(gan.G(z, *y_fake), *y_fake).float())
    update(gan.opt_g, gan.scaler_g, loss_g)
    return torch.stack([loss_d.detach().float(), loss_g.detach().float(),
                        gan.d_output(real_scores), gan.d_output(fake_scores)])


def _gan_batches(source: TrainingData, batch_size: int, fast: FastPath, conditional: bool) -> Iterator[tuple]:
    """``(real, y_real, y_fake)``: a real batch in the models' memory format, and the labels of each side.

    Unconditional: ``y_real = y_fake = ()``. Conditional: the real batch's labels, and labels for the fakes
    drawn from the data's label distribution (in memory: independently; from a loader: the real labels shuffled).
    """
    for real, labels in source.batches(batch_size):
        if not conditional:
            yield fast.batch(real), (), ()
            continue
        if labels is None:
            raise TypeError("A conditional GAN needs (images, labels) batches; the data yielded images only. "
                            "Use a dataset with .labels or a DataLoader over one.")
        fake_labels = (source.sample_labels(labels.shape[0]) if source.kind == "memory"
                       else labels[torch.randperm(labels.shape[0], device=labels.device)])
        yield fast.batch(real), (labels,), (fake_labels,)


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
        resume: continue from ``config.checkpoint_path`` when that file exists (its settings must match).

    Returns:
        The ``GANHistory``.
    """
    config = config or GANTrainConfig()
    device = torch.device(device) if device is not None else get_device()
    objective: GANLoss = get_gan_loss(config.loss)
    conditional = is_conditional(generator)
    if conditional != is_conditional(discriminator):
        raise ValueError("The generator and discriminator must both be conditional (num_classes > 0) or both "
                         f"unconditional; got generator num_classes={getattr(generator, 'num_classes', None)}, "
                         f"discriminator num_classes={getattr(discriminator, 'num_classes', None)}.")
    fast = setup_fast_path(device, config)  # precision, memory layout, optimiser kernels, placement, DDP
    source = training_data(data, fast, seed=config.seed, labelled=conditional, loop="train_gan",
                           what="a conditional GAN" if conditional else "")
    generator.train()
    discriminator.train()
    betas = (config.beta1, config.beta2)
    gan = GANParts(
        generator=generator, G=fast.prepare(generator), D=fast.prepare(discriminator), discriminator=discriminator,
        opt_g=torch.optim.Adam(generator.parameters(), lr=config.lr_g, betas=betas, **fast.optimizer_kwargs()),
        opt_d=torch.optim.Adam(discriminator.parameters(), lr=config.lr_d, betas=betas, **fast.optimizer_kwargs()),
        scaler_g=fast.grad_scaler(), scaler_d=fast.grad_scaler(), objective=objective,
        d_steps=config.d_steps or objective.d_steps,
        gp_weight=objective.gradient_penalty if config.gp_weight is None else config.gp_weight, fast=fast)

    with TrainingRun("train_gan", config, fast, GANHistory(probabilistic=objective.probabilistic),
                     stats=("loss_d", "loss_g", "d_real", "d_fake"), watch=2, resume=resume, label="GAN",
                     advice="lower lr_d and lr_g (or try loss='hinge' or 'wgan-gp')") as run:
        fixed = {"fixed_noise": generator.sample_latent(config.num_samples, device=device)}
        if conditional:  # the fixed batch cycles through the classes 0, 1, ..., K-1, 0, 1, ...
            fixed["fixed_labels"] = torch.arange(config.num_samples, device=device) % generator.num_classes
        fixed = run.resume(models={"generator": generator, "discriminator": discriminator},
                           states={"opt_g": gan.opt_g, "opt_d": gan.opt_d,
                                   "scaler_g": gan.scaler_g, "scaler_d": gan.scaler_d}, tensors=fixed)
        batches = _gan_batches(source, config.batch_size, fast, conditional)
        for step in run.steps():
            run.record(step, gan_step(gan, batches))
            if run.due(step, config.sample_every):
                run.history.sample_steps.append(step)
                run.history.samples.append(sample(generator, fixed["fixed_noise"], fixed.get("fixed_labels")).cpu())
                for callback in callbacks if fast.is_main else ():  # rank 0 only
                    callback(run.history, step)
    return run.history
