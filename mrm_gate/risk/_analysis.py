"""Every measure for one backtest, in one object: what the CLI prints and the checks read.

`analyse(backtest, ...)` computes each variant independently; a variant that cannot be computed
(too few periods for OU, no factor columns for the systemic variant, no mean reversion, ...)
records its error message instead of stopping the others, so a report shows everything that
*can* be said and names what could not.

Variants (keys of `GapRiskReport.results`):

- ``normal``: D^M ~ N(observed mean, sigma^2) (the bias is kept);
- ``paper``: D^M ~ N(declared margin ratio, sigma^2) (the paper's base case: unbiased model);
- ``empirical``: observed frequencies (Clopper-Pearson intervals);
- ``systemic``: mean shifted by the previous period's external factors (latest or scenario);
- ``ou``: Ornstein-Uhlenbeck at `horizon`, conditional on the last gap.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from . import _constants as C
from ._aggregate import expected_loss_of_model_risk, resolve_mre
from ._assumptions import AssumptionReport, check_assumptions
from ._backtest import Backtest
from ._bootstrap import (
    DEFAULT_N_BOOT,
    BootstrapIntervals,
    bootstrap_normal,
    bootstrap_ou,
    bootstrap_systemic,
)
from ._empirical import empirical_frequencies
from ._monte_carlo import (
    MIN_PATHS,
    MonteCarloResult,
    horizon_periods,
    simulate_uncovered_loss,
)
from ._normal import (
    ModelRiskProbabilities,
    NormalFit,
    fit_normal,
    required_margin_ratio,
)
from ._ou import OUFit, fit_ou, ou_probabilities
from ._systemic import SystemicFit, fit_systemic, scenario_vector, systemic_probabilities
from ._validation import RiskInputError, positive, probability_level, sample_sigma

RESULT_VARIANTS = ("normal", "paper", "empirical", "systemic", "ou")
LABELS = {
    "normal": "normal, fitted mean",
    "paper": "normal, mean = declared margin (paper)",
    "empirical": "empirical frequencies",
    "systemic": "systemic (external factors)",
    "ou": "Ornstein-Uhlenbeck (past values)",
}


@dataclass(frozen=True)
class VariantResult:
    """The three probabilities, LGMR2 and EL_RM(2) of one variant, with their intervals."""

    variant: str
    label: str
    mr1: float
    mr2: float
    mr3: float | None
    lgmr2: float | None
    el_rm2: float | None
    mean: float | None  # of the gap distribution used (None for empirical)
    sigma: float | None
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    interval_method: str = ""
    notes: list[str] = field(default_factory=list)

    def value(self, key: str) -> float | None:
        return getattr(self, key)

    def interval(self, key: str) -> tuple[float, float] | None:
        return self.intervals.get(key)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["intervals"] = {k: list(v) for k, v in self.intervals.items()}
        return out


@dataclass(frozen=True, eq=False)  # holds a Backtest
class GapRiskReport:
    """All measures of one backtest; `to_dict()` is the JSON output of `mrm-gate risk`."""

    backtest: Backtest
    settings: dict[str, Any]
    normal_fit: NormalFit | None
    required_margin: dict[str, Any] | None
    results: dict[str, VariantResult]
    errors: dict[str, str]
    systemic_fit: SystemicFit | None
    ou_fit: OUFit | None
    assumptions: AssumptionReport | None
    notes: list[str] = field(default_factory=list)
    monte_carlo: dict[str, MonteCarloResult] = field(default_factory=dict)

    def result(self, variant: str) -> VariantResult:
        """The variant's result, or RiskInputError with the reason it could not be computed."""
        if variant not in RESULT_VARIANTS:
            raise RiskInputError(C.UNKNOWN_VARIANT.format(variant=variant, choices=RESULT_VARIANTS))
        if variant in self.results:
            return self.results[variant]
        raise RiskInputError(self.errors.get(variant, f"variant {variant!r} was not computed"))

    @property
    def recommended(self) -> str | None:
        return None if self.assumptions is None else self.assumptions.recommended

    def to_dict(self) -> dict[str, Any]:
        bt = self.backtest
        return {
            "backtest": bt.summary(),
            "settings": self.settings,
            "series": {
                "periods": [str(p) for p in bt.periods],
                "gap_with_margin": bt.gaps().tolist(),
                "gap": bt.gaps(with_margin=False).tolist(),
                "margin_ratio": bt.margin_ratios().tolist(),
            },
            "normal_fit": None if self.normal_fit is None else self.normal_fit.to_dict(),
            "required_margin": self.required_margin,
            "results": {k: v.to_dict() for k, v in self.results.items()},
            "errors": dict(self.errors),
            "systemic_fit": None if self.systemic_fit is None else self.systemic_fit.to_dict(),
            "ou_fit": None if self.ou_fit is None else self.ou_fit.to_dict(),
            "assumptions": None if self.assumptions is None else self.assumptions.to_dict(),
            "recommended_variant": self.recommended,
            "monte_carlo": {k: v.to_dict() for k, v in self.monte_carlo.items()},
            "notes": list(self.notes),
        }


