"""Generator losses over batched seeds on the ring (chapter 2, issue 13 items 3-4).

- ``score_weights``: how much each sample counts in a generator loss's gradient. At the score
  ``s = logit D(G(z))`` the minimax loss ``log(1 - D)`` has ``dL/ds = -D`` and the non-saturating
  ``-log D`` has ``dL/ds = -(1 - D)``. Adam divides out the overall scale of the gradient, so
  what survives is the *relative* weight of the samples: minimax weights them by ``D(G(z))``,
  non-saturating by ``1 - D(G(z))``.
- ``strong_d_start``: fresh generators against discriminators trained to reject them, then a
  few generator updates under each loss, over seeds: the effect of that weighting on training.
- ``wgan_gp_seeds``: WGAN-GP over seeds and penalty weights, all members in one computation.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Sequence

import torch

from ..data.toy import GaussianMixture, high_quality_fraction, modes_covered
from ..losses.gan import get_gan_loss
from ..metrics.seeds import SeedSummary, paired_difference, summarize
from ..train.ensemble_gan import train_gan_ensemble
from ..train.gan import GANTrainConfig
from ..train.toy_discriminators import BATCH, fit_discriminators, make_models

Tensor = torch.Tensor


def score_weights(loss: str, d_fake: Tensor) -> Tensor:
    """``|d L_G / d s_i| * n`` for each sample, from the library's ``loss_g`` by autograd.

    ``d_fake`` are ``D(G(z_i))`` in ``(0, 1)``; the scores are their logits. The result is
    ``D(G(z))`` for ``"minimax"`` and ``1 - D(G(z))`` for ``"nonsaturating"``.
    """
    objective = get_gan_loss(loss)
    if not objective.probabilistic:
        raise ValueError(f"score_weights takes a cross-entropy loss (minimax, nonsaturating); {objective.name!r} "
                         "scores are not logits of a probability.")
    p = d_fake.double()
    if not ((p > 0) & (p < 1)).all():
        raise ValueError("score_weights needs D(G(z)) strictly inside (0, 1); clamp or pass sigmoid(scores).")
    score = (p.log() - (-p).log1p()).requires_grad_(True)
    (grad,) = torch.autograd.grad(objective.loss_g(score), score)
    return grad.abs() * p.numel()


def effective_fraction(weights: Tensor) -> float:
    """``(sum w)^2 / (n sum w^2)``: 1 when every sample counts equally, ``1/n`` when one sample carries all."""
    w = weights.double().flatten()
    return float(w.sum() ** 2 / (w.numel() * (w**2).sum()))


def _fake_sampler(generator):
    def draw(n: int, rng: torch.Generator) -> Tensor:
        with torch.no_grad():
            return generator(torch.randn(n, generator.latent_dim, generator=rng))
    return draw


def _mean_distance(samples: Tensor, mixture: GaussianMixture) -> float:
    return float(torch.cdist(samples.float(), mixture.means.float()).min(1).values.mean())


@dataclass
class StrongDStart:
    """Fresh generators against strong discriminators, then ``g_steps`` updates under each loss.

    Attributes:
        d_fake_start: per seed, the median ``D(G(z))`` of the strong D on the untrained G's samples.
        weights_start: loss -> per seed ``(n,)`` sample weights (``score_weights``) at the start.
        effective: loss -> per seed ``effective_fraction`` of those weights.
        distance_start: per seed, mean distance of the samples to their nearest mode at the start.
        distance, quality, modes: loss -> per seed, after ``g_steps`` generator updates.
    """

    mixture: GaussianMixture
    d_pretrain: int
    g_steps: int
    d_fake_start: list[float]
    weights_start: dict[str, list[Tensor]]
    effective: dict[str, list[float]]
    distance_start: list[float]
    distance: dict[str, list[float]]
    quality: dict[str, list[float]]
    modes: dict[str, list[int]]
    seconds: float

    def summary(self, key: str, loss: str) -> SeedSummary:
        return summarize(getattr(self, key)[loss])

    def difference(self, key: str, a: str = "nonsaturating", b: str = "minimax") -> SeedSummary:
        """``a - b`` of ``key`` (``"distance"``, ``"quality"``, ``"modes"``, ``"effective"``), paired by seed."""
        return paired_difference(getattr(self, key)[a], getattr(self, key)[b])


def strong_d_start(mixture: GaussianMixture, losses: Sequence[str] = ("minimax", "nonsaturating"), *,
                   seeds: Sequence[int] = (0, 1, 2, 3, 4), d_pretrain: int = 200, g_steps: int = 200,
                   lr: float = 1.5e-3, num_samples: int = 2000, threads: int = 1) -> StrongDStart:
    """Train D against each seed's frozen, untrained G for ``d_pretrain`` steps, then both for ``g_steps``.

    Every loss starts from the same pairs (same G, same strong D, same data and noise streams);
    only the generator loss differs. Adam lr ``lr``, betas (0.5, 0.999), batch 256.
    """
    if len(seeds) < 2:
        raise ValueError(f"strong_d_start needs >= 2 seeds to measure a spread, got {list(seeds)}.")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        tic = time.perf_counter()
        gens = [make_models(mixture.dim, s)[0].eval() for s in seeds]
        stack = fit_discriminators(mixture.sample, [_fake_sampler(g) for g in gens],
                                   mixture.dim, seeds, steps=d_pretrain, lr=lr)
        strong = stack.members(make_models(mixture.dim, seeds[0])[1])
        z = torch.randn(num_samples, gens[0].latent_dim, generator=torch.Generator().manual_seed(0))
        d_start, w_start, eff = [], {n: [] for n in losses}, {n: [] for n in losses}
        dist0 = []
        with torch.no_grad():
            for g, d in zip(gens, strong):
                x = g(z)
                p = torch.sigmoid(d.eval()(x)).clamp(1e-12, 1 - 1e-12)
                d_start.append(float(p.median()))
                dist0.append(_mean_distance(x, mixture))
                for name in losses:
                    with torch.enable_grad():
                        w = score_weights(name, p)
                    w_start[name].append(w.float())
                    eff[name].append(effective_fraction(w))
        by_seed = {s: i for i, s in enumerate(seeds)}
        dist, qual, modes = {}, {}, {}
        for name in losses:
            config = GANTrainConfig(loss=name, steps=g_steps, batch_size=BATCH, lr_g=lr, lr_d=lr, beta1=0.5,
                                    beta2=0.999, d_steps=1, log_every=10, sample_every=g_steps,
                                    num_samples=num_samples, progress=False, amp=False)

            def pair(s: int):
                g, _ = make_models(mixture.dim, s)          # the same untrained G as above
                return g.train(), copy.deepcopy(strong[by_seed[s]]).train()
            ens = train_gan_ensemble(pair, mixture.sample, seeds, config)
            final = [h.samples[-1] for h in ens.histories]
            dist[name] = [_mean_distance(x, mixture) for x in final]
            qual[name] = [high_quality_fraction(x, mixture) for x in final]
            modes[name] = [modes_covered(x, mixture) for x in final]
        seconds = time.perf_counter() - tic
    finally:
        torch.set_num_threads(previous)
    return StrongDStart(mixture, d_pretrain, g_steps, d_start, w_start, eff, dist0, dist, qual, modes, seconds)


# --------------------------------------------------------------------------- WGAN-GP over seeds

@dataclass
class WGANGPSeeds:
    """WGAN-GP per penalty weight over seeds: ``modes[lam]``, ``quality[lam]`` per seed."""

    steps: int
    lr: float
    betas: tuple[float, float]
    seeds: list[int]
    modes: dict[float, list[int]]
    quality: dict[float, list[float]]
    seconds: float


def wgan_gp_seeds(mixture: GaussianMixture, *, seeds: Sequence[int] = (0, 1, 2, 3, 4),
                  gp_weights: Sequence[float] = (0.1, 10.0), steps: int = 1000, lr: float = 1e-3,
                  betas: tuple[float, float] = (0.5, 0.9), d_steps: int = 5, num_samples: int = 2000,
                  threads: int = 1) -> WGANGPSeeds:
    """Every (penalty weight, seed) pair as one member of one batched WGAN-GP run.

    Defaults: the authors' toy script's ``lambda = 0.1`` ("smaller lambda for toy tasks") and
    their paper's ``lambda = 10``; 5 critic steps, Adam ``lr`` with betas (0.5, 0.9), batch 256.
    """
    members = [(w, s) for w in gp_weights for s in seeds]
    config = GANTrainConfig(loss="wgan-gp", steps=steps, batch_size=BATCH, lr_g=lr, lr_d=lr, beta1=betas[0],
                            beta2=betas[1], d_steps=d_steps, log_every=10, sample_every=steps,
                            num_samples=num_samples, progress=False, amp=False)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        ens = train_gan_ensemble(lambda s: make_models(mixture.dim, s), mixture.sample, [s for _, s in members],
                                 config, gp_weight=[w for w, _ in members])
    finally:
        torch.set_num_threads(previous)
    modes = {float(w): [] for w in gp_weights}
    quality = {float(w): [] for w in gp_weights}
    for (w, _), h in zip(members, ens.histories):
        modes[float(w)].append(modes_covered(h.samples[-1], mixture))
        quality[float(w)].append(high_quality_fraction(h.samples[-1], mixture))
    return WGANGPSeeds(steps, lr, tuple(betas), list(seeds), modes, quality, ens.seconds)


def wgan_gp_summary(result: WGANGPSeeds | None, budget_steps: int) -> str:
    """The paragraph the chapter prints about the WGAN-GP runs: the measured numbers, or, when the run did not fit
    the profile's budget (``result is None``), what it would take and which call runs it.

    The words follow the numbers: "more modes than" only when the paired 95 % interval lies above zero.
    """
    if result is None:
        return ("The run with the authors' toy settings (1000 generator updates, each after five critic updates, "
                "five seeds per penalty weight) takes minutes on two CPU cores, more than this chapter's budget, "
                f"so the quick profile does not train it; the table above is WGAN-GP at {budget_steps} generator "
                "updates. The full profile (a Colab GPU) trains it and prints its numbers here; exercise 3 runs it "
                "on any machine with `loss_seeds.wgan_gp_seeds(ring)`. A prediction to test: with lambda = 0.1 "
                "most seeds cover nearly all eight modes, with lambda = 10 fewer.")
    small, paper = summarize(result.modes[0.1]), summarize(result.modes[10.0])
    difference = paired_difference(result.modes[0.1], result.modes[10.0])
    word = ("more modes than" if difference.low > 0 else "fewer modes than" if difference.high < 0
            else "no measurably different number of modes from")
    quality = summarize(result.quality[0.1])
    return (f"With lambda = 0.1, {result.steps} generator updates cover {small.mean:.1f} ± {small.std:.1f} of the 8 "
            f"modes (per seed: {', '.join(map(str, result.modes[0.1]))}); with the paper's lambda = 10, "
            f"{paper.mean:.1f} ± {paper.std:.1f} (per seed: {', '.join(map(str, result.modes[10.0]))}). The small "
            f"weight gives {word} the paper's (paired difference, 95 % interval {difference.low:.1f} to "
            f"{difference.high:.1f}). A fraction {quality.mean:.2f} of the samples lies within three standard "
            "deviations of a mode; published runs reach 90 % with a hundred times the updates.")


