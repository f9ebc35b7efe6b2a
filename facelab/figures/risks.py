"""Figures of chapter 07's experiments (:mod:`facelab.experiments.risks`); each returns a Figure."""
from __future__ import annotations

from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

__all__ = ["plot_impostor_attack", "plot_detector", "plot_nearest_neighbours", "plot_membership",
           "plot_group_rates"]


def _face(ax, image: torch.Tensor, title: str, color: str = "k") -> None:
    ax.imshow(((image.float().clamp(-1, 1) + 1) / 2).permute(1, 2, 0).numpy())
    ax.set_title(title, fontsize=8, color=color)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_impostor_attack(result: Any, num: int = 8) -> Figure:
    """Rows: each target's enrolment image, the random start, the optimised face, with their cosines.

    Scores at or above the operating threshold (accepted) are green, the others red.
    """
    num = min(num, len(result.targets))
    fig, axes = plt.subplots(3, num, figsize=(1.25 * num, 4.3), squeeze=False)
    attack = result.attack
    for k in range(num):
        _face(axes[0, k], result.targets[k], f"target {k}")
        for row, (image, score) in enumerate(((attack.start[k], attack.score_start[k]),
                                              (attack.final[k], attack.score_final[k])), start=1):
            accepted = float(score) >= result.threshold
            _face(axes[row, k], image, f"cos {float(score):.2f}", "tab:green" if accepted else "tab:red")
    for row, label in enumerate(("enrolled\nimage", "random\nGAN face", "optimised\nGAN face")):
        axes[row, 0].set_ylabel(label, fontsize=9)
    fig.suptitle(f"Threshold {result.threshold:.2f} (FAR {result.far_target:g} on real impostors); "
                 "green = accepted", fontsize=10)
    fig.tight_layout()
    return fig


def plot_detector(result: Any) -> Figure:
    """Left: a few faces of each generator. Right: the detector's accuracy and AP on each."""
    names = list(result.average_precision)
    fig = plt.figure(figsize=(10, 0.9 + 1.0 * len(names)))
    grid = fig.add_gridspec(len(names), 2, width_ratios=[1.5, 1])
    for i, name in enumerate(names):
        ax = fig.add_subplot(grid[i, 0])
        examples = result.examples[name][:8]
        strip = torch.cat(list((examples.float().clamp(-1, 1) + 1) / 2), dim=2)  # (3, S, 8S)
        ax.imshow(strip.permute(1, 2, 0).numpy())
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    ax = fig.add_subplot(grid[:, 1])
    y = np.arange(len(names))
    ax.barh(y - 0.2, [result.accuracy[n] for n in names], height=0.4, label="accuracy", color="C0")
    ax.barh(y + 0.2, [result.average_precision[n] for n in names], height=0.4, label="average precision",
            color="C1")
    ax.axvline(0.5, color="k", ls=":", lw=1, label="chance")
    ax.set_yticks(y, names, fontsize=9)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.05)
    ax.set_xlabel("score on real vs generated faces")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3)
    fig.tight_layout()
    return fig


def plot_nearest_neighbours(result: Any, num: int = 6) -> Figure:
    """Each row: a generated face and its ``k`` nearest training faces, with pixel distances.

    The rows shown are the samples closest to a training face (the likeliest copies).
    """
    order = torch.argsort(result.sample_nn_distance[:, 0])[:num]
    k = result.sample_nn_index.shape[1]
    fig, axes = plt.subplots(len(order), k + 1, figsize=(1.3 * (k + 1), 1.35 * len(order)), squeeze=False)
    for row, i in enumerate(order.tolist()):
        _face(axes[row, 0], result.samples[i], "sample" if row == 0 else "")
        for j in range(k):
            d = float(result.sample_nn_distance[i, j])
            _face(axes[row, j + 1], result.members[result.sample_nn_index[i, j]], f"d = {d:.1f}")
    median_new = float(result.non_member_nn_distance.median())
    fig.suptitle(f"Nearest training faces (a new real face lies {median_new:.1f} from its nearest, median)",
                 fontsize=9)
    fig.tight_layout()
    return fig


def plot_membership(result: Any) -> Figure:
    """Left: nearest-member distances of samples, non-members and members. Centre: discriminator
    scores of members and non-members. Right: the membership AUC during training."""
    fig, (ax_d, ax_s, ax_a) = plt.subplots(1, 3, figsize=(12, 3.3))
    distances = [result.sample_nn_distance[:, 0].numpy(), result.non_member_nn_distance.numpy(),
                 result.member_nn_distance.numpy()]
    edges = np.linspace(0, max(float(d.max()) for d in distances) * 1.05, 25)
    for d, label, color in zip(distances, ("GAN samples", "non-members (new real faces)",
                                           "members (to another member)"), ("C2", "C0", "C3")):
        ax_d.hist(d, bins=edges, alpha=0.5, density=True, color=color, label=label)
    ax_d.set_xlabel("distance to the nearest training face")
    ax_d.set_title(f"samples-only attack AUC {result.sample_auc:.2f}", fontsize=10)
    ax_d.legend(fontsize=7, loc="upper left")
    scores = np.concatenate([result.member_scores.numpy(), result.non_member_scores.numpy()])
    edges = np.linspace(scores.min(), scores.max(), 20)
    ax_s.hist(result.member_scores.numpy(), bins=edges, alpha=0.55, color="C3", label="members")
    ax_s.hist(result.non_member_scores.numpy(), bins=edges, alpha=0.55, color="C0", label="non-members")
    ax_s.set_xlabel("discriminator score (raw)")
    ax_s.set_title(f"discriminator attack AUC {result.auc:.2f}", fontsize=10)
    ax_s.legend(fontsize=8)
    ax_a.plot(result.auc_steps, result.auc_trace, marker="o", ms=3)
    ax_a.axhline(0.5, color="k", ls=":", lw=1, label="chance")
    ax_a.set_xlabel("generator step")
    ax_a.set_ylabel("membership AUC")
    ax_a.set_ylim(0, 1.02)
    ax_a.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_group_rates(result: Any, attributes: Sequence[str] | None = None) -> Figure:
    """FNMR and within-group FMR per group value, with 95% bootstrap intervals and the overall rates."""
    rates = [r for r in result.rates if attributes is None or r.attribute in attributes]
    labels = [f"{r.attribute}={r.value}" for r in rates]
    x = np.arange(len(rates))
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for ax, key, overall, title in ((axes[0], "fnmr", result.overall_fnmr, "false non-match rate"),
                                    (axes[1], "fmr", result.overall_fmr, "false match rate (same-group impostors)")):
        values = np.array([getattr(r, key) for r in rates])
        ci = np.array([getattr(r, f"{key}_ci") for r in rates])
        err = np.stack([values - ci[:, 0], ci[:, 1] - values]).clip(min=0)
        ax.bar(x, values, yerr=err, capsize=4, color=[f"C{i // 2}" for i in range(len(rates))], alpha=0.8)
        ax.axhline(overall, color="k", ls="--", lw=1, label="all pairs")
        ax.set_xticks(x, labels, fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
    fig.suptitle(f"One global threshold ({result.threshold:.2f}, FAR {result.far_target:g} over all impostor pairs)",
                 fontsize=10)
    fig.tight_layout()
    return fig
