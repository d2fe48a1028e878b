"""Gap-based model-risk controls: probability of each situation, expected loss of model risk,
and the assumptions behind them (see docs/gap-risk.md for the formulas).

The backtest comes from the evidence (`backtest: {path: backtest.csv}` in evidence.yaml, or the
run artifact named in `mrm/evidence.yaml`), CSV or Parquet, one row per period. It is read and
analysed once per evaluation and settings (cached in `ctx.cache`), so several gap-risk controls
cost one analysis. `mrm_gate.risk` (scipy) and matplotlib are imported inside the functions:
`policy validate` only needs the params models.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from ..decision import CheckResult, Figure, Status
from ..errors import CheckError
from ..evidence.measure import finite_number
from ._util import Params, fmt
from .context import CheckContext
from .registry import check

if TYPE_CHECKING:
    from ..risk import GapRiskReport, VariantResult

Variant = Literal["normal", "paper", "empirical", "systemic", "ou"]
SITUATIONS = {
    1: ("MR1", "underestimation covered by the margin"),
    2: ("MR2", "uncovered loss"),
    3: ("MR3", "overestimation beyond ybar"),
}
NO_BACKTEST = (
    "the evidence has no backtest; add `backtest: {path: backtest.csv}` to evidence.yaml (or to "
    "the run's mrm/evidence.yaml artifact) with one row per period: period, expected_loss, "
    "margin, realised_loss"
)


class GapRiskParams(Params):
    """Settings shared by the gap-risk checks (they key the per-evaluation cache)."""

    ybar: float | None = Field(
        default=None, description="overestimation limit of situation 3 (D^M > ybar)"
    )
    period_length: float = Field(
        default=1.0, gt=0, description="length of a period in the OU time unit (0.25: quarters)"
    )
    horizon: float | None = Field(
        default=None, gt=0, description="OU horizon in period_length units (default: one period)"
    )
    scenario: dict[str, float] | None = Field(
        default=None, description="stress values of external factors (systemic variant)"
    )
    factors: list[str] | None = Field(
        default=None, description="external-factor columns (default: every other numeric one)"
    )
    mre: Literal["expected_loss", "exposure"] | float = Field(
        default="expected_loss",
        description="model risk exposure: latest expected loss, latest exposure, or a number",
    )
    n_boot: int = Field(default=2000, ge=0, description="bootstrap replicates (0: none)")
    confidence: float = Field(default=0.95, gt=0, lt=1, description="level of the intervals")
    level: float = Field(default=0.05, gt=0, lt=1, description="level of the assumption tests")
    seed: int | None = Field(default=None, description="bootstrap seed (default: the run's)")
    plots: bool = Field(default=True, description="attach SVG plots (shown in HTML reports)")
    scaling: Literal["margin", "expected_loss"] = Field(
        default="margin",
        description="what D^M is relative to: EL + margin (the paper's) or EL before margin",
    )
    monte_carlo: int = Field(
        default=0,
        ge=0,
        description="paths of a Monte Carlo of the gap process over the horizon (0: none, "
        "else >= 1000): cumulative uncovered loss, its quantiles and MC standard error",
    )

    @model_validator(mode="after")
    def _valid(self) -> GapRiskParams:
        if 0 < self.n_boot < 100:
            raise ValueError("n_boot must be 0 (no intervals) or at least 100")
        if 0 < self.monte_carlo < 1000:
            raise ValueError("monte_carlo must be 0 (none) or at least 1000 paths")
        if isinstance(self.mre, float) and self.mre <= 0:
            raise ValueError("mre must be a positive number")
        return self


class ProbabilityParams(GapRiskParams):
    situation: Literal[1, 2, 3] = Field(
        default=2, description="1: covered by margin, 2: uncovered, 3: overestimation > ybar"
    )
    variant: Variant = Field(default="normal", description="how the probability is computed")
    max: float = Field(ge=0, le=1, description="largest acceptable probability")
    on: Literal["estimate", "upper"] = Field(
        default="estimate", description="compare the estimate, or the upper interval bound"
    )

    @model_validator(mode="after")
    def _consistent(self) -> ProbabilityParams:
        if self.situation == 3 and self.ybar is None:
            raise ValueError("situation 3 needs ybar (the overestimation limit)")
        if self.on == "upper" and self.n_boot == 0:
            raise ValueError("on: upper needs intervals; set n_boot >= 100")
        return self


class ExpectedLossParams(GapRiskParams):
    max: float = Field(ge=0, description="largest acceptable EL_RM(2) (amount or share)")
    relative_to: Literal["absolute", "exposure", "fund"] = Field(
        default="absolute",
        description="compare the amount, or its share of the latest exposure or of the fund",
    )
    fund: float | None = Field(default=None, ge=0, description="allocated model-risk fund")
    fund_tag: str | None = Field(
        default=None, description="model version tag holding the allocated fund"
    )
    variant: Variant = "normal"
    on: Literal["estimate", "upper"] = "estimate"
    measure: Literal["el_rm2", "horizon_mean", "horizon_q95", "horizon_q99"] = Field(
        default="el_rm2",
        description="el_rm2: next period's closed form; horizon_*: the Monte Carlo's cumulative "
        "uncovered loss over the horizon (mean, 95% or 99% quantile; needs monte_carlo)",
    )

    @model_validator(mode="after")
    def _fund(self) -> ExpectedLossParams:
        if self.relative_to == "fund" and self.fund is None and self.fund_tag is None:
            raise ValueError("relative_to: fund needs fund or fund_tag")
        if self.measure != "el_rm2" and self.monte_carlo == 0:
            raise ValueError(f"measure: {self.measure} needs monte_carlo (e.g. 100000 paths)")
        if self.measure != "el_rm2" and self.variant == "empirical":
            raise ValueError("the Monte Carlo simulates a parametric variant: choose normal, "
                             "paper, systemic or ou")
        if self.on == "upper" and self.n_boot == 0:
            raise ValueError("on: upper needs intervals; set n_boot >= 100")
        return self


class AssumptionsParams(GapRiskParams):
    variant: Variant = Field(default="normal", description="the variant the policy relies on")


def _backtest(ctx: CheckContext, params: GapRiskParams) -> tuple[Any, str]:
    from ..evidence.datasets import file_sha256
    from ..risk import RiskInputError, read_backtest

    ref = ctx.evidence.backtest
    if ref is None:
        raise CheckError(NO_BACKTEST)
    path = ctx.evidence.open_file(ref.path, "backtest.path")  # refused unless inside
    st = path.stat()
    factors = None if params.factors is None else tuple(params.factors)
    key = f"gap_risk:backtest:{path}:{st.st_size}:{st.st_mtime_ns}:{factors}"
    if key not in ctx.cache:
        if ref.sha256 and file_sha256(path) != ref.sha256:
            raise CheckError(
                f"backtest {ref.path} does not match the sha256 declared in the evidence; the "
                "file changed after the evidence was recorded"
            )
        try:
            ctx.cache[key] = read_backtest(
                path, name=ctx.evidence.model.name, format=ref.format, factors=params.factors
            )
        except (RiskInputError, ValueError, TypeError) as exc:
            raise CheckError(f"backtest {ref.path}: {_read_error(exc, path)}") from None
    return ctx.cache[key], ref.path


def _read_error(exc: Exception, path: Path) -> str:
    """What went wrong reading the backtest, without quoting the file: the risk module's own
    messages (columns, periods) are kept; a parser's or numpy's (which quote the bad line or
    cell) are cut to the error class and position."""
    from ..evidence.containment import parse_error_text
    from ..risk import RiskInputError

    cause = exc.__cause__
    if isinstance(exc, RiskInputError) and (
            cause is None or isinstance(cause, (RiskInputError, ImportError))):
        return str(exc).replace(str(path), "the file")
    raw = cause if cause is not None else exc
    if isinstance(raw, (ValueError, TypeError)) and "convert" in str(raw):
        return (f"a value in a column that must be numeric is not a number "
                f"({type(raw).__name__}); check expected_loss, margin, realised_loss, exposure "
                "and the factor columns")
    return f"the file cannot be parsed ({parse_error_text(raw)})"


def analysis(ctx: CheckContext, params: GapRiskParams) -> tuple[GapRiskReport, str]:
    """The gap-risk report of the evidence's backtest, computed once per settings."""
    from ..risk import RiskInputError, analyse

    bt, source = _backtest(ctx, params)
    seed = ctx.options.seed if params.seed is None else params.seed
    settings = (
        params.ybar, params.period_length, params.horizon,
        tuple(sorted((params.scenario or {}).items())), params.mre, params.n_boot,
        params.confidence, params.level, seed, params.scaling, params.monte_carlo,
    )  # fmt: skip
    key = f"gap_risk:report:{id(bt)}:{settings}"
    if key not in ctx.cache:
        try:
            ctx.cache[key] = analyse(
                bt, ybar=params.ybar, horizon=params.horizon, period_length=params.period_length,
                scenario=params.scenario, mre=params.mre, n_boot=params.n_boot,
                confidence=params.confidence, level=params.level, seed=seed,
                scaling=params.scaling, monte_carlo=params.monte_carlo,
            )  # fmt: skip
        except RiskInputError as exc:
            raise CheckError(f"backtest {source}: {exc}") from None
    return ctx.cache[key], source


