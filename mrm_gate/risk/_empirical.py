"""Empirical (distribution-free) frequencies of the three situations, with exact intervals.

A backtest has few periods, and the normal closed forms lean on an assumption the data may
reject; the observed frequencies need none. Each period is classified with its own margin ratio:

    situation 2: D^M_k < 0             (realised loss above expected loss + margin)
    situation 1: 0 <= D^M_k <= m_k     (underestimation covered by the margin)
    situation 3: D^M_k > ybar          (gross overestimation)

Intervals are Clopper-Pearson (exact binomial): a percentile bootstrap of a frequency of 0 out
of 10 would give the useless interval [0, 0], while Clopper-Pearson gives [0, 0.31] at 95%.
They assume independent periods; `check_assumptions` says whether that holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from . import _constants as C
from ._validation import as_series, finite_number, need_periods, probability_level, same_length


@dataclass(frozen=True)
class Frequency:
    """Observed count out of n, the frequency, and its exact confidence interval."""

    count: int
    n: int
    value: float
    low: float
    high: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "n": self.n,
            "value": self.value,
            "interval": [self.low, self.high],
        }


def _frequency(count: int, n: int, confidence: float) -> Frequency:
    ci = stats.binomtest(count, n).proportion_ci(confidence_level=confidence, method="exact")
    return Frequency(count=count, n=n, value=count / n, low=float(ci.low), high=float(ci.high))


@dataclass(frozen=True)
class EmpiricalFrequencies:
    mr1: Frequency
    mr2: Frequency
    mr3: Frequency | None
    confidence: float
    situation: list[int] = field(default_factory=list)  # per period: 1, 2, 3 or 0 (none)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mr1": self.mr1.to_dict(),
            "mr2": self.mr2.to_dict(),
            "mr3": None if self.mr3 is None else self.mr3.to_dict(),
            "confidence": self.confidence,
            "situation": list(self.situation),
        }


def empirical_frequencies(
    gaps: ArrayLike,
    *,
    margin_ratio: ArrayLike,
    ybar: float | None = None,
    confidence: float = 0.95,
) -> EmpiricalFrequencies:
    """Observed frequencies of situations 1-3 in a D^M series, with Clopper-Pearson intervals.

    `margin_ratio` is a scalar or one ratio per period.
    """
    d = as_series("gaps", gaps)
    need_periods(d.size, C.MIN_PERIODS_EMPIRICAL, "the empirical variant")
    m = as_series("margin_ratio", margin_ratio)
    if m.size == 1:
        m = np.full_like(d, m[0])
    same_length(gaps=d, margin_ratio=m)
    level = probability_level("confidence", confidence)
    y = None if ybar is None else finite_number("ybar", ybar)
    s2 = d < 0
    s1 = (d >= 0) & (d <= m)
    s3 = np.zeros_like(s2) if y is None else d > y
    situation = np.where(s2, 2, np.where(s1, 1, np.where(s3, 3, 0)))
    n = int(d.size)
    return EmpiricalFrequencies(
        mr1=_frequency(int(s1.sum()), n, level),
        mr2=_frequency(int(s2.sum()), n, level),
        mr3=None if y is None else _frequency(int(s3.sum()), n, level),
        confidence=level,
        situation=[int(s) for s in situation],
    )