def _from_probabilities(
    variant: str,
    probs: ModelRiskProbabilities,
    mre: float,
    boot: BootstrapIntervals | None,
    prefix: str = "",
) -> VariantResult:
    loss = expected_loss_of_model_risk(mean=probs.mean, sigma=probs.sigma, mre=mre)
    intervals = {}
    if boot is not None:
        for key in ("mr1", "mr2", "mr3", "lgmr2", "el_rm2"):
            iv = boot.get(prefix + key)
            if iv is not None:
                intervals[key] = iv
    return VariantResult(
        variant=variant,
        label=LABELS[variant],
        mr1=probs.mr1,
        mr2=probs.mr2,
        mr3=probs.mr3,
        lgmr2=loss.lgmr2,
        el_rm2=loss.el_rm2,
        mean=probs.mean,
        sigma=probs.sigma,
        intervals=intervals,
        interval_method=""
        if boot is None
        else f"{boot.method}, {boot.n_boot} replicates, seed {boot.seed}, {boot.confidence:.0%}",
        notes=[] if boot is None else list(boot.notes),
    )


def _empirical_result(
    d: np.ndarray,
    m: np.ndarray,
    ybar: float | None,
    mre: float,
    confidence: float,
    n_boot: int,
    seed: int | None,
) -> VariantResult:
    freq = empirical_frequencies(d, margin_ratio=m, ybar=ybar, confidence=confidence)
    losses = -d[d < 0]
    lgmr2 = float(losses.mean()) if losses.size else 0.0
    intervals = {"mr1": (freq.mr1.low, freq.mr1.high), "mr2": (freq.mr2.low, freq.mr2.high)}
    if freq.mr3 is not None:
        intervals["mr3"] = (freq.mr3.low, freq.mr3.high)
    notes = [f"{freq.mr2.count} of {freq.mr2.n} periods uncovered (D^M < 0)"]
    if n_boot:
        rng = np.random.default_rng(seed)
        samples = d[rng.integers(0, d.size, size=(n_boot, d.size))]
        neg = np.where(samples < 0, -samples, 0.0)
        # EL_RM(2) = MRE x mean uncovered gap x frequency = MRE x mean of max(-D, 0)
        el = mre * neg.mean(axis=1)
        tail = (1 - confidence) / 2 * 100
        lo, hi = np.percentile(el, [tail, 100 - tail])
        intervals["el_rm2"] = (float(lo), float(hi))
    return VariantResult(
        variant="empirical",
        label=LABELS["empirical"],
        mr1=freq.mr1.value,
        mr2=freq.mr2.value,
        mr3=None if freq.mr3 is None else freq.mr3.value,
        lgmr2=lgmr2,
        el_rm2=mre * lgmr2 * freq.mr2.value,
        mean=None,
        sigma=None,
        intervals=intervals,
        interval_method=f"Clopper-Pearson (exact binomial), {confidence:.0%}"
        + (f"; EL_RM(2): iid bootstrap, {n_boot} replicates, seed {seed}" if n_boot else ""),
        notes=notes,
    )


