"""Figures of chapter 05: recognition metrics per training condition, and the cGAN's faces per identity."""
from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from facelab.plotting import to_image


__all__ = ["plot_gan_for_recognition", "plot_identity_grid"]


def plot_gan_for_recognition(result: Any) -> Figure:
    """One panel per metric: each seed as a dot, the mean ± standard deviation as a bar with error bars."""
    CONDITIONS, METRICS = result.conditions, result.metrics
    ncols = 2 if len(METRICS) == 4 else min(len(METRICS), 3)  # at most 3 side by side: readable on the page
    nrows = -(-len(METRICS) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 3.4 * nrows), squeeze=False)
    x = np.arange(len(CONDITIONS))
    for ax, (metric, (label, higher)) in zip(axes.flat, METRICS.items()):
        means = [result.mean(c, metric) for c in CONDITIONS]
        spreads = [result.spread(c, metric) for c in CONDITIONS]
        ax.bar(x, means, yerr=spreads, color=[f"C{i}" for i in range(len(CONDITIONS))], alpha=0.55, capsize=4)
        for i, condition in enumerate(CONDITIONS):
            values = result.values(condition, metric)
            ax.scatter(np.full(len(values), i) + np.linspace(-0.15, 0.15, len(values)), values, s=12, color="k",
                       zorder=3)
        if metric == "identification":
            ax.axhline(result.chance, color="k", ls=":", lw=1, label="chance")
            ax.legend(fontsize=8, loc="upper right")
        low = min(min(m - s for m, s in zip(means, spreads)), min(result.values(c, metric).min() for c in CONDITIONS))
        high = max(max(m + s for m, s in zip(means, spreads)), max(result.values(c, metric).max() for c in CONDITIONS))
        pad = 0.15 * max(high - low, 1e-3)
        ax.set_ylim(max(0.0, low - pad) if metric != "identification" else 0.0, min(1.0, high + pad))
        ax.set_title(f"{label} ({'higher' if higher else 'lower'} is better)", fontsize=9)
        ax.set_xticks(x, [c.replace("real + ", "+ ") for c in CONDITIONS], rotation=30, ha="right", fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"{result.num_identities} identities x {result.shots} real images; mean ± sd over "
                 f"{len(result.seeds)} seeds (dots: seeds)", fontsize=10)
    fig.tight_layout()
    return fig


def plot_identity_grid(result: Any, num_identities: int = 6, num_generated: int | None = None,
                       scale: float = 0.75) -> Figure:
    """Rows: identities; columns: that identity's real training images, then its cGAN faces."""
    num_identities = min(num_identities, result.num_identities)
    num_generated = num_generated if num_generated is not None else min(result.shots, result.extra_per_identity)
    rows = []
    for label in range(num_identities):
        real = result.real.images[result.real.labels == label][:result.shots]
        fake = result.generated.images[result.generated.labels == label][:num_generated]
        rows.append(torch.cat([real, fake]))
    ncol = result.shots + num_generated
    grid = to_image(torch.cat(rows), nrow=ncol)
    fig, ax = plt.subplots(figsize=(scale * ncol, scale * num_identities + 0.5))
    ax.imshow(grid)
    size = result.real.image_size + 2  # to_image's padding is 2 pixels
    ax.axvline(result.shots * size + 1, color="w", lw=2)
    ax.set_xticks([size * (result.shots / 2), size * (result.shots + num_generated / 2)],
                  [f"real ({result.shots} per identity)", "conditional GAN"])
    ax.set_yticks([size * (i + 0.5) for i in range(num_identities)], [f"identity {i}" for i in range(num_identities)])
    ax.tick_params(length=0)
    fig.tight_layout()
    return fig