def _variant(report: GapRiskReport, variant: str, source: str) -> VariantResult:
    from ..risk import RiskInputError

    try:
        return report.result(variant)
    except RiskInputError as exc:
        raise CheckError(
            f"the {variant} variant cannot be computed from backtest {source}: {exc}"
        ) from None


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.2f}%"


def _interval_text(iv: tuple[float, float] | None, as_pct: bool = True) -> str | None:
    if iv is None:
        return None
    f = _pct if as_pct else fmt
    return f"[{f(iv[0])}, {f(iv[1])}]"


def variants_table(report: GapRiskReport) -> dict[str, dict[str, Any]]:
    """One row per computed variant: the three probabilities, LGMR2, EL_RM(2), intervals."""
    rows: dict[str, dict[str, Any]] = {}
    for name, r in report.results.items():
        rows[name] = {
            "MR1": r.mr1,
            "MR1 interval": _interval_text(r.interval("mr1")),
            "MR2": r.mr2,
            "MR2 interval": _interval_text(r.interval("mr2")),
            "MR3": r.mr3,
            "MR3 interval": _interval_text(r.interval("mr3")),
            "LGMR2": r.lgmr2,
            "EL_RM(2)": r.el_rm2,
            "EL_RM(2) interval": _interval_text(r.interval("el_rm2"), as_pct=False),
        }
    for name, err in report.errors.items():
        if name != "assumptions":
            rows[name] = {"error": err}
    return rows


