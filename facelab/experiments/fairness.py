"""Chapter 07's group differentials: FNMR and within-group FMR per group at one global threshold.

The rates and their identity-bootstrap intervals are :func:`facelab.metrics.fairness.group_error_rates`;
the threshold is set on all impostor pairs at the overall FMR ``far`` (:func:`facelab.metrics.thresholds.threshold_at_far`).
The synthetic faces carry group attributes (``tone``, ``hair_long``); real face sets here do not.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from facelab.data.base import FaceTensorDataset
from facelab.metrics.fairness import GroupRates, group_error_rates
from facelab.metrics.thresholds import threshold_at_far

__all__ = ["GroupResult", "group_differentials"]


@dataclass
class GroupResult:
    """Per-group error rates at one global threshold.

    Attributes:
        threshold, far_target: the global threshold and the overall FAR it was set for.
        overall_fmr, overall_fnmr: rates over all pairs.
        rates: one :class:`facelab.metrics.fairness.GroupRates` per group value.
    """

    threshold: float
    far_target: float
    overall_fmr: float
    overall_fnmr: float
    rates: list[GroupRates]

    def table(self) -> str:
        """A plain-text table of the rates with their 95% intervals."""
        header = f"{'group':<14}{'people':>7}{'FNMR':>8}{'95% CI':>17}{'FMR':>9}{'95% CI':>19}"
        lines = [header, "-" * len(header)]
        for r in self.rates:
            lines.append(f"{r.attribute + '=' + str(r.value):<14}{r.num_identities:>7}{r.fnmr:>8.3f}"
                         f"  [{r.fnmr_ci[0]:.3f}, {r.fnmr_ci[1]:.3f}]{r.fmr:>9.4f}"
                         f"  [{r.fmr_ci[0]:.4f}, {r.fmr_ci[1]:.4f}]")
        lines.append(f"{'all':<14}{'':>7}{self.overall_fnmr:>8.3f}{'':>17}{self.overall_fmr:>9.4f}")
        return "\n".join(lines)

    def get(self, attribute: str, value: int) -> GroupRates:
        """The rates of one group, e.g. ``result.get("tone", 1)``."""
        for r in self.rates:
            if r.attribute == attribute and r.value == value:
                return r
        raise KeyError(f"no group {attribute}={value}; groups are "
                       f"{sorted({(r.attribute, r.value) for r in self.rates})}.")


def group_differentials(scores: Any, unseen: FaceTensorDataset, far: float = 1e-2,
                        num_bootstrap: int = 200, seed: int = 0) -> GroupResult:
    """FNMR and within-group FMR per group attribute of ``unseen``, at the global FAR threshold.

    Args:
        scores: :class:`facelab.experiments.evaluation.VerificationScores` of pairs of
            ``unseen`` (with ``pairs`` set), e.g. ``verification_scores(run, split)``.
        unseen: the faces the pairs index, with ``groups`` (synthetic faces: ``tone``, ``hair_long``).
        far: the overall FAR that sets the one global threshold.
        num_bootstrap, seed: identity bootstrap of the intervals.
    """
    if scores.pairs is None or not unseen.groups:
        raise ValueError("need pair indices (scores.pairs) and group attributes (unseen.groups); use "
                         "verification_scores(run, split) on synthetic faces, whose datasets carry groups.")
    s, y = scores.scores, scores.same
    threshold = threshold_at_far(s, y, far)
    rates = group_error_rates(s, y, scores.pairs, unseen.labels, unseen.groups, threshold,
                              num_bootstrap=num_bootstrap, seed=seed)
    return GroupResult(threshold, far, float((s[~y] >= threshold).mean()), float((s[y] < threshold).mean()),
                       rates)
