"""Risk-type aggregation (section 6): totals, D_Total, MR2_agg, LGMR2, EL_RM(2), fund."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mrm_gate.risk import (
    Backtest,
    RiskInputError,
    aggregate,
    expected_loss_of_model_risk,
    total_backtest,
)


def _two_models() -> dict[str, Backtest]:
    a = Backtest.from_arrays(
        periods=[2018, 2019, 2020, 2021],
        expected_loss=[100.0, 110.0, 120.0, 100.0],
        margin=[10.0, 11.0, 12.0, 10.0],
        realised_loss=[95.0, 140.0, 100.0, 105.0],
        exposure=[1000.0, 1100.0, 1200.0, 1000.0],
    )
    b = Backtest.from_arrays(
        periods=[2018, 2019, 2020, 2021],
        expected_loss=[50.0, 50.0, 60.0, 50.0],
        margin=[5.0, 5.0, 6.0, 5.0],
        realised_loss=[40.0, 70.0, 50.0, 45.0],
        exposure=[400.0, 400.0, 500.0, 400.0],
    )
    return {"corporate": a, "retail": b}


def test_totals_and_d_total_by_hand() -> None:
    total = total_backtest(_two_models())
    np.testing.assert_allclose(total.expected_loss, [150, 160, 180, 150])
    np.testing.assert_allclose(total.margin, [15, 16, 18, 15])
    np.testing.assert_allclose(total.realised_loss, [135, 210, 150, 150])
    # section 6.1: D_Total = (EL_Total^Margin - RL_Total) / EL_Total^Margin,
    # EL_Total^Margin = sum EL + sum M, M^_Total = sum M / EL_Total^Margin
    np.testing.assert_allclose(total.gaps(), [30 / 165, -34 / 176, 48 / 198, 15 / 165])
    np.testing.assert_allclose(total.margin_ratios(), [15 / 165, 16 / 176, 18 / 198, 15 / 165])
    assert total.exposure is not None and total.exposure[-1] == 1400.0
    legacy = total_backtest(_two_models(), scaling="expected_loss")
    np.testing.assert_allclose(legacy.gaps(), [30 / 150, -34 / 160, 48 / 180, 15 / 150])


def test_mr2_lgmr2_and_el_rm2() -> None:
    p = aggregate(_two_models(), n_boot=0)
    d = total_backtest(_two_models()).gaps()
    m_total = 0.1 / 1.1  # every period's margins are 10% of its EL: M^ = 0.1 EL / 1.1 EL
    sigma = d.std(ddof=1)
    assert p.fit.margin_ratio == pytest.approx(m_total)
    assert p.paper.mr2 == pytest.approx(1 - stats.norm.cdf(m_total / sigma))
    trunc = stats.truncnorm(-np.inf, -m_total / sigma, loc=m_total, scale=sigma)
    assert p.paper.lgmr2 == pytest.approx(abs(trunc.mean()), rel=1e-10)
    # default MRE: the latest total expected loss incl. margin, what D_Total is relative to
    assert p.paper.mre == 165.0 and "incl. margin" in p.mre_source
    assert p.paper.el_rm2 == pytest.approx(165.0 * p.paper.lgmr2 * p.paper.mr2)
    assert p.fitted.mean == pytest.approx(d.mean())
    assert p.empirical.mr2.count == 1


def test_uncovered_loss_in_money_does_not_depend_on_the_scaling() -> None:
    """With a constant margin ratio, MR2 and MRE x LGMR2 (the expected uncovered amount) are
    the same under both scalings: D^M is rescaled by 1/(1 + m), MRE by (1 + m)."""
    paper = aggregate(_two_models(), n_boot=0)
    legacy = aggregate(_two_models(), n_boot=0, scaling="expected_loss")
    assert legacy.paper.mre == 150.0 and legacy.total.scaling == "expected_loss"
    assert paper.paper.mr2 == pytest.approx(legacy.paper.mr2)
    assert paper.fitted.mr2 == pytest.approx(legacy.fitted.mr2)
    assert paper.paper.lgmr2 == pytest.approx(legacy.paper.lgmr2 / 1.1)
    assert paper.paper.el_rm2 == pytest.approx(legacy.paper.el_rm2)


def test_monte_carlo_expected_uncovered_loss() -> None:
    # EL_RM(2) with MRE = EL is E[max(-D, 0)] x EL: check against simulation (4 standard errors)
    res = expected_loss_of_model_risk(mean=0.05, sigma=0.1, mre=200.0)
    x = np.random.default_rng(0).normal(0.05, 0.1, 400_000)
    loss = 200.0 * np.maximum(-x, 0.0)
    assert abs(loss.mean() - res.el_rm2) <= 4 * loss.std() / np.sqrt(loss.size)


def test_exposure_mre_and_fund_coverage() -> None:
    p = aggregate(_two_models(), mre="exposure", allocated_fund=5.0, n_boot=0)
    assert p.paper.mre == 1400.0 and p.mre_source == "exposure of 2021"
    cov = p.coverage("paper")
    assert cov["covered"] == (p.paper.el_rm2 <= 5.0)
    assert cov["shortfall"] == pytest.approx(max(p.paper.el_rm2 - 5.0, 0.0))
    d = p.to_dict()
    assert d["coverage"]["fitted"]["allocated_fund"] == 5.0
    assert set(d["per_model"]) == {"corporate", "retail"}
    assert aggregate(_two_models(), mre=1e6, n_boot=0).paper.mre == 1e6


def test_bootstrap_intervals_bracket_the_estimates() -> None:
    p = aggregate(_two_models(), n_boot=500, seed=3)
    assert p.intervals is not None
    for key, value in (("paper.mr2", p.paper.mr2), ("paper.el_rm2", p.paper.el_rm2)):
        lo, hi = p.intervals.get(key)
        assert lo <= value <= hi
    again = aggregate(_two_models(), n_boot=500, seed=3)
    assert again.intervals.intervals == p.intervals.intervals  # seeded: reproducible


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mre": 0.0}, "must be a positive number"),
        ({"mre": "ead"}, "unknown MRE"),
        ({"allocated_fund": -1.0}, "fund must be >= 0"),
    ],
)
def test_bad_parameters(kwargs: dict, message: str) -> None:
    with pytest.raises(RiskInputError, match=message):
        aggregate(_two_models(), n_boot=0, **kwargs)


def test_bad_portfolios() -> None:
    with pytest.raises(RiskInputError, match="at least one backtest"):
        aggregate({})
    models = _two_models()
    short = Backtest.from_arrays(
        periods=[2019, 2020, 2021], expected_loss=[1.0, 1.0, 1.0], realised_loss=[1.0, 1.0, 1.0]
    )
    with pytest.raises(RiskInputError, match=r"only in 'corporate': \['2018'\]"):
        aggregate({"corporate": models["corporate"], "short": short})
    no_exposure = Backtest.from_arrays(
        periods=[2018, 2019, 2020, 2021], expected_loss=[1.0] * 4, realised_loss=[1.0, 2, 0, 1]
    )
    with pytest.raises(RiskInputError, match="no exposure column"):
        aggregate({"a": models["corporate"], "b": no_exposure}, mre="exposure")