def _common_details(report: GapRiskReport) -> dict[str, Any]:
    bt = report.backtest
    details: dict[str, Any] = {
        "backtest": f"{bt.periods[0]} .. {bt.periods[-1]} ({bt.n} periods)",
        "declared margin ratio": report.settings["declared_margin_ratio"],
        "recommended variant": report.recommended,
        "variants": variants_table(report),
    }
    if report.normal_fit is not None:
        details["gap mean"] = report.normal_fit.mean
        details["gap sigma"] = report.normal_fit.sigma
        details["bias (mean - margin ratio)"] = report.normal_fit.bias
    details["gap_risk"] = report.to_dict()
    return details


def _figures(
    ctx: CheckContext, report: GapRiskReport, params: GapRiskParams, which: tuple[str, ...]
) -> tuple[list[Figure], list[str]]:
    """The report's plots as Figures (cached); a note instead when matplotlib is missing."""
    if not params.plots:
        return [], []
    variant = getattr(params, "variant", "normal")
    try:
        from ..risk._plots import gap_distribution_svg, gap_timeseries_svg
    except ImportError as exc:  # pragma: no cover - matplotlib is in the suites extra
        return [], [f"plots skipped: {exc} (pip install mrm-gate[suites])"]
    figures = []
    for kind in which:
        key = f"gap_risk:figure:{id(report)}:{kind}:{variant}"
        if key not in ctx.cache:
            try:
                if kind == "distribution":
                    ctx.cache[key] = Figure(
                        title="Gap distribution and model-risk situations",
                        data=gap_distribution_svg(report, variant=variant),
                        caption="MR2 (red): uncovered; MR1 (amber): covered by the margin; "
                        "MR3 (blue): overestimation beyond ybar",
                    )
                else:
                    ctx.cache[key] = Figure(
                        title="Gap per period and forecast",
                        data=gap_timeseries_svg(report),
                        caption="OU forecast mean and 95% band from the last gap; systemic "
                        "forecast of the next period from the latest factors",
                    )
            except ImportError as exc:
                return [], [f"plots skipped: {exc} (pip install mrm-gate[suites])"]
        figures.append(ctx.cache[key])
    return figures, []


