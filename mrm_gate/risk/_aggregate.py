"""Aggregation at risk-type level (paper section 6).

Several models of one risk type (e.g. the credit models) are added period by period:

    EL_T,k = sum_i EL_i,k     M_T,k = sum_i margin_i,k     RL_T,k = sum_i RL_i,k
    EL^M_T,k = EL_T,k + M_T,k                              (EL_Total^Margin)
    D_Total,k = (EL^M_T,k - RL_T,k) / EL^M_T,k,   M_Total = mean_k (M_T,k / EL^M_T,k)

(the paper's section 6.1; with `scaling="expected_loss"` both divide by EL_T,k instead)

and, with D_Total ~ N(mu, sigma_T^2) (mu = M_Total in the paper's variant, the observed mean
in the fitted one):

    MR2_agg = N(-mu / sigma_T)                          (= 1 - N(M_Total / sigma_T))
    LGMR2   = |E[D_Total | D_Total <= 0]| = |mu - sigma_T phi(mu/sigma_T) / N(-mu/sigma_T)|
    EL_RM(2) = MRE x LGMR2 x MR2_agg

D is relative to the expected loss including margin, so `LGMR2 x EL^M` is the expected
uncovered loss in money when it happens, and with MRE = the latest total EL^M (the default,
`mre="expected_loss"`: the expected loss the gap is relative to), EL_RM(2) is the expected
uncovered loss of the next period. The paper multiplies by a model risk exposure such as the
total EAD instead; `mre="exposure"` does that (the result is then EAD-scaled, not a loss).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _constants as C
from ._backtest import Backtest
from ._bootstrap import DEFAULT_N_BOOT, BootstrapIntervals, bootstrap_normal
from ._empirical import EmpiricalFrequencies, empirical_frequencies
from ._normal import NormalFit, fit_normal, loss_given_model_risk
from ._validation import RiskInputError, finite_number

MRE_CHOICES = ("expected_loss", "exposure")


@dataclass(frozen=True)
class ModelRiskLoss:
    """MR2, LGMR2 and EL_RM(2) for one gap distribution and one exposure measure."""

    mean: float
    sigma: float
    mr2: float
    lgmr2: float
    mre: float
    el_rm2: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def expected_loss_of_model_risk(*, mean: float, sigma: float, mre: float) -> ModelRiskLoss:
    """EL_RM(2) = MRE x LGMR2 x MR2 for gaps ~ N(mean, sigma^2)."""
    from ._normal import model_risk_probabilities

    m = finite_number("mre", mre)
    if m <= 0:
        raise RiskInputError(C.BAD_EXPOSURE.format(value=mre))
    # margin_ratio only bounds situation 1, which is not used here: any value works.
    mr2 = model_risk_probabilities(0.0, sigma, shift=mean).mr2
    lg = loss_given_model_risk(mean=mean, sigma=sigma)
    return ModelRiskLoss(mean=mean, sigma=sigma, mr2=mr2, lgmr2=lg, mre=m, el_rm2=m * lg * mr2)


def resolve_mre(backtest: Backtest, mre: float | str | None) -> tuple[float, str]:
    """The model risk exposure and a description of where it came from.

    "expected_loss" (default) is the latest expected loss the gap is relative to: EL + margin
    under the paper's scaling (so that MRE x LGMR2 is an amount of money), EL under the
    `expected_loss` scaling.
    """
    if mre is None or mre == "expected_loss":
        what = "expected loss incl. margin" if backtest.scaling == "margin" else "expected loss"
        return float(backtest.denominators()[-1]), f"{what} of {backtest.periods[-1]}"
    if mre == "exposure":
        if backtest.exposure is None:
            raise RiskInputError("MRE = exposure was asked but the backtest has no exposure column")
        return float(backtest.exposure[-1]), f"exposure of {backtest.periods[-1]}"
    if isinstance(mre, str):
        raise RiskInputError(
            C.UNKNOWN_METHOD.format(what="MRE", value=mre, choices=[*MRE_CHOICES, "<number>"])
        )
    value = finite_number("mre", mre)
    if value <= 0:
        raise RiskInputError(C.BAD_EXPOSURE.format(value=mre))
    return value, "given"


@dataclass(frozen=True, eq=False)  # holds a Backtest
class PortfolioRisk:
    """The risk-type level measures, per variant, with the allocated fund comparison."""

    models: tuple[str, ...]
    total: Backtest
    fit: NormalFit
    paper: ModelRiskLoss
    fitted: ModelRiskLoss
    mre_source: str
    empirical: EmpiricalFrequencies
    intervals: BootstrapIntervals | None
    per_model: dict[str, dict[str, Any]] = field(default_factory=dict)
    allocated_fund: float | None = None

    def coverage(self, variant: str = "fitted") -> dict[str, Any] | None:
        if self.allocated_fund is None:
            return None
        el = (self.fitted if variant == "fitted" else self.paper).el_rm2
        return {
            "allocated_fund": self.allocated_fund,
            "el_rm2": el,
            "covered": self.allocated_fund >= el,
            "coverage_ratio": (self.allocated_fund / el) if el > 0 else None,
            "shortfall": max(el - self.allocated_fund, 0.0),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "models": list(self.models),
            "periods": self.total.n,
            "m_total": self.fit.margin_ratio,
            "scaling": self.total.scaling,
            "d_total_mean": self.fit.mean,
            "sigma_total": self.fit.sigma,
            "paper": self.paper.to_dict(),
            "fitted": self.fitted.to_dict(),
            "mre_source": self.mre_source,
            "empirical": self.empirical.to_dict(),
            "intervals": None if self.intervals is None else self.intervals.to_dict(),
            "per_model": self.per_model,
            "sum_of_model_el_rm2": {
                v: float(sum(m[v]["el_rm2"] for m in self.per_model.values()))
                for v in ("paper", "fitted")
            }
            if all("paper" in m for m in self.per_model.values())
            else None,
            "coverage": {"paper": self.coverage("paper"), "fitted": self.coverage("fitted")},
            "totals": self.total.summary(),
        }


def total_backtest(backtests: Mapping[str, Backtest], *, scaling: str | None = None) -> Backtest:
    """Period-by-period totals of several backtests, which must cover the same periods
    (gap scaling: `scaling`, else the first backtest's)."""
    if not backtests:
        raise RiskInputError(C.EMPTY_PORTFOLIO)
    items = list(backtests.items())
    name0, first = items[0]
    for name, bt in items[1:]:
        if [str(p) for p in bt.periods] != [str(p) for p in first.periods]:
            only_a = sorted(set(map(str, first.periods)) - set(map(str, bt.periods)))[:3]
            only_b = sorted(set(map(str, bt.periods)) - set(map(str, first.periods)))[:3]
            detail = (
                f"only in {name0!r}: {only_a}, only in {name!r}: {only_b}"
                if only_a or only_b
                else "same periods in a different order"
            )
            raise RiskInputError(C.PERIODS_DIFFER.format(a=name0, b=name, detail=detail))
    exposures = [bt.exposure for _, bt in items]
    return Backtest(
        periods=first.periods,
        expected_loss=np.sum([bt.expected_loss for _, bt in items], axis=0),
        margin=np.sum([bt.margin for _, bt in items], axis=0),
        realised_loss=np.sum([bt.realised_loss for _, bt in items], axis=0),
        exposure=None if any(e is None for e in exposures) else np.sum(exposures, axis=0),
        name="total",
        scaling=scaling or first.scaling,
    )


def aggregate(
    backtests: Mapping[str, Backtest],
    *,
    mre: float | str | None = None,
    allocated_fund: float | None = None,
    ybar: float | None = None,
    n_boot: int = DEFAULT_N_BOOT,
    confidence: float = 0.95,
    seed: int | None = 0,
    scaling: str | None = None,
) -> PortfolioRisk:
    """MR2_agg, LGMR2 and EL_RM(2) of a risk type, from its models' backtests.

    `mre`: "expected_loss" (default: the latest total expected loss incl. margin under the
    paper's scaling), "exposure" (the latest total exposure, needs an exposure column in every
    backtest) or a number.
    `scaling`: "margin" (paper, D_Total relative to EL_Total^Margin) or "expected_loss"
    (default: the first backtest's).
    `allocated_fund`: the amount set aside for model risk, compared with EL_RM(2).
    `n_boot=0` skips the bootstrap intervals.
    """
    total = total_backtest(backtests, scaling=scaling)
    backtests = {k: bt.with_scaling(total.scaling) for k, bt in backtests.items()}
    mre_value, mre_source = resolve_mre(total, mre)
    fund = None if allocated_fund is None else finite_number("allocated_fund", allocated_fund)
    if fund is not None and fund < 0:
        raise RiskInputError(C.BAD_FUND.format(value=allocated_fund))
    d = total.gaps()
    fit = fit_normal(d, margin_ratio=total.declared_margin_ratio)
    paper = expected_loss_of_model_risk(mean=fit.margin_ratio, sigma=fit.sigma, mre=mre_value)
    fitted = expected_loss_of_model_risk(mean=fit.mean, sigma=fit.sigma, mre=mre_value)
    intervals = None
    if n_boot:
        intervals = bootstrap_normal(
            d,
            margin_ratio=fit.margin_ratio,
            ybar=ybar,
            mre=mre_value,
            n_boot=n_boot,
            confidence=confidence,
            seed=seed,
        )
    per_model: dict[str, dict[str, Any]] = {}
    for name, bt in backtests.items():
        entry: dict[str, Any] = {
            "periods": bt.n,
            "latest_expected_loss": float(bt.expected_loss[-1]),
        }
        try:
            mfit = fit_normal(bt.gaps(), margin_ratio=bt.declared_margin_ratio)
        except RiskInputError as exc:
            entry["error"] = str(exc)
        else:
            share = mre_value * float(bt.denominators()[-1]) / float(total.denominators()[-1])
            entry.update(
                margin_ratio=mfit.margin_ratio,
                mean=mfit.mean,
                sigma=mfit.sigma,
                paper=expected_loss_of_model_risk(
                    mean=mfit.margin_ratio, sigma=mfit.sigma, mre=share
                ).to_dict(),
                fitted=expected_loss_of_model_risk(
                    mean=mfit.mean, sigma=mfit.sigma, mre=share
                ).to_dict(),
            )
        per_model[name] = entry
    return PortfolioRisk(
        models=tuple(backtests),
        total=total,
        fit=fit,
        paper=paper,
        fitted=fitted,
        mre_source=mre_source,
        empirical=empirical_frequencies(
            d, margin_ratio=total.margin_ratios(), ybar=ybar, confidence=confidence
        ),
        intervals=intervals,
        per_model=per_model,
        allocated_fund=fund,
    )
