"""Past-value variant: OU fit by exact discretisation, conditional closed forms vs Monte Carlo.

Tolerances: parameter recovery on a 20 000-period simulated path within 4 asymptotic standard
errors (see below); Monte Carlo (Euler-Maruyama, 200 steps, 100 000 paths) within 4 standard
errors of the simulated mean / sd / probabilities plus 1e-3 for the Euler discretisation bias.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from mrm_gate.risk import (
    RiskInputError,
    fit_ou,
    ou_conditional,
    ou_probabilities,
    simulate_ou,
)
from mrm_gate.risk._ou import OUFit

LAM, MU, SIGMA = 0.8, 0.1, 0.25


def _path(n: int, dt: float, seed: int, x0: float = MU) -> np.ndarray:
    return simulate_ou(
        x0=x0,
        lam=LAM,
        mu=MU,
        sigma=SIGMA,
        horizon=dt * (n - 1),
        n_paths=1,
        n_steps=n - 1,
        seed=seed,
        return_paths=True,
    )[0]


@pytest.mark.parametrize("dt", [1.0, 0.25])
def test_fit_recovers_parameters_with_period_length(dt: float) -> None:
    n = 20_000
    fit = fit_ou(_path(n, dt, seed=11), period_length=dt)
    b = math.exp(-LAM * dt)
    # se(b) ~ sqrt((1 - b^2) / n); lambda = -ln(b)/dt so se(lambda) ~ se(b) / (b dt)
    se_lam = math.sqrt((1 - b * b) / n) / (b * dt)
    assert fit.lam == pytest.approx(LAM, abs=4 * se_lam)
    assert fit.b == pytest.approx(b, abs=4 * fit.se_b)
    assert fit.mu == pytest.approx(MU, abs=4 * SIGMA / math.sqrt(2 * LAM) / math.sqrt(n * (1 - b)))
    assert fit.sigma == pytest.approx(SIGMA, rel=0.05)
    assert fit.period_length == dt
    assert fit.half_life == pytest.approx(math.log(2) / fit.lam)


def test_ar1_regression_by_hand() -> None:
    d = np.array([0.1, 0.3, 0.25, 0.28, 0.05, 0.12, 0.1])
    x, y = d[:-1], d[1:]
    b, a = np.polyfit(x, y, 1)
    rss = float(((y - a - b * x) ** 2).sum())
    mle, ols = fit_ou(d, method="mle"), fit_ou(d, method="ols")
    for fit in (mle, ols):
        assert (fit.b, fit.a) == pytest.approx((b, a))
        assert fit.lam == pytest.approx(-math.log(b))
        assert fit.mu == pytest.approx(a / (1 - b))
    assert mle.residual_sd == pytest.approx(math.sqrt(rss / 6))
    assert ols.residual_sd == pytest.approx(math.sqrt(rss / 4))
    assert mle.sigma == pytest.approx(math.sqrt(rss / 6 * 2 * mle.lam / (1 - b * b)))


def test_conditional_closed_form_by_hand() -> None:
    mean, sd = ou_conditional(last=-0.2, horizon=2.0, lam=0.5, mu=0.1, sigma=0.3)
    assert mean == pytest.approx(math.exp(-1) * -0.2 + 0.1 * (1 - math.exp(-1)))
    assert sd == pytest.approx(math.sqrt(0.09 / 1.0 * (1 - math.exp(-2))))
    # long horizon: the stationary law N(mu, sigma^2 / (2 lambda))
    mean, sd = ou_conditional(last=-0.2, horizon=200.0, lam=0.5, mu=0.1, sigma=0.3)
    assert (mean, sd) == pytest.approx((0.1, 0.3))


def _fit(lam: float = LAM, mu: float = MU, sigma: float = SIGMA) -> OUFit:
    b = math.exp(-lam)
    return OUFit(
        lam=lam,
        mu=mu,
        sigma=sigma,
        b=b,
        a=mu * (1 - b),
        se_b=0,
        se_a=0,
        residual_sd=0,
        period_length=1.0,
        n=10,
        method="mle",
    )


@pytest.mark.parametrize(("last", "horizon"), [(-0.3, 1.0), (0.4, 0.5), (0.1, 3.0)])
def test_euler_monte_carlo_agrees_with_closed_forms(last: float, horizon: float) -> None:
    n = 100_000
    x = simulate_ou(
        x0=last,
        lam=LAM,
        mu=MU,
        sigma=SIGMA,
        horizon=horizon,
        n_paths=n,
        n_steps=200,
        seed=5,
        scheme="euler",
    )
    mean, sd = ou_conditional(last=last, horizon=horizon, lam=LAM, mu=MU, sigma=SIGMA)
    assert abs(x.mean() - mean) <= 4 * sd / math.sqrt(n) + 1e-3
    assert abs(x.std() - sd) <= 4 * sd / math.sqrt(2 * n) + 1e-3
    p = ou_probabilities(_fit(), last=last, horizon=horizon, margin_ratio=0.1, ybar=0.4)
    for value, hits in ((p.mr1, (x >= 0) & (x <= 0.1)), (p.mr2, x <= 0), (p.mr3, x > 0.4)):
        assert abs(hits.mean() - value) <= 4 * math.sqrt(value * (1 - value) / n) + 1e-3


def test_paper_printed_variance_formula_disagrees_with_simulation() -> None:
    # The paper standardises by sigma^2/(2 lambda)(1 - e^{-2 lambda t}) (a variance); the
    # simulation follows the standard deviation. Show the gap is material, not a rounding issue.
    last, t = -0.1, 1.0
    x = simulate_ou(
        x0=last, lam=LAM, mu=MU, sigma=SIGMA, horizon=t, n_paths=100_000, n_steps=100, seed=9
    )
    mean, sd = ou_conditional(last=last, horizon=t, lam=LAM, mu=MU, sigma=SIGMA)
    simulated = (x <= 0).mean()
    with_sd = stats.norm.cdf(-mean / sd)
    with_variance = stats.norm.cdf(-mean / sd**2)
    assert abs(simulated - with_sd) < 0.005
    assert abs(simulated - with_variance) > 0.1


def test_exact_scheme_matches_euler() -> None:
    kw = dict(x0=0.3, lam=LAM, mu=MU, sigma=SIGMA, horizon=2.0, n_paths=50_000, seed=1)
    exact, euler = simulate_ou(n_steps=4, **kw), simulate_ou(n_steps=400, scheme="euler", **kw)
    assert exact.mean() == pytest.approx(euler.mean(), abs=0.005)
    assert exact.std() == pytest.approx(euler.std(), abs=0.005)


def test_no_mean_reversion_is_an_error_not_a_nan() -> None:
    trend = np.linspace(-0.3, 0.3, 30) + np.random.default_rng(0).normal(0, 0.005, 30)
    with pytest.raises(RiskInputError, match=r"no mean reversion.*lambda = -?[0-9.e-]+ <= 0"):
        fit_ou(trend)
    with pytest.raises(RiskInputError, match="no mean reversion"):
        ou_conditional(last=0.0, horizon=1.0, lam=0.0, mu=0.1, sigma=0.1)
    with pytest.raises(RiskInputError, match="no mean reversion"):
        simulate_ou(x0=0, lam=-0.1, mu=0, sigma=1, horizon=1, n_paths=2)


def test_negative_autocorrelation_points_to_iid() -> None:
    zigzag = np.array([0.1, -0.1] * 10) + np.random.default_rng(0).normal(0, 0.01, 20)
    with pytest.raises(RiskInputError, match=r"i\.i\.d\. normal variant applies"):
        fit_ou(zigzag)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"gaps": [0.1, 0.2, 0.15]}, "needs at least 4 periods, the backtest has 3"),
        ({"gaps": [0.1] * 6}, "constant"),
        ({"gaps": [0.1, 0.2, 0.15, 0.12], "period_length": 0}, "period_length must be a positive"),
        ({"gaps": [0.1, 0.2, 0.15, 0.12], "method": "bayes"}, "unknown OU estimation method"),
        ({"gaps": [0.1, 0.2, np.nan, 0.12]}, "non-finite values at positions 2"),
    ],
)
def test_bad_inputs(kwargs: dict, message: str) -> None:
    with pytest.raises(RiskInputError, match=message):
        fit_ou(**kwargs)


def test_bad_horizon() -> None:
    with pytest.raises(RiskInputError, match="horizon must be a positive number"):
        ou_probabilities(_fit(), last=0.0, horizon=-1.0, margin_ratio=0.1)