def _notes(report: GapRiskReport, r: VariantResult) -> list[str]:
    notes = list(report.notes)
    if r.interval_method:
        notes.append(f"intervals: {r.interval_method}")
    notes += r.notes
    return notes


@check(
    "gap_risk.probability",
    params=ProbabilityParams,
    summary="Probability of a model-risk situation (MR1/MR2/MR3) from the backtest gaps, "
    "at most `max`",
)
def probability(params: ProbabilityParams, ctx: CheckContext) -> CheckResult:
    """Fails when the probability of the chosen situation exceeds `max`.

    The relative gap D^M = (EL + margin - RL) / (EL + margin) of each backtest period (the
    paper's; `scaling: expected_loss` divides by EL instead) measures how well the
    expected loss plus its margin of conservatism covered the realised loss. Situation 2 (MR2,
    D^M < 0) is an uncovered loss, situation 1 (MR1) an underestimation the margin absorbed,
    situation 3 (MR3, D^M > ybar) a gross overestimation. `variant` chooses how the probability
    is computed: `normal` (fitted mean and sigma), `paper` (mean = declared margin), `empirical`
    (observed frequency), `systemic` (shifted by the external factors of the last period or a
    stress `scenario`), `ou` (Ornstein-Uhlenbeck at `horizon` from the last gap). With
    `on: upper`, the upper bound of the interval is compared, so a short backtest cannot pass
    on luck.

    Rationale: a model whose margin leaves losses uncovered too often carries model risk the
    institution has not provisioned for (Benizri & Genest, 2019).

    Passing: `{situation: 2, variant: normal, max: 0.25}` with MR2 = 12%.
    Failing: `{situation: 2, variant: empirical, max: 0.2, on: upper}` with 8 uncovered
    periods out of 40 (upper 95% bound 36%).
    """
    report, source = analysis(ctx, params)
    r = _variant(report, params.variant, source)
    short, what = SITUATIONS[params.situation]
    key = short.lower()
    value = r.value(key)
    iv = r.interval(key)
    if value is None:  # MR3 without ybar cannot happen (validated); keep fail-closed anyway
        raise CheckError(f"{short} was not computed (give ybar for situation 3)")
    compared = value
    if params.on == "upper":
        if iv is None:
            raise CheckError(f"no interval for {short} in the {params.variant} variant")
        compared = iv[1]
    conf = f"{params.confidence:.0%}"
    measured = {short: value, f"{conf} interval": _interval_text(iv), "variant": params.variant}
    threshold = {"max": params.max, "on": params.on}
    label = f"upper {conf} bound of {short}" if params.on == "upper" else short
    text = f"{label} ({what}) {_pct(compared)}"
    if params.on == "estimate" and iv is not None:
        text += f" {_interval_text(iv)}"
    scope = f"{params.variant} variant, backtest of {report.backtest.n} periods"
    figures, fig_notes = _figures(ctx, report, params, ("distribution", "timeseries"))
    details = _common_details(report)
    details["interval"] = None if iv is None else {"low": iv[0], "high": iv[1], "level": conf}
    ok = compared <= params.max
    return CheckResult(
        status=Status.PASS if ok else Status.FAIL,
        message=f"{text} {'<=' if ok else '>'} max {_pct(params.max)} ({scope})",
        measured=measured,
        threshold=threshold,
        details=details,
        figures=figures,
        notes=_notes(report, r) + fig_notes,
        evidence_file=source,
    )


def _fund(params: ExpectedLossParams, ctx: CheckContext) -> float:
    if params.fund is not None:
        return params.fund
    assert params.fund_tag is not None
    raw = ctx.evidence.model.tag(params.fund_tag)
    if raw is None:
        raise CheckError(
            f"the model has no tag {params.fund_tag!r} holding the allocated model-risk fund"
        )
    try:
        value = float(raw.replace("_", "").strip())
    except ValueError:
        raise CheckError(f"tag {params.fund_tag!r} = {raw[:40]!r} is not a number; set it to "
                         "the allocated fund as a plain number (e.g. 5000000)") from None
    # "inf" / "1e400" would make every loss a 0% share of the fund, "nan" compare false
    value = finite_number(value, f"tag {params.fund_tag!r} (the allocated model-risk fund)",
                          "set it to the allocated fund as a finite plain number")
    if value < 0:
        raise CheckError(f"tag {params.fund_tag!r} = {raw[:40]!r} must be a number >= 0")
    return value


