"""Stress scenarios: the model's outputs, and the gap-based model risk, under declared shocks.

A scenario is declared in the policy, never evaluated as code. Each shock is one of three
operations, written as a short string or a one-key mapping:

    "+3.0"  / "-0.5"  / {add: 3.0}          additive shift
    "x0.9"  / "*0.9"  / {multiply: 0.9}     multiplicative factor ("×0.9" too)
    "=7.5"  / "=north" / {set: north}        set every row to a value

A bare number (`3.0`) is refused: YAML reads `+3.0` as the number 3.0, so a shift and a level
could not be told apart. `inputs` shocks apply to the model's input columns of the validation
data (the model scores the base and every scenario in one batched call); `factors` shocks apply
to the latest values of the backtest's external factors, and the systemic gap variant gives
MR1-3 and EL_RM(2) under the scenario (`mrm_gate.risk.analyse(..., scenario=...)`).
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from ..decision import CheckResult, Figure, Status
from ..errors import CheckError
from ._util import Params, fmt
from .context import CheckContext
from .registry import check

if TYPE_CHECKING:
    import numpy as np

    from ..risk import Backtest

_NUM = r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_SHIFT = re.compile(rf"^\s*([+-])\s*({_NUM})\s*$")
_FACTOR = re.compile(rf"^\s*[x×*]\s*({_NUM})\s*$")
_SET = re.compile(r"^\s*=\s*(.*?)\s*$", re.S)
_SIGNED = re.compile(rf"^[+-]?{_NUM}$")
GRAMMAR = ("write '+3.0' or '-0.5' (shift), 'x0.9' (factor) or '=7.5' / '=north' (set), in "
           "quotes, or {add: 3.0} / {multiply: 0.9} / {set: value}")


def _finite(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):
        raise ValueError(f"{text!r} is not a finite number")
    return v


class Shock(Params):
    """One operation on a column or factor: exactly one of add, multiply, set."""

    add: float | None = None
    multiply: float | None = None
    set: float | str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(f"a boolean is not a shock; {GRAMMAR}")
        if isinstance(value, (int, float)):
            raise ValueError(f"a bare number ({value}) is ambiguous (a shift or a level?); "
                             f"{GRAMMAR}")
        if isinstance(value, str):
            if m := _SHIFT.match(value):
                v = _finite(m.group(2))
                return {"add": -v if m.group(1) == "-" else v}
            if m := _FACTOR.match(value):
                return {"multiply": _finite(m.group(1))}
            if m := _SET.match(value):
                text = m.group(1)
                if not text:
                    raise ValueError(f"'=' needs a value; {GRAMMAR}")
                return {"set": _finite(text) if _SIGNED.match(text) else text}
            raise ValueError(f"{value[:40]!r} is not a shock; {GRAMMAR}")
        return value

    @model_validator(mode="after")
    def _one(self) -> Shock:
        given = [k for k in ("add", "multiply", "set") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"a shock is exactly one of add, multiply, set; {GRAMMAR}")
        if isinstance(self.set, float) and not math.isfinite(self.set):
            raise ValueError("set: the value must be finite")
        return self

    @property
    def text(self) -> str:
        if self.add is not None:
            return f"{self.add:+g}"
        if self.multiply is not None:
            return f"x{self.multiply:g}"
        return f"={self.set:g}" if isinstance(self.set, float) else f"={self.set}"

    def number(self, latest: float) -> float:
        if self.add is not None:
            return latest + self.add
        if self.multiply is not None:
            return latest * self.multiply
        assert isinstance(self.set, float)
        return self.set


class Scenario(Params):
    inputs: dict[str, Shock] = Field(default_factory=dict,
                                     description="shocks on the model's input columns")
    factors: dict[str, Shock] = Field(default_factory=dict, description="shocks on the "
                                      "latest values of the backtest's external factors")
    description: str | None = None

    @model_validator(mode="after")
    def _something(self) -> Scenario:
        if not self.inputs and not self.factors:
            raise ValueError("a scenario shocks at least one of inputs or factors")
        for where in ("inputs", "factors"):
            for name in getattr(self, where):
                if not name.strip():
                    raise ValueError(f"{where}: an empty name")
        for name, shock in self.factors.items():
            if isinstance(shock.set, str):
                raise ValueError(f"factors.{name}: a factor is a number; "
                                 f"'={shock.set[:20]}' is not")
        return self


class StressParams(Params):
    dataset: str = Field(default="validation", description="dataset role scored")
    scenarios: dict[str, Scenario] = Field(min_length=1, description="name -> {inputs, "
                                           "factors}")
    variables: list[str] | None = Field(default=None, description="the only names scenarios "
                                        "may shock (checked when the policy loads)")
    decision_threshold: float = Field(default=0.5, description="a decision is positive when "
                                      "the score is at least this")
    sample_size: int | None = Field(default=None, ge=10, description="rows scored (sampled "
                                    "with the seed; null: all)")
    seed: int | None = None
    max_mean_shift: float | None = Field(default=None, ge=0, description="largest |mean "
                                         "score shift| under a scenario")
    max_flip_rate: float | None = Field(default=None, ge=0, le=1, description="largest share "
                                        "of decisions changed by a scenario")
    factor_columns: list[str] | None = Field(default=None, description="backtest factor "
                                             "columns (default: every other numeric one)")
    ybar: float | None = Field(default=None, description="overestimation limit (MR3)")
    mre: Literal["expected_loss", "exposure"] | float = "expected_loss"
    max_mr1: float | None = Field(default=None, ge=0, le=1)
    max_mr2: float | None = Field(default=None, ge=0, le=1)
    max_mr3: float | None = Field(default=None, ge=0, le=1)
    max_el_rm2: float | None = Field(default=None, ge=0, description="largest EL_RM(2) "
                                     "under a scenario (amount)")

    @model_validator(mode="after")
    def _consistent(self) -> StressParams:
        if self.variables is not None:
            known = set(self.variables)
            for name, sc in self.scenarios.items():
                for where in ("inputs", "factors"):
                    unknown = [k for k in getattr(sc, where) if k not in known]
                    if unknown:
                        raise ValueError(f"scenario {name!r} shocks {unknown[0]!r}, which is "
                                         f"not among variables {sorted(known)}")
        has_inputs = any(sc.inputs for sc in self.scenarios.values())
        if not has_inputs and (self.max_mean_shift is not None
                               or self.max_flip_rate is not None):
            raise ValueError("max_mean_shift / max_flip_rate need a scenario with inputs")
        if self.max_mr3 is not None and self.ybar is None:
            raise ValueError("max_mr3 needs ybar (the overestimation limit)")
        if isinstance(self.mre, float) and self.mre <= 0:
            raise ValueError("mre must be a positive number")
        return self

    @property
    def risk_limits(self) -> dict[str, float]:
        return {k: v for k, v in (("MR1", self.max_mr1), ("MR2", self.max_mr2),
                                  ("MR3", self.max_mr3), ("EL_RM(2)", self.max_el_rm2))
                if v is not None}


# ----------------------------------------------------------------------------- inputs


def shocked_column(values: np.ndarray, shock: Shock, *, numeric: bool, scenario: str,
                   name: str) -> np.ndarray:
    """The column after the shock (NaN stays NaN under add / multiply)."""
    import numpy as np

    if shock.set is not None:
        if numeric and not isinstance(shock.set, float):
            raise CheckError(f"scenario {scenario!r}: input {name!r} is numeric; "
                             f"'={shock.set[:40]}' is not a number")
        if not numeric and isinstance(shock.set, float):
            raise CheckError(f"scenario {scenario!r}: input {name!r} holds categories; set "
                             "it to one of its levels as text ({set: 'level'})")
        return np.full(len(values), shock.set, dtype=float if numeric else object)
    if not numeric:
        raise CheckError(f"scenario {scenario!r}: input {name!r} holds categories; only "
                         "'=level' applies to it, not a shift or a factor")
    base = values.astype(float)
    with np.errstate(over="ignore", invalid="ignore"):
        out = base + shock.add if shock.add is not None else base * shock.multiply
    overflow = np.isfinite(base) & ~np.isfinite(out)
    if overflow.any():
        raise CheckError(f"scenario {scenario!r}: {shock.text} on input {name!r} gives "
                         f"{int(overflow.sum())} non-finite value(s) (overflow)")
    return out


def _input_measures(ctx: CheckContext, params: StressParams, seed: int,
                    notes: list[str]) -> tuple[dict[str, dict[str, Any]], str]:

    from ..evidence.datasets import load_dataset
    from .robustness import (
        Scorer,
        is_numeric,
        model_inputs,
        require_finite,
        sample_rows,
        stacked_frame,
    )

    ds = load_dataset(ctx, params.dataset)
    loaded, inputs = model_inputs(ctx, ds, "stress.scenario scores the shocked inputs with "
                                  "the model")
    for name, sc in params.scenarios.items():
        unknown = [k for k in sc.inputs if k not in inputs]
        if unknown:
            raise CheckError(f"scenario {name!r} shocks {unknown[0]!r}, which is not an input "
                             f"of the model {loaded.uri} (its inputs: {', '.join(inputs)})")
    rows, sample_note = sample_rows(ds, params.sample_size, seed)
    frame = ds.frame if rows is None else ds.frame.iloc[rows]
    base = {c: frame[c].to_numpy() for c in inputs}
    n = len(frame)
    names = [s for s, sc in params.scenarios.items() if sc.inputs]
    blocks: list[dict[str, np.ndarray]] = [{}]
    for s in names:
        blocks.append({c: shocked_column(base[c], shock, numeric=is_numeric(frame[c]),
                                         scenario=s, name=c)
                       for c, shock in params.scenarios[s].inputs.items()})
    scorer = Scorer(loaded, ds.spec.positive_label)
    try:
        scores = scorer(stacked_frame(base, inputs, blocks)).reshape(len(blocks), n)
    except CheckError:
        raise
    except Exception as exc:
        raise CheckError(f"the model {loaded.uri} failed to score the scenarios "
                         f"{names} on {ds.describe()}: {type(exc).__name__}: "
                         f"{str(exc)[:300]}") from None
    require_finite(scores[0], loaded.uri, f"{ds.describe()}")
    for b, s in enumerate(names, start=1):
        require_finite(scores[b], loaded.uri, f"scenario {s!r}")
    dec = scores >= params.decision_threshold
    out: dict[str, dict[str, Any]] = {}
    for b, s in enumerate(names, start=1):
        out[s] = {"mean score": float(scores[0].mean()),
                  "stressed mean score": float(scores[b].mean()),
                  "mean score shift": float(scores[b].mean() - scores[0].mean()),
                  "flip rate": float((dec[b] != dec[0]).mean()),
                  "positive decisions": float(dec[0].mean()),
                  "stressed positive decisions": float(dec[b].mean())}
    notes.append(loaded.note)
    notes.append(f"scores from the model's {scorer.how}; decisions: score >= "
                 f"{params.decision_threshold:g}; {n} rows of {ds.describe()}"
                 + (f" ({sample_note})" if sample_note else ""))
    return out, ds.source


# ----------------------------------------------------------------------------- backtest


def _read_backtest(ctx: CheckContext, params: StressParams) -> tuple[Backtest, str]:
    from ..evidence.datasets import file_sha256
    from ..risk import RiskInputError, read_backtest

    ref = ctx.evidence.backtest
    if ref is None:
        raise CheckError("stress.scenario: the scenarios shock backtest factors or set "
                         "MR / EL_RM(2) limits, but the evidence has no backtest; add "
                         "`backtest: {path: backtest.csv}` with the factor columns")
    path = ctx.evidence.open_file(ref.path, "backtest.path")
    if ref.sha256 and file_sha256(path) != ref.sha256:
        raise CheckError(f"backtest {ref.path} does not match the sha256 declared in the "
                         "evidence; the file changed after the evidence was recorded")
    try:
        bt = read_backtest(path, name=ctx.evidence.model.name, format=ref.format,
                           factors=params.factor_columns)
    except (RiskInputError, ValueError, TypeError) as exc:
        text = str(exc).replace(str(path), "the file") if isinstance(exc, RiskInputError) \
            and exc.__cause__ is None else f"the file cannot be read ({type(exc).__name__})"
        raise CheckError(f"backtest {ref.path}: {text}") from None
    return bt, ref.path


def _risk_measures(ctx: CheckContext, params: StressParams, seed: int,
                   notes: list[str]) -> tuple[dict[str, dict[str, Any]], str]:
    from ..risk import RiskInputError, analyse

    bt, source = _read_backtest(ctx, params)

    def run(scenario: dict[str, float] | None) -> Any:
        try:
            rep = analyse(bt, ybar=params.ybar, scenario=scenario, mre=params.mre,
                          variants=("systemic",), n_boot=0, seed=seed)
            return rep, rep.result("systemic")
        except RiskInputError as exc:
            raise CheckError(f"the systemic variant cannot be computed from backtest "
                             f"{source}: {exc}") from None

    base_rep, base = run(None)
    fit = base_rep.systemic_fit
    latest = dict(zip(fit.names, (float(v) for v in fit.latest), strict=True))
    rows: dict[str, dict[str, Any]] = {"(latest factors)": _risk_row(base, None, latest)}
    for name, sc in params.scenarios.items():
        unknown = [k for k in sc.factors if k not in latest]
        if unknown:
            raise CheckError(f"scenario {name!r} shocks factor {unknown[0]!r}, which is not a "
                             f"factor column of backtest {source} (factors: "
                             f"{', '.join(latest)})")
        values = {k: shock.number(latest[k]) for k, shock in sc.factors.items()}
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        if bad:
            raise CheckError(f"scenario {name!r}: factor {bad[0]!r} is not finite after the "
                             "shock")
        _, r = run(values or None)
        rows[name] = _risk_row(r, base, values)
    notes.append(f"systemic gap variant on backtest {source} ({bt.n} periods; MRE "
                 f"{fmt(base_rep.settings['mre'])} = {base_rep.settings['mre_source']}); "
                 f"latest factors {', '.join(f'{k} {fmt(v)}' for k, v in latest.items())}")
    return rows, source


def _risk_row(r: Any, base: Any, factors: dict[str, float]) -> dict[str, Any]:
    row: dict[str, Any] = {"factors": factors, "MR1": r.mr1, "MR2": r.mr2, "MR3": r.mr3,
                           "LGMR2": r.lgmr2, "EL_RM(2)": r.el_rm2, "gap mean": r.mean,
                           "gap sigma": r.sigma}
    for k in ("MR1", "MR2", "MR3", "EL_RM(2)"):
        v = row[k]
        if v is not None and not math.isfinite(v):
            raise CheckError(f"{k} under the scenario is not finite")
    if base is not None:
        row["MR2 change"] = r.mr2 - base.mr2
        row["EL_RM(2) change"] = (None if r.el_rm2 is None or base.el_rm2 is None
                                  else r.el_rm2 - base.el_rm2)
    return row


@check("stress.scenario", params=StressParams,
       summary="Declared stress scenarios on the model's inputs (mean score shift, decisions "
       "flipped) and on the backtest's external factors (MR1-3, EL_RM(2)) within limits")
def scenario(params: StressParams, ctx: CheckContext) -> CheckResult:
    """Fails when a scenario moves the mean score by more than `max_mean_shift`, flips more
    than `max_flip_rate` of the decisions, or gives MR1 / MR2 / MR3 / EL_RM(2) above their
    `max_*` limits in the systemic gap variant.

    Scenarios are declared, not coded: `inputs` shocks the model's input columns of the
    validation data (shift `"+3.0"`, factor `"x0.9"`, level `"=north"`), `factors` shocks the
    latest values of the backtest's external factors. The model scores the data as it is and
    under every scenario in one batched call (trusted model code); the systemic variant of the
    gap-based measures (mrm_gate.risk) is recomputed with the shocked factors. A shocked name
    that is neither a model input nor a backtest factor is an ERROR naming the scenario and
    the name (`variables:` lists the allowed names, so a typo fails when the policy loads).

    Rationale: supervisors expect material models to be challenged under adverse but
    plausible conditions (SR 26-2 outcomes analysis and limitations; EU AI Act Art. 15
    robustness): how far do the PDs move in a recession, and is the margin of conservatism
    still enough?

    Passing: `{scenarios: {recession: {inputs: {income: "x0.9"}, factors: {unemployment:
    "+3"}}}, max_mean_shift: 0.05, max_mr2: 0.25}` with a mean PD shift of +0.012 and MR2 of
    14% under the scenario.
    Failing: the same with `max_mr2: 0.10`.
    """
    seed = ctx.options.seed if params.seed is None else params.seed
    notes: list[str] = []
    inputs: dict[str, dict[str, Any]] = {}
    risk: dict[str, dict[str, Any]] = {}
    source = None
    if any(sc.inputs for sc in params.scenarios.values()):
        inputs, source = _input_measures(ctx, params, seed, notes)
    needs_backtest = bool(params.risk_limits) or any(sc.factors for sc in
                                                     params.scenarios.values())
    if needs_backtest or ctx.evidence.backtest is not None:
        try:
            risk, bt_source = _risk_measures(ctx, params, seed, notes)
            source = source or bt_source
        except CheckError as exc:
            if needs_backtest:
                raise
            notes.append(f"gap-based measures under the scenarios not computed: {exc}")
    problems: list[str] = []
    for name, row in inputs.items():
        if params.max_mean_shift is not None and \
                abs(row["mean score shift"]) > params.max_mean_shift:
            problems.append(f"{name}: mean score shift {row['mean score shift']:+.4g} beyond "
                            f"+/-{fmt(params.max_mean_shift)}")
        if params.max_flip_rate is not None and row["flip rate"] > params.max_flip_rate:
            problems.append(f"{name}: {_pct(row['flip rate'])} of decisions flipped > "
                            f"{_pct(params.max_flip_rate)}")
    for name, row in risk.items():
        if name == "(latest factors)":
            continue
        for key, limit in params.risk_limits.items():
            v = row[key]
            if v is None:
                raise CheckError(f"{key} was not computed under scenario {name!r}")
            if v > limit:
                shown = fmt if key == "EL_RM(2)" else _pct
                problems.append(f"{name}: {key} {shown(v)} > max {shown(limit)}")
    measured: dict[str, Any] = {}
    for name in params.scenarios:
        m: dict[str, Any] = {}
        if name in inputs:
            m["mean score shift"] = inputs[name]["mean score shift"]
            m["flip rate"] = inputs[name]["flip rate"]
        if name in risk:
            m.update({k: risk[name][k] for k in ("MR2", "EL_RM(2)")})
        measured[name] = m
    threshold: dict[str, Any] = {k: v for k, v in (("max_mean_shift", params.max_mean_shift),
                                                   ("max_flip_rate", params.max_flip_rate))
                                 if v is not None}
    threshold.update({f"max {k}": v for k, v in params.risk_limits.items()})
    details: dict[str, Any] = {
        "scenarios": {n: {"inputs": {k: s.text for k, s in sc.inputs.items()},
                          "factors": {k: s.text for k, s in sc.factors.items()},
                          **({"description": sc.description} if sc.description else {})}
                      for n, sc in params.scenarios.items()},
        "model outputs": inputs, "gap risk (systemic variant)": risk}
    if problems:
        status, message = Status.FAIL, "; ".join(problems)
    else:
        status = Status.PASS
        parts = []
        for name in params.scenarios:
            bits = []
            if name in inputs:
                bits.append(f"mean score {inputs[name]['mean score shift']:+.4g}, "
                            f"{_pct(inputs[name]['flip rate'])} flipped")
            if name in risk:
                bits.append(f"MR2 {_pct(risk[name]['MR2'])}, EL_RM(2) "
                            f"{fmt(risk[name]['EL_RM(2)'])}")
            parts.append(f"{name}: " + ", ".join(bits))
        message = "; ".join(parts) + " (within limits)"
    return CheckResult(status=status, message=message, measured=measured, threshold=threshold,
                       details=details, figures=_figures(params, inputs, risk), notes=notes,
                       evidence_file=source)


def _figures(params: StressParams, inputs: dict[str, dict[str, Any]],
             risk: dict[str, dict[str, Any]]) -> list[Figure]:
    figures = []
    if inputs:
        figures.append(_limit_bars(
            inputs, "flip rate", params.max_flip_rate, "Decisions flipped per scenario",
            "share of decisions changed", "Stress: decisions flipped",
            "red: above max_flip_rate"))
    if risk:
        figures.append(_limit_bars(
            risk, "MR2", params.max_mr2, "MR2 (uncovered loss) per scenario",
            "probability, systemic gap variant", "Stress: model risk under the scenarios",
            "first bar: the latest factors; red: above max_mr2"))
    return figures


def _limit_bars(rows: dict[str, dict[str, Any]], key: str, limit: float | None, title: str,
                value_label: str, figure_title: str, caption: str) -> Figure:
    """One bar per scenario, red above the limit, with the limit drawn."""
    from ..stats.plots import PALETTE, Line, bar_chart

    values = [row[key] for row in rows.values()]
    svg = bar_chart(list(rows), values, title=title,
                    colors=[PALETTE["red"] if limit is not None and v > limit
                            else PALETTE["bar"] for v in values],
                    lines=[Line(limit, PALETTE["red"], "max")] if limit is not None else [],
                    value_label=value_label)
    return Figure(title=figure_title, data=svg, caption=caption)


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.2f}%"