def _normal_results(
    fit: NormalFit, d: np.ndarray, variants: tuple[str, ...], boot_kw: dict[str, Any]
) -> dict[str, VariantResult]:
    """The fitted-mean and the paper's (mean = declared margin) normal variants."""
    wanted = [v for v in ("normal", "paper") if v in variants]
    boot = None
    if boot_kw["n_boot"] and wanted:
        boot = bootstrap_normal(d, margin_ratio=fit.margin_ratio, **boot_kw)
    out = {}
    for v in wanted:
        kind = "fitted" if v == "normal" else "paper"
        probs = fit.probabilities(variant=kind, ybar=boot_kw["ybar"])
        out[v] = _from_probabilities(v, probs, boot_kw["mre"], boot, prefix=f"{kind}.")
    return out


def _required_margin(fit: NormalFit, backtest: Backtest, alpha: float) -> dict[str, Any]:
    """The margin giving MR2 = alpha, as a ratio on the backtest's scale and as an amount.

    `expected_loss` scaling: D^M = D + m, so the paper's `M^ = q_{1-alpha} sigma` is the margin
    ratio to EL (the fitted one subtracts the bias). Paper scaling: a margin m (as a share of
    EL) gives D^M = (m + D)/(1 + m), so M^/sigma_{D^M} = m/sigma_D and MR2 = alpha needs
    m = q_{1-alpha} sigma_D (fitted: q sigma_D - mean D), i.e. M^ = m/(1 + m); sigma_D is
    the sample sd of the margin-free gaps D. The amount for the latest period is m x EL.
    """
    el_latest = float(backtest.expected_loss[-1])
    if backtest.scaling == "expected_loss":
        need = required_margin_ratio(fit.sigma, alpha=alpha)
        # with the observed bias kept, D^M ~ N(M + bias, sigma^2): MR2 = alpha needs need - bias
        need_fitted = need - fit.bias
        m_paper, m_fitted = need, need_fitted
    else:
        d0 = backtest.gaps(with_margin=False)
        sigma_d = sample_sigma(d0)
        m_paper = required_margin_ratio(sigma_d, alpha=alpha)
        m_fitted = max(m_paper - float(d0.mean()), 0.0)  # < 0: no margin needed at all
        need, need_fitted = m_paper / (1.0 + m_paper), m_fitted / (1.0 + m_fitted)
    return {
        "alpha": alpha,
        "scaling": backtest.scaling,
        "required_margin_ratio": need,
        "required_margin_ratio_fitted": need_fitted,
        "declared_margin_ratio": fit.margin_ratio,
        "required_margin_to_el": m_paper,
        "required_margin_to_el_fitted": m_fitted,
        "required_margin_latest": m_paper * el_latest,
        "required_margin_latest_fitted": m_fitted * el_latest,
        "declared_margin_latest": float(backtest.margin[-1]),
        "sufficient": fit.margin_ratio >= need,
        "sufficient_fitted": fit.margin_ratio >= need_fitted,
    }


