"""The experiments of chapter 04: training face recognisers and measuring them.

The split, the training runs and the scores live in :mod:`facelab.baselines.recognizer` (chapters 05-08
reuse them) and the factories in :mod:`facelab.models.zoo`; they are imported here so the chapter finds
everything under one name. This module adds the chapter's table and figures: training curves, 2-D maps
of embeddings (t-SNE, van der Maaten & Hinton 2008, or PCA), and genuine/impostor score histograms.
"""
from __future__ import annotations

from typing import Sequence


from facelab.baselines.recognizer import (FAR_TARGET, NUM_PAIRS, TRAIN_FRACTION, VAL_FRACTION, RecognitionResult,
                                          RecognitionSplit, RecognizerRun, evaluate_recognizer, recognition_split,
                                          train_face_recognizer)
from facelab.figures.recognition import plot_embeddings_2d, plot_recognition_training, plot_score_histograms
from facelab.models.zoo import HEAD_OPTIONS, build_recognizer

__all__ = [
    "HEAD_OPTIONS",
    "FAR_TARGET", "NUM_PAIRS", "TRAIN_FRACTION", "VAL_FRACTION",
    "RecognitionSplit",
    "RecognizerRun",
    "RecognitionResult",
    "recognition_split",
    "build_recognizer",
    "train_face_recognizer",
    "evaluate_recognizer",
    "results_table",
    "plot_recognition_training",
    "plot_embeddings_2d",
    "plot_score_histograms",
]


def results_table(results: Sequence[RecognitionResult]) -> str:
    """A plain-text table: identification accuracy, 10-fold verification, AUC, EER, TAR@FAR."""
    header = (f"{'head':<18}{'identification':>15}{'verification (10-fold)':>25}{'AUC':>8}{'EER':>8}"
              f"{'TAR@FAR=1e-2':>14}")
    lines = [header, "-" * len(header)]
    for r in results:
        lines.append(f"{r.label:<18}{r.identification_accuracy:>15.3f}{str(r.verification):>25}"
                     f"{r.auc:>8.3f}{r.eer:>8.3f}{r.tar_at_far:>14.3f}")
    if results:
        lines.append(f"(identification: {results[0].num_classes} identities, chance {results[0].chance:.3f}; "
                     f"verification: {results[0].protocol})")
    return "\n".join(lines)


def results_markdown(results: Sequence[RecognitionResult]) -> str:
    """The same table as :func:`results_table` as a Markdown (GFM) table, for the book."""
    lines = ["| head | identification | verification (10-fold) | AUC | EER | TAR@FAR=1e-2 |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r.label} | {r.identification_accuracy:.3f} | {r.verification} | {r.auc:.3f} | "
                     f"{r.eer:.3f} | {r.tar_at_far:.3f} |")
    if results:
        lines.append("")
        lines.append(f"Identification: {results[0].num_classes} identities, chance {results[0].chance:.3f}; "
                     f"verification: {results[0].protocol}.")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- figures



