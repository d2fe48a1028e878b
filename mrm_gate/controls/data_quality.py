"""Data quality: a Great Expectations 1.x suite (a team's suite file or inline) on a dataset.

GE's suite format and expectation semantics define the check. The common expectations are
evaluated natively with those semantics (mrm_gate.stats._expectations, tested against GE) and
only the rest go to GE, so a suite of null / range / set / uniqueness checks on a million rows
does not pay GE's ~3.5 s import. GE runs with an ephemeral context and no progress bars or
analytics: nothing is written to the user's project (no `gx/` folder), nothing is sent out.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from ..decision import CheckResult, Status
from ..errors import CheckError, EvidenceError
from ._util import Params
from .context import CheckContext
from .registry import check


class Expectation(Params):
    """One expectation as in a GE suite: `{type, kwargs, meta}` (GE 0.x `expectation_type`
    is accepted too)."""

    type: str
    kwargs: dict[str, Any] = Field(default_factory=dict)
    meta: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _legacy(cls, data: Any) -> Any:
        if isinstance(data, dict) and "expectation_type" in data and "type" not in data:
            data = {**data, "type": data["expectation_type"]}
            data.pop("expectation_type")
        return data


class DataQualityParams(Params):
    dataset: str = Field(default="validation", description="dataset role to validate")
    suite: str | None = Field(default=None, description="GE suite JSON: an evidence file, or "
                              "a path relative to the working directory")
    expectations: list[Expectation] = Field(default_factory=list,
                                            description="inline expectations")
    min_success_share: float = Field(default=1.0, ge=0, le=1,
                                     description="share of expectations that must pass")
    engine: Literal["auto", "great_expectations"] = Field(
        default="auto", description="auto: native GE semantics where supported, GE otherwise")

    @model_validator(mode="after")
    def _some(self) -> DataQualityParams:
        if not self.suite and not self.expectations:
            raise ValueError("give a `suite` file, inline `expectations`, or both")
        return self


def _suite_expectations(params: DataQualityParams, ctx: CheckContext) -> tuple[list[Expectation],
                                                                              str | None]:
    items = list(params.expectations)
    if not params.suite:
        return items, None
    path = _suite_path(params.suite, ctx)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckError(f"expectation suite {params.suite}: not readable JSON ({exc})") from None
    raw = data.get("expectations") if isinstance(data, dict) else None
    if not isinstance(raw, list):
        raise CheckError(f"expectation suite {params.suite} has no `expectations` list (a GE "
                         "suite JSON: {\"name\": ..., \"expectations\": [{\"type\": ..., "
                         "\"kwargs\": {...}}]})")
    for i, e in enumerate(raw):
        if not isinstance(e, dict):
            raise CheckError(f"expectation suite {params.suite}: expectations[{i}] is not an "
                             "object")
        t = e.get("type") or e.get("expectation_type")
        if not isinstance(t, str):
            raise CheckError(f"expectation suite {params.suite}: expectations[{i}] has no type")
        items.append(Expectation(type=t, kwargs=dict(e.get("kwargs") or {}),
                                 meta=dict(e.get("meta") or {})))
    return items, str(path)


def _suite_path(name: str, ctx: CheckContext) -> Path:
    p = Path(name)
    if p.is_absolute() and p.is_file():
        return p
    try:
        return ctx.evidence.open_file(name)
    except EvidenceError:
        pass
    if p.is_file():
        return p
    raise CheckError(f"expectation suite {name!r} not found in the evidence or relative to "
                     f"the working directory ({os.getcwd()})")


def _quiet_ge() -> None:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    for name in ("great_expectations", "great_expectations.core",
                 "great_expectations.data_context"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def run_with_great_expectations(items: list[Expectation], frame) -> list:
    """Validate with GE itself (ephemeral context) and return outcomes in suite order."""
    from ..stats._expectations import ExpectationOutcome, _examples, _jsonable

    _quiet_ge()
    try:
        import great_expectations as gx
        from great_expectations.core.expectation_suite import ExpectationSuite
        from great_expectations.data_context.types.base import ProgressBarsConfig
        from great_expectations.expectations.expectation_configuration import (
            ExpectationConfiguration,
        )
    except ImportError as exc:
        raise CheckError("data_quality.expectations needs great-expectations 1.x for these "
                         f"expectations (pip install 'mrm-gate[suites]'): {exc}") from None
    built = []
    for i, e in enumerate(items):
        # built one by one: ExpectationSuite(expectations=...) silently drops invalid entries
        try:
            built.append(ExpectationConfiguration(
                type=e.type, kwargs=e.kwargs, meta={**e.meta, "mrm_index": i}).to_domain_obj())
        except Exception as exc:
            raise CheckError(f"expectation {e.type} is not a valid GE expectation: "
                             f"{str(exc).splitlines()[0][:300]}") from None
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas("mrm_gate")
    batch = source.add_dataframe_asset("dataset").add_batch_definition_whole_dataframe(
        "all").get_batch(batch_parameters={"dataframe": frame})
    suite = ExpectationSuite(name="mrm_gate", expectations=built)
    result = batch.validate(suite, result_format={"result_format": "SUMMARY",
                                                  "partial_unexpected_count": 5})
    out: dict[int, Any] = {}
    for r in result.results:
        cfg = r.expectation_config
        idx = int(cfg.meta.get("mrm_index", len(out)))
        res = r.result or {}
        kwargs = {k: v for k, v in cfg.kwargs.items() if k != "batch_id"}
        out[idx] = ExpectationOutcome(
            type=cfg.type, kwargs=kwargs, success=bool(r.success),
            unexpected_count=res.get("unexpected_count"),
            unexpected_percent=res.get("unexpected_percent"),
            element_count=res.get("element_count"),
            observed_value=_jsonable(res["observed_value"]) if "observed_value" in res else None,
            examples=_examples(res.get("partial_unexpected_list") or []),
            error=_exception(r.exception_info), engine="great_expectations")
    if sorted(out) != list(range(len(items))):
        raise CheckError(f"Great Expectations returned {len(out)} results for {len(items)} "
                         "expectations; the suite was not fully evaluated")
    return [out[i] for i in sorted(out)]


def _exception(info: Any) -> str | None:
    if not isinstance(info, dict):
        return None
    if "raised_exception" in info:
        return info.get("exception_message") if info.get("raised_exception") else None
    for v in info.values():
        if isinstance(v, dict) and v.get("raised_exception"):
            return str(v.get("exception_message"))
    return None


def _row(o) -> dict:
    """A compact table row of one expectation's outcome."""
    args = {k: v for k, v in o.kwargs.items() if k != "column"}
    return {"expectation": o.type, "column": o.kwargs.get("column"),
            "args": ", ".join(f"{k}={v}" for k, v in args.items()) or None,
            "success": o.success, "unexpected": o.unexpected_count,
            "unexpected %": o.unexpected_percent, "observed": o.observed_value,
            "examples": o.examples or None, "engine": o.engine}


