"""Face verification metrics: is this pair of faces the same person?

A verifier gives each pair a score (higher = more likely the same person) and
accepts the pair when ``score >= threshold``. Errors are counted as

* FAR, false accept rate: fraction of impostor pairs accepted;
* FRR, false reject rate: fraction of genuine pairs rejected; TAR = 1 - FRR.

The ROC curve and AUC come from :func:`sklearn.metrics.roc_curve` and
:func:`sklearn.metrics.roc_auc_score`, the seeded folds from
:class:`sklearn.model_selection.StratifiedKFold`. The 10-fold protocol follows
LFW's "View 2" (Huang et al. 2007, "Labeled Faces in the Wild: A Database for
Studying Face Recognition in Unconstrained Environments") as insightface's
``arcface_torch`` evaluates it: per fold, the threshold that maximises accuracy
on the other nine folds is applied to the held-out fold.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn import metrics as skm
from sklearn.model_selection import StratifiedKFold

from facelab.metrics.classification import to_numpy
from facelab.metrics.pairs import make_pairs

__all__ = [
    "RocCurve",
    "KFoldResult",
    "check_scores",
    "make_pairs",
    "cosine_scores",
    "paired_cosine_scores",
    "roc",
    "auc",
    "equal_error_rate",
    "tar_at_far",
    "far_frr",
    "verification_accuracy",
    "best_threshold",
    "kfold_verification",
]

# ----------------------------------------------------------------------------- inputs
def check_scores(scores: Any, same: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate (scores, same) and return float64 scores and bool labels."""
    s = np.asarray(to_numpy(scores), dtype=np.float64)
    y = to_numpy(same)
    if s.ndim != 1 or y.ndim != 1:
        raise ValueError(f"scores and same must be 1-D (one entry per pair), got shapes {s.shape} and {y.shape}.")
    if s.shape[0] != y.shape[0]:
        raise ValueError(
            f"scores and same must have the same length (one entry per pair), got {s.shape[0]} and {y.shape[0]}."
        )
    if y.dtype != bool:
        if not np.isin(y, (0, 1)).all():
            raise ValueError(
                "same must be bool or 0/1 (1 = genuine, same person), "
                f"got values {np.unique(y)[:5].tolist()}."
            )
        y = y.astype(bool)
    if not np.isfinite(s).all():
        raise ValueError(
            "scores contain NaN or infinity; check the embeddings (e.g. a zero vector or a diverged model)."
        )
    n_genuine = int(y.sum())
    if n_genuine == 0 or n_genuine == y.shape[0]:
        raise ValueError(
            f"verification metrics need both genuine and impostor pairs, got {n_genuine} genuine "
            f"and {y.shape[0] - n_genuine} impostor; build pairs with make_pairs(labels, ...)."
        )
    return s, y



# ----------------------------------------------------------------------------- pairs



def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def cosine_scores(embeddings: Any, pairs: Any) -> np.ndarray:
    """Cosine similarity of the two embeddings of each pair.

    Args:
        embeddings: ``(N, D)`` one embedding per image (tensor or array).
        pairs: ``(P, 2)`` image indices, e.g. from :func:`make_pairs`.

    Returns:
        ``(P,)`` float64 scores in ``[-1, 1]``.
    """
    e = np.asarray(to_numpy(embeddings), dtype=np.float64)
    p = to_numpy(pairs)
    if e.ndim != 2:
        raise ValueError(f"embeddings must be (N, D), got shape {e.shape}; flatten them with .reshape(N, -1).")
    if p.ndim != 2 or p.shape[1] != 2 or not np.issubdtype(p.dtype, np.integer):
        raise ValueError(
            f"pairs must be a (P, 2) integer array of image indices, got shape {p.shape}, dtype {p.dtype}."
        )
    if p.size and (p.min() < 0 or p.max() >= e.shape[0]):
        raise ValueError(f"pairs index images 0..{e.shape[0] - 1}, got indices {p.min()}..{p.max()}.")
    e = _unit(e)
    return np.einsum("pd,pd->p", e[p[:, 0]], e[p[:, 1]])


def paired_cosine_scores(embeddings_a: Any, embeddings_b: Any) -> np.ndarray:
    """Cosine similarity of row ``p`` of ``embeddings_a`` with row ``p`` of ``embeddings_b``.

    For pair lists stored as two image tensors (e.g. :class:`facelab.data.real.LfwPairs`).

    Args:
        embeddings_a: ``(P, D)`` embeddings of the first faces.
        embeddings_b: ``(P, D)`` embeddings of the second faces.

    Returns:
        ``(P,)`` float64 scores in ``[-1, 1]``.
    """
    a = np.asarray(to_numpy(embeddings_a), dtype=np.float64)
    b = np.asarray(to_numpy(embeddings_b), dtype=np.float64)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"embeddings_a and embeddings_b must both be (P, D), got {a.shape} and {b.shape}.")
    return np.einsum("pd,pd->p", _unit(a), _unit(b))