@check(
    "gap_risk.expected_loss",
    params=ExpectedLossParams,
    summary="Expected loss of model risk EL_RM(2) = MRE x LGMR2 x MR2 at most `max` "
    "(amount, share of exposure, or share of the allocated fund)",
)
def expected_loss(params: ExpectedLossParams, ctx: CheckContext) -> CheckResult:
    """Fails when EL_RM(2) (or its upper interval bound) exceeds `max`.

    EL_RM(2) = MRE x LGMR2 x MR2: the probability of an uncovered loss times its expected size
    (LGMR2 = |E[D^M | D^M <= 0]|, the truncated-normal mean) times the model risk exposure (by
    default the latest expected loss, which makes EL_RM(2) the expected uncovered loss of the
    next period in money). `relative_to: exposure` divides by the latest exposure,
    `relative_to: fund` by the fund allocated to model risk (`fund`, or the model tag
    `fund_tag`): `max: 1` then means "the fund covers the expected loss of model risk".
    `measure: horizon_mean | horizon_q95 | horizon_q99` compares instead the Monte Carlo's
    cumulative uncovered loss over `horizon` (`monte_carlo` paths of the variant's gap process:
    i.i.d. normal, systemic with the factors held, or OU from the last gap), its mean or tail
    quantile, with the Monte Carlo standard error and interval in the result.

    Rationale: the measure answers "what is our model risk worth, and is it covered?".

    Passing: `{relative_to: fund, fund: 5.0, max: 1}` with EL_RM(2) = 3.1 (62% of the fund).
    Failing: `{relative_to: absolute, max: 2.0}` with EL_RM(2) = 6.1.
    """
    report, source = analysis(ctx, params)
    r = _variant(report, params.variant, source)
    if r.el_rm2 is None:
        raise CheckError(f"EL_RM(2) was not computed for the {params.variant} variant")
    iv = r.interval("el_rm2")
    value, name = r.el_rm2, "EL_RM(2)"
    mc_measured: dict[str, Any] = {}
    if params.measure != "el_rm2":
        value, iv, name, mc_measured = _horizon_measure(report, params, source)
    amount = value
    if params.on == "upper":
        if iv is None:
            raise CheckError(f"no interval for {name} in the {params.variant} variant")
        amount = iv[1]
    bt = report.backtest
    measured: dict[str, Any] = {
        name: value,
        f"{params.confidence:.0%} interval": _interval_text(iv, as_pct=False),
        **mc_measured,
        "EL_RM(2)": r.el_rm2,
        "MR2": r.mr2,
        "LGMR2": r.lgmr2,
        "MRE": report.settings["mre"],
    }
    if params.relative_to == "absolute":
        compared, unit = amount, ""
    elif params.relative_to == "exposure":
        if bt.exposure is None or bt.exposure[-1] <= 0:
            raise CheckError(
                f"relative_to: exposure needs a positive exposure column in backtest {source}"
            )
        compared, unit = amount / float(bt.exposure[-1]), " of the latest exposure"
        measured["share of exposure"] = compared
    else:
        fund = _fund(params, ctx)
        measured["fund"] = fund
        compared = amount / fund if fund > 0 else (0.0 if amount == 0 else float("inf"))
        unit = " of the allocated fund"
        measured["share of fund"] = compared
    label = f"upper bound of {name}" if params.on == "upper" else name
    shown = fmt(compared) if params.relative_to == "absolute" else _pct(compared)
    limit = fmt(params.max) if params.relative_to == "absolute" else _pct(params.max)
    ok = compared <= params.max
    figures, fig_notes = _figures(ctx, report, params, ("distribution",))
    return CheckResult(
        status=Status.PASS if ok else Status.FAIL,
        message=(
            f"{label} = {shown}{unit} {'<=' if ok else '>'} max {limit} "
            f"(MRE {fmt(report.settings['mre'])} = {report.settings['mre_source']}, "
            f"MR2 {_pct(r.mr2)}, LGMR2 {fmt(r.lgmr2)}, {params.variant} variant)"
        ),
        measured=measured,
        threshold={"max": params.max, "relative_to": params.relative_to, "on": params.on,
                   "measure": params.measure},
        details=_common_details(report),
        figures=figures,
        notes=_notes(report, r) + fig_notes,
        evidence_file=source,
    )


