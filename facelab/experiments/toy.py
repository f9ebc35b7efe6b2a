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

import copy
import dataclasses
import math
import time
from dataclasses import dataclass, field
from functools import reduce
from typing import Callable, Sequence

import torch
from torch import nn

from .. import theory
from ..data.toy import GaussianMixture, high_quality_fraction, modes_covered
from ..losses.gan import get_gan_loss, minimax_loss_d
from ..models.toy import ToyDiscriminator, ToyGenerator
from ..profile import Profile, get_profile
from ..train.gan import GANHistory, GANTrainConfig, sample, train_gan
from ..utils import torch_threads

Tensor = torch.Tensor


# --------------------------------------------------------------------------- settings

@dataclass(frozen=True)
class ToySettings:
    """Hyper-parameters of a toy GAN (tuned so the quick profile learns in a few seconds).

    Attributes:
        hidden: width of the hidden layers of G and D.
        depth: number of hidden layers of G and D.
        latent_dim: size of the noise vector z.
        batch_size: samples per batch (data and generated).
        lr: Adam learning rate of both players.
        beta1, beta2: Adam's moment decays (0.5 and 0.999, as in the DCGAN paper).
        d_steps: discriminator updates per generator update; ``None``: the loss's
            recommendation (``GANLoss.d_steps``: 5 for WGAN-GP, 1 otherwise).
        num_samples: generated points per snapshot (density estimates, mode counts).
        bandwidth: kernel width of the 1-D density estimate of the generator.
    """

    hidden: int = 64
    depth: int = 2
    latent_dim: int = 8
    batch_size: int = 256
    lr: float = 1e-3
    beta1: float = 0.5
    beta2: float = 0.999
    d_steps: int | None = None
    num_samples: int = 2000
    bandwidth: float = 0.1


def toy_settings(mixture: GaussianMixture, **changes) -> ToySettings:
    """The default settings for ``mixture`` (1-D or 2-D), with optional ``changes``.

    1-D: learning rate 5e-4 and 5000 samples per snapshot (for the density
    estimate); 2-D: learning rate 1.5e-3 (the ring of ``ring_2d`` learns most of its
    modes within the quick profile's budget) and 2000 samples.
    """
    base = ToySettings(lr=5e-4, num_samples=5000) if mixture.dim == 1 else ToySettings(lr=1.5e-3)
    return dataclasses.replace(base, **changes)


def toy_seeds(profile: Profile | None = None) -> tuple[int, ...]:
    """Seeds of the repeated toy runs: one on the quick profile, three on the full one."""
    profile = profile or get_profile()
    return (0,) if profile.name == "quick" else (0, 1, 2)


def toy_grid(mixture: GaussianMixture, points: int | None = None) -> Tensor:
    """An evaluation grid that holds the whole mixture.

    The grid spans ``[-a, a]`` in each coordinate, ``a`` the largest ``|mean|`` plus
    five standard deviations, rounded up. 1-D: ``points`` (default 601) values,
    shape ``(m,)``. 2-D: a ``points x points`` (default 81 x 81) lattice flattened
    to shape ``(m*m, 2)``, row-major in y.
    """
    extent = math.ceil(float(mixture.means.abs().max() + 5 * mixture.stds.max()))
    if mixture.dim == 1:
        return torch.linspace(-extent, extent, points or 601)
    if mixture.dim == 2:
        axis = torch.linspace(-extent, extent, points or 81)
        yy, xx = torch.meshgrid(axis, axis, indexing="ij")
        return torch.stack([xx.flatten(), yy.flatten()], dim=1)
    raise ValueError(f"toy_grid supports 1-D and 2-D mixtures, got a {mixture.dim}-D one.")


def make_toy_models(mixture: GaussianMixture, settings: ToySettings,
                    seed: int = 0) -> tuple[ToyGenerator, ToyDiscriminator]:
    """A freshly initialised generator and discriminator (seeded) for ``mixture``."""
    torch.manual_seed(seed)
    generator = ToyGenerator(data_dim=mixture.dim, latent_dim=settings.latent_dim,
                             hidden=settings.hidden, depth=settings.depth)
    discriminator = ToyDiscriminator(data_dim=mixture.dim, hidden=settings.hidden, depth=settings.depth)
    return generator, discriminator


