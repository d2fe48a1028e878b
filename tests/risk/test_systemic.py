"""External-factor variant: OLS on the previous period's factors, with standard errors."""

from __future__ import annotations

import numpy as np
import pytest

from mrm_gate.risk import RiskInputError, fit_systemic, systemic_probabilities
from mrm_gate.risk._normal import model_risk_probabilities


def _data(n: int = 40, seed: int = 2) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    u = 6 + np.cumsum(rng.normal(0, 0.4, n))
    g = rng.normal(1.5, 1.0, n)
    d = np.empty(n)
    d[0] = 0.1
    d[1:] = 0.5 - 0.06 * u[:-1] + 0.02 * g[:-1] + rng.normal(0, 0.05, n - 1)
    return d, {"unemployment": u, "gdp_growth": g}


def test_coefficients_and_standard_errors_match_statsmodels() -> None:
    sm = pytest.importorskip("statsmodels.api")
    d, f = _data()
    fit = fit_systemic(d, f, margin_ratio=0.1)
    x = sm.add_constant(np.column_stack([f["unemployment"][:-1], f["gdp_growth"][:-1]]))
    ref = sm.OLS(d[1:], x).fit()
    np.testing.assert_allclose([fit.intercept, *fit.coef], ref.params, rtol=1e-10)
    np.testing.assert_allclose([fit.se_intercept, *fit.se], ref.bse, rtol=1e-10)
    np.testing.assert_allclose(fit.p_values, ref.pvalues[1:], rtol=1e-8)
    assert fit.sigma == pytest.approx(np.sqrt(ref.scale))
    assert fit.r2 == pytest.approx(ref.rsquared)
    assert fit.names == ("unemployment", "gdp_growth") and fit.n_obs == 39


def test_shift_uses_latest_factors_or_a_scenario() -> None:
    d, f = _data()
    fit = fit_systemic(d, f, margin_ratio=0.1)
    latest = np.array([f["unemployment"][-1], f["gdp_growth"][-1]])
    mean = fit.intercept + latest @ fit.coef
    p = systemic_probabilities(fit, ybar=0.5)
    ref = model_risk_probabilities(0.1, fit.sigma, ybar=0.5, shift=mean - 0.1)
    assert (p.mr1, p.mr2, p.mr3) == pytest.approx((ref.mr1, ref.mr2, ref.mr3))
    stressed = systemic_probabilities(fit, scenario={"unemployment": latest[0] + 3.0})
    # the fitted phi of unemployment is negative: a rise shifts the gap down, MR2 goes up
    assert fit.coef[0] < 0 and stressed.mr2 > p.mr2
    assert stressed.mean == pytest.approx(mean + 3.0 * fit.coef[0])


def test_without_intercept_is_the_papers_literal_form() -> None:
    d, f = _data()
    fit = fit_systemic(d, {"gdp_growth": f["gdp_growth"]}, margin_ratio=0.1, intercept=False)
    x = f["gdp_growth"][:-1]
    phi = float(x @ (d[1:] - 0.1) / (x @ x))
    assert fit.coef[0] == pytest.approx(phi)
    assert fit.mean_for(np.array([2.0])) == pytest.approx(0.1 + 2.0 * phi)


def test_array_factors_with_names() -> None:
    d, f = _data()
    arr = np.column_stack(list(f.values()))
    fit = fit_systemic(d, arr, names=list(f), margin_ratio=0.1)
    assert fit.names == ("unemployment", "gdp_growth")


@pytest.mark.parametrize(
    ("factors", "n", "message"),
    [
        ({"flat": np.full(20, 5.0)}, 20, "factor 'flat' has no variance"),
        ({"u": np.arange(20.0), "u2": 2 * np.arange(20.0)}, 20, "collinear"),
        ({"u": np.arange(4.0)}, 4, "systemic variant with 1 factor.*needs at least 5 periods"),
        ({"u": np.arange(19.0)}, 20, "same length"),
        ({}, 20, "needs at least one external-factor"),
        ({"u": [1.0, np.nan] + [2.0] * 18}, 20, "factor 'u' has missing"),
    ],
)
def test_bad_factors(factors: dict, n: int, message: str) -> None:
    d = np.random.default_rng(0).normal(0.1, 0.1, n)
    with pytest.raises(RiskInputError, match=message):
        fit_systemic(d, factors, margin_ratio=0.1)


def test_bad_scenario() -> None:
    d, f = _data()
    fit = fit_systemic(d, f, margin_ratio=0.1)
    with pytest.raises(RiskInputError, match="scenario names factor 'inflation'"):
        systemic_probabilities(fit, scenario={"inflation": 3.0})
    with pytest.raises(RiskInputError, match="must be a finite number"):
        systemic_probabilities(fit, scenario={"unemployment": float("nan")})
