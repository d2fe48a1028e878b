"""Normality and independence tests, and the variant they recommend."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mrm_gate.risk import RiskInputError, check_assumptions, ljung_box, simulate_ou


def test_ljung_box_matches_statsmodels_and_the_formula() -> None:
    diag = pytest.importorskip("statsmodels.stats.diagnostic")
    x = np.random.default_rng(4).normal(size=30)
    res = ljung_box(x, lags=5, level=0.05)
    ref = diag.acorr_ljungbox(x, lags=[5])
    assert res.statistic == pytest.approx(float(ref["lb_stat"].iloc[0]), rel=1e-10)
    assert res.p_value == pytest.approx(float(ref["lb_pvalue"].iloc[0]), rel=1e-10)


def test_ljung_box_by_hand_one_lag() -> None:
    x = np.array([1.0, 2.0, 0.0, 3.0, 1.0])
    xc = x - x.mean()
    r1 = (xc[1:] @ xc[:-1]) / (xc @ xc)
    q = 5 * 7 * r1**2 / 4
    res = ljung_box(x, lags=1, level=0.05)
    assert res.statistic == pytest.approx(q)
    assert res.p_value == pytest.approx(stats.chi2.sf(q, 1))


def _ou_gaps(n: int, seed: int) -> np.ndarray:
    return simulate_ou(
        x0=0.1,
        lam=0.2,
        mu=0.1,
        sigma=0.1,
        horizon=n - 1,
        n_paths=1,
        n_steps=n - 1,
        seed=seed,
        return_paths=True,
    )[0]


@pytest.mark.parametrize(
    ("series", "recommended"),
    [
        (np.random.default_rng(1).normal(0.1, 0.1, 60), "normal"),
        (_ou_gaps(60, seed=3), "ou"),
        (0.1 + 0.05 * np.random.default_rng(2).standard_t(1.5, 80), "empirical"),
        (
            np.cumsum(np.random.default_rng(5).normal(0, 0.05, 60)) + np.linspace(0, 1, 60),
            "empirical",
        ),
    ],
    ids=["iid-normal", "ou", "heavy-tails", "random-walk-with-trend"],
)
def test_recommendation(series: np.ndarray, recommended: str) -> None:
    rep = check_assumptions(series)
    assert rep.recommended == recommended, rep.reasons
    if recommended == "normal":
        assert rep.violations("normal") == []
    else:
        assert rep.violations("normal")


def test_violations_per_variant_and_residual_tests() -> None:
    d = _ou_gaps(60, seed=3)
    u = np.random.default_rng(0).normal(5, 1, 60)
    rep = check_assumptions(d, factors={"u": u})
    assert set(rep.tests) == {"gaps", "ou_residuals", "systemic_residuals"}
    assert any("autocorrelated" in v or "independence" in v for v in rep.violations("normal"))
    assert rep.violations("ou") == []
    assert rep.to_dict()["violations"]["ou"] == []
    with pytest.raises(RiskInputError, match="unknown variant"):
        rep.violations("garch")
    no_factors = check_assumptions(d)
    assert no_factors.violations("systemic") == [
        "no external factors to test the systemic variant's residuals"
    ]


def test_few_periods_are_flagged_and_tests_skipped_when_impossible() -> None:
    rep = check_assumptions([0.1, 0.3, 0.2])
    assert rep.tests["gaps"]["ljung_box"].rejected is None
    assert rep.tests["gaps"]["ar1"].rejected is None
    assert any("little power" in r for r in rep.reasons)
    with pytest.raises(RiskInputError, match="needs at least 3 periods"):
        check_assumptions([0.1, 0.2])
    with pytest.raises(RiskInputError, match="constant"):
        check_assumptions([0.1] * 10)


@pytest.mark.parametrize("n", [10, 25, 60, 500])
@pytest.mark.parametrize(("level", "column"), [(0.01, 0), (0.05, 1), (0.10, 2)])
def test_dickey_fuller_critical_values_match_statsmodels(n: int, level: float, column: int) -> None:
    adf = pytest.importorskip("statsmodels.tsa.adfvalues")
    from mrm_gate.risk._assumptions import dickey_fuller_critical

    crit, used = dickey_fuller_critical(n, level)
    assert used == level
    assert crit == pytest.approx(adf.mackinnoncrit(1, "c", n)[column], abs=1e-6)


def test_dickey_fuller_statistic_matches_adfuller() -> None:
    tsa = pytest.importorskip("statsmodels.tsa.stattools")
    from mrm_gate.risk._assumptions import dickey_fuller

    x = _ou_gaps(50, seed=8)
    res = dickey_fuller(x, level=0.05)
    ref = tsa.adfuller(x, maxlag=0, regression="c", autolag=None)
    assert res.statistic == pytest.approx(ref[0], rel=1e-10)


def test_factors_that_explain_the_dependence_recommend_systemic() -> None:
    rng = np.random.default_rng(12)
    u = 6 + np.cumsum(rng.normal(0, 0.5, 60))  # a persistent factor makes the gaps persistent
    d = np.empty(60)
    d[0] = 0.1
    d[1:] = 0.1 - 0.08 * (u[:-1] - 6) + rng.normal(0, 0.03, 59)
    rep = check_assumptions(d, factors={"unemployment": u})
    assert rep.recommended == "systemic", rep.reasons
    assert rep.tests["systemic_residuals"]["f_test"].rejected
    assert rep.violations("systemic") == []
    noise = check_assumptions(d, factors={"noise": np.random.default_rng(0).normal(size=60)})
    assert any("do not explain" in v for v in noise.violations("systemic"))
