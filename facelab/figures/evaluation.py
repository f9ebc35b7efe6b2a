"""Figures of chapter 06: FID and KID over training."""
from __future__ import annotations

from typing import Any, Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

__all__ = ["plot_fid_over_training"]


def plot_fid_over_training(curve: Any) -> Figure:
    """FID and KID against the training step, with the real-vs-real and real-vs-noise baselines.

    Args:
        curve: from :func:`fid_kid_over_training`.

    Returns:
        The figure (two panels, log-scaled values).
    """
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    b = curve.baselines
    for ax, name, values in ((axes[0], "FID", curve.fid), (axes[1], "KID", curve.kid)):
        key = name.lower()
        ax.plot(curve.steps, values, "o-", color="C0", label="GAN samples vs real")
        ax.axhline(b[f"{key}_real_vs_noise"], color="C3", ls="--", label="real vs noise")
        ax.axhline(b[f"{key}_real_vs_real"], color="C2", ls="--", label="real vs real (floor)")
        ax.set_yscale("symlog", linthresh=_linthresh(values, b, key))
        ax.set_xlabel("GAN training step")
        ax.set_ylabel(f"{name} (lower is better)")
        ax.set_title(f"{name} in the face embedder's {curve.feature_dim}-d feature space, "
                     f"{curve.num_samples} samples", fontsize=9)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _linthresh(values: Sequence[float], baselines: dict[str, float], key: str) -> float:
    positive = [abs(v) for v in [*values, baselines[f"{key}_real_vs_real"]] if v != 0]
    return max(min(positive) if positive else 1e-6, 1e-6)
