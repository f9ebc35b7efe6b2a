"""Verification pairs: genuine (same person) and impostor pairs drawn from identity labels."""
from __future__ import annotations

from typing import Any

import numpy as np

from facelab.metrics.classification import to_numpy

__all__ = ["make_pairs"]

_ENUMERATE_LIMIT = 2_000_000  # below this many candidate pairs, list them all


def _count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}.")
    return int(value)


def _unrank_pairs(t: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map indices ``t`` of the pairs ``(a, b), 0 <= a < b < c`` (row-major) to ``(a, b)``."""
    t, c = t.astype(np.int64), np.broadcast_to(np.asarray(c, dtype=np.int64), t.shape)

    def start(a: np.ndarray) -> np.ndarray:  # index of the first pair in row a
        return a * (2 * c - a - 1) // 2

    m = 2.0 * c - 1.0
    a = np.floor((m - np.sqrt(np.maximum(m * m - 8.0 * t, 0.0))) / 2.0).astype(np.int64)
    a = np.clip(a, 0, c - 2)
    for _ in range(3):  # fix float round-off of the closed form
        a = np.where(start(a) > t, a - 1, a)
        a = np.where((a + 1 <= c - 2) & (start(a + 1) <= t), a + 1, a)
    return a, t - start(a) + a + 1


def make_pairs(
    labels: Any, num_genuine: int, num_impostor: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Sample distinct genuine and impostor pairs of images from identity labels.

    Genuine pairs are drawn uniformly without replacement from all pairs of two
    different images of one person, impostor pairs from all pairs of images of
    two different people. No image is paired with itself and no unordered pair
    repeats.

    Args:
        labels: ``(N,)`` identity label of each image.
        num_genuine: number of same-person pairs.
        num_impostor: number of different-person pairs.
        seed: seed of the sampler; the same inputs and seed give the same pairs.

    Returns:
        ``(pairs, same)``: ``(P, 2)`` int64 image indices with ``i < j`` per row,
        genuine pairs first, and ``(P,)`` bool, True for genuine pairs.

    Raises:
        ValueError: more pairs requested than exist, e.g. genuine pairs when
            every identity has a single image.
    """
    y = to_numpy(labels)
    if y.ndim != 1:
        raise ValueError(f"labels must be a 1-D vector of identity ids, got shape {y.shape}.")
    num_genuine, num_impostor = _count(num_genuine, "num_genuine"), _count(num_impostor, "num_impostor")
    if num_genuine + num_impostor == 0:
        raise ValueError("ask for at least one pair (num_genuine + num_impostor > 0).")
    rng = np.random.default_rng(seed)
    n = y.shape[0]
    _, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    counts = counts.astype(np.int64)
    per_identity = counts * (counts - 1) // 2
    available_genuine = int(per_identity.sum())
    available_impostor = n * (n - 1) // 2 - available_genuine

    if num_genuine > available_genuine:
        raise ValueError(
            f"asked for {num_genuine} genuine pairs but these labels give only {available_genuine} "
            f"({int((counts >= 2).sum())} of {len(counts)} identities have two or more images); "
            "genuine pairs need identities with several images: lower num_genuine or keep "
            "identities with >= 2 images (e.g. min_faces_per_person)."
        )
    if num_impostor > available_impostor:
        raise ValueError(
            f"asked for {num_impostor} impostor pairs but these labels give only {available_impostor} "
            f"({len(counts)} identit{'y' if len(counts) == 1 else 'ies'}); impostor pairs need images of "
            "at least two people: lower num_impostor or pass more identities."
        )

    # Genuine: a uniform sample of linear indices over all same-identity pairs.
    members = np.argsort(inverse, kind="stable")  # image indices grouped by identity
    first_member = np.concatenate(([0], np.cumsum(counts)[:-1]))
    chosen = np.sort(rng.choice(available_genuine, size=num_genuine, replace=False))
    ends = np.cumsum(per_identity)
    ident = np.searchsorted(ends, chosen, side="right")
    a, b = _unrank_pairs(chosen - (ends[ident] - per_identity[ident]), counts[ident])
    genuine = np.stack([members[first_member[ident] + a], members[first_member[ident] + b]], axis=1)

    # Impostor: sample linear indices over all pairs, keep those of different identities.
    total = n * (n - 1) // 2
    if num_impostor == 0:
        impostor = np.zeros((0, 2), dtype=np.int64)
    elif total <= _ENUMERATE_LIMIT:
        i, j = np.triu_indices(n, k=1)
        keep = np.flatnonzero(inverse[i] != inverse[j])
        pick = np.sort(rng.choice(keep, size=num_impostor, replace=False))
        impostor = np.stack([i[pick], j[pick]], axis=1)
    else:
        found: dict[int, None] = {}
        batch = int(2 * num_impostor * total / max(available_impostor, 1)) + 64
        for _ in range(1000):
            cand = rng.integers(0, total, size=batch)
            ci, cj = _unrank_pairs(cand, n)
            for k in cand[inverse[ci] != inverse[cj]].tolist():
                found.setdefault(k, None)
            if len(found) >= num_impostor:
                break
        else:
            raise RuntimeError(f"could not sample {num_impostor} distinct impostor pairs; ask for fewer.")
        pick = np.sort(np.fromiter(found, dtype=np.int64)[:num_impostor])
        impostor = np.stack(_unrank_pairs(pick, n), axis=1)

    pairs = np.concatenate([genuine, impostor]).astype(np.int64)
    same = np.concatenate([np.ones(num_genuine, bool), np.zeros(num_impostor, bool)])
    return pairs, same
