"""Demographic differentials of a verifier: error rates per group at one global threshold.

NIST's demographic study of face recognition (Grother, Ngan & Hanaoka 2019, FRVT
part 3) reports, for one threshold set on all impostor comparisons, the false
non-match rate (FNMR: genuine pairs rejected) of each group and the false match
rate (FMR: impostor pairs accepted) of impostor pairs *within* a group, because
impostors of the same sex, age and origin look more alike and are the ones a
system confuses. :func:`group_error_rates` computes both, with a bootstrap over
identities (pairs of one person are not independent, so resampling pairs would
make the intervals too narrow).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from facelab.metrics.classification import to_numpy

__all__ = ["GroupRates", "group_error_rates"]


@dataclass
class GroupRates:
    """Error rates of one group of one attribute.

    Attributes:
        attribute, value: e.g. ``"tone"`` and ``1``.
        fnmr: share of the group's genuine pairs rejected; ``fnmr_ci`` its 95% bootstrap interval.
        fmr: share of the group's within-group impostor pairs accepted; ``fmr_ci`` its interval.
        num_genuine, num_impostor: pairs behind each rate.
        num_identities: identities of the group.
    """

    attribute: str
    value: int
    fnmr: float
    fnmr_ci: tuple[float, float]
    fmr: float
    fmr_ci: tuple[float, float]
    num_genuine: int
    num_impostor: int
    num_identities: int


def _rate_ci(errors: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """2.5 and 97.5 percentiles of weighted error rates, one per bootstrap row of ``weights``."""
    total = weights.sum(1)
    rates = (weights @ errors.astype(np.float64))[total > 0] / total[total > 0]
    if rates.size == 0:
        return float("nan"), float("nan")
    low, high = np.percentile(rates, [2.5, 97.5])
    return float(low), float(high)


def group_error_rates(
    scores: Any,
    same: Any,
    pairs: Any,
    labels: Any,
    groups: dict[str, Any],
    threshold: float,
    num_bootstrap: int = 200,
    seed: int = 0,
) -> list[GroupRates]:
    """FNMR and within-group FMR of every value of every group attribute, at one threshold.

    A pair is accepted when its score is ``>= threshold``. Genuine pairs belong to
    their person's group; impostor pairs count for a group only when both people
    belong to it (cross-group impostor pairs are left out, as in FRVT part 3).

    Args:
        scores: ``(P,)`` pair scores.
        same: ``(P,)`` True for genuine pairs.
        pairs: ``(P, 2)`` image indices of each pair.
        labels: ``(N,)`` identity of each image.
        groups: ``{attribute: (N,) group value of each image}``, e.g. a
            ``FaceTensorDataset``'s ``groups``.
        threshold: the global decision threshold.
        num_bootstrap: identity-level bootstrap resamples for the intervals (0: none, NaN intervals).
        seed: seed of the bootstrap.

    Returns:
        One :class:`GroupRates` per (attribute, value), attributes in the given order,
        values ascending.

    Raises:
        ValueError: inconsistent shapes, or a group attribute that varies within a person.
    """
    s, y = to_numpy(scores).astype(np.float64), to_numpy(same).astype(bool)
    p, ids = to_numpy(pairs).astype(np.int64), to_numpy(labels).astype(np.int64)
    if s.shape != y.shape or p.shape != (s.size, 2):
        raise ValueError(f"scores {s.shape}, same {y.shape} and pairs {p.shape} must describe the same P pairs: "
                         "(P,), (P,) and (P, 2).")
    if p.size and (p.min() < 0 or p.max() >= ids.size):
        raise ValueError(f"pair indices must index the {ids.size} labels, got range [{p.min()}, {p.max()}].")
    _, person = np.unique(ids, return_inverse=True)  # identities renumbered 0..K-1
    num_people = int(person.max()) + 1 if person.size else 0
    person_a, person_b = person[p[:, 0]], person[p[:, 1]]
    accepted = s >= threshold
    rng = np.random.default_rng(seed)
    # bootstrap weights: how often each person is drawn; a pair counts (weight of a) x (weight of b) times
    draws = rng.integers(0, num_people, size=(num_bootstrap, num_people))
    person_weights = np.stack([np.bincount(row, minlength=num_people) for row in draws]).astype(np.float64) \
        if num_bootstrap else np.zeros((0, num_people))
    pair_w = person_weights[:, person_a] * person_weights[:, person_b]  # (B, P)
    results: list[GroupRates] = []
    for attribute, values in groups.items():
        g = to_numpy(values).astype(np.int64)
        if g.shape != ids.shape:
            raise ValueError(f"group {attribute!r} has shape {g.shape}, expected one value per image {ids.shape}.")
        person_group = np.full(num_people, -1)
        person_group[person] = g
        if not np.array_equal(person_group[person], g):
            raise ValueError(f"group {attribute!r} differs between images of one person; group attributes must "
                             "be properties of the person (e.g. FaceTensorDataset.groups of synthetic faces).")
        for value in np.unique(g).tolist():
            in_a, in_b = person_group[person_a] == value, person_group[person_b] == value
            genuine, impostor = y & in_a, ~y & in_a & in_b
            genuine_w = person_weights[:, person_a[genuine]]  # a genuine pair's weight is its person's count
            results.append(GroupRates(
                attribute=attribute,
                value=int(value),
                fnmr=float((~accepted[genuine]).mean()) if genuine.any() else float("nan"),
                fnmr_ci=_rate_ci(~accepted[genuine], genuine_w),
                fmr=float(accepted[impostor].mean()) if impostor.any() else float("nan"),
                fmr_ci=_rate_ci(accepted[impostor], pair_w[:, impostor]),
                num_genuine=int(genuine.sum()),
                num_impostor=int(impostor.sum()),
                num_identities=int((person_group == value).sum()),
            ))
    return results
