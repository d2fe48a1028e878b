"""Drift: reference vs current, per feature and on the model's output, with KRI levels.

Per column: PSI on reference-quantile bins (numeric) or categories, Kolmogorov-Smirnov,
normed Wasserstein, chi-square, Jensen-Shannon, computed natively on columns sorted / coded once
per evaluation (mrm_gate.stats, equal to Evidently's stat tests on the same data); any other of
Evidently's stat tests by name (`evidently:anderson`, `evidently:hellinger`, ...).

Levels follow the key-risk-indicator practice: green, yellow (warn), red (block). A policy
usually declares two controls on the same check, `fail_on: yellow` with severity warn and
`fail_on: red` with severity block; the statistics are computed once and shared between them.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, field_validator, model_validator

from ..decision import CheckResult, Figure, Status
from ..errors import CheckError
from ._util import Params, fmt
from .context import CheckContext
from .registry import check

LEVELS = ("green", "yellow", "red")
MAX_THREADS = 4


@dataclass(frozen=True)
class Method:
    name: str
    lower_is_drift: bool  # p-values: drift when small; distances: drift when large
    yellow: float
    red: float
    kinds: frozenset[str]


NATIVE_METHODS = {
    "psi": Method("psi", False, 0.1, 0.25, frozenset({"numeric", "categorical"})),
    "ks": Method("ks", True, 0.05, 0.01, frozenset({"numeric"})),
    "wasserstein": Method("wasserstein", False, 0.1, 0.2, frozenset({"numeric"})),
    "jensenshannon": Method("jensenshannon", False, 0.1, 0.2,
                            frozenset({"numeric", "categorical"})),
    "chisquare": Method("chisquare", True, 0.05, 0.01, frozenset({"categorical"})),
}
# Evidently's stat tests whose score is a p-value (drift when below the threshold)
EVIDENTLY_P_VALUE_TESTS = {"anderson", "chisquare", "cramer_von_mises", "es", "fisher_exact",
                           "g_test", "ks", "mannw", "empirical_mmd", "t_test", "TVD", "z"}
EVIDENTLY_PREFIX = "evidently:"


class Levels(Params):
    yellow: float | None = None
    red: float | None = None


class ColumnOverride(Params):
    methods: list[str] | None = None
    yellow: float | None = None
    red: float | None = None
    kind: Literal["numeric", "categorical"] | None = None


class DriftParams(Params):
    reference: str = Field(default="reference", description="dataset role of the baseline")
    current: str = Field(default="current", description="dataset role compared with it")
    columns: list[str] | None = Field(default=None, description="default: the reference's "
                                      "features (columns with no other role)")
    numeric_methods: list[str] = Field(default_factory=lambda: ["psi"], min_length=1)
    categorical_methods: list[str] = Field(default_factory=lambda: ["psi"], min_length=1)
    thresholds: dict[str, Levels] = Field(default_factory=dict,
                                          description="per method: {yellow, red}")
    per_column: dict[str, ColumnOverride] = Field(default_factory=dict)
    categorical: list[str] = Field(default_factory=list,
                                   description="numeric columns to treat as categories")
    bins: int = Field(default=10, ge=2, le=100, description="PSI reference-quantile bins")
    fail_on: Literal["yellow", "red"] = "red"
    max_drifted_share: float = Field(default=0.0, ge=0, le=1, description="share of columns "
                                     "allowed at the fail_on level")
    plots: int = Field(default=3, ge=0, le=20, description="histograms of the most drifted")

    @field_validator("numeric_methods", "categorical_methods")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        for m in v:
            _method_def(m)
        return v

    @model_validator(mode="after")
    def _kinds(self) -> DriftParams:
        for m in self.numeric_methods:
            if m in NATIVE_METHODS and "numeric" not in NATIVE_METHODS[m].kinds:
                raise ValueError(f"{m} does not apply to numeric columns")
        for m in self.categorical_methods:
            if m in NATIVE_METHODS and "categorical" not in NATIVE_METHODS[m].kinds:
                raise ValueError(f"{m} does not apply to categorical columns")
        for name, lv in self.thresholds.items():
            _method_def(name)
            _check_order(_method_def(name), lv.yellow, lv.red, name)
        return self


class PredictionDriftParams(DriftParams):
    column: Literal["score", "prediction"] | None = Field(
        default=None, description="which model output; default score if declared, else "
        "prediction")


def _method_def(name: str) -> Method:
    if name in NATIVE_METHODS:
        return NATIVE_METHODS[name]
    if name.startswith(EVIDENTLY_PREFIX) and len(name) > len(EVIDENTLY_PREFIX):
        test = name[len(EVIDENTLY_PREFIX):]
        p = test in EVIDENTLY_P_VALUE_TESTS
        return Method(name, p, 0.05 if p else 0.1, 0.05 if p else 0.1,
                      frozenset({"numeric", "categorical"}))
    raise ValueError(f"unknown drift method {name!r}; use one of {sorted(NATIVE_METHODS)} or "
                     f"'evidently:<stattest name>' (e.g. evidently:anderson)")


def _check_order(m: Method, yellow: float | None, red: float | None, where: str) -> None:
    y = m.yellow if yellow is None else yellow
    r = m.red if red is None else red
    if (m.lower_is_drift and r > y) or (not m.lower_is_drift and r < y):
        raise ValueError(f"{where}: red {r} must be {'below' if m.lower_is_drift else 'above'}"
                         f" yellow {y} for {m.name}")


def _levels(params: DriftParams, method: str, column: str) -> tuple[float, float, bool]:
    m = _method_def(method)
    y, r = m.yellow, m.red
    lv = params.thresholds.get(method)
    if lv is not None:
        y = y if lv.yellow is None else lv.yellow
        r = r if lv.red is None else lv.red
    ov = params.per_column.get(column)
    if ov is not None:
        y = y if ov.yellow is None else ov.yellow
        r = r if ov.red is None else ov.red
    return y, r, m.lower_is_drift


def level_of(value: float, yellow: float, red: float, lower_is_drift: bool) -> str:
    if value is None or math.isnan(value):
        return "red"  # an undefined statistic is not green (fail closed)
    if lower_is_drift:
        return "red" if value < red else "yellow" if value < yellow else "green"
    return "red" if value >= red else "yellow" if value >= yellow else "green"


# ----------------------------------------------------------------------------- computation


def _column_kind(params: DriftParams, ref, cur, col: str) -> str:
    ov = params.per_column.get(col)
    if ov is not None and ov.kind:
        return ov.kind
    if col in params.categorical:
        return "categorical"
    rn, cn = ref.is_numeric(col), cur.is_numeric(col)
    if rn != cn:
        raise CheckError(f"mismatched schemas: column {col!r} is "
                         f"{'numeric' if rn else 'non-numeric'} in {ref.describe()} but "
                         f"{'numeric' if cn else 'non-numeric'} in {cur.describe()}")
    return "numeric" if rn else "categorical"


def _statistic(ctx: CheckContext, ref, cur, col: str, kind: str, method: str, bins: int):
    """One statistic, cached per evaluation (yellow and red controls share it)."""
    from .. import stats

    key = f"drift:{ref.sha256}:{cur.sha256}:{col}:{kind}:{method}:{bins}"
    if key in ctx.cache:
        return ctx.cache[key]
    if method.startswith(EVIDENTLY_PREFIX):
        result = _evidently(ref, cur, col, kind, method[len(EVIDENTLY_PREFIX):])
    elif kind == "numeric":
        a, b = ref.sorted(col), cur.sorted(col)
        fn = {"psi": lambda: stats.psi_numeric(a, b, bins=bins),
              "ks": lambda: stats.ks_sorted(a, b),
              "wasserstein": lambda: stats.wasserstein_norm_sorted(a, b),
              "jensenshannon": lambda: stats.jensenshannon_numeric(a, b)}[method]
        result = fn()
    else:
        c = _category_counts(ctx, ref, cur, col)
        if method == "psi":
            result = stats.psi_categorical(c.reference, c.current, c.reference_missing,
                                           c.current_missing)
        elif method == "jensenshannon":
            result = stats.jensenshannon_categorical(c.reference, c.current)
        else:
            result = stats.chisquare_categorical(c.reference, c.current, c.n_reference,
                                                 c.n_current)
    ctx.cache[key] = result
    return result


def _category_counts(ctx: CheckContext, ref, cur, col: str):
    from .. import stats

    key = f"drift-counts:{ref.sha256}:{cur.sha256}:{col}"
    if key not in ctx.cache:
        ctx.cache[key] = stats.category_counts(ref.column(col), cur.column(col))
    return ctx.cache[key]


def _evidently(ref, cur, col: str, kind: str, name: str):
    from ..stats import DriftStat

    try:
        from evidently.legacy.calculations.stattests import get_stattest
        from evidently.legacy.core import ColumnType
    except ImportError as exc:
        raise CheckError(f"drift method evidently:{name} needs evidently 0.7 "
                         f"(pip install 'mrm-gate[suites]'): {exc}") from None
    ctype = ColumnType.Numerical if kind == "numeric" else ColumnType.Categorical
    a = ref.column(col).dropna().reset_index(drop=True)
    b = cur.column(col).dropna().reset_index(drop=True)
    try:
        test = get_stattest(a, b, ctype, name)
        res = test(a, b, ctype, None)
    except Exception as exc:
        raise CheckError(f"evidently:{name} failed on column {col!r}: {exc}") from None
    return DriftStat(f"evidently:{name}", float(res.drift_score))


def _validate_columns(ref, cur, cols: list[str]) -> None:
    missing_ref = [c for c in cols if c not in ref.frame.columns]
    missing_cur = [c for c in cols if c not in cur.frame.columns]
    if missing_ref or missing_cur:
        parts = []
        if missing_ref:
            parts.append(f"missing from {ref.describe()}: {missing_ref}")
        if missing_cur:
            parts.append(f"missing from {cur.describe()}: {missing_cur}")
        raise CheckError("mismatched schemas between reference and current: "
                         + "; ".join(parts))
    for ds in (ref, cur):
        empty = [c for c in cols if ds.frame[c].isna().all()]
        if empty:
            raise CheckError(f"column(s) {empty} are entirely missing (all NaN) in "
                             f"{ds.describe()}; drift cannot be measured on them")


def evaluate_drift(params: DriftParams, ctx: CheckContext, ref, cur, cols: list[str],
                   what: str, notes: list[str] | None = None) -> CheckResult:
    """Statistics per column and method, levels, and the control's verdict."""
    from ..evidence.datasets import task_progress

    _validate_columns(ref, cur, cols)
    plan = []
    for col in cols:
        kind = _column_kind(params, ref, cur, col)
        ov = params.per_column.get(col)
        methods = (ov.methods if ov and ov.methods else
                   params.numeric_methods if kind == "numeric" else params.categorical_methods)
        for method in methods:
            if method in NATIVE_METHODS and kind not in NATIVE_METHODS[method].kinds:
                raise CheckError(f"drift method {method} does not apply to {kind} column "
                                 f"{col!r}; set per_column.{col}.methods")
        plan.append((col, kind, methods))

    def column_stats(item):
        col, kind, methods = item
        return [_statistic(ctx, ref, cur, col, kind, m, params.bins) for m in methods]

    rows: list[dict] = []
    # Columns in parallel threads: sorting and binary searches release the GIL.
    workers = min(len(plan), os.cpu_count() or 1, MAX_THREADS)
    with task_progress(ctx, f"drift on {len(cols)} columns", len(cols)) as advance, \
            ThreadPoolExecutor(max_workers=max(workers, 1)) as pool:
        futures = [pool.submit(column_stats, item) for item in plan]
        for (col, kind, methods), fut in zip(plan, futures, strict=True):
            row: dict = {"column": col, "kind": kind, "level": "green", "stats": {}}
            for method, stat in zip(methods, fut.result(), strict=True):
                y, r, lower = _levels(params, method, col)
                lv = level_of(stat.value, y, r, lower)
                row["stats"][method] = {"value": stat.value, "level": lv, "yellow": y, "red": r,
                                        **({"statistic": stat.extra["statistic"]}
                                           if "statistic" in stat.extra else {})}
                if LEVELS.index(lv) > LEVELS.index(row["level"]):
                    row["level"] = lv
            rows.append(row)
            advance()
    at_level = [r for r in rows if LEVELS.index(r["level"]) >= LEVELS.index(params.fail_on)]
    share = len(at_level) / len(rows)
    counts = {lv: sum(r["level"] == lv for r in rows) for lv in LEVELS}
    measured = {"drifted_share": share, "columns": len(rows), **counts}
    threshold = {"fail_on": params.fail_on, "max_drifted_share": params.max_drifted_share}
    details = {"columns": [_flat(r) for r in rows], "levels": _level_table(rows),
               "reference": ref.role, "current": cur.role, "reference_rows": ref.n_rows,
               "current_rows": cur.n_rows}
    figures = _figures(params, ctx, ref, cur, rows, what)
    worst = sorted(at_level, key=lambda r: _severity(r), reverse=True)
    shown = ", ".join(_describe(r) for r in worst[:5]) + (" ..." if len(worst) > 5 else "")
    failed = share > params.max_drifted_share
    if failed:
        message = (f"{len(at_level)} of {len(rows)} {what} at {params.fail_on} level or worse "
                   f"(share {share:.2f} > {params.max_drifted_share:g}): {shown}")
    else:
        message = (f"{counts['green']} green, {counts['yellow']} yellow, {counts['red']} red of "
                   f"{len(rows)} {what} (fail on {params.fail_on})")
        flagged = sorted((r for r in rows if r["level"] != "green"), key=_severity, reverse=True)
        if flagged:
            message += "; " + ", ".join(f"{r['level']}: {_describe(r)}" for r in flagged[:5])
    return CheckResult(status=Status.FAIL if failed else Status.PASS, message=message,
                       measured=measured, threshold=threshold, details=details, figures=figures,
                       notes=notes or [], evidence_file=cur.source)


