"""Closed forms of sections 4 and 6 against identities, scipy, hand computations and Monte Carlo.

Tolerances: identities and scipy cross-checks to 1e-12 (they are the same numbers computed two
ways); Monte Carlo to 4 standard errors of the simulated estimate (sqrt(p(1-p)/N) for a
probability), fixed seeds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from mrm_gate.risk import (
    RiskInputError,
    fit_normal,
    loss_given_model_risk,
    model_risk_probabilities,
    required_margin_ratio,
)
from mrm_gate.risk import _constants as C

N_MC = 400_000


@pytest.mark.parametrize("alpha", [0.001, 0.01, 0.05, 0.1, 0.25, 0.4])
@pytest.mark.parametrize("sigma", [0.01, 0.2, 3.0])
def test_alpha_identities(alpha: float, sigma: float) -> None:
    m = required_margin_ratio(sigma, alpha=alpha)
    assert m == pytest.approx(stats.norm.ppf(1 - alpha) * sigma, rel=1e-14)
    p = model_risk_probabilities(m, sigma)
    assert p.mr1 == pytest.approx(0.5 - alpha, abs=1e-12)
    assert p.mr2 == pytest.approx(alpha, abs=1e-12)


def test_hand_computed_example() -> None:
    # m = 0.1, sigma = 0.1: MR1 = N(1) - 1/2 = 0.341344746..., MR2 = 1 - N(1) = 0.158655254...
    # ybar = 0.3: MR3 = 1 - N((0.3 - 0.1)/0.1) = 1 - N(2) = 0.022750131948179
    p = model_risk_probabilities(0.1, 0.1, ybar=0.3)
    assert p.mr1 == pytest.approx(0.341344746068543, abs=1e-12)
    assert p.mr2 == pytest.approx(0.158655253931457, abs=1e-12)
    assert p.mr3 == pytest.approx(0.022750131948179, abs=1e-12)
    assert p.mean == 0.1 and not p.degenerate


def test_shift_matches_general_normal_probabilities() -> None:
    # shift -0.05: D^M ~ N(0.05, 0.1^2); MR2 = N(-0.5), MR1 = N(0.5) - N(-0.5)
    p = model_risk_probabilities(0.1, 0.1, ybar=0.3, shift=-0.05)
    assert p.mr2 == pytest.approx(stats.norm.cdf(-0.5), abs=1e-12)
    assert p.mr1 == pytest.approx(stats.norm.cdf(0.5) - stats.norm.cdf(-0.5), abs=1e-12)
    assert p.mr3 == pytest.approx(stats.norm.sf(2.5), abs=1e-12)


@pytest.mark.parametrize(
    ("m", "sigma", "shift", "ybar"), [(0.1, 0.15, 0.0, 0.4), (0.2, 0.1, -0.3, 0.5)]
)
def test_monte_carlo_agrees(m: float, sigma: float, shift: float, ybar: float) -> None:
    p = model_risk_probabilities(m, sigma, ybar=ybar, shift=shift)
    x = np.random.default_rng(7).normal(m + shift, sigma, N_MC)
    for value, hits in ((p.mr1, (x >= 0) & (x <= m)), (p.mr2, x <= 0), (p.mr3, x > ybar)):
        se = math.sqrt(value * (1 - value) / N_MC)
        assert abs(hits.mean() - value) <= 4 * se + 1e-12


def test_sigma_zero_is_a_documented_point_mass() -> None:
    assert model_risk_probabilities(0.1, 0.0, ybar=0.3).to_dict() | {} == {
        "mr1": 1.0,
        "mr2": 0.0,
        "mr3": 0.0,
        "mean": 0.1,
        "sigma": 0.0,
        "margin_ratio": 0.1,
        "ybar": 0.3,
        "degenerate": True,
    }
    under = model_risk_probabilities(0.1, 0.0, shift=-0.2)
    assert (under.mr1, under.mr2) == (0.0, 1.0)
    assert loss_given_model_risk(mean=-0.1, sigma=0.0) == pytest.approx(0.1)
    assert loss_given_model_risk(mean=0.1, sigma=0.0) == 0.0


@pytest.mark.parametrize(("mean", "sigma"), [(0.1, 0.1), (0.0, 0.2), (-0.3, 0.1), (0.05, 0.4)])
def test_lgmr2_is_the_truncated_normal_mean(mean: float, sigma: float) -> None:
    # E[X | X <= 0] for X ~ N(mean, sigma^2) = mean of the normal truncated to (-inf, 0]
    b = (0.0 - mean) / sigma
    expected = abs(stats.truncnorm(-np.inf, b, loc=mean, scale=sigma).mean())
    assert loss_given_model_risk(mean=mean, sigma=sigma) == pytest.approx(expected, rel=1e-10)


def test_lgmr2_hand_value_and_monte_carlo() -> None:
    # mean 0: E[X | X <= 0] = -sigma * phi(0) / (1/2) = -sigma * sqrt(2/pi)
    assert loss_given_model_risk(mean=0.0, sigma=0.3) == pytest.approx(0.3 * math.sqrt(2 / math.pi))
    x = np.random.default_rng(3).normal(0.1, 0.2, N_MC)
    tail = -x[x <= 0]
    value = loss_given_model_risk(mean=0.1, sigma=0.2)
    assert abs(tail.mean() - value) <= 4 * tail.std() / math.sqrt(tail.size)


def test_lgmr2_stays_finite_where_the_naive_formula_underflows() -> None:
    # N(-40) underflows to 0 in double precision: the naive ratio is 0/0; the tail mean of a
    # normal far above 0 tends to 0 from below as sigma^2 / mean.
    value = loss_given_model_risk(mean=4.0, sigma=0.1)
    assert math.isfinite(value)
    assert value == pytest.approx(0.1**2 / 4.0, rel=2e-3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"margin_ratio": 0.1, "sigma": -1.0}, "sigma must be >= 0"),
        ({"margin_ratio": float("nan"), "sigma": 0.1}, "margin_ratio must be a finite number"),
        ({"margin_ratio": 0.1, "sigma": 0.1, "ybar": 0.05}, "must be greater than the margin"),
        ({"margin_ratio": 0.1, "sigma": float("inf")}, "sigma must be a finite number"),
    ],
)
def test_bad_parameters(kwargs: dict, message: str) -> None:
    with pytest.raises(RiskInputError, match=message):
        model_risk_probabilities(**kwargs)


@pytest.mark.parametrize("alpha", [0.0, 0.5, 0.7, -0.1])
def test_bad_alpha(alpha: float) -> None:
    with pytest.raises(RiskInputError, match="alpha must be strictly between 0 and 1/2"):
        required_margin_ratio(0.1, alpha=alpha)


def test_fit_normal_reports_bias_and_both_variants() -> None:
    d = np.array([0.15, 0.05, 0.2, -0.1, 0.1, 0.0])  # mean 0.4/6, sd by hand below
    fit = fit_normal(d, margin_ratio=0.1)
    assert fit.mean == pytest.approx(0.4 / 6)
    assert fit.sigma == pytest.approx(np.sqrt(((d - d.mean()) ** 2).sum() / 5))
    assert fit.bias == pytest.approx(0.4 / 6 - 0.1)
    assert fit.probabilities(variant="paper").mean == pytest.approx(0.1)
    assert fit.probabilities(variant="fitted").mean == pytest.approx(fit.mean)
    with pytest.raises(RiskInputError, match="unknown variant"):
        fit.probabilities(variant="bayes")


def test_fit_normal_bad_inputs() -> None:
    with pytest.raises(RiskInputError, match="needs at least 3 periods, the backtest has 2"):
        fit_normal([0.1, 0.2], margin_ratio=0.1)
    with pytest.raises(RiskInputError, match=r"constant \(standard deviation 0\)"):
        fit_normal([0.1] * 8, margin_ratio=0.1)
    with pytest.raises(RiskInputError, match="missing or non-finite values at positions 1"):
        fit_normal([0.1, np.nan, 0.3], margin_ratio=0.1)


def test_messages_are_constants() -> None:
    # the checks and the CLI match on these texts; keep them formatted, not ad hoc
    assert "{need}" in C.TOO_FEW_PERIODS and "{b" in C.NO_MEAN_REVERSION


def test_public_api_doctest() -> None:
    import doctest

    import mrm_gate.risk

    assert doctest.testmod(mrm_gate.risk).failed == 0
