"""The paper's gap with margin (relative to EL + margin) against the earlier convention
(relative to EL): what changes, what does not, and the margin needed for a target MR2."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mrm_gate.risk import Backtest, RiskInputError, analyse


def _backtest(ratio: float = 0.1, n: int = 32, seed: int = 5) -> Backtest:
    rng = np.random.default_rng(seed)
    el = rng.uniform(80, 120, n)
    d = np.empty(n)  # autocorrelated margin-free gaps so that the OU variant fits
    d[0] = 0.0
    for k in range(1, n):
        d[k] = 0.6 * d[k - 1] + 0.12 * rng.standard_normal()
    factor = rng.normal(5, 1, n)
    return Backtest.from_arrays(expected_loss=el, margin=ratio * el, realised_loss=el * (1 - d),
                                factors={"unemployment_rate": factor})  # fmt: skip


def test_mr1_mr2_are_scale_free_and_level_measures_are_not() -> None:
    bt = _backtest()
    paper = analyse(bt, ybar=0.15, n_boot=0)
    legacy = analyse(bt, ybar=0.15, n_boot=0, scaling="expected_loss")
    assert paper.settings["scaling"] == "margin" and legacy.settings["scaling"] == "expected_loss"
    for v in ("normal", "paper", "empirical", "systemic", "ou"):
        a, b = paper.results[v], legacy.results[v]
        assert a.mr1 == pytest.approx(b.mr1, abs=1e-9), v
        assert a.mr2 == pytest.approx(b.mr2, abs=1e-9), v
        # the same uncovered amount: MRE (EL^M vs EL) x LGMR2 (relative to EL^M vs EL)
        assert a.el_rm2 == pytest.approx(b.el_rm2, rel=1e-9), v
        assert a.lgmr2 == pytest.approx(b.lgmr2 / 1.1, rel=1e-9), v
    # the level of the gaps, M^ and MR3 (ybar is a level on the D^M scale) differ
    assert paper.settings["declared_margin_ratio"] == pytest.approx(0.1 / 1.1)
    assert legacy.settings["declared_margin_ratio"] == pytest.approx(0.1)
    assert paper.results["normal"].mr3 != pytest.approx(legacy.results["normal"].mr3, rel=1e-3)


@pytest.mark.parametrize("alpha", [0.05, 0.2])
def test_required_margin_gives_mr2_alpha_under_the_paper_variant(alpha: float) -> None:
    """M^ = q_{1-alpha} sigma_{D^M} (section 4): rebuild the backtest with the reported margin
    and the paper variant's MR2 is alpha (and MR1 = 1/2 - alpha)."""
    bt = _backtest()
    rep = analyse(bt, alpha=alpha, n_boot=0, variants=("paper",))
    req = rep.required_margin
    m = req["required_margin_to_el"]
    assert req["required_margin_ratio"] == pytest.approx(m / (1 + m))
    again = Backtest.from_arrays(expected_loss=bt.expected_loss, margin=m * bt.expected_loss,
                                 realised_loss=bt.realised_loss)  # fmt: skip
    res = analyse(again, n_boot=0, variants=("paper",)).results["paper"]
    assert res.mr2 == pytest.approx(alpha, rel=1e-9)
    assert res.mr1 == pytest.approx(0.5 - alpha, rel=1e-9)
    sigma_dm = again.gaps().std(ddof=1)
    assert again.declared_margin_ratio == pytest.approx(stats.norm.ppf(1 - alpha) * sigma_dm)


def test_bad_scaling_is_an_error() -> None:
    with pytest.raises(RiskInputError, match="unknown gap scaling"):
        analyse(_backtest(), n_boot=0, scaling="ead")