def _flat(row: dict) -> dict:
    """One table row per column: its level, then each method's value and level."""
    out = {"column": row["column"], "kind": row["kind"], "level": row["level"]}
    for m, s in row["stats"].items():
        out[m] = s["value"]
        out[f"{m} level"] = s["level"]
        if "statistic" in s:
            out[f"{m} statistic"] = s["statistic"]
    return out


def _level_table(rows: list[dict]) -> list[dict]:
    """The yellow / red thresholds in force, per method (and per column where overridden)."""
    seen: dict[tuple, list[str]] = {}
    for r in rows:
        for m, s in r["stats"].items():
            seen.setdefault((m, s["yellow"], s["red"]), []).append(r["column"])
    return [{"method": m, "yellow": y, "red": rd,
             "drift when": "below" if _method_def(m).lower_is_drift else "at or above",
             "columns": cols} for (m, y, rd), cols in seen.items()]


def _severity(row: dict) -> tuple[int, float]:
    psi = row["stats"].get("psi", {}).get("value", 0.0)
    return LEVELS.index(row["level"]), psi if psi == psi else math.inf


def _describe(row: dict) -> str:
    parts = [f"{m} {fmt(s['value'])}" for m, s in row["stats"].items()]
    return f"{row['column']} ({', '.join(parts)})"