def binned_kde_1d(samples: Tensor, grid: Tensor, bandwidth: float) -> Tensor:
    """A Gaussian kernel density estimate on a uniform 1-D ``grid``, computed fast by binning.

    The samples are counted in bins centred on the grid points and the counts are
    convolved with the kernel: ``O(n + m k)`` instead of ``O(n m)`` for the exact sum
    (``facelab.theory.kde_1d``), and equal to it up to the bin width. Samples
    outside the grid are dropped, so mass outside the grid is lost, as it should be
    for a density compared on that grid.
    """
    x = samples.reshape(-1).double()
    g = grid.double()
    dx = float(g[1] - g[0])
    index = torch.round((x - g[0]) / dx).long()
    inside = (index >= 0) & (index < g.numel())
    counts = torch.bincount(index[inside], minlength=g.numel()).double()
    half = int(math.ceil(5 * bandwidth / dx))
    offsets = torch.arange(-half, half + 1, dtype=torch.float64) * dx
    kernel = torch.exp(-0.5 * (offsets / bandwidth) ** 2) / (bandwidth * math.sqrt(2 * math.pi))
    dens = torch.nn.functional.conv1d(counts.view(1, 1, -1), kernel.view(1, 1, -1), padding=half).flatten()
    return (dens / x.numel()).to(grid.dtype)


def sample_points(generator: nn.Module, n: int, seed: int = 0) -> Tensor:
    """``n`` generated points from seeded noise (the same points for the same seed)."""
    z = torch.randn(n, generator.latent_dim, generator=torch.Generator().manual_seed(seed))
    return sample(generator, z)


@torch.no_grad()
def d_output(discriminator: nn.Module, x: Tensor, probabilistic: bool = True) -> Tensor:
    """The discriminator's output at ``x``: ``D(x) = sigmoid(score)``, or the raw score."""
    was_training = discriminator.training
    discriminator.eval()
    points = x.reshape(-1, discriminator.data_dim)
    scores = torch.cat([discriminator(chunk) for chunk in points.split(8192)])
    discriminator.train(was_training)
    return torch.sigmoid(scores) if probabilistic else scores


# --------------------------------------------------------------------------- one run

@dataclass
class ToySnapshot:
    """The state of a toy GAN at one training step.

    Attributes:
        step: generator updates done.
        samples: ``(n, d)`` generated points (the same noise at every snapshot).
        d_grid: the discriminator on the run's grid (a probability for the
            cross-entropy losses, a raw score otherwise).
        density: 1-D only: kernel density estimate of ``samples`` on the grid (``binned_kde_1d``).
        js: 1-D only: ``JS(p_data || density)`` on the grid.
        generator_state: a copy of G's weights (to rebuild G as it was).
    """

    step: int
    samples: Tensor
    d_grid: Tensor
    density: Tensor | None = None
    js: float | None = None
    generator_state: dict | None = None


@dataclass
class ToyRun:
    """A trained toy GAN and what happened on the way.

    Attributes:
        mixture: the data distribution.
        loss: the GAN objective's name.
        generator, discriminator: the trained networks.
        history: ``train_gan``'s history (losses, mean D outputs).
        snapshots: states at the requested steps (step 0 is before training).
        grid: the evaluation grid (``toy_grid``).
        p_data: the data density on the grid (1-D), else ``None``.
        settings: the hyper-parameters used.
        seed: the seed.
        seconds: wall-clock time of training; cpu_seconds: CPU time of this process.
        js_steps, js_values: 1-D only: JS(p_data || p_g) at every recorded step.
    """

    mixture: GaussianMixture
    loss: str
    generator: ToyGenerator
    discriminator: ToyDiscriminator
    history: GANHistory
    snapshots: list[ToySnapshot]
    grid: Tensor
    p_data: Tensor | None
    settings: ToySettings
    seed: int
    seconds: float
    cpu_seconds: float
    js_steps: list[int] = field(default_factory=list)
    js_values: list[float] = field(default_factory=list)

    @property
    def final(self) -> ToySnapshot:
        return self.snapshots[-1]

    @property
    def dx(self) -> float:
        """Grid spacing (1-D)."""
        return float(self.grid[1] - self.grid[0])

    def modes(self) -> int:
        """Mixture components covered by the final samples (``facelab.data.toy.modes_covered``)."""
        return modes_covered(self.final.samples, self.mixture)

    def quality(self) -> float:
        """Fraction of final samples within 3 standard deviations of a component."""
        return high_quality_fraction(self.final.samples, self.mixture)

    def generator_at(self, step: int) -> ToyGenerator:
        """A copy of the generator as it was at snapshot ``step``."""
        for snap in self.snapshots:
            if snap.step == step and snap.generator_state is not None:
                generator = copy.deepcopy(self.generator)
                generator.load_state_dict(snap.generator_state)
                return generator.eval()
        raise KeyError(f"No snapshot at step {step}; snapshots were taken at {[s.step for s in self.snapshots]}.")