def _describe(o) -> str:
    col = o.kwargs.get("column")
    head = f"{o.type}({col})" if col else o.type
    if o.error:
        return f"{head}: could not be evaluated ({o.error})"
    bits = []
    if o.unexpected_count is not None:
        bits.append(f"{o.unexpected_count} unexpected ({(o.unexpected_percent or 0):.3g}%)")
    if o.observed_value is not None:
        bits.append(f"observed {o.observed_value}")
    if o.examples:
        bits.append(f"e.g. {o.examples[:3]}")
    return f"{head}: {', '.join(bits)}" if bits else head


@check("data_quality.expectations", params=DataQualityParams,
       summary="A Great Expectations suite (file or inline) passes on a dataset")
def expectations(params: DataQualityParams, ctx: CheckContext) -> CheckResult:
    """Fails when fewer than `min_success_share` of the expectations pass (default: all).

    Rationale: a model is only as sound as the data it was validated on; the team's own GE
    suite (or the policy's inline expectations) is the documented data contract. An expectation
    that cannot be evaluated (e.g. its column does not exist) makes the control ERROR.

    Passing: `expectations: [{type: expect_column_values_to_not_be_null, kwargs: {column: age}}]`
    on a dataset where age is never null.
    Failing: `{type: expect_column_values_to_be_between, kwargs: {column: age, min_value: 18,
    max_value: 70}}` with 6 ages above 70.
    """
    from ..evidence.datasets import load_dataset
    from ..stats._expectations import evaluate_native

    ds = load_dataset(ctx, params.dataset)
    items, suite_file = _suite_expectations(params, ctx)
    if not items:
        raise CheckError(f"expectation suite {params.suite} has no expectations")
    outcomes: list = [None] * len(items)
    if params.engine == "auto":
        for i, e in enumerate(items):
            outcomes[i] = evaluate_native(e.type, e.kwargs, ds.frame)
    rest = [i for i, o in enumerate(outcomes) if o is None]
    if rest:
        ge = run_with_great_expectations([items[i] for i in rest], ds.frame)
        for i, o in zip(rest, ge, strict=False):
            outcomes[i] = o
    errored = [o for o in outcomes if o.error]
    failed = [o for o in outcomes if not o.success and not o.error]
    share = (len(outcomes) - len(failed) - len(errored)) / len(outcomes)
    engines = sorted({o.engine for o in outcomes})
    notes = [f"{len(outcomes) - len(rest)} expectation(s) evaluated natively with GE semantics, "
             f"{len(rest)} by Great Expectations"] if params.engine == "auto" else []
    details = {"expectations": [_row(o) for o in outcomes], "dataset": ds.role,
               "rows": ds.n_rows, "suite_file": suite_file, "engines": engines}
    measured = {"success_share": share, "failed": len(failed), "evaluated": len(outcomes)}
    threshold = {"min_success_share": params.min_success_share}
    if errored:
        raise CheckError(f"{len(errored)} expectation(s) on {ds.describe()} could not be "
                         f"evaluated: " + "; ".join(_describe(o) for o in errored[:5]))
    if share < params.min_success_share:
        return CheckResult(
            status=Status.FAIL,
            message=f"{len(failed)} of {len(outcomes)} expectations failed on {ds.describe()} "
                    f"(success {share:.1%} < {params.min_success_share:.1%}): "
                    + "; ".join(_describe(o) for o in failed[:5])
                    + (" ..." if len(failed) > 5 else ""),
            measured=measured, threshold=threshold, details=details, notes=notes,
            evidence_file=ds.source)
    tail = f" ({len(failed)} failed, tolerated)" if failed else ""
    return CheckResult(status=Status.PASS,
                       message=f"{len(outcomes) - len(failed)} of {len(outcomes)} expectations "
                               f"passed on {ds.describe()}{tail}",
                       measured=measured, threshold=threshold, details=details, notes=notes,
                       evidence_file=ds.source)