def _figures(params: DriftParams, ctx: CheckContext, ref, cur, rows: list[dict],
             what: str) -> list[Figure]:
    from ..stats.plots import PALETTE, Line, bar_chart, paired_histogram

    figures = []
    first = [next(iter(r["stats"])) for r in rows]
    if len(set(first)) == 1:
        method = first[0]
        y, r, lower = _levels(params, method, "")
        values = [row["stats"][method]["value"] for row in rows]
        colors = [PALETTE[row["stats"][method]["level"]] for row in rows]
        lines = [] if lower else [Line(y, PALETTE["yellow"], "yellow"),
                                  Line(r, PALETTE["red"], "red")]
        svg = bar_chart([row["column"] for row in rows], values,
                        title=f"{method} per column ({what})", colors=colors, lines=lines)
        figures.append(Figure(title=f"Drift per column: {method}", data=svg,
                              caption=f"green / yellow / red levels; {ref.role} vs {cur.role}"))
    ranked = sorted(rows, key=_severity, reverse=True)
    for row in [r for r in ranked if r["level"] != "green"][: params.plots] or ranked[:1]:
        labels, rs, cs = _histogram(ctx, ref, cur, row, params.bins)
        svg = paired_histogram(labels, rs, cs, title=f"{row['column']} ({row['level']})")
        figures.append(Figure(title=f"Distribution of {row['column']}", data=svg,
                              caption=f"share per bin, {ref.role} vs {cur.role}"))
    return figures