def analyse(
    backtest: Backtest,
    *,
    alpha: float | None = None,
    ybar: float | None = None,
    horizon: float | None = None,
    period_length: float = 1.0,
    scenario: Mapping[str, float] | None = None,
    mre: float | str | None = None,
    variants: tuple[str, ...] = RESULT_VARIANTS,
    n_boot: int = DEFAULT_N_BOOT,
    confidence: float = 0.95,
    level: float = 0.05,
    seed: int | None = 0,
    ou_method: str = "mle",
    scaling: str | None = None,
    monte_carlo: int = 0,
) -> GapRiskReport:
    """All gap-based measures of one backtest.

    Parameters
    ----------
    alpha
        Target uncovered-loss probability: reports the margin ratio q_{1-alpha} sigma that
        achieves MR2 = alpha, against the declared one.
    ybar
        Overestimation limit of situation 3 (MR3 is not computed without it).
    horizon
        OU horizon in the unit of `period_length` (default: one period).
    period_length
        Length of a period in the time unit of lambda (e.g. 0.25 for quarters in years).
    scenario
        Stress values of external factors for the systemic variant (default: latest values).
    mre
        Model risk exposure for EL_RM(2): "expected_loss" (latest EL, default), "exposure"
        (latest exposure column) or a number.
    variants
        Which variants to compute (all by default).
    n_boot
        Bootstrap replicates for the intervals (0: none).
    scaling
        What D^M is relative to: "margin" (the paper's EL + margin) or "expected_loss" (EL
        before margin); default: the backtest's own (the paper's unless it was built otherwise).
    monte_carlo
        Paths of the Monte Carlo of the gap process over the horizon (0: none; otherwise at
        least 1000): the distribution of the cumulative uncovered loss per parametric variant,
        in `GapRiskReport.monte_carlo`.
    """
    backtest = backtest.with_scaling(scaling)
    mc_periods = _monte_carlo_periods(monte_carlo, horizon, period_length)
    if alpha is not None:
        required_margin_ratio(1.0, alpha=alpha)  # a bad alpha is an error, not a note
    conf = probability_level("confidence", confidence)
    dt = positive("period_length", period_length, C.BAD_PERIOD_LENGTH)
    t = dt if horizon is None else positive("horizon", horizon, C.BAD_HORIZON)
    unknown = [v for v in variants if v not in RESULT_VARIANTS]
    if unknown:
        raise RiskInputError(C.UNKNOWN_VARIANT.format(variant=unknown[0], choices=RESULT_VARIANTS))
    mre_value, mre_source = resolve_mre(backtest, mre)
    d = backtest.gaps()
    ratios = backtest.margin_ratios()
    m = float(ratios.mean())
    if ybar is not None and ybar <= float(ratios.max()):
        raise RiskInputError(C.BAD_YBAR.format(ybar=ybar, margin_ratio=float(ratios.max())))
    settings = {
        "alpha": alpha,
        "ybar": ybar,
        "horizon": t,
        "period_length": dt,
        "scenario": dict(scenario) if scenario else None,
        "mre": mre_value,
        "mre_source": mre_source,
        "n_boot": n_boot,
        "confidence": conf,
        "level": level,
        "seed": seed,
        "declared_margin_ratio": m,
        "scaling": backtest.scaling,
        "variants": list(variants),
        "monte_carlo": monte_carlo,
    }
    results: dict[str, VariantResult] = {}
    errors: dict[str, str] = {}
    notes = list(backtest.notes)
    if np.ptp(ratios) > 1e-3 * max(abs(m), 1e-6):  # more than rounding of the amounts
        notes.append(
            f"the margin ratio varies across periods ({ratios.min():.4g} to {ratios.max():.4g}); "
            f"the parametric variants use its mean {m:.4g}"
        )

    boot_kw: dict[str, Any] = {"ybar": ybar, "mre": mre_value, "confidence": conf, "seed": seed}
    boot_kw["n_boot"] = n_boot

    normal_fit: NormalFit | None = None
    required: dict[str, Any] | None = None
    try:
        normal_fit = fit_normal(d, margin_ratio=m)
    except RiskInputError as exc:
        errors.update({v: str(exc) for v in ("normal", "paper")})
    if normal_fit is not None:
        results.update(_normal_results(normal_fit, d, variants, boot_kw))
        if alpha is not None:
            try:
                required = _required_margin(normal_fit, backtest, alpha)
            except RiskInputError as exc:  # e.g. margin-free gaps without spread
                notes.append(f"required margin not computed: {exc}")

    if "empirical" in variants:
        results["empirical"] = _empirical_result(d, ratios, ybar, mre_value, conf, n_boot, seed)

    systemic_fit: SystemicFit | None = None
    if "systemic" in variants:
        try:
            if not backtest.factors:
                raise RiskInputError(C.NO_FACTORS)
            systemic_fit = fit_systemic(d, backtest.factors, margin_ratio=m)
            probs = systemic_probabilities(systemic_fit, scenario=scenario, ybar=ybar)
            boot = None
            if n_boot:
                factors = np.column_stack(list(backtest.factors.values()))
                boot = bootstrap_systemic(
                    d, factors, fit=systemic_fit,
                    scenario=scenario_vector(systemic_fit, scenario), **boot_kw,
                )  # fmt: skip
            results["systemic"] = _from_probabilities("systemic", probs, mre_value, boot)
        except RiskInputError as exc:
            errors["systemic"] = str(exc)

    ou_fit: OUFit | None = None
    if "ou" in variants:
        try:
            ou_fit = fit_ou(d, period_length=dt, method=ou_method)
            last = float(d[-1])
            probs = ou_probabilities(ou_fit, last=last, horizon=t, margin_ratio=m, ybar=ybar)
            boot = None
            if n_boot:
                boot = bootstrap_ou(
                    ou_fit, first=float(d[0]), last=last, horizon=t, margin_ratio=m, **boot_kw
                )
            results["ou"] = _from_probabilities("ou", probs, mre_value, boot)
        except RiskInputError as exc:
            errors["ou"] = str(exc)

    mc: dict[str, MonteCarloResult] = {}
    if mc_periods:
        mc = _monte_carlo(results, ou_fit, float(d[-1]), mc_periods, monte_carlo, boot_kw, dt)
        notes += [r.summary() for r in mc.values()]
        notes += [f"Monte Carlo: {v} not simulated ({errors[v]})" for v in MC_VARIANTS
                  if v in variants and v not in mc and v in errors]  # fmt: skip

    assumptions: AssumptionReport | None = None
    try:
        assumptions = check_assumptions(d, level=level, factors=backtest.factors or None)
    except RiskInputError as exc:
        errors["assumptions"] = str(exc)
    return GapRiskReport(
        backtest=backtest,
        settings=settings,
        normal_fit=normal_fit,
        required_margin=required,
        results=results,
        errors=errors,
        systemic_fit=systemic_fit,
        ou_fit=ou_fit,
        assumptions=assumptions,
        notes=notes,
        monte_carlo=mc,
    )


