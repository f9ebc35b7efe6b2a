"""The toy GAN of chapters 01 and 02: its settings, its models and one training run with snapshots.

:func:`train_toy_gan` trains a small MLP GAN on a 1-D or 2-D Gaussian mixture and keeps snapshots
(generated samples, their density and the discriminator's output on a grid) at several steps; the toy
experiments (:mod:`facelab.experiments.toy`) build on it. Small MLPs are dominated by per-operation
overhead, and on a shared CPU extra threads only add contention: the run goes inside ``torch_threads(1)``.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import time
from dataclasses import dataclass, field
from functools import reduce
from typing import Sequence

import torch
from torch import nn

from .. import theory
from ..data.toy import GaussianMixture, high_quality_fraction, modes_covered
from ..losses.gan import get_gan_loss
from ..models.toy import ToyDiscriminator, ToyGenerator
from ..profile import Profile, get_profile
from ..train.gan import GANHistory, GANTrainConfig, sample, train_gan
from ..utils import evaluating, torch_threads

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
    points = x.reshape(-1, discriminator.data_dim)
    with evaluating(discriminator):
        scores = torch.cat([discriminator(chunk) for chunk in points.split(8192)])
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