def _histogram(ctx: CheckContext, ref, cur, row: dict, bins: int):
    import numpy as np

    from .. import stats

    col = row["column"]
    if row["kind"] == "numeric":
        a, b = ref.sorted(col), cur.sorted(col)
        edges = stats.quantile_edges(a, bins)
        rc = np.diff(np.concatenate(([0], np.searchsorted(a.values, edges, "right"), [a.n])))
        cc = np.diff(np.concatenate(([0], np.searchsorted(b.values, edges, "right"), [b.n])))
        labels = [f"<= {fmt(e)}" for e in edges] + [f"> {fmt(edges[-1])}" if len(edges)
                                                     else "all"]
        return labels, list(rc / max(a.n, 1)), list(cc / max(b.n, 1))
    c = _category_counts(ctx, ref, cur, col)
    order = np.argsort(-c.reference)[:15]
    return ([str(c.keys[i]) for i in order], list(c.reference[order] / max(c.n_reference, 1)),
            list(c.current[order] / max(c.n_current, 1)))


@check("drift.features", params=DriftParams,
       summary="Per-feature drift (PSI/KS/chi2/JS) of current vs reference at yellow/red levels")
def features(params: DriftParams, ctx: CheckContext) -> CheckResult:
    """Fails when the share of features at the `fail_on` level exceeds `max_drifted_share`.

    Rationale: a model validated on one population and scored on another is outside its
    validated domain; PSI with 0.1 / 0.25 yellow / red levels is the credit-risk KRI practice.

    Passing: `{fail_on: red}` with every feature's PSI below 0.25 (some yellow are tolerated).
    Failing: `{fail_on: red}` with `credit_amount` PSI 0.41 in current vs reference.
    """
    from ..evidence.datasets import load_dataset

    ref = load_dataset(ctx, params.reference)
    cur = load_dataset(ctx, params.current)
    cols = params.columns if params.columns is not None else ref.feature_names()
    if not cols:
        raise CheckError(f"{ref.describe()} has no feature columns to compare")
    return evaluate_drift(params, ctx, ref, cur, list(cols), "features")


