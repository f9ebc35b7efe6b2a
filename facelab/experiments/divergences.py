"""Which divergence a GAN's losses measure, tested by training (chapter 1, issue 13 items 1-2).

- ``compare_generator_losses``: the minimax and the non-saturating generator loss trained from
  the same seeds (one batched computation per loss) on a two-mode 1-D target of unequal weights;
  per seed the mass on each mode, the mass off both, JS and the reverse KL to the data.
  Against an optimal D the minimax loss descends ``2 JS - log 4``; the non-saturating one
  follows the gradient of ``KL(p_g || p_data) - 2 JS`` (Arjovsky & Bottou 2017), mode-seeking.
- ``recover_js``: discriminators trained (batched over seeds) against a *frozen* sampler; their
  held-out loss gives ``JS_hat = log 2 - L_D / 2``. For any D, ``L_D = -V(D, G) >= -V(D*, G) =
  log 4 - 2 JS``, so ``JS_hat`` is a lower bound on JS, tight at ``D = D*``: a D that has not
  learned ``D*`` recovers less than the grid's JS.
- ``d_on_data``: the range of a discriminator's output on data (quantiles, not a batch mean).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import nn

from .. import theory
from ..data.toy import GaussianMixture
from ..losses.gan import minimax_loss_d
from ..metrics.seeds import SeedSummary, paired_difference, summarize
from ..train.toy_discriminators import BATCH, fit_discriminators, make_models
from ..train.ensemble_gan import train_gan_ensemble
from ..train.gan import GANTrainConfig

Tensor = torch.Tensor
Sampler = Callable[[int, torch.Generator], Tensor]

def unequal_modes(weight: float = 0.2, separation: float = 4.0, std: float = 0.5) -> GaussianMixture:
    """Two 1-D Gaussians at ``-separation/2`` (weight ``weight``) and ``+separation/2`` (the rest)."""
    if not 0 < weight < 1:
        raise ValueError(f"unequal_modes needs a weight in (0, 1) for the left mode, got {weight}.")
    half = separation / 2
    return GaussianMixture(torch.tensor([[-half], [half]]), torch.tensor([std, std]),
                           torch.tensor([weight, 1 - weight]))


def mode_masses(samples: Tensor, mixture: GaussianMixture, num_std: float = 3.0) -> Tensor:
    """``(K + 1,)``: the fraction of ``samples`` within ``num_std`` std of each component, then off all."""
    d = torch.cdist(samples.reshape(-1, mixture.dim).float(), mixture.means.float())
    dist, nearest = d.min(dim=1)
    near = dist <= num_std * mixture.stds[nearest]
    counts = torch.bincount(nearest[near], minlength=mixture.means.shape[0]).float()
    return torch.cat([counts, (~near).sum().reshape(1).float()]) / samples.shape[0]


def grid_1d(mixture: GaussianMixture, points: int = 601) -> Tensor:
    """A float64 grid over the mixture, five standard deviations past the outer means."""
    extent = math.ceil(float(mixture.means.abs().max() + 5 * mixture.stds.max()))
    return torch.linspace(-extent, extent, points, dtype=torch.float64)


@dataclass
class LossRuns:
    """One generator loss over seeds: per seed the mass on each mode (last column: off every mode),
    ``JS(p_data || p_g)`` and ``KL(p_g || p_data)`` (1-D: kernel estimate of ``p_g`` on a grid)."""

    loss: str
    seeds: list[int]
    masses: Tensor          # (S, K + 1)
    js: list[float]
    reverse_kl: list[float]
    d_fake: list[float]     # mean D(G(z)) over the last records
    seconds: float
    samples: Tensor         # (S, n, d) final samples on fixed noise


@dataclass
class DivergenceComparison:
    """``compare_generator_losses``' result: ``runs[loss]`` and paired differences between losses."""

    mixture: GaussianMixture
    steps: int
    lr: float
    runs: dict[str, LossRuns]

    def values(self, loss: str, key: str) -> list[float]:
        """Per-seed values: ``"js"``, ``"reverse_kl"``, ``"off"`` or ``"mode0"``, ``"mode1"``, ..."""
        run = self.runs[loss]
        if key == "off":
            return run.masses[:, -1].tolist()
        if key.startswith("mode"):
            return run.masses[:, int(key[4:])].tolist()
        return list(getattr(run, key))

    def summary(self, loss: str, key: str) -> SeedSummary:
        return summarize(self.values(loss, key))

    def difference(self, key: str, a: str = "nonsaturating", b: str = "minimax") -> SeedSummary:
        """``a - b`` paired by seed."""
        return paired_difference(self.values(a, key), self.values(b, key))


