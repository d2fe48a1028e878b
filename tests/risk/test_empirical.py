"""Empirical frequencies and their exact intervals."""

from __future__ import annotations

import pytest
from scipy import stats

from mrm_gate.risk import RiskInputError, empirical_frequencies


def test_counts_and_exact_intervals() -> None:
    d = [-0.05, 0.02, 0.08, 0.12, 0.5, 0.3, 0.0, -0.2, 0.09, 0.15]
    f = empirical_frequencies(d, margin_ratio=0.1, ybar=0.25)
    assert (f.mr2.count, f.mr1.count, f.mr3.count) == (2, 4, 2)  # 0.0 counts as covered
    assert f.situation == [2, 1, 1, 0, 3, 3, 1, 2, 1, 0]
    assert f.mr2.value == 0.2
    ci = stats.binomtest(2, 10).proportion_ci(confidence_level=0.95, method="exact")
    assert (f.mr2.low, f.mr2.high) == pytest.approx((ci.low, ci.high))


def test_zero_events_still_have_an_informative_interval() -> None:
    f = empirical_frequencies([0.05] * 10, margin_ratio=0.1)
    assert f.mr2.value == 0.0 and f.mr2.low == 0.0
    assert f.mr2.high == pytest.approx(1 - 0.025 ** (1 / 10))  # Clopper-Pearson upper bound
    assert f.mr3 is None


def test_per_period_margin_ratios() -> None:
    f = empirical_frequencies([0.05, 0.15], margin_ratio=[0.1, 0.2])
    assert f.mr1.count == 2


def test_bad_inputs() -> None:
    with pytest.raises(RiskInputError, match="needs at least 1 periods"):
        empirical_frequencies([], margin_ratio=0.1)
    with pytest.raises(RiskInputError, match="same length"):
        empirical_frequencies([0.1, 0.2], margin_ratio=[0.1, 0.2, 0.3])
    with pytest.raises(RiskInputError, match="confidence must be strictly between 0 and 1"):
        empirical_frequencies([0.1], margin_ratio=0.1, confidence=1.0)
