"""Closed-set classification metrics (identification accuracy and friends).

Thin wrappers over :mod:`sklearn.metrics`, which already computes these
correctly; the wrappers only accept torch tensors as well as numpy arrays, take
``argmax`` of ``(N, C)`` logits, and check inputs with messages that say what
to fix.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn import metrics as skm

__all__ = ["accuracy", "precision_recall_f1", "confusion_matrix", "to_numpy"]


def to_numpy(x: Any) -> np.ndarray:
    """Convert a torch tensor (any device, with or without grad), list or array to numpy."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _labels(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert a (true, predicted) pair of label vectors."""
    t, p = to_numpy(y_true), to_numpy(y_pred)
    if p.ndim == 2 and t.ndim == 1:
        p = p.argmax(axis=1)  # (N, C) logits or probabilities -> class ids
    if t.ndim != 1 or p.ndim != 1:
        raise ValueError(
            f"y_true must be a 1-D vector of class ids and y_pred the same or (N, C) logits; "
            f"got shapes {t.shape} and {p.shape}."
        )
    if t.shape[0] != p.shape[0]:
        raise ValueError(
            f"y_true and y_pred must have the same length (one entry per sample), "
            f"got {t.shape[0]} and {p.shape[0]}."
        )
    if t.shape[0] == 0:
        raise ValueError("y_true and y_pred are empty; pass at least one sample.")
    return t, p


def accuracy(y_true: Any, y_pred: Any) -> float:
    """Fraction of correct predictions (``sklearn.metrics.accuracy_score``).

    Args:
        y_true: ``(N,)`` true class ids.
        y_pred: ``(N,)`` predicted class ids, or ``(N, C)`` logits.

    Returns:
        Accuracy in ``[0, 1]``.
    """
    t, p = _labels(y_true, y_pred)
    return float(skm.accuracy_score(t, p))


def precision_recall_f1(y_true: Any, y_pred: Any, average: str = "macro") -> tuple[float, float, float]:
    """Precision, recall and F1 (``sklearn.metrics.precision_recall_fscore_support``).

    Classes never predicted count as precision 0 (``zero_division=0``) instead of
    warning.

    Args:
        y_true: ``(N,)`` true class ids.
        y_pred: ``(N,)`` predicted class ids, or ``(N, C)`` logits.
        average: ``"macro"`` (mean over classes), ``"micro"``, ``"weighted"`` or
            ``"binary"`` (two classes, positive label 1).

    Returns:
        ``(precision, recall, f1)``.
    """
    allowed = ("macro", "micro", "weighted", "binary")
    if average not in allowed:
        raise ValueError(f"average must be one of {allowed}, got {average!r}.")
    t, p = _labels(y_true, y_pred)
    precision, recall, f1, _ = skm.precision_recall_fscore_support(t, p, average=average, zero_division=0)
    return float(precision), float(recall), float(f1)


def confusion_matrix(y_true: Any, y_pred: Any, num_classes: int | None = None) -> np.ndarray:
    """Confusion matrix ``C[i, j]`` = number of samples of class ``i`` predicted ``j``.

    Uses ``sklearn.metrics.confusion_matrix`` with the classes ``0..K-1`` fixed,
    so row ``k`` is always class ``k`` even if it is absent from this batch.

    Args:
        y_true: ``(N,)`` true class ids in ``0..K-1``.
        y_pred: ``(N,)`` predicted class ids, or ``(N, C)`` logits.
        num_classes: ``K``; defaults to the largest id seen plus one.

    Returns:
        ``(K, K)`` int64 array.
    """
    t, p = _labels(y_true, y_pred)
    if not (np.issubdtype(t.dtype, np.integer) and np.issubdtype(p.dtype, np.integer)):
        raise ValueError(
            f"confusion_matrix needs integer class ids, got dtypes {t.dtype} and {p.dtype}; "
            "map labels to 0..K-1 first (e.g. np.unique(y, return_inverse=True))."
        )
    low, high = int(min(t.min(), p.min())), int(max(t.max(), p.max()))
    if num_classes is None:
        num_classes = high + 1
    if low < 0 or high >= num_classes:
        raise ValueError(
            f"class ids must lie in 0..{num_classes - 1} (num_classes={num_classes}), "
            f"got values from {low} to {high}; pass a larger num_classes or relabel."
        )
    return skm.confusion_matrix(t, p, labels=np.arange(num_classes)).astype(np.int64)
