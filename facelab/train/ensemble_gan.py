"""Train K GANs (seeds, learning rates, penalty weights) as one batched computation.

:func:`train_gan_ensemble` is :func:`facelab.train.gan.train_gan`'s algorithm (the D step
with ``fake.detach()``, ``d_steps`` critic updates, the WGAN-GP penalty, the G step on the
last fake batch, Adam, records every ``log_every`` steps, fixed-noise samples every
``sample_every``) run on :class:`facelab.train.ensemble.Stack`\\ s of K generators and K
discriminators with ``torch.vmap``. Member k draws its data, noise and penalty mixing
weights from its own ``torch.Generator`` seeded with ``seeds[k]``, in the order
``train_gan`` draws them from the global generator after ``torch.manual_seed(seed)``,
so member k equals ``train_gan(..., GANTrainConfig(seed=seeds[k]))`` on the CPU up to
floating-point rounding (``tests/test_ensemble.py`` checks weights and histories).

:func:`facelab.baselines.toy_ensemble.train_toy_gan_ensemble` is the chapters' entry point for the 1-D/2-D toys.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
from torch import nn

from ..losses.gan import GANLoss, get_gan_loss
from .ensemble import Stack, StackedAdam, member_values
from .gan import GANHistory, GANTrainConfig

Tensor = torch.Tensor

__all__ = ["GANEnsemble", "train_gan_ensemble", "stacked_gradient_penalty"]


@dataclass
class GANEnsemble:
    """The result of :func:`train_gan_ensemble`.

    Attributes:
        histories: one ``GANHistory`` per member (``seconds`` is the whole ensemble's time).
        generator, discriminator: the trained ``Stack``\\ s (``.member(i)`` gives member i as a module).
        seeds: the members' seeds; lr_g, lr_d, gp_weight: their hyper-parameters.
        seconds: wall-clock time of the training loop.
    """

    histories: list[GANHistory]
    generator: Stack
    discriminator: Stack
    seeds: list[int]
    lr_g: list[float]
    lr_d: list[float]
    gp_weight: list[float]
    seconds: float
    templates: tuple[nn.Module, nn.Module] | None = field(default=None, repr=False)

    def generators(self) -> list[nn.Module]:
        """The trained generators as ordinary modules (with their methods, e.g. ``sample_latent``)."""
        return self.generator.members(self.templates[0] if self.templates else None)

    def discriminators(self) -> list[nn.Module]:
        return self.discriminator.members(self.templates[1] if self.templates else None)


def stacked_gradient_penalty(critic: Stack, real: Tensor, fake: Tensor, alpha: Tensor) -> Tensor:
    """WGAN-GP's penalty per member, ``(K,)``: ``E[(||grad D(x_hat)|| - 1)^2]`` (Gulrajani et al. 2017).

    ``facelab.losses.gan.gradient_penalty`` for stacked critics: ``real``, ``fake`` are
    ``(K, B, ...)`` and ``alpha`` ``(K, B, 1, ...)`` the mixing weights. The members are
    independent, so the gradient of the summed scores with respect to the stacked mixed
    points is each member's own input gradient.
    """
    leaf = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    mixed = leaf.view_as(leaf)  # a non-leaf: FlopCounterMode's module hooks refuse autograd.grad on a leaf
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return ((grad.flatten(2).norm(2, dim=2) - 1) ** 2).mean(1)


def _batch_sampler(data: Any) -> Callable[[int, torch.Generator], Tensor]:
    """``(n, rng) -> batch``: ``data`` is a tensor (sampled with replacement) or a ``sample(n, generator=)`` function."""
    images = getattr(data, "images", data)
    if isinstance(images, torch.Tensor):
        return lambda n, rng: images[torch.randint(images.shape[0], (n,), generator=rng)]
    if callable(data):
        return lambda n, rng: data(n, generator=rng)
    raise TypeError(f"train_gan_ensemble cannot sample from {type(data).__name__}: pass a tensor of training "
                    "samples, a dataset with .images, or a function sample(n, generator=rng) (e.g. mixture.sample); "
                    "a DataLoader cannot give each member its own seeded stream.")


def _sample(stack: Stack, z: Tensor, batch_size: int = 256) -> Tensor:
    """Like ``facelab.train.gan.sample`` for every member: eval mode, no gradient, float32, ``(K, n, ...)``."""
    was_training = stack.training
    stack.eval()
    with torch.no_grad():
        out = torch.cat([stack(chunk).float() for chunk in z.split(batch_size, dim=1)], dim=1)
    stack.train(was_training)
    return out


def train_gan_ensemble(
    make_models: Callable[[int], tuple[nn.Module, nn.Module]],
    data: Any,
    seeds: Sequence[int],
    config: GANTrainConfig | None = None,
    *,
    lr_g: float | Sequence[float] | None = None,
    lr_d: float | Sequence[float] | None = None,
    gp_weight: float | Sequence[float] | None = None,
) -> GANEnsemble:
    """Train ``len(seeds)`` GANs at once on the CPU; member k as ``train_gan`` would with ``seed=seeds[k]``.

    Args:
        make_models: ``seed -> (generator, discriminator)``, freshly initialised from that seed
            (e.g. ``lambda s: make_toy_models(mixture, settings, s)``).
        data: a tensor (or dataset with ``.images``) sampled with replacement, or a function
            ``sample(n, generator=rng)`` such as ``GaussianMixture.sample``.
        seeds: one seed per member (they seed the weights and each member's random stream).
        config: the shared settings (``steps``, ``batch_size``, ``loss``, ``d_steps``, betas,
            ``log_every``, ``sample_every``, ``num_samples``); ``seed``, checkpoints, the fast path
            and the progress bar are not used.
        lr_g, lr_d, gp_weight: per-member values (a list) or one for all; default the config's.

    Returns:
        A :class:`GANEnsemble` (histories as ``train_gan`` records them, one per member).
    """
    config = config or GANTrainConfig()
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("train_gan_ensemble needs at least one seed, e.g. seeds=[0, 1, 2, 3, 4].")
    k = len(seeds)
    objective: GANLoss = get_gan_loss(config.loss)
    d_steps = config.d_steps or objective.d_steps
    lrs_g = member_values(config.lr_g if lr_g is None else lr_g, k, "lr_g")
    lrs_d = member_values(config.lr_d if lr_d is None else lr_d, k, "lr_d")
    gp = member_values(objective.gradient_penalty if gp_weight is None and config.gp_weight is None
                       else (config.gp_weight if gp_weight is None else gp_weight), k, "gp_weight", positive=False)
    pairs = [make_models(s) for s in seeds]
    generator, discriminator = Stack([g for g, _ in pairs]), Stack([d for _, d in pairs])
    templates = (pairs[0][0], pairs[0][1])
    latent_dim = pairs[0][0].latent_dim
    del pairs
    betas = (config.beta1, config.beta2)
    opt_g = StackedAdam(generator.params.values(), lrs_g, betas)
    opt_d = StackedAdam(discriminator.params.values(), lrs_d, betas)
    gp_w = torch.tensor(gp, dtype=torch.float32)
    use_gp = any(w > 0 for w in gp)
    loss_d_fn, loss_g_fn = torch.vmap(objective.loss_d), torch.vmap(objective.loss_g)
    draw = _batch_sampler(data)
    rngs = [torch.Generator().manual_seed(s) for s in seeds]
    fixed_noise = torch.stack([torch.randn(config.num_samples, latent_dim, generator=r) for r in rngs])
    histories = [GANHistory(probabilistic=objective.probabilistic) for _ in seeds]
    d_params, g_params = list(discriminator.params.values()), list(generator.params.values())
    b = config.batch_size
    joint = discriminator.batching == "bmm"

    def d_output(scores: Tensor) -> Tensor:
        scores = scores.detach().float()
        return (torch.sigmoid(scores) if objective.probabilistic else scores).mean(1)

    end = config.steps if config.max_steps is None else min(config.steps, config.max_steps)
    pending: list[Tensor] = []
    tic = time.perf_counter()
    for step in range(end):
        for _ in range(d_steps):
            real = torch.stack([draw(b, r) for r in rngs])                         # (K, B, ...)
            z = torch.stack([torch.randn(b, latent_dim, generator=r) for r in rngs])
            fake = generator(z)
            if joint:  # a row-wise critic: one pass over [real, fake] is the same arithmetic as two, in bigger products
                real_scores, fake_scores = discriminator(torch.cat([real, fake.detach()], 1)).split(b, 1)
            else:  # batch norm: each batch normalised on its own, as train_gan does
                real_scores, fake_scores = discriminator(real), discriminator(fake.detach())
            loss_d = loss_d_fn(real_scores.float(), fake_scores.float())             # (K,)
            total_d = loss_d
            if use_gp:
                shape = (b, *([1] * (real.dim() - 2)))  # a member without penalty draws nothing, as train_gan
                alpha = torch.stack([torch.rand(shape, generator=r) if w > 0 else torch.zeros(shape)
                                     for r, w in zip(rngs, gp)])
                total_d = loss_d + gp_w * stacked_gradient_penalty(discriminator, real.float(), fake.float(), alpha)
            opt_d.step(torch.autograd.grad(total_d.sum(), d_params))
            loss_d = total_d
        # (2) a fresh minibatch of noise for the G step, drawn as gan_step draws it
        z = torch.stack([torch.randn(b, latent_dim, generator=r) for r in rngs])
        loss_g = loss_g_fn(discriminator(generator(z)).float())
        opt_g.step(torch.autograd.grad(loss_g.sum(), g_params))
        pending.append(torch.stack([loss_d.detach(), loss_g.detach(), d_output(real_scores), d_output(fake_scores)]))
        done = step + 1
        if done % config.log_every == 0 or done == end:
            stats = torch.stack(pending).mean(0)                                      # (4, K)
            pending.clear()
            if not torch.isfinite(stats).all():
                bad = [seeds[i] for i in range(k) if not torch.isfinite(stats[:, i]).all()]
                raise FloatingPointError(f"train_gan_ensemble: non-finite losses by step {done} for seeds {bad}; "
                                         "lower lr_d and lr_g (or try loss='hinge' or 'wgan-gp').")
            for i, h in enumerate(histories):
                h.step.append(done)
                for key, value in zip(("loss_d", "loss_g", "d_real", "d_fake"), stats[:, i].tolist()):
                    getattr(h, key).append(value)
        if done % config.sample_every == 0 or done == end:
            samples = _sample(generator, fixed_noise)
            for i, h in enumerate(histories):
                h.sample_steps.append(done)
                h.samples.append(samples[i])
    seconds = time.perf_counter() - tic
    for h in histories:
        h.seconds = seconds
    return GANEnsemble(histories, generator, discriminator, seeds, lrs_g, lrs_d, gp, seconds, templates)
