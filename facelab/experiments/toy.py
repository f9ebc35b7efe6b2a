"""The toy GAN experiments of chapters 01 and 02, on 1-D and 2-D Gaussian mixtures.

Each experiment is a function that returns a small dataclass; the chapters call
them and plot the result:

- ``train_toy_gan``: one GAN on a mixture, with snapshots (generated samples, their
  density and the discriminator's output on a grid) at several steps.
- ``saturation_curves`` and ``generator_gradients``: why the minimax generator loss
  stops teaching G when D wins, in closed form and measured on a real network.
- ``compare_losses``: the same toy trained under each GAN objective.
- ``fit_discriminator`` and ``optimal_discriminator_check``: a trained D against
  ``D* = p_data / (p_data + p_g)``, and ``V(D*, G) = -log 4 + 2 JS`` on a grid.

Small MLPs are dominated by per-operation overhead, and on a shared CPU extra
threads only add contention: every experiment here runs inside ``torch_threads(1)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import nn

from .. import theory
from ..data.toy import GaussianMixture
from ..losses.gan import get_gan_loss, minimax_loss_d
from ..models.toy import ToyDiscriminator
from ..profile import Profile, get_profile
from ..train.gan import sample
from ..baselines.toy import (ToyRun, ToySettings, ToySnapshot, binned_kde_1d, d_output,  # noqa: F401 (the chapters'
                             default_snapshot_steps, make_toy_models, sample_points,  # names for the toy run)
                             toy_grid, toy_seeds, toy_settings, train_toy_gan)
from ..utils import torch_threads

Tensor = torch.Tensor

# --------------------------------------------------------------------------- saturation

@dataclass
class SaturationCurves:
    """Generator losses and their gradients as functions of the discriminator's verdict.

    Attributes:
        d_fake: ``D(G(z))`` values in ``(0, 1)`` (for LSGAN: its raw output, whose
            targets are 0 for samples and 1 for data).
        loss: ``name -> loss_g`` at each value.
        grad_d: ``name -> d loss_g / d D(G(z))``.
        grad_score: ``name -> d loss_g / d score``, the gradient that flows back into
            D's last layer and from there into G (the score is the logit for
            minimax and non-saturating, the raw output for LSGAN).
    """

    d_fake: Tensor
    loss: dict[str, Tensor]
    grad_d: dict[str, Tensor]
    grad_score: dict[str, Tensor]


def saturation_curves(losses: Sequence[str] = ("minimax", "nonsaturating", "lsgan"), points: int = 400,
                      low: float = 1e-4, high: float = 1 - 1e-4) -> SaturationCurves:
    """Evaluate each generator loss and its gradients on ``D(G(z))`` in ``[low, high]`` with autograd.

    For the cross-entropy losses the library's ``loss_g`` takes a logit, so the
    value ``p = D(G(z))`` is turned into ``score = log p - log(1 - p)``; autograd then
    gives both ``d loss / d p`` and ``d loss / d score``.
    """
    d_fake = torch.linspace(low, high, points, dtype=torch.float64)
    loss_values: dict[str, Tensor] = {}
    grad_d: dict[str, Tensor] = {}
    grad_score: dict[str, Tensor] = {}
    for name in losses:
        objective = get_gan_loss(name)
        p = d_fake.clone().requires_grad_(True)
        score = (p.log() - (-p).log1p()) if objective.probabilistic else p
        score.retain_grad()
        # loss_g is a batch mean; scale by the batch size to get each point's own loss and gradient
        value = objective.loss_g(score) * points
        value.backward()
        key = objective.name
        with torch.no_grad():
            loss_values[key] = torch.stack([objective.loss_g(s.reshape(1)) for s in score.detach()])
        grad_d[key] = p.grad.detach()
        grad_score[key] = score.grad.detach()
    return SaturationCurves(d_fake=d_fake.detach(), loss=loss_values, grad_d=grad_d, grad_score=grad_score)


@dataclass
class GeneratorGradients:
    """How large G's gradient is, under two losses, while D learns to reject G's samples.

    Attributes:
        d_steps: discriminator updates done at each record.
        d_fake: mean ``D(G(z))`` at each record.
        grad_norm: ``loss name -> ||grad_theta_G loss_g||`` at each record.
    """

    d_steps: list[int]
    d_fake: list[float]
    grad_norm: dict[str, list[float]]


def generator_gradients(mixture: GaussianMixture, losses: Sequence[str] = ("minimax", "nonsaturating"),
                        *, d_steps: int = 200, record_every: int = 10, seed: int = 0,
                        settings: ToySettings | None = None) -> GeneratorGradients:
    """Freeze a freshly initialised G, train D against it, and measure G's gradient norm.

    This is the situation early in GAN training that Goodfellow et al. (2014) warn
    about: D separates real from fake easily, ``D(G(z)) -> 0``, and the minimax loss
    ``log(1 - D(G(z)))`` gives G almost no gradient while ``-log D(G(z))`` does.
    """
    settings = settings or toy_settings(mixture)
    with torch_threads(1):
        generator, discriminator = make_toy_models(mixture, settings, seed)
        opt = torch.optim.Adam(discriminator.parameters(), lr=settings.lr, betas=(settings.beta1, 0.999))
        z = torch.randn(settings.batch_size, settings.latent_dim, generator=torch.Generator().manual_seed(seed))
        out = GeneratorGradients(d_steps=[], d_fake=[], grad_norm={get_gan_loss(n).name: [] for n in losses})
        for step in range(d_steps + 1):
            if step % record_every == 0:
                fake = generator(z)
                scores = discriminator(fake)
                out.d_steps.append(step)
                out.d_fake.append(float(torch.sigmoid(scores.detach()).mean()))
                for name in out.grad_norm:
                    grads = torch.autograd.grad(get_gan_loss(name).loss_g(scores), list(generator.parameters()),
                                                retain_graph=True)
                    out.grad_norm[name].append(float(torch.sqrt(sum((g**2).sum() for g in grads))))
            if step == d_steps:
                break
            real = mixture.sample(settings.batch_size)
            with torch.no_grad():
                fake = generator(generator.sample_latent(settings.batch_size))
            loss = minimax_loss_d(discriminator(real), discriminator(fake))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return out


# --------------------------------------------------------------------------- loss comparison

@dataclass
class LossResult:
    """One toy run under one objective: what it learned and what it cost."""

    loss: str
    seed: int
    modes: int
    quality: float
    d_real: float            # mean D(x) over the last records (a probability or a raw score)
    d_fake: float            # mean D(G(z)) likewise
    probabilistic: bool
    g_steps: int             # generator updates
    d_steps: int             # discriminator updates
    seconds: float           # wall-clock time of training
    cpu_seconds: float       # CPU time of training (less sensitive to other processes)
    samples: Tensor          # final generated points


@dataclass
class LossComparison:
    """The same toy trained under several objectives (``compare_losses``)."""

    mixture: GaussianMixture
    steps: int
    results: list[LossResult]

    @property
    def losses(self) -> list[str]:
        return list(dict.fromkeys(r.loss for r in self.results))

    def of(self, loss: str) -> list[LossResult]:
        """The results of one objective (one per seed)."""
        name = get_gan_loss(loss).name
        return [r for r in self.results if r.loss == name]

    def mean(self, loss: str, key: str) -> float:
        """Mean over seeds of ``key`` (``"modes"``, ``"quality"``, ``"seconds"``, ...) for ``loss``."""
        values = [float(getattr(r, key)) for r in self.of(loss)]
        return sum(values) / len(values)

    def summary(self) -> list[dict]:
        """One row per objective, averaged over seeds."""
        rows = []
        for loss in self.losses:
            rows.append({"loss": loss, "seeds": len(self.of(loss)),
                         "g_steps": self.of(loss)[0].g_steps, "d_steps": self.of(loss)[0].d_steps,
                         **{k: self.mean(loss, k) for k in ("modes", "quality", "d_real", "d_fake",
                                                            "seconds", "cpu_seconds")},
                         "d_is_probability": self.of(loss)[0].probabilistic})
        return rows

    def to_markdown(self) -> str:
        """The summary as a Markdown table (display it with ``IPython.display.Markdown``)."""
        k = self.mixture.means.shape[0]
        lines = ["| loss | G updates | D updates | modes covered (of %d) | high-quality fraction | final D(x) | "
                 "final D(G(z)) | wall time (s) | CPU time (s) |" % k,
                 "|---|---|---|---|---|---|---|---|---|"]
        for row in self.summary():
            unit = "" if row["d_is_probability"] else " (score)"
            modes = f"{row['modes']:.0f}" if row["seeds"] == 1 else f"{row['modes']:.1f}"
            lines.append(f"| {row['loss']} | {row['g_steps']} | {row['d_steps']} | {modes} | {row['quality']:.2f} | "
                         f"{row['d_real']:.2f}{unit} | {row['d_fake']:.2f}{unit} | {row['seconds']:.1f} | "
                         f"{row['cpu_seconds']:.1f} |")
        return "\n".join(lines)


def compare_losses(
    mixture: GaussianMixture,
    losses: Sequence[str] = ("minimax", "nonsaturating", "lsgan", "hinge", "wgan-gp"),
    *,
    steps: int | None = None,
    seeds: Sequence[int] | None = None,
    profile: Profile | None = None,
    settings: ToySettings | None = None,
    budget: str = "discriminator",
    progress: bool = False,
) -> LossComparison:
    """Train the same toy GAN (same networks, data and optimiser) under each objective
    and measure modes covered, sample quality, D's final outputs and time.

    Each objective keeps the discriminator updates per generator update that its
    paper recommends (``GANLoss.d_steps``: 5 for WGAN-GP, 1 otherwise).

    Args:
        mixture: the data (e.g. ``ring_2d()``).
        losses: objective names.
        steps: the update budget; default two thirds of ``profile.toy_steps`` (a
            chapter trains five GANs here, within its time budget).
        seeds: default ``toy_seeds(profile)``.
        profile: the profile (default ``get_profile()``).
        settings: hyper-parameters; default ``toy_settings(mixture)``.
        budget: ``"discriminator"``: every objective gets ``steps`` discriminator
            updates (so WGAN-GP gets ``steps / 5`` generator updates, at a similar
            cost to the others); ``"generator"``: every objective gets ``steps``
            generator updates (WGAN-GP then costs five times as much, or more).
        progress: show progress bars.
    """
    if budget not in ("discriminator", "generator"):
        raise ValueError(f"budget must be 'discriminator' or 'generator', got {budget!r}.")
    profile = profile or get_profile()
    steps = steps or 2 * profile.toy_steps // 3
    seeds = tuple(toy_seeds(profile) if seeds is None else seeds)
    settings = settings or toy_settings(mixture)
    results = []
    for loss in losses:
        objective = get_gan_loss(loss)
        d_per_g = settings.d_steps or objective.d_steps
        g_steps = max(1, steps // d_per_g) if budget == "discriminator" else steps
        for seed in seeds:
            run = train_toy_gan(mixture, objective.name, steps=g_steps, seed=seed, profile=profile,
                                snapshot_steps=(), settings=settings, progress=progress)
            results.append(LossResult(
                loss=objective.name, seed=seed, modes=run.modes(), quality=run.quality(),
                d_real=run.history.mean_last("d_real"), d_fake=run.history.mean_last("d_fake"),
                probabilistic=objective.probabilistic, g_steps=g_steps, d_steps=g_steps * d_per_g,
                seconds=run.seconds, cpu_seconds=run.cpu_seconds, samples=run.final.samples))
    return LossComparison(mixture=mixture, steps=steps, results=results)


# --------------------------------------------------------------------------- theory checks

def fit_discriminator(generator: nn.Module, mixture: GaussianMixture, *, steps: int = 500, seed: int = 0,
                      settings: ToySettings | None = None,
                      loss_d: Callable[[Tensor, Tensor], Tensor] = minimax_loss_d) -> ToyDiscriminator:
    """Train a fresh discriminator against a *frozen* generator.

    With the minimax D loss (the default), enough capacity, data and steps, it
    approaches ``D* = p_data / (p_data + p_g)``.

    Args:
        generator: the frozen generator (anything with ``latent_dim`` mapping ``z`` to points).
        mixture: the data distribution.
        steps: discriminator updates (Adam, ``settings.lr``).
        seed: seeds D's initialisation and the batches.
        settings: hyper-parameters; default ``toy_settings(mixture)``.
        loss_d: ``(real_scores, fake_scores) -> loss`` to minimise.
    """
    settings = settings or toy_settings(mixture)
    with torch_threads(1):
        torch.manual_seed(seed)
        discriminator = ToyDiscriminator(data_dim=mixture.dim, hidden=settings.hidden, depth=settings.depth)
        opt = torch.optim.Adam(discriminator.parameters(), lr=settings.lr, betas=(settings.beta1, 0.999))
        generator.eval()
        for _ in range(steps):
            real = mixture.sample(settings.batch_size)
            with torch.no_grad():
                fake = generator(torch.randn(settings.batch_size, generator.latent_dim))
            loss = loss_d(discriminator(real), discriminator(fake))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return discriminator.eval()


@dataclass
class OptimalDCheck:
    """A trained discriminator against the optimal one, and the value identity, on a 1-D grid.

    Attributes:
        grid: evaluation points; dx: their spacing.
        p_data: the data density; p_g: the generator's density (kernel estimate).
        d_star: ``p_data / (p_data + p_g)``; d_trained: the trained ``D(x)``.
        mask: where ``p_data + p_g`` is not negligible (D is only constrained there).
        mean_abs_error, max_abs_error, correlation: of ``d_trained`` vs ``d_star`` on ``mask``.
        js: ``JS(p_data || p_g)``.
        v_star: ``V(D*, G)``; v_trained: ``V(D_trained, G)`` (never above ``v_star``).
        identity_rhs: ``-log 4 + 2 JS``, equal to ``v_star``.
    """

    grid: Tensor
    dx: float
    p_data: Tensor
    p_g: Tensor
    d_star: Tensor
    d_trained: Tensor
    mask: Tensor
    mean_abs_error: float
    max_abs_error: float
    correlation: float
    js: float
    v_star: float
    v_trained: float
    identity_rhs: float

    @property
    def identity_error(self) -> float:
        """``|V(D*, G) - (-log 4 + 2 JS)|``."""
        return abs(self.v_star - self.identity_rhs)


def optimal_discriminator_check(generator: nn.Module, discriminator: nn.Module, mixture: GaussianMixture, *,
                                num_samples: int = 20_000, bandwidth: float = 0.1, threshold: float = 0.02,
                                seed: int = 0) -> OptimalDCheck:
    """Compare ``discriminator`` with ``D*`` for ``generator`` on a 1-D grid.

    ``p_g`` is a kernel density estimate from ``num_samples`` generated points.
    ``mask`` keeps the points where ``p_data + p_g`` exceeds ``threshold`` times its
    maximum: elsewhere neither player has samples and D is unconstrained.
    """
    if mixture.dim != 1:
        raise ValueError("optimal_discriminator_check works on 1-D mixtures (densities on a grid); "
                         f"got a {mixture.dim}-D one.")
    grid = toy_grid(mixture)
    dx = float(grid[1] - grid[0])
    with torch_threads(1):
        z = torch.randn(num_samples, generator.latent_dim, generator=torch.Generator().manual_seed(seed))
        p_g = binned_kde_1d(sample(generator, z), grid, bandwidth)
        d_trained = d_output(discriminator, grid)
    # float64: in float32 the clamp of D to 1 - 1e-12 inside value_function rounds to 1 and log(1 - D) = -inf
    p_g, d_trained = p_g.double(), d_trained.double()
    p_data = mixture.pdf(grid.double())
    d_star = theory.optimal_discriminator(p_data, p_g)
    total = p_data + p_g
    mask = total > threshold * total.max()
    err = (d_trained - d_star)[mask].abs()
    a, b = d_trained[mask], d_star[mask]
    corr = float(torch.corrcoef(torch.stack([a, b]))[0, 1])
    js = theory.js_divergence(p_data, p_g, dx)
    return OptimalDCheck(
        grid=grid, dx=dx, p_data=p_data, p_g=p_g, d_star=d_star, d_trained=d_trained, mask=mask,
        mean_abs_error=float(err.mean()), max_abs_error=float(err.max()), correlation=corr, js=js,
        v_star=theory.value_function(d_star, p_data, p_g, dx),
        v_trained=theory.value_function(d_trained, p_data, p_g, dx),
        identity_rhs=-math.log(4) + 2 * js)
