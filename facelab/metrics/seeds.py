"""Summaries over seeds: mean, spread, a t-interval of a paired difference, and the words it allows.

A comparison between two settings trained from the same seeds is *paired*: member k of each
starts from the same weights and sees the same data. The interval of the mean paired
difference decides the word the prose may use (``compare_word``): "more" or "less" only when
the interval excludes zero, otherwise "no measurable difference".
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

# two-sided 95 % Student t quantiles by degrees of freedom (scipy-free; 30+ uses the normal value)
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
        10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 25: 2.060, 30: 2.042}


def t95(dof: int) -> float:
    """The 97.5 % quantile of Student's t with ``dof`` degrees of freedom (table, conservative between rows)."""
    if dof < 1:
        raise ValueError(f"t95 needs at least 1 degree of freedom (2 seeds), got {dof}.")
    if dof > 30:
        return 1.96
    return _T95[min(k for k in _T95 if k >= dof)]


@dataclass(frozen=True)
class SeedSummary:
    """``values`` over seeds: their mean, sample standard deviation and 95 % t-interval of the mean."""

    values: tuple[float, ...]
    mean: float
    std: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.mean:.3g} ± {self.std:.2g}"


def summarize(values: Sequence[float]) -> SeedSummary:
    """Mean, standard deviation (``n - 1``) and the 95 % t-interval of the mean of ``values`` (>= 2)."""
    xs = tuple(float(v) for v in values)
    if len(xs) < 2:
        raise ValueError(f"summarize needs values from at least 2 seeds to measure a spread, got {len(xs)}.")
    if not all(math.isfinite(v) for v in xs):
        raise ValueError(f"summarize got non-finite values {xs}; a run diverged, fix it before summarising.")
    n = len(xs)
    mean = sum(xs) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in xs) / (n - 1))
    half = t95(n - 1) * std / math.sqrt(n)
    return SeedSummary(xs, mean, std, mean - half, mean + half)


def paired_difference(a: Sequence[float], b: Sequence[float]) -> SeedSummary:
    """The summary of ``a[k] - b[k]`` over seeds k (the same seeds in the same order)."""
    if len(a) != len(b):
        raise ValueError(f"paired_difference needs one value per seed on both sides, got {len(a)} and {len(b)}.")
    return summarize([x - y for x, y in zip(a, b)])


def compare_word(difference: SeedSummary, more: str = "more", less: str = "less",
                 same: str = "no measurable difference in") -> str:
    """``more`` if the interval of ``difference`` lies above zero, ``less`` if below, else ``same``."""
    if difference.low > 0:
        return more
    if difference.high < 0:
        return less
    return same