# ----------------------------------------------------------------------------- curves
@dataclass(frozen=True)
class RocCurve:
    """A verification ROC curve, ordered from the strictest threshold.

    Attributes:
        far: false accept rate at each threshold (non-decreasing, from 0 to 1).
        tar: true accept rate at each threshold (non-decreasing, from 0 to 1).
        thresholds: decreasing thresholds; the first is ``inf`` (accept nothing).
    """

    far: np.ndarray
    tar: np.ndarray
    thresholds: np.ndarray

    @property
    def frr(self) -> np.ndarray:
        """False reject rate, ``1 - tar``."""
        return 1.0 - self.tar

    @property
    def auc(self) -> float:
        """Area under the curve (``sklearn.metrics.auc``)."""
        return float(skm.auc(self.far, self.tar))


def roc(scores: Any, same: Any) -> RocCurve:
    """ROC curve of a verifier (``sklearn.metrics.roc_curve``, all thresholds kept).

    Args:
        scores: ``(P,)`` pair scores, higher = more likely the same person.
        same: ``(P,)`` bool or 0/1, True for genuine pairs.

    Returns:
        The curve: FAR, TAR and thresholds.
    """
    s, y = check_scores(scores, same)
    far, tar, thresholds = skm.roc_curve(y, s, drop_intermediate=False)
    return RocCurve(far=far, tar=tar, thresholds=thresholds)


def auc(scores: Any, same: Any) -> float:
    """Area under the ROC curve (``sklearn.metrics.roc_auc_score``): 1 perfect, 0.5 chance.

    Args:
        scores: ``(P,)`` pair scores.
        same: ``(P,)`` True for genuine pairs.

    Returns:
        AUC in ``[0, 1]``.
    """
    s, y = check_scores(scores, same)
    return float(skm.roc_auc_score(y, s))


def equal_error_rate(scores: Any, same: Any) -> tuple[float, float]:
    """Equal error rate: where FAR and FRR cross, linearly interpolated on the ROC.

    Args:
        scores: ``(P,)`` pair scores.
        same: ``(P,)`` True for genuine pairs.

    Returns:
        ``(eer, threshold)``: the common error rate and the (interpolated) threshold
        where it occurs.
    """
    curve = roc(scores, same)
    far, frr, thr = curve.far, curve.frr, curve.thresholds.copy()
    thr[~np.isfinite(thr)] = thr[1]  # the "accept nothing" point has threshold inf
    gap = far - frr  # -1 at the strictest threshold, +1 at the most lenient: it crosses 0
    i = int(np.argmax(gap >= 0))
    if gap[i] == 0:
        return float(far[i]), float(thr[i])
    w = -gap[i - 1] / (gap[i] - gap[i - 1])  # fraction of the way from point i-1 to point i
    eer = far[i - 1] + w * (far[i] - far[i - 1])
    return float(eer), float(thr[i - 1] + w * (thr[i] - thr[i - 1]))


def tar_at_far(scores: Any, same: Any, far: Any) -> float | np.ndarray:
    """Largest TAR reached with FAR at most ``far`` (e.g. TAR@FAR=1e-3).

    Args:
        scores: ``(P,)`` pair scores.
        same: ``(P,)`` True for genuine pairs.
        far: target false accept rate(s) in ``[0, 1]``, a float or an array.

    Returns:
        A float for a scalar ``far``, else an array of ``far``'s shape. With ``n``
        impostor pairs FAR moves in steps of ``1/n``, so targets below ``1/n``
        mean "no impostor accepted".
    """
    targets = np.asarray(to_numpy(far), dtype=np.float64)
    if not np.all((targets >= 0) & (targets <= 1)):
        raise ValueError(f"far must lie in [0, 1] (e.g. 1e-3), got {far!r}.")
    curve = roc(scores, same)
    k = np.searchsorted(curve.far, targets + 1e-12, side="right") - 1  # last point with FAR <= target
    result = curve.tar[k]
    return float(result) if result.ndim == 0 else result


def far_frr(scores: Any, same: Any, threshold: float) -> tuple[float, float]:
    """False accept and false reject rates when accepting ``score >= threshold``.

    Args:
        scores: ``(P,)`` pair scores.
        same: ``(P,)`` True for genuine pairs.
        threshold: the decision threshold.

    Returns:
        ``(far, frr)``.
    """
    s, y = check_scores(scores, same)
    accept = s >= threshold
    return float(accept[~y].mean()), float((~accept[y]).mean())


def verification_accuracy(scores: Any, same: Any, threshold: float) -> float:
    """Fraction of pairs decided correctly when accepting ``score >= threshold``.

    Args:
        scores: ``(P,)`` pair scores.
        same: ``(P,)`` True for genuine pairs.
        threshold: the decision threshold.

    Returns:
        Accuracy in ``[0, 1]``.
    """
    s, y = check_scores(scores, same)
    return float(((s >= threshold) == y).mean())


