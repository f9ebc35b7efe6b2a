"""Figures of chapter 04: training curves, 2-D maps of embeddings, genuine/impostor score histograms."""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from facelab.baselines.recognizer import RecognitionResult, RecognizerRun

__all__ = ["plot_recognition_training", "plot_embeddings_2d", "plot_score_histograms"]


def plot_recognition_training(runs: Sequence[RecognizerRun]) -> Figure:
    """Training loss and training-batch accuracy of several runs against the step."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.2))
    for i, run in enumerate(runs):
        h = run.history
        ax_loss.plot(h.step, h.loss, color=f"C{i}", label=run.label)
        ax_acc.plot(h.step, h.accuracy, color=f"C{i}", label=run.label)
    ax_loss.set_ylabel("cross-entropy (with the head's margin)")
    ax_acc.set_ylabel("training-batch accuracy")
    ax_acc.set_ylim(0, 1)
    for ax in (ax_loss, ax_acc):
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def _project_2d(embeddings: np.ndarray, method: str, seed: int) -> np.ndarray:
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(embeddings)
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = float(min(20, max(2, (len(embeddings) - 1) // 4)))
        return TSNE(n_components=2, perplexity=perplexity, init="pca", metric="cosine",
                    random_state=seed).fit_transform(embeddings)
    raise ValueError(f"method must be 'tsne' or 'pca', got {method!r}.")


def plot_embeddings_2d(results: Sequence[RecognitionResult], num_identities: int = 10, method: str = "tsne",
                       seed: int = 0) -> Figure:
    """Embeddings of a few unseen identities in 2-D, one panel per recogniser, one colour per person.

    Args:
        results: results of :func:`evaluate_recognizer` on the same split.
        num_identities: how many unseen identities to show (the same ones in every panel).
        method: ``"tsne"`` (t-SNE on cosine distances, van der Maaten & Hinton 2008) or ``"pca"``.
        seed: seed of the projection.
    """
    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 4.2), squeeze=False)
    cmap = plt.get_cmap("tab10" if num_identities <= 10 else "tab20")
    for ax, result in zip(axes[0], results):
        keep = result.labels < num_identities
        points = _project_2d(result.embeddings[keep].numpy(), method, seed)
        labels = result.labels[keep].numpy()
        for k in range(num_identities):
            ax.scatter(*points[labels == k].T, s=18, color=cmap(k % cmap.N), alpha=0.85, edgecolor="none")
        ax.set_title(f"{result.label}\nEER {result.eer:.3f}")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{num_identities} identities never seen in training ({method.upper() if method == 'pca' else 't-SNE'}"
                 ", one colour per person)", y=0.99)
    fig.tight_layout()
    return fig


def plot_score_histograms(results: Sequence[RecognitionResult], bins: int = 50) -> Figure:
    """Cosine scores of genuine and impostor pairs, one panel per recogniser, with the EER threshold."""
    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 3.2), squeeze=False, sharey=True)
    edges = np.linspace(-1, 1, bins + 1)
    for ax, result in zip(axes[0], results):
        ax.hist(result.impostor, bins=edges, density=True, alpha=0.55, color="C3", label="impostor pairs")
        ax.hist(result.genuine, bins=edges, density=True, alpha=0.55, color="C0", label="genuine pairs")
        ax.axvline(result.eer_threshold, color="k", ls="--", lw=1, label=f"EER threshold {result.eer_threshold:.2f}")
        ax.set_title(result.label)
        ax.set_xlabel("cosine similarity of the pair")
        ax.legend(fontsize=8, loc="upper left")
    axes[0, 0].set_ylabel("density")
    fig.tight_layout()
    return fig