def _horizon_measure(
    report: GapRiskReport, params: ExpectedLossParams, source: str
) -> tuple[float, tuple[float, float], str, dict[str, Any]]:
    """The Monte Carlo's cumulative uncovered loss over the horizon: value, interval (mean +-
    z MC se, or the quantile's order-statistic interval), its name and what to report."""
    from scipy.stats import norm

    mc = report.monte_carlo.get(params.variant)
    if mc is None:
        raise CheckError(
            f"the Monte Carlo of the {params.variant} variant was not computed from backtest "
            f"{source}: " + report.errors.get(params.variant, "the variant has no spread")
        )
    span = f"over {mc.periods} period(s)"
    if params.measure == "horizon_mean":
        z = float(norm.ppf(0.5 + params.confidence / 2))
        value, iv = mc.mean, (mc.mean - z * mc.se, mc.mean + z * mc.se)
        name, se = f"mean cumulative uncovered loss {span}", mc.se
    else:
        q = mc.quantiles[params.measure.removeprefix("horizon_")]
        value, iv, se = q.value, (q.low, q.high), q.se
        name = f"{q.level:.0%} quantile of the cumulative uncovered loss {span}"
    return value, iv, name, {
        "Monte Carlo paths": mc.n_paths, "MC standard error": se, "periods": mc.periods,
        "closed-form mean": mc.closed_form_mean,
    }  # fmt: skip


@check(
    "gap_risk.assumptions",
    params=AssumptionsParams,
    summary="The chosen gap-risk variant's assumptions (normality, independence, mean "
    "reversion) are not rejected by the backtest",
)
def assumptions(params: AssumptionsParams, ctx: CheckContext) -> CheckResult:
    """Fails (use severity `warn`) when the backtest rejects an assumption of `variant`.

    The closed forms assume normal gaps that are independent from period to period (`normal`,
    `paper`), normal independent residuals of the factor regression (`systemic`), or normal
    innovations of a mean-reverting process (`ou`); `empirical` assumes independent periods.
    Tested with Shapiro-Wilk (normality), Ljung-Box and the AR(1) coefficient (independence),
    Dickey-Fuller (mean reversion) and the regression F-test (factors that matter), at `level`.
    The result names the variant the data point to.

    Rationale: a probability computed under a rejected assumption is not the probability of
    anything; the reviewer should know, and pick the variant the data support.

    Passing: `{variant: systemic}` on gaps that unemployment explains, residuals independent.
    Failing: `{variant: normal}` on gaps with a recession dip (autocorrelated, skewed).
    """
    report, source = analysis(ctx, params)
    rep = report.assumptions
    if rep is None:
        raise CheckError(
            f"the assumptions cannot be tested on backtest {source}: "
            f"{report.errors.get('assumptions', 'unknown reason')}"
        )
    violations = rep.violations(params.variant)
    rows = [
        {
            "subject": subject,
            "test": name,
            "statistic": t.statistic,
            "p-value": t.p_value,
            "rejected": t.rejected,
            "note": t.note,
        }
        for subject, tests in rep.tests.items()
        for name, t in tests.items()
    ]
    details = {
        "tests": rows,
        "recommended variant": rep.recommended,
        "reasons": rep.reasons,
        "violations": violations,
        "gap_risk": report.to_dict(),
    }
    measured = {"variant": params.variant, "rejected": len(violations),
                "recommended": rep.recommended}  # fmt: skip
    figures, fig_notes = _figures(ctx, report, params, ("timeseries",))
    advice = (
        f"; the data point to the {rep.recommended} variant"
        if rep.recommended != params.variant
        and not (rep.recommended == "normal" and params.variant == "paper")
        else ""
    )
    message = (
        f"{params.variant} variant: " + "; ".join(violations)
        if violations
        else f"{params.variant} variant: no assumption rejected at level {rep.level}"
    )
    return CheckResult(
        status=Status.FAIL if violations else Status.PASS,
        message=message + advice,
        measured=measured,
        threshold={"level": rep.level},
        details=details,
        figures=figures,
        notes=list(rep.reasons) + fig_notes,
        evidence_file=source,
    )