MC_VARIANTS = ("normal", "paper", "systemic", "ou")


def _monte_carlo_periods(n_paths: int, horizon: float | None, period_length: float) -> int:
    """Whole periods in the horizon when a Monte Carlo is asked (0 otherwise); bad settings
    are errors before anything is computed."""
    if isinstance(n_paths, bool) or not isinstance(n_paths, (int, np.integer)) or (
            0 < n_paths < MIN_PATHS) or n_paths < 0:  # fmt: skip
        raise RiskInputError(C.BAD_PATHS.format(value=n_paths, min=MIN_PATHS))
    if not n_paths:
        return 0
    dt = positive("period_length", period_length, C.BAD_PERIOD_LENGTH)
    return horizon_periods(dt if horizon is None else horizon, dt)


def _monte_carlo(
    results: dict[str, VariantResult],
    ou_fit: OUFit | None,
    last: float,
    periods: int,
    n_paths: int,
    boot_kw: dict[str, Any],
    dt: float,
) -> dict[str, MonteCarloResult]:
    """The cumulative uncovered loss over the horizon, per parametric variant computed."""
    out: dict[str, MonteCarloResult] = {}
    common = dict(mre=boot_kw["mre"], periods=periods, n_paths=n_paths, seed=boot_kw["seed"],
                  confidence=boot_kw["confidence"], period_length=dt)  # fmt: skip
    for v in MC_VARIANTS:
        r = results.get(v)
        if r is None or r.mean is None or not r.sigma:
            continue
        if v == "ou":
            assert ou_fit is not None
            out[v] = simulate_uncovered_loss(
                ou=(ou_fit.lam, ou_fit.mu, ou_fit.sigma), last=last, variant=v, **common
            )
        else:
            out[v] = simulate_uncovered_loss(mean=r.mean, sigma=r.sigma, variant=v, **common)
    return out