def compare_generator_losses(mixture: GaussianMixture | None = None, losses: Sequence[str] = ("minimax", "nonsaturating"),
                             *, seeds: Sequence[int] = (0, 1, 2, 3, 4), steps: int = 500, lr: float = 1.5e-3,
                             num_samples: int = 5000, bandwidth: float = 0.1, threads: int = 1) -> DivergenceComparison:
    """Train each generator loss from the same ``seeds`` (batched) and measure where the mass went.

    Both players: Adam ``lr``, betas (0.5, 0.999), one D step per G step, batch 256, the same
    initial weights and data per seed for every loss. Default target: ``unequal_modes()``.
    """
    mixture = mixture or unequal_modes()
    if len(seeds) < 2:
        raise ValueError(f"compare_generator_losses needs >= 2 seeds to measure a spread, got {list(seeds)}.")
    grid = grid_1d(mixture) if mixture.dim == 1 else None
    p_data = mixture.pdf(grid) if grid is not None else None
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    runs = {}
    try:
        for loss in losses:
            config = GANTrainConfig(loss=loss, steps=steps, batch_size=BATCH, lr_g=lr, lr_d=lr, beta1=0.5,
                                    beta2=0.999, log_every=10, sample_every=steps, num_samples=num_samples,
                                    progress=False, amp=False)
            ens = train_gan_ensemble(lambda s: make_models(mixture.dim, s), mixture.sample, seeds, config)
            samples = torch.stack([h.samples[-1] for h in ens.histories])
            js, rkl = [], []
            for x in samples:
                if grid is None:
                    js.append(float("nan")), rkl.append(float("nan"))
                    continue
                p_g = theory.kde_1d(x.double(), grid, bandwidth)
                dx = float(grid[1] - grid[0])
                js.append(theory.js_divergence(p_data, p_g, dx))
                rkl.append(theory.kl_divergence(p_g, p_data, dx))
            runs[loss] = LossRuns(
                loss=loss, seeds=list(seeds), masses=torch.stack([mode_masses(x, mixture) for x in samples]),
                js=js, reverse_kl=rkl, d_fake=[h.mean_last("d_fake") for h in ens.histories],
                seconds=ens.seconds, samples=samples)
    finally:
        torch.set_num_threads(previous)
    return DivergenceComparison(mixture, steps, lr, runs)


# --------------------------------------------------------------------------- JS from a trained D

@dataclass
class JSRecovery:
    """JS recovered from trained discriminators' held-out loss, against the grid's value.

    Attributes:
        js_grid: ``JS(p_data || p_fake)`` by quadrature of the two densities on a grid.
        loss_d: each seed's minimax D loss on fresh samples; js_hat: ``log 2 - loss_d / 2``.
    """

    js_grid: float
    loss_d: list[float]
    js_hat: list[float]
    steps: int

    @property
    def summary(self) -> SeedSummary:
        return summarize(self.js_hat)

    @property
    def errors(self) -> list[float]:
        return [j - self.js_grid for j in self.js_hat]


def recover_js(sample_real: Sampler, sample_fake: Sampler, js_grid: float, dim: int = 1,
               seeds: Sequence[int] = (0, 1, 2, 3, 4), *, steps: int = 400, lr: float = 1e-3,
               eval_samples: int = 20_000, threads: int = 1) -> JSRecovery:
    """Train D per seed against the frozen ``sample_fake``, then ``JS_hat = log 2 - L_D / 2`` on held-out draws."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)   # small MLPs: one thread, no spinning on a shared CPU
    try:
        stack = fit_discriminators(sample_real, sample_fake, dim, seeds, steps=steps, lr=lr)
        rngs = [torch.Generator().manual_seed(20_000 + s) for s in seeds]   # fresh draws, not the training ones
        with torch.no_grad():
            real = torch.stack([sample_real(eval_samples, r) for r in rngs])
            fake = torch.stack([sample_fake(eval_samples, r) for r in rngs])
            loss = torch.vmap(minimax_loss_d)(stack(real), stack(fake)).double()
    finally:
        torch.set_num_threads(previous)
    return JSRecovery(js_grid=float(js_grid), loss_d=loss.tolist(),
                      js_hat=(math.log(2) - loss / 2).tolist(), steps=steps)


def generator_sampler(generator: nn.Module) -> Sampler:
    """``(n, rng) -> G(z)``, ``z ~ N(0, I)`` drawn from ``rng``, no gradient, eval mode."""
    generator.eval()

    def draw(n: int, rng: torch.Generator) -> Tensor:
        with torch.no_grad():
            return generator(torch.randn(n, generator.latent_dim, generator=rng))
    return draw


def generator_js(generator: nn.Module, mixture: GaussianMixture, *, num_samples: int = 20_000,
                 bandwidth: float = 0.1, seed: int = 0) -> float:
    """The grid estimate of ``JS(p_data || p_g)`` for a 1-D generator (kernel estimate of ``p_g``)."""
    if mixture.dim != 1:
        raise ValueError(f"generator_js works on 1-D mixtures (densities on a grid), got a {mixture.dim}-D one.")
    grid = grid_1d(mixture)
    x = generator_sampler(generator)(num_samples, torch.Generator().manual_seed(seed))
    p_g = theory.kde_1d(x.double(), grid, bandwidth)
    return theory.js_divergence(mixture.pdf(grid), p_g, float(grid[1] - grid[0]))


@dataclass(frozen=True)
class DOnData:
    """``D(x) = sigmoid(score)`` on ``n`` data points: mean, quantiles and extremes."""

    mean: float
    q05: float
    q50: float
    q95: float
    low: float
    high: float


def d_on_data(discriminator: nn.Module, mixture: GaussianMixture, n: int = 20_000, seed: int = 0) -> DOnData:
    """What a (probabilistic) discriminator outputs on data: its spread, not only the batch mean."""
    x = mixture.sample(n, generator=torch.Generator().manual_seed(seed))
    was = discriminator.training
    discriminator.eval()
    with torch.no_grad():
        d = torch.sigmoid(discriminator(x).float())
    discriminator.train(was)
    q = torch.quantile(d, torch.tensor([0.05, 0.5, 0.95]))
    return DOnData(float(d.mean()), float(q[0]), float(q[1]), float(q[2]), float(d.min()), float(d.max()))
