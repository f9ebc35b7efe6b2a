"""Figures of the toy experiments over seeds (chapters 1-2): every seed drawn, not only the mean."""
from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from .. import theory

_LABELS = {"minimax": r"minimax $\log(1 - D(G(z)))$", "nonsaturating": r"non-saturating $-\log D(G(z))$"}


def plot_loss_masses(comparison, bandwidth: float = 0.1, size: tuple[float, float] = (10, 3.4)):
    """Left: each seed's generated density under each loss, over the data's. Right: mass per mode, per seed.

    ``comparison`` is a ``facelab.experiments.divergences.DivergenceComparison`` on a 1-D mixture.
    """
    mixture = comparison.mixture
    if mixture.dim != 1:
        raise ValueError(f"plot_loss_masses draws 1-D densities; got a {mixture.dim}-D mixture.")
    extent = float(mixture.means.abs().max() + 4 * mixture.stds.max())
    grid = torch.linspace(-extent, extent, 400, dtype=torch.float64)
    fig, (ax_p, ax_m) = plt.subplots(1, 2, figsize=size)
    ax_p.fill_between(grid.numpy(), 0, mixture.pdf(grid).numpy(), color="grey", alpha=0.3, label=r"$p_{data}$")
    losses = list(comparison.runs)
    k = mixture.means.shape[0]
    for c, loss in enumerate(losses):
        run = comparison.runs[loss]
        for i, x in enumerate(run.samples):
            ax_p.plot(grid.numpy(), theory.kde_1d(x.double(), grid, bandwidth).numpy(), color=f"C{c}", lw=1,
                      alpha=0.7, label=_LABELS.get(loss, loss) if i == 0 else None)
        for j in range(k + 1):
            xs = torch.full((run.masses.shape[0],), j + (c - (len(losses) - 1) / 2) * 0.18)
            ax_m.scatter(xs.numpy(), run.masses[:, j].numpy(), color=f"C{c}", s=18,
                         label=_LABELS.get(loss, loss) if j == 0 else None)
    for j, w in enumerate(mixture.weights.tolist()):
        ax_m.hlines(w, j - 0.4, j + 0.4, color="k", lw=1.5, label="data" if j == 0 else None)
    ax_m.hlines(0, k - 0.4, k + 0.4, color="k", lw=1.5)
    ax_m.set_xticks(range(k + 1), [f"mode at {float(m):+.0f}" for m in mixture.means[:, 0]] + ["off both"])
    ax_m.set(ylabel="fraction of samples", title=f"Mass per mode ({len(comparison.runs[losses[0]].seeds)} seeds)")
    ax_p.set(xlabel="x", ylabel="density", title=f"Generated densities after {comparison.steps} steps")
    for ax in (ax_p, ax_m):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_strong_d_start(result, size: tuple[float, float] = (10, 3.4)):
    """Left: the sample weights each loss gives at a saturated D (sorted, one seed). Right: distance to the data.

    ``result`` is a ``facelab.experiments.loss_seeds.StrongDStart``.
    """
    fig, (ax_w, ax_d) = plt.subplots(1, 2, figsize=size)
    losses = list(result.weights_start)
    for c, loss in enumerate(losses):
        w = result.weights_start[loss][0].double()
        ax_w.semilogy((w / w.sum()).sort(descending=True).values.numpy(), color=f"C{c}", label=_LABELS.get(loss, loss))
        for i, (start, end) in enumerate(zip(result.distance_start, result.distance[loss])):
            ax_d.plot([0, result.g_steps], [start, end], color=f"C{c}", marker="o", alpha=0.7,
                      label=_LABELS.get(loss, loss) if i == 0 else None)
    ax_w.set(xlabel="samples, sorted by weight", ylabel="share of the gradient",
             title="Sample weights at a saturated D (seed 0)")
    ax_d.set(xlabel="generator updates", ylabel="mean distance to nearest mode", yscale="log",
             title=f"Progress from a strong D ({len(result.distance_start)} seeds)")
    for ax in (ax_w, ax_d):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
