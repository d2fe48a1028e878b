"""Bootstrap intervals: seeded, bracketing the estimate, and honest about failed replicates."""

from __future__ import annotations

import numpy as np
import pytest

from mrm_gate.risk import (
    RiskInputError,
    bootstrap_normal,
    bootstrap_ou,
    fit_normal,
    fit_ou,
    simulate_ou,
)


def test_normal_bootstrap_is_seeded_and_brackets_estimates() -> None:
    d = np.random.default_rng(0).normal(0.1, 0.12, 30)
    a = bootstrap_normal(d, margin_ratio=0.1, ybar=0.4, n_boot=1000, seed=1)
    b = bootstrap_normal(d, margin_ratio=0.1, ybar=0.4, n_boot=1000, seed=1)
    assert a.intervals == b.intervals
    fit = fit_normal(d, margin_ratio=0.1)
    for variant in ("paper", "fitted"):
        p = fit.probabilities(variant=variant, ybar=0.4)
        for key in ("mr1", "mr2", "mr3"):
            lo, hi = a.get(f"{variant}.{key}")
            assert lo <= getattr(p, key) <= hi
    lo, hi = a.get("sigma")
    assert lo < fit.sigma < hi
    assert a.to_dict()["seed"] == 1


def test_interval_shrinks_with_more_periods() -> None:
    rng = np.random.default_rng(2)
    short = bootstrap_normal(rng.normal(0.1, 0.1, 10), margin_ratio=0.1, n_boot=1000)
    long = bootstrap_normal(rng.normal(0.1, 0.1, 160), margin_ratio=0.1, n_boot=1000)
    width = lambda iv: iv.get("fitted.mr2")[1] - iv.get("fitted.mr2")[0]  # noqa: E731
    assert width(long) < width(short) / 2


def test_normal_bootstrap_coverage_is_close_to_nominal() -> None:
    # 200 backtests of 40 periods from N(0.1, 0.1^2): the true fitted-mean MR2 is N(-1).
    from scipy import stats

    truth = stats.norm.cdf(-1.0)
    rng = np.random.default_rng(4)
    hits = 0
    for k in range(200):
        iv = bootstrap_normal(rng.normal(0.1, 0.1, 40), margin_ratio=0.1, n_boot=400, seed=k)
        lo, hi = iv.get("fitted.mr2")
        hits += lo <= truth <= hi
    # percentile bootstrap under-covers a little in small samples; 95% nominal, accept >= 85%
    assert hits / 200 >= 0.85


def test_ou_parametric_bootstrap_counts_replicates_without_mean_reversion() -> None:
    d = simulate_ou(
        x0=0.1,
        lam=0.15,
        mu=0.1,
        sigma=0.1,
        horizon=19,
        n_paths=1,
        n_steps=19,
        seed=6,
        return_paths=True,
    )[0]
    fit = fit_ou(d)
    iv = bootstrap_ou(fit, first=d[0], last=d[-1], horizon=1.0, margin_ratio=0.1, n_boot=500)
    assert 0 < iv.n_failed < 500  # weak reversion over 20 periods: some replicates have b >= 1
    assert any("dropped" in n for n in iv.notes)
    lo, hi = iv.get("lam")
    assert lo < fit.lam < hi


@pytest.mark.parametrize("n_boot", [10, 99, 2.5, True])
def test_bad_n_boot(n_boot) -> None:
    with pytest.raises(RiskInputError, match="n_boot must be an integer >= 100"):
        bootstrap_normal([0.1, 0.2, 0.3], margin_ratio=0.1, n_boot=n_boot)
