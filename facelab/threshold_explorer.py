"""The verification threshold, made visible: a slider widget and the static figures of the book.

A verifier accepts a pair of faces when its score (e.g. the cosine similarity of
the two embeddings) is at least a threshold. Every number a deployment reports
(FAR, FRR, accuracy, precision, recall, F1) is a property of the *score
distributions and the threshold together*. This module shows that trade-off:

* :func:`threshold_explorer` - an ``ipywidgets`` slider over the threshold that
  redraws, live, the genuine and impostor score histograms with the threshold,
  FAR and FRR, the operating point on the ROC curve and the 2x2 confusion matrix
  (ipywidgets is imported lazily; the rest of the module works without it);
* :func:`plot_threshold_state` - that same figure for one threshold, for the
  static book (a widget has no kernel behind it on a rendered page);
* :func:`plot_threshold_tradeoff` - FAR and FRR against the threshold, EER marked;
* :func:`plot_roc` - ROC curves on a logarithmic FAR axis, TAR@FAR marked;
* :func:`plot_pair_mix` - how accuracy and precision move with the share of
  impostor pairs while FAR and FRR stay fixed.

Terminology follows ISO/IEC 19795-1 and NIST's FRVT reports: FAR (false accept
rate, impostor pairs accepted), FRR (false reject rate, genuine pairs rejected),
TAR = 1 - FRR.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from facelab.metrics.verification import RocCurve, check_scores, equal_error_rate, roc, tar_at_far

__all__ = [
    "threshold_explorer",
    "plot_threshold_state",
    "plot_threshold_tradeoff",
    "plot_roc",
    "plot_pair_mix",
]

_GENUINE, _IMPOSTOR = "C0", "C3"


def _ipywidgets():
    try:
        import ipywidgets
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "threshold_explorer needs ipywidgets, which is not installed: run `pip install ipywidgets` "
            "(or use the static plot_threshold_state / plot_threshold_tradeoff figures instead)."
        ) from err
    return ipywidgets


def _confusion(s: np.ndarray, y: np.ndarray, threshold: float) -> np.ndarray:
    """2x2 counts: rows true (impostor, genuine), columns decision (reject, accept)."""
    accept = s >= threshold
    return np.array([[np.sum(~y & ~accept), np.sum(~y & accept)],
                     [np.sum(y & ~accept), np.sum(y & accept)]], dtype=np.int64)


def _draw_histograms(ax, s: np.ndarray, y: np.ndarray, threshold: float | None, bins: int) -> None:
    edges = np.linspace(s.min(), s.max(), bins + 1)
    ax.hist(s[~y], bins=edges, density=True, alpha=0.55, color=_IMPOSTOR, label=f"impostor ({(~y).sum()})")
    ax.hist(s[y], bins=edges, density=True, alpha=0.55, color=_GENUINE, label=f"genuine ({y.sum()})")
    if threshold is not None:
        ax.axvline(threshold, color="k", lw=1.5, label=f"threshold {threshold:.3f}")
        ax.axvspan(threshold, edges[-1], color="0.85", zorder=0)  # the accept region
    ax.set_xlabel("score (cosine similarity)")
    ax.set_ylabel("density")
    ax.legend(fontsize=8, loc="upper left")


def _log_far_limits(curve: RocCurve) -> float:
    """The smallest FAR worth drawing on a log axis: one impostor pair, halved."""
    positive = curve.far[curve.far > 0]
    return 0.5 * positive.min() if positive.size else 1e-4


def _draw_roc(ax, curve: RocCurve, label: str | None = None, color=None, **kwargs) -> None:
    keep = curve.far > 0  # log axis: FAR = 0 cannot be drawn
    ax.plot(curve.far[keep], curve.tar[keep], color=color, label=label, **kwargs)


def _draw_confusion(ax, counts: np.ndarray) -> None:
    total_rows = counts.sum(axis=1, keepdims=True)
    rates = counts / np.maximum(total_rows, 1)
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    names = [["true reject", "false accept"], ["false reject", "true accept"]]
    for i in range(2):
        for j in range(2):
            ax.text(j, i, f"{names[i][j]}\n{counts[i, j]}\n({rates[i, j]:.1%} of row)", ha="center", va="center",
                    fontsize=8, color="white" if rates[i, j] > 0.6 else "black")
    ax.set_xticks([0, 1], ["reject", "accept"])
    ax.set_yticks([0, 1], ["impostor", "genuine"])
    ax.set_xlabel("decision")
    ax.set_ylabel("truth")


def plot_threshold_state(scores: Any, same: Any, threshold: float, bins: int = 40,
                         curve: RocCurve | None = None) -> Figure:
    """Everything that one threshold decides, in three panels.

    Left: genuine and impostor score histograms with the threshold (the shaded
    side is accepted). Middle: the ROC curve (log FAR axis) with this operating
    point and the EER point. Right: the 2x2 confusion matrix of the decision.

    Args:
        scores: ``(P,)`` pair scores, higher = more likely the same person.
        same: ``(P,)`` True for genuine pairs.
        threshold: accept ``score >= threshold``.
        bins: histogram bins.
        curve: the ROC of these scores, if already computed.

    Returns:
        The figure.
    """
    s, y = check_scores(scores, same)
    curve = curve if curve is not None else roc(s, y)
    counts = _confusion(s, y, threshold)
    far = counts[0, 1] / max(counts[0].sum(), 1)
    frr = counts[1, 0] / max(counts[1].sum(), 1)
    eer, _ = equal_error_rate(s, y)

    fig, (ax_h, ax_r, ax_c) = plt.subplots(1, 3, figsize=(13, 3.8), gridspec_kw={"width_ratios": [1.4, 1, 0.9]})
    _draw_histograms(ax_h, s, y, threshold, bins)
    ax_h.set_title(f"FAR = {far:.4f}   FRR = {frr:.4f}", fontsize=10)

    _draw_roc(ax_r, curve, color="C0", label="ROC")
    ax_r.plot([eer], [1 - eer], "s", color="C1", mfc="none", ms=10, mew=2, label=f"EER = {eer:.3f}")
    ax_r.plot([max(far, _log_far_limits(curve))], [1 - frr], "ko", zorder=5, label="this threshold")
    ax_r.set_xscale("log")
    ax_r.set_xlim(_log_far_limits(curve), 1.0)
    ax_r.set_ylim(0, 1.02)
    ax_r.set_xlabel("FAR (log scale)")
    ax_r.set_ylabel("TAR = 1 - FRR")
    ax_r.grid(alpha=0.3, which="both")
    ax_r.legend(fontsize=8, loc="lower right")
    ax_r.set_title("operating point on the ROC", fontsize=10)

    _draw_confusion(ax_c, counts)
    ax_c.set_title("confusion matrix", fontsize=10)
    fig.tight_layout()
    return fig


def threshold_explorer(scores: Any, same: Any, initial: float | None = None, bins: int = 40,
                       num_steps: int = 200):
    """A slider over the verification threshold that redraws :func:`plot_threshold_state`.

    Args:
        scores: ``(P,)`` pair scores.
        same: ``(P,)`` True for genuine pairs.
        initial: the starting threshold; defaults to the EER threshold.
        bins: histogram bins.
        num_steps: slider resolution between the lowest and the highest score.

    Returns:
        An ``ipywidgets.VBox`` (slider, readout, figure) to display.

    Raises:
        ImportError: ipywidgets is not installed.
    """
    widgets = _ipywidgets()
    from IPython.display import display

    s, y = check_scores(scores, same)
    curve = roc(s, y)
    low, high = float(s.min()), float(s.max())
    if initial is None:
        initial = equal_error_rate(s, y)[1]
    slider = widgets.FloatSlider(value=float(np.clip(initial, low, high)), min=low, max=high,
                                 step=max((high - low) / num_steps, 1e-6), description="threshold",
                                 readout_format=".3f", continuous_update=False,
                                 layout=widgets.Layout(width="60%"))
    readout = widgets.HTML()
    out = widgets.Output()

    def render(*_):
        t = slider.value
        c = _confusion(s, y, t)
        far, frr = c[0, 1] / c[0].sum(), c[1, 0] / c[1].sum()
        accuracy = (c[0, 0] + c[1, 1]) / c.sum()
        readout.value = (f"<b>FAR</b> {far:.4f} &nbsp; <b>FRR</b> {frr:.4f} &nbsp; "
                         f"<b>TAR</b> {1 - frr:.4f} &nbsp; <b>accuracy</b> {accuracy:.4f}")
        with out:
            out.clear_output(wait=True)
            fig = plot_threshold_state(s, y, t, bins=bins, curve=curve)
            display(fig)
            plt.close(fig)

    slider.observe(render, names="value")
    render()
    return widgets.VBox([slider, readout, out])


def plot_threshold_tradeoff(scores: Any, same: Any, thresholds: Sequence[float] | None = None,
                            marks: Mapping[str, float] | None = None) -> Figure:
    """FAR and FRR against the threshold, with the equal error rate marked.

    Raising the threshold trades false accepts for false rejects; the EER is
    where the two curves cross.

    Args:
        scores: ``(P,)`` pair scores.
        same: ``(P,)`` True for genuine pairs.
        thresholds: thresholds at which to evaluate; default: every distinct score.
        marks: optional named thresholds drawn as vertical lines, e.g.
            ``{"FAR = 1e-2": t}``.

    Returns:
        The figure.
    """
    s, y = check_scores(scores, same)
    if thresholds is None:
        grid = np.unique(s)
    else:
        grid = np.sort(np.asarray(thresholds, dtype=np.float64).ravel())
        if grid.size < 2:
            raise ValueError(f"thresholds needs at least two values to draw a curve, got {grid.size}.")
    genuine, impostor = np.sort(s[y]), np.sort(s[~y])
    far = 1.0 - np.searchsorted(impostor, grid, side="left") / impostor.size  # share of impostors >= t
    frr = np.searchsorted(genuine, grid, side="left") / genuine.size  # share of genuines < t
    eer, t_eer = equal_error_rate(s, y)

    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    ax.plot(grid, far, color=_IMPOSTOR, label="FAR (impostors accepted)")
    ax.plot(grid, frr, color=_GENUINE, label="FRR (genuine pairs rejected)")
    ax.plot([t_eer], [eer], "ko", zorder=3)
    ax.axvline(t_eer, color="k", ls="--", lw=1)
    ax.annotate(f"EER = {eer:.3f}\nat threshold {t_eer:.3f}", (t_eer, eer), xytext=(-12, 30), ha="right",
                textcoords="offset points", fontsize=9, arrowprops={"arrowstyle": "-", "color": "0.4"})
    for k, (name, t) in enumerate((marks or {}).items()):
        ax.axvline(t, color=f"C{k + 4}", ls=":", lw=1.5, label=name)
    ax.set_xlabel("threshold (accept score >= threshold)")
    ax.set_ylabel("error rate")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center right")
    fig.tight_layout()
    return fig


def plot_roc(curves: Mapping[str, RocCurve], far_marks: Sequence[float] = (1e-2,)) -> Figure:
    """ROC curves with a logarithmic FAR axis, TAR at the given FARs marked.

    A log axis spreads out the low-FAR end, where verification systems operate
    (a linear axis squeezes FAR = 1e-3 against the left edge).

    Args:
        curves: ``{label: RocCurve}``, e.g. ``{"ArcFace": roc(scores, same)}``.
        far_marks: FARs at which to draw a vertical line and mark each curve's TAR.

    Returns:
        The figure.
    """
    if not curves:
        raise ValueError("curves is empty; pass e.g. {'my model': facelab.metrics.roc(scores, same)}.")
    fig, ax = plt.subplots(figsize=(6, 4))
    low = min(_log_far_limits(c) for c in curves.values())
    for k, (label, curve) in enumerate(curves.items()):
        _draw_roc(ax, curve, color=f"C{k}", label=f"{label} (AUC {curve.auc:.3f})")
        for far in far_marks:
            i = np.searchsorted(curve.far, far + 1e-12, side="right") - 1
            ax.plot([far], [curve.tar[i]], "o", color=f"C{k}")
            ax.annotate(f"TAR {curve.tar[i]:.3f}", (far, curve.tar[i]), xytext=(-6, 6), ha="right",
                        textcoords="offset points", fontsize=8, color=f"C{k}")
    for far in far_marks:
        ax.axvline(far, color="grey", ls=":", lw=1)
        ax.text(far * 1.15, 0.98, f"FAR = {far:g}", fontsize=8, color="grey", rotation=90, va="top")
    chance = np.logspace(np.log10(low), 0, 100)
    ax.plot(chance, chance, color="grey", ls="--", lw=1, label="chance (TAR = FAR)")
    ax.set_xscale("log")
    ax.set_xlim(low, 1.0)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("FAR, false accept rate (log scale)")
    ax.set_ylabel("TAR, true accept rate")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def plot_pair_mix(mix: Any) -> Figure:
    """Accuracy, precision, recall and F1 against the impostor-to-genuine ratio at one fixed threshold.

    Left: the verifier's accuracy next to that of a rule that rejects every pair.
    Right: precision and F1 fall as impostor pairs become more common, recall (TAR) stays.

    Args:
        mix: a :class:`facelab.experiments.evaluation.PairMix` (anything with
            ``ratios``, ``accuracy``, ``precision``, ``f1``, ``recall``,
            ``always_reject_accuracy``, ``far``, ``frr``).

    Returns:
        The figure.
    """
    fig, (ax_acc, ax_pr) = plt.subplots(1, 2, figsize=(10, 3.6))
    ax_acc.plot(mix.ratios, mix.accuracy, "o-", color="C0", label="accuracy of the verifier")
    ax_acc.plot(mix.ratios, mix.always_reject_accuracy, "s--", color="k", lw=1, label='accuracy of "always reject"')
    ax_acc.set_ylabel("accuracy")
    ax_acc.legend(fontsize=8, loc="lower right")
    ax_pr.plot(mix.ratios, np.full(len(mix.ratios), mix.recall), "-", color="C4", label="recall (= TAR)")
    ax_pr.plot(mix.ratios, mix.precision, "s-", color="C1", label="precision")
    ax_pr.plot(mix.ratios, mix.f1, "^-", color="C2", label="F1")
    ax_pr.set_ylim(-0.02, 1.02)
    ax_pr.set_ylabel("value")
    ax_pr.legend(fontsize=8, loc="lower left")
    for ax in (ax_acc, ax_pr):
        ax.set_xscale("log")
        ax.set_xlabel("impostor pairs per genuine pair (log scale)")
        ax.grid(alpha=0.3, which="both")
    fig.suptitle(f"one verifier, one threshold ({mix.threshold:.3f}): FAR = {mix.far:.4f}, FRR = {mix.frr:.4f} "
                 "whatever the mix", fontsize=10)
    fig.tight_layout()
    return fig
