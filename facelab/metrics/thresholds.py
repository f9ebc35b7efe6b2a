"""Decision thresholds of a verifier, read off its impostor scores."""
from __future__ import annotations

import numpy as np

__all__ = ["threshold_at_far"]


def threshold_at_far(scores: np.ndarray, same: np.ndarray, far: float) -> float:
    """The lowest threshold whose false accept rate on these impostor pairs is at most ``far``.

    A pair is accepted when its score is ``>= threshold``; the threshold sits just
    above the ``floor(far * n_impostor) + 1``-th highest impostor score.

    Args:
        scores: ``(P,)`` pair scores.
        same: ``(P,)`` True for genuine pairs.
        far: target false accept rate in ``(0, 1)``.

    Raises:
        ValueError: a FAR outside ``(0, 1)``, or no impostor pairs.
    """
    if not 0 < far < 1:
        raise ValueError(f"far must be in (0, 1), got {far}.")
    impostor = np.sort(np.asarray(scores, dtype=np.float64)[~np.asarray(same, dtype=bool)])[::-1]
    if impostor.size == 0:
        raise ValueError("no impostor pairs: a threshold for a FAR needs pairs of different people.")
    k = int(np.floor(far * impostor.size))
    if k >= impostor.size:
        return float(impostor[-1])
    return float(np.nextafter(impostor[k], np.inf))