def default_snapshot_steps(steps: int) -> tuple[int, ...]:
    """Five moments of a run: the start, 2 %, 10 %, 30 % and the end."""
    return tuple(sorted({0, max(1, round(0.02 * steps)), max(1, round(0.1 * steps)),
                         max(1, round(0.3 * steps)), steps}))


def train_toy_gan(
    mixture: GaussianMixture,
    loss: str = "nonsaturating",
    *,
    steps: int | None = None,
    seed: int = 0,
    profile: Profile | None = None,
    snapshot_steps: Sequence[int] | None = None,
    settings: ToySettings | None = None,
    max_steps: int | None = None,
    progress: bool = False,
) -> ToyRun:
    """Train a toy GAN on ``mixture`` with ``facelab.train.train_gan``, on the CPU.

    Args:
        mixture: a 1-D or 2-D ``GaussianMixture`` (``mixture_1d()``, ``ring_2d()``).
        loss: a GAN objective name (``facelab.losses.GAN_LOSSES``).
        steps: generator updates; default ``profile.toy_steps``.
        seed: seeds the networks, the data and the snapshot noise.
        profile: the profile (default ``get_profile()``).
        snapshot_steps: steps at which to record a ``ToySnapshot`` (0 = before
            training); default ``default_snapshot_steps(steps)``. The last step
            of the run is always recorded.
        settings: hyper-parameters; default ``toy_settings(mixture)``.
        max_steps: stop after this many steps (tests).
        progress: show a progress bar.

    Returns:
        A ``ToyRun``.
    """
    profile = profile or get_profile()
    steps = steps or profile.toy_steps
    settings = settings or toy_settings(mixture)
    objective = get_gan_loss(loss)
    wanted = sorted(set(default_snapshot_steps(steps) if snapshot_steps is None else snapshot_steps) | {steps})
    if any(s < 0 or s > steps for s in wanted):
        raise ValueError(f"snapshot_steps must lie in [0, steps={steps}], got {list(wanted)}.")
    end = steps if max_steps is None else min(steps, max_steps)
    every = reduce(math.gcd, [s for s in wanted if s > 0] + [end])

    grid = toy_grid(mixture)
    p_data = mixture.pdf(grid) if mixture.dim == 1 else None
    noise = torch.randn(settings.num_samples, settings.latent_dim,
                        generator=torch.Generator().manual_seed(10_000 + seed))
    snapshots: list[ToySnapshot] = []
    js_steps: list[int] = []
    js_values: list[float] = []

    with torch_threads(1):
        generator, discriminator = make_toy_models(mixture, settings, seed)

        def snapshot(step: int) -> None:
            samples = sample(generator, noise)
            density = js = None
            if mixture.dim == 1:
                density = binned_kde_1d(samples, grid, settings.bandwidth)
                js = theory.js_divergence(p_data, density, float(grid[1] - grid[0]))
                js_steps.append(step)
                js_values.append(js)
            if step in wanted or step == end:
                snapshots.append(ToySnapshot(
                    step=step, samples=samples, density=density, js=js,
                    d_grid=d_output(discriminator, grid, objective.probabilistic),
                    generator_state=copy.deepcopy(generator.state_dict())))

        def callback(history: GANHistory, step: int) -> None:
            snapshot(step)

        if 0 in wanted:
            snapshot(0)
        config = GANTrainConfig(
            loss=objective.name, steps=steps, batch_size=settings.batch_size, lr_g=settings.lr, lr_d=settings.lr,
            beta1=settings.beta1, beta2=settings.beta2, d_steps=settings.d_steps,
            log_every=max(1, min(10, every)), sample_every=every, num_samples=64,
            seed=seed, max_steps=max_steps, progress=progress, amp=False)
        cpu = time.process_time()
        history = train_gan(generator, discriminator, mixture.sample, config, device="cpu",
                            callbacks=[callback], resume=False)
        cpu = time.process_time() - cpu
    return ToyRun(mixture=mixture, loss=objective.name, generator=generator, discriminator=discriminator,
                  history=history, snapshots=snapshots, grid=grid, p_data=p_data, settings=settings, seed=seed,
                  seconds=history.seconds, cpu_seconds=cpu, js_steps=js_steps, js_values=js_values)


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