def best_threshold(scores: Any, same: Any) -> float:
    """The threshold with the highest verification accuracy on these pairs.

    Every distinct score is tried; the returned value lies midway between the
    lowest accepted and the highest rejected score (so it transfers better to
    new pairs than the score itself). Ties go to the stricter threshold.

    Args:
        scores: ``(P,)`` pair scores.
        same: ``(P,)`` True for genuine pairs.

    Returns:
        The threshold (accept ``score >= threshold``).
    """
    s, y = check_scores(scores, same)
    curve = roc(s, y)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    correct = np.rint(curve.tar * n_pos) + np.rint((1.0 - curve.far) * n_neg)
    k = int(np.argmax(correct))
    thr = curve.thresholds
    if k == 0:  # accept nothing
        return float(np.nextafter(s.max(), np.inf))
    if k == len(thr) - 1:  # accept everything
        return float(thr[k])
    mid = 0.5 * (thr[k] + thr[k + 1])
    return float(mid if mid > thr[k + 1] else thr[k])


# ----------------------------------------------------------------------------- k-fold
@dataclass
class KFoldResult:
    """Per-fold results of :func:`kfold_verification`.

    Attributes:
        accuracies: ``(F,)`` held-out accuracy of each fold.
        thresholds: ``(F,)`` threshold chosen on the other folds.
        mean: mean accuracy over folds.
        std: standard deviation of the fold accuracies (``ddof=0``, as reported on LFW).
    """

    accuracies: np.ndarray
    thresholds: np.ndarray
    mean: float = field(init=False)
    std: float = field(init=False)

    def __post_init__(self) -> None:
        self.accuracies = np.asarray(self.accuracies, dtype=np.float64)
        self.thresholds = np.asarray(self.thresholds, dtype=np.float64)
        self.mean = float(self.accuracies.mean())
        self.std = float(self.accuracies.std())

    def __str__(self) -> str:
        return f"{self.mean:.4f} ± {self.std:.4f}"


def kfold_verification(
    scores: Any, same: Any, num_folds: int = 10, folds: Any = None, seed: int = 0
) -> KFoldResult:
    """LFW-style k-fold verification accuracy.

    For each fold, the best-accuracy threshold (:func:`best_threshold`) is chosen
    on the other folds and applied to the held-out one.

    Args:
        scores: ``(P,)`` pair scores.
        same: ``(P,)`` True for genuine pairs.
        num_folds: number of folds when ``folds`` is not given.
        folds: optional ``(P,)`` fold index of each pair, e.g. the official LFW
            folds (:attr:`facelab.data.real.LfwPairs.folds`); ``num_folds`` is then ignored.
        seed: seed of the stratified split used when ``folds`` is None
            (``sklearn.model_selection.StratifiedKFold``).

    Returns:
        Per-fold accuracies and thresholds, their mean and std.
    """
    s, y = check_scores(scores, same)
    if folds is None:
        if isinstance(num_folds, bool) or not isinstance(num_folds, (int, np.integer)) or num_folds < 2:
            raise ValueError(f"num_folds must be an integer >= 2, got {num_folds!r}.")
        smallest = min(int(y.sum()), int((~y).sum()))
        if smallest < num_folds:
            raise ValueError(
                f"{num_folds} folds need at least {num_folds} genuine and {num_folds} impostor pairs, "
                f"got only {smallest} of one kind; lower num_folds or make more pairs."
            )
        fold_of = np.empty(len(s), dtype=np.int64)
        splitter = StratifiedKFold(n_splits=int(num_folds), shuffle=True, random_state=seed)
        for k, (_, test) in enumerate(splitter.split(s, y)):
            fold_of[test] = k
    else:
        fold_of = to_numpy(folds)
        if fold_of.shape != s.shape or not np.issubdtype(fold_of.dtype, np.integer):
            raise ValueError(
                f"folds must be a ({len(s)},) integer array, one fold index per pair; "
                f"got shape {fold_of.shape}, dtype {fold_of.dtype}."
            )
    fold_ids = np.unique(fold_of)
    if len(fold_ids) < 2:
        raise ValueError(f"k-fold evaluation needs at least 2 folds, got fold ids {fold_ids.tolist()}.")
    accuracies, thresholds = [], []
    for f in fold_ids:
        test = fold_of == f
        train_y = y[~test]
        if train_y.all() or not train_y.any():
            raise ValueError(f"the folds other than {f} hold only one kind of pair; each fold needs both kinds.")
        t = best_threshold(s[~test], train_y)
        thresholds.append(t)
        accuracies.append(float(((s[test] >= t) == y[test]).mean()))
    return KFoldResult(np.array(accuracies), np.array(thresholds))