@check("drift.prediction", params=PredictionDriftParams,
       summary="Drift of the model's score or prediction distribution, current vs reference")
def prediction(params: PredictionDriftParams, ctx: CheckContext) -> CheckResult:
    """Fails when the model output's drift statistic reaches the `fail_on` level.

    Rationale: output drift is the earliest sign that approval rates or expected losses move,
    even when each input drifts only a little.

    Passing: score PSI 0.04 between reference and current.
    Failing: score PSI 0.31 (red) with `fail_on: red`.
    """
    from ..evidence.datasets import load_dataset, model_output

    ref = load_dataset(ctx, params.reference)
    cur = load_dataset(ctx, params.current)
    kind = params.column or ("score" if ref.spec.score else "prediction")
    notes: list[str] = []
    name = f"model {kind}"
    outputs = []
    for ds in (ref, cur):
        out = model_output(ctx, ds, kind)
        if out.note and out.note not in notes:
            notes.append(out.note)
        outputs.append(out.values)
    return evaluate_drift(params, ctx, _output_view(ref, name, outputs[0]),
                          _output_view(cur, name, outputs[1]), [name], "model outputs", notes)


def _output_view(ds, name: str, values):
    """A one-column Dataset over a model output array (reusing Dataset's column caching)."""
    import pandas as pd

    from ..evidence.datasets import Dataset

    key = ("output-view", name)
    if key not in ds._prepared:
        spec = ds.spec.model_copy(update={"features": [name], "target": None,
                                          "prediction": None, "score": None, "sensitive": []})
        ds._prepared[key] = Dataset(role=ds.role, spec=spec, frame=pd.DataFrame({name: values}),
                                    sha256=f"{ds.sha256}:{name}", source=ds.source)
    return ds._prepared[key]
