"""Figures of chapter 03's mode-collapse experiment."""
from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

__all__ = ["plot_mode_collapse"]


def plot_mode_collapse(result: Any) -> Figure:
    """One scatter panel per setting (its first seed), titled with that run's mode counts."""
    from facelab.plotting import plot_samples_2d

    n = len(result.settings)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.6), squeeze=False)
    for ax, setting, fake, modes, eff in zip(axes[0], result.settings, result.samples, result.modes,
                                             result.effective):
        plot_samples_2d(result.data, fake, ax=ax, limit=2.8,
                        title=f"{setting.name}\n{modes[0]} of {result.num_modes} modes covered, "
                              f"effective {eff[0]:.1f}")
    axes[0, 0].legend(loc="lower left", fontsize=7, markerscale=3)
    fig.tight_layout()
    return fig
