"""The gap series (section 3) and its input validation."""

from __future__ import annotations

import numpy as np
import pytest

from mrm_gate.risk import RiskInputError, gaps, margin_ratios


def test_hand_computed_gaps() -> None:
    el = [100.0, 200.0, 50.0]
    rl = [90.0, 230.0, 50.0]
    mg = [10.0, 20.0, 5.0]
    np.testing.assert_allclose(gaps(el, rl), [0.1, -0.15, 0.0])
    # the paper (section 3.2): D^M = (EL^M - RL) / EL^M with EL^M = EL + margin
    np.testing.assert_allclose(gaps(el, rl, margin=mg), [20 / 110, -10 / 220, 5 / 55])
    # M^ = M / EL^M
    np.testing.assert_allclose(margin_ratios(el, mg), [10 / 110, 20 / 220, 5 / 55])
    np.testing.assert_allclose(gaps(el, rl, margin=10.0), [20 / 110, -20 / 210, 10 / 60])
    # without a margin both scalings give D
    np.testing.assert_allclose(gaps(el, rl, scaling="expected_loss"), gaps(el, rl))


def test_expected_loss_scaling_is_the_named_legacy_option() -> None:
    el = [100.0, 200.0, 50.0]
    rl = [90.0, 230.0, 50.0]
    mg = [10.0, 20.0, 5.0]
    # (EL + margin - RL) / EL = D + margin / EL: a pure shift by the margin ratio
    np.testing.assert_allclose(gaps(el, rl, margin=mg, scaling="expected_loss"), [0.2, -0.05, 0.1])
    np.testing.assert_allclose(margin_ratios(el, mg, scaling="expected_loss"), [0.1, 0.1, 0.1])
    with pytest.raises(RiskInputError, match="unknown gap scaling 'el'"):
        gaps(el, rl, margin=mg, scaling="el")


@pytest.mark.parametrize("m", [0.0, 0.05, 0.3])
def test_mean_of_unbiased_gap_with_margin_is_m_hat(m: float) -> None:
    """E(D^M) = M^ = M_amount / EL^Margin for an unbiased model (paper, section 3.2), by
    simulation: RL with mean EL, margin m x EL."""
    rng = np.random.default_rng(1)
    el = rng.uniform(50, 150, 200_000)
    rl = el * (1 + 0.2 * rng.standard_normal(el.size))
    d = gaps(el, rl, margin=m * el)
    m_hat = margin_ratios(el, m * el)
    assert m_hat[0] == pytest.approx(m / (1 + m))
    assert d.mean() == pytest.approx(m_hat.mean(), abs=4 * d.std() / np.sqrt(d.size))
    # D^M = (m + D) / (1 + m): the sign, hence MR2 = P(D^M < 0) = P(D < -m), is scale-free
    np.testing.assert_allclose(d, (m + gaps(el, rl)) / (1 + m))


@pytest.mark.parametrize(
    ("el", "rl", "margin", "message"),
    [
        ([100, 0, 50], [1, 2, 3], None, r"expected_loss must be > 0.*\[0\.0\] at positions 1"),
        ([100, -5, 50], [1, 2, 3], None, "expected_loss must be > 0"),
        ([100, np.nan, 50], [1, 2, 3], None, "expected_loss has missing or non-finite values"),
        ([100, 50], [1, 2, 3], None, "must have the same length"),
        ([100, 50], [1, np.inf], None, "realised_loss has missing or non-finite values"),
        ([100, 50], [1, 2], [1, -1], "margin must be >= 0"),
        ([100, 50], [1, 2], [1, 2, 3], "must have the same length"),
        ([[100, 50]], [[1, 2]], None, "one-dimensional"),
        (["a", "b"], [1, 2], None, "expected_loss must be numeric"),
    ],
)
def test_bad_inputs(el, rl, margin, message: str) -> None:
    with pytest.raises(RiskInputError, match=message):
        gaps(el, rl, margin=margin)


def test_errors_name_periods_when_labels_are_given() -> None:
    with pytest.raises(RiskInputError, match="periods 2019Q2"):
        gaps([1.0, 0.0], [1.0, 1.0], labels=["2019Q1", "2019Q2"])
