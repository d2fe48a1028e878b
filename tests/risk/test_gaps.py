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
    # with margin: (EL + margin - RL) / EL = D + margin / EL
    np.testing.assert_allclose(gaps(el, rl, margin=mg), [0.2, -0.05, 0.1])
    np.testing.assert_allclose(margin_ratios(el, mg), [0.1, 0.1, 0.1])
    np.testing.assert_allclose(gaps(el, rl, margin=10.0), [0.2, -0.1, 0.2])


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
