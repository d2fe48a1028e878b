"""Monte Carlo of the gap process over a horizon, each figure against an independent computation:
scipy's normal and multivariate normal, numerical integration, and a fine Euler scheme."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from mrm_gate.risk import (
    Backtest,
    RiskInputError,
    analyse,
    expected_loss_of_model_risk,
    gap_paths,
    horizon_periods,
    ou_conditional,
    simulate_ou,
    simulate_uncovered_loss,
)

OU = (2.0, 0.1, 0.3)  # lambda per year, long-term mean, sigma
DT = 0.25  # quarters


def test_iid_mean_std_and_any_uncovered_against_closed_forms() -> None:
    r = simulate_uncovered_loss(mre=100.0, periods=8, mean=0.05, sigma=0.2, seed=1)
    one = expected_loss_of_model_risk(mean=0.05, sigma=0.2, mre=100.0)  # MRE x LGMR2 x MR2
    assert r.closed_form_mean == pytest.approx(8 * one.el_rm2, rel=1e-12)
    assert abs(r.mean - r.closed_form_mean) <= 4 * r.se
    # variance of max(-X, 0) by numerical integration, independent of the closed form
    pdf = stats.norm(0.05, 0.2).pdf
    m1 = integrate.quad(lambda x: -x * pdf(x), -np.inf, 0)[0]
    m2 = integrate.quad(lambda x: x * x * pdf(x), -np.inf, 0)[0]
    assert r.closed_form_std == pytest.approx(100 * math.sqrt(8 * (m2 - m1**2)), rel=1e-6)
    assert r.std == pytest.approx(r.closed_form_std, rel=0.02)
    p_any = 1 - stats.norm.cdf(0.05 / 0.2) ** 8
    assert r.p_any_uncovered_closed_form == pytest.approx(p_any, rel=1e-12)
    assert abs(r.p_any_uncovered - p_any) <= 4 * r.p_any_uncovered_se
    assert r.n_paths == 100_000 and r.se == pytest.approx(r.std / math.sqrt(1e5))


def test_one_period_quantiles_match_the_censored_normal() -> None:
    r = simulate_uncovered_loss(mre=50.0, periods=1, mean=0.02, sigma=0.1, seed=2)
    for key, p in (("q95", 0.95), ("q99", 0.99)):
        exact = 50.0 * max(0.0, -stats.norm.ppf(1 - p, loc=0.02, scale=0.1))
        q = r.quantiles[key]
        assert q.closed_form == pytest.approx(exact, rel=1e-12)
        assert q.low <= exact <= q.high  # the order-statistic interval covers the truth
        assert q.se > 0 and q.low <= q.value <= q.high


def test_ou_paths_follow_the_exact_transition() -> None:
    d = gap_paths(periods=8, n_paths=200_000, ou=OU, last=-0.1, period_length=DT, seed=3)
    for k in (0, 3, 7):
        mean, sd = ou_conditional(last=-0.1, horizon=(k + 1) * DT, lam=OU[0], mu=OU[1],
                                  sigma=OU[2])  # fmt: skip
        assert d[:, k].mean() == pytest.approx(mean, abs=4 * sd / math.sqrt(2e5))
        assert d[:, k].std() == pytest.approx(sd, rel=0.01)
    # lag-one autocorrelation of the stationary part: exp(-lambda dt) times the sd ratio
    _, sd1 = ou_conditional(last=0, horizon=7 * DT, lam=OU[0], mu=OU[1], sigma=OU[2])
    _, sd2 = ou_conditional(last=0, horizon=8 * DT, lam=OU[0], mu=OU[1], sigma=OU[2])
    corr = np.corrcoef(d[:, 6], d[:, 7])[0, 1]
    assert corr == pytest.approx(math.exp(-OU[0] * DT) * sd1 / sd2, abs=0.01)
    # an independent scheme (Euler-Maruyama, fine steps) agrees on the 2-year distribution
    euler = simulate_ou(x0=-0.1, lam=OU[0], mu=OU[1], sigma=OU[2], horizon=2.0,
                        n_paths=50_000, n_steps=400, seed=4, scheme="euler")  # fmt: skip
    assert euler.mean() == pytest.approx(d[:, 7].mean(), abs=0.005)
    assert euler.std() == pytest.approx(d[:, 7].std(), rel=0.02)


def test_ou_uncovered_loss_against_closed_forms() -> None:
    r = simulate_uncovered_loss(mre=100.0, periods=8, ou=OU, last=-0.1, period_length=DT,
                                seed=5, variant="ou")  # fmt: skip
    closed = 0.0
    for k, row in enumerate(r.per_period):
        mean, sd = ou_conditional(last=-0.1, horizon=(k + 1) * DT, lam=OU[0], mu=OU[1],
                                  sigma=OU[2])  # fmt: skip
        assert row["mr2"] == pytest.approx(stats.norm.cdf(-mean / sd), rel=1e-12)
        assert abs(row["mr2_mc"] - row["mr2"]) <= 4 * math.sqrt(row["mr2"] * (1 - row["mr2"]) / 1e5)
        closed += expected_loss_of_model_risk(mean=mean, sigma=sd, mre=100.0).el_rm2
    assert r.closed_form_mean == pytest.approx(closed, rel=1e-12)
    assert abs(r.mean - closed) <= 4 * r.se
    # P(at least one uncovered quarter): Gaussian orthant probability vs the simulated paths
    assert r.p_any_uncovered_closed_form is not None
    assert abs(r.p_any_uncovered - r.p_any_uncovered_closed_form) <= 4 * r.p_any_uncovered_se + 1e-4
    assert r.closed_form_std is None  # no closed form for correlated censored sums


def test_seeded_and_reproducible() -> None:
    kw = dict(mre=1.0, periods=4, ou=OU, last=0.0, period_length=DT, n_paths=5000)
    a = simulate_uncovered_loss(seed=7, **kw)
    b = simulate_uncovered_loss(seed=7, **kw)
    c = simulate_uncovered_loss(seed=8, **kw)
    assert a.to_dict() == b.to_dict()
    assert a.mean != c.mean


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_paths": 999}, "paths >= 1000"),
        ({"n_paths": True}, "paths >= 1000"),
        ({"n_paths": 1e5}, "paths >= 1000"),
        ({"periods": 0}, "whole number of periods"),
        ({"periods": 2.5}, "whole number of periods"),
        ({"mre": 0.0}, "must be a positive number"),
        ({"mre": float("nan")}, "mre must be a finite number"),
        ({"sigma": 0.0}, "sigma > 0"),
        ({"mean": float("inf")}, "mean must be a finite number"),
        ({"confidence": 1.0}, "confidence must be strictly between"),
        ({"ou": (-1.0, 0.0, 0.2), "last": 0.0}, "no mean reversion"),
        ({"ou": (1.0, 0.0, 0.2)}, "last observed gap"),
        ({"mean": None}, "needs the mean and sigma"),
    ],
)
def test_bad_inputs_are_errors(kwargs: dict, message: str) -> None:
    base = {"mre": 1.0, "periods": 4, "mean": 0.1, "sigma": 0.2, "n_paths": 2000}
    with pytest.raises(RiskInputError, match=message):
        simulate_uncovered_loss(**{**base, **kwargs})


def test_horizon_periods() -> None:
    assert horizon_periods(2.0, 0.25) == 8
    assert horizon_periods(0.75, 0.25) == 3
    for horizon in (0.3, 0.1):
        with pytest.raises(RiskInputError, match="not a whole number of periods"):
            horizon_periods(horizon, 0.25)


def _backtest() -> Backtest:
    rng = np.random.default_rng(11)
    el = rng.uniform(80, 120, 24)
    return Backtest.from_arrays(expected_loss=el, margin=0.1 * el,
                                realised_loss=el * (1 + 0.15 * rng.standard_normal(24)))


def test_analyse_reports_the_monte_carlo_per_variant() -> None:
    bt = _backtest()
    rep = analyse(bt, n_boot=0, monte_carlo=2000, horizon=2, period_length=0.5,
                  variants=("normal", "paper", "empirical"))  # fmt: skip
    assert set(rep.monte_carlo) == {"normal", "paper"}
    mc = rep.monte_carlo["paper"]
    assert mc.periods == 4 and mc.n_paths == 2000 and mc.mre == rep.settings["mre"]
    assert mc.closed_form_mean == pytest.approx(4 * rep.results["paper"].el_rm2, rel=1e-9)
    assert any("2000 paths" in n and "MC se" in n for n in rep.notes)
    assert rep.to_dict()["monte_carlo"]["paper"]["quantiles"]["q99"]["value"] == mc.quantiles[
        "q99"].value  # fmt: skip
    assert analyse(bt, n_boot=0, variants=("normal",)).monte_carlo == {}
    for bad, message in ((500, "paths >= 1000"), (True, "paths >= 1000")):
        with pytest.raises(RiskInputError, match=message):
            analyse(bt, n_boot=0, monte_carlo=bad)
    with pytest.raises(RiskInputError, match="not a whole number"):
        analyse(bt, n_boot=0, monte_carlo=2000, horizon=1.2, period_length=0.5)
