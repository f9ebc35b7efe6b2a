"""The verification decision at one threshold, scored as a binary classification, and how the mix of pairs changes it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from facelab.metrics.verification import check_scores, far_frr

__all__ = ["DecisionReport", "classification_report_at", "PairMix", "metrics_vs_pair_mix"]


@dataclass
class DecisionReport:
    """The verification decision at one threshold, scored as a binary classification.

    "Positive" means "same person" (accept). Recall is then TAR and the
    false-positive rate is FAR.

    Attributes:
        threshold: accept ``score >= threshold``.
        accuracy, precision, recall, f1: the usual binary-classification metrics.
        far, frr: false accept and false reject rates.
        confusion: ``(2, 2)`` counts, rows true (impostor, genuine), columns
            decision (reject, accept).
    """

    threshold: float
    accuracy: float
    precision: float
    recall: float
    f1: float
    far: float
    frr: float
    confusion: np.ndarray


def classification_report_at(scores: Any, same: Any, threshold: float) -> DecisionReport:
    """Accuracy, precision, recall, F1 and the confusion matrix of ``score >= threshold``.

    Args:
        scores: ``(P,)`` pair scores (or a :class:`VerificationScores`, then ``same`` is ignored).
        same: ``(P,)`` True for genuine pairs.
        threshold: the decision threshold.
    """
    if hasattr(scores, "scores") and hasattr(scores, "same"):  # a VerificationScores
        scores, same = scores.scores, scores.same
    s, y = check_scores(scores, same)
    accept = s >= threshold
    tp, fp = int(np.sum(accept & y)), int(np.sum(accept & ~y))
    fn, tn = int(np.sum(~accept & y)), int(np.sum(~accept & ~y))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return DecisionReport(float(threshold), (tp + tn) / y.size, precision, recall, f1, fp / (fp + tn), fn / (tp + fn),
                          np.array([[tn, fp], [fn, tp]], dtype=np.int64))


@dataclass
class PairMix:
    """Metrics at one threshold as the impostor-to-genuine ratio of the test pairs changes.

    FAR and FRR are rates *within* each kind of pair, so they do not depend on
    the mix; accuracy, precision and F1 do.
    """

    ratios: np.ndarray
    accuracy: np.ndarray
    precision: np.ndarray
    f1: np.ndarray
    always_reject_accuracy: np.ndarray
    recall: float
    far: float
    frr: float
    threshold: float


def metrics_vs_pair_mix(scores: Any, same: Any, threshold: float,
                        ratios: Sequence[float] = (1, 3, 10, 30, 100, 300, 1000)) -> PairMix:
    """Expected accuracy, precision and F1 when there are ``r`` impostor pairs per genuine pair.

    With the measured TAR and FAR fixed, a test set of 1 genuine and ``r``
    impostor pairs (in proportion) gives accuracy ``(TAR + r (1 - FAR)) / (1 + r)``
    and precision ``TAR / (TAR + r FAR)``. A verifier that rejects everything
    scores ``r / (1 + r)``.

    Args:
        scores: ``(P,)`` pair scores (or a :class:`VerificationScores`).
        same: ``(P,)`` True for genuine pairs.
        threshold: the decision threshold.
        ratios: impostor pairs per genuine pair.
    """
    if hasattr(scores, "scores") and hasattr(scores, "same"):  # a VerificationScores
        scores, same = scores.scores, scores.same
    far, frr = far_frr(scores, same, threshold)
    tar = 1.0 - frr
    r = np.asarray(ratios, dtype=np.float64)
    if r.ndim != 1 or np.any(r <= 0):
        raise ValueError(f"ratios must be positive numbers of impostor pairs per genuine pair, got {ratios!r}.")
    accepted = tar + r * far
    precision = np.divide(tar, accepted, out=np.zeros_like(r), where=accepted > 0)
    f1 = np.divide(2 * precision * tar, precision + tar, out=np.zeros_like(r), where=precision + tar > 0)
    return PairMix(r, (tar + r * (1 - far)) / (1 + r), precision, f1, r / (1 + r), tar, far, frr, float(threshold))
