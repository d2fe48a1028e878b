"""Performance checks: a metric within bounds, and no regression against the baseline."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from ..decision import CheckResult, Status
from ..errors import CheckError
from ._util import Params, fmt
from .context import CheckContext
from .registry import check


def metric_value(metrics: dict[str, Any], name: str, whose: str) -> float:
    """A metric that must exist and be a finite real number; otherwise the control errors.

    inf (`.inf`, `1e400`, MLflow's "Infinity"), NaN, booleans and strings (even "0.9") are not
    measurements: each would compare as a pass against some bound, so none may reach one.
    """
    from ..evidence.measure import finite_number

    if name not in metrics:
        known = ", ".join(sorted(map(str, metrics))[:12]) or "none"
        raise CheckError(f"metric {name!r} is missing from {whose} (logged metrics: {known})")
    return finite_number(
        metrics[name], f"metric {name!r} of {whose}",
        "log its real value as a number (mlflow.log_metric, or `metrics:` in evidence.yaml); "
        "when the evaluation gave no finite value, the evaluation failed and must be fixed",
    )


class ThresholdParams(Params):
    metric: str
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _bound(self) -> ThresholdParams:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        return self


@check("performance.threshold", params=ThresholdParams,
       summary="A run metric lies within [min, max]")
def threshold(params: ThresholdParams, ctx: CheckContext) -> CheckResult:
    """Fails when the metric is below `min` or above `max`; a missing or NaN metric errors.

    Rationale: every tier above low should state the performance it was approved on.

    Passing: `{metric: auc, min: 0.7}` with auc = 0.78.
    Failing: `{metric: auc, min: 0.7}` with auc = 0.64 (and ERROR when auc was never logged).
    """
    value = metric_value(ctx.evidence.run.metrics, params.metric, "the run")
    bounds = {k: v for k, v in (("min", params.min), ("max", params.max)) if v is not None}
    problems = []
    if params.min is not None and value < params.min:
        problems.append(f"{params.metric} {fmt(value)} < min {fmt(params.min)}")
    if params.max is not None and value > params.max:
        problems.append(f"{params.metric} {fmt(value)} > max {fmt(params.max)}")
    if problems:
        return CheckResult(status=Status.FAIL, message="; ".join(problems),
                           measured={params.metric: value}, threshold=bounds)
    shown = " and ".join(f"{k} {fmt(v)}" for k, v in bounds.items())
    return CheckResult(status=Status.PASS,
                       message=f"{params.metric} {fmt(value)} within {shown}",
                       measured={params.metric: value}, threshold=bounds)


class NoRegressionParams(Params):
    metric: str
    baseline_alias: str | None = "champion"
    baseline_version: str | None = None
    higher_is_better: bool = True
    tolerance: float = Field(default=0.0, ge=0, description="absolute worsening allowed")
    relative_tolerance: float | None = Field(
        default=None, ge=0, description="worsening allowed as a share of the baseline value"
    )
    on_missing_baseline: Literal["pass", "skip", "fail"] = Field(
        default="skip",
        description="no version holds the baseline (first model): pass, skip or fail",
    )

    @model_validator(mode="after")
    def _one_baseline(self) -> NoRegressionParams:
        if self.baseline_version is not None:
            self.baseline_alias = None
        if self.baseline_alias is None and self.baseline_version is None:
            raise ValueError("give baseline_alias or baseline_version")
        return self


def _target_holder(ctx: CheckContext, params: NoRegressionParams) -> str | None:
    """Who holds the target alias, when it is not the baseline alias and not this version.

    The first model ever promoted is the documented exception to "a no-regression control
    compares": nothing holds the target yet. When another version does hold it, a missing
    baseline is an error, not a skip. A registry that cannot be read raises (ERROR).
    """
    target = ctx.target
    if not target or params.baseline_version is not None:
        return None
    if params.baseline_alias and params.baseline_alias.lower() == target.lower():
        return None
    ev = ctx.evidence
    recorded = ev.baselines.get(target)  # an exported folder records the holder by alias
    version = recorded.version if recorded is not None else None
    if version is None and ctx.baseline is not None:
        other = ctx.baseline(alias=target)
        version = other.model.version if other is not None else None
    if version is None or str(version) == str(ev.model.version):
        return None
    return f"version {version} holds the target @{target}"


@check("performance.no_regression", params=NoRegressionParams,
       summary="A metric is not worse than the baseline version's (e.g. @champion)")
def no_regression(params: NoRegressionParams, ctx: CheckContext) -> CheckResult:
    """Compares the candidate's metric with the version holding the baseline alias.

    Rationale: a challenger must not be worse than the champion it replaces, beyond a stated
    tolerance. With no baseline (the first model), `on_missing_baseline` says what happens.

    Passing: candidate auc 0.80, champion auc 0.79, tolerance 0.
    Failing: candidate auc 0.75, champion auc 0.79, tolerance 0.01.
    """
    ev = ctx.evidence
    key = params.baseline_alias or f"version:{params.baseline_version}"
    label = (f"@{params.baseline_alias}" if params.baseline_alias
             else f"version {params.baseline_version}")
    base = ev.baselines.get(key)
    base_version, base_metrics = (base.version, base.metrics) if base else (None, None)
    if base is None and ctx.baseline is not None:
        other = ctx.baseline(alias=params.baseline_alias, version=params.baseline_version)
        if other is not None:
            base_version, base_metrics = other.model.version, other.run.metrics
    if base_metrics is None:
        holder = _target_holder(ctx, params)
        if holder is not None:
            raise CheckError(
                f"no baseline: no version holds {label}, but {holder}; compare against "
                "the version being replaced (set baseline_alias to the target alias) or "
                "record the baseline (fail closed: a missing baseline is not a skip when a "
                "model is already in place)")
        msg = (f"no baseline: no version holds {label}"
               + (f" and none holds @{ctx.target} (the first model promoted)"
                  if ctx.target else ""))
        if params.on_missing_baseline == "fail":
            return CheckResult(status=Status.FAIL, message=msg + " (on_missing_baseline: fail)")
        if params.on_missing_baseline == "skip":
            return CheckResult(status=Status.SKIPPED, message=msg + " (on_missing_baseline: skip)")
        return CheckResult(status=Status.PASS, message=msg + " (on_missing_baseline: pass)")
    if base_version is not None and str(base_version) == str(ev.model.version):
        cand = metric_value(ev.run.metrics, params.metric, "the run")
        return CheckResult(status=Status.PASS, measured={params.metric: cand},
                           message=f"this version already holds {label}; nothing to compare")
    cand = metric_value(ev.run.metrics, params.metric, "the candidate's run")
    ref = metric_value(base_metrics, params.metric, f"the baseline ({label}, v{base_version})")
    allowed = params.tolerance
    if params.relative_tolerance is not None:
        allowed = max(allowed, abs(ref) * params.relative_tolerance)
    worsening = (ref - cand) if params.higher_is_better else (cand - ref)
    measured = {params.metric: cand, "baseline": ref, "baseline_version": base_version,
                "change": cand - ref}
    thr = {"max_worsening": allowed, "direction": "higher" if params.higher_is_better else "lower"}
    if worsening > allowed + 1e-12:
        return CheckResult(
            status=Status.FAIL, measured=measured, threshold=thr,
            message=(f"{params.metric} {fmt(cand)} is worse than {label} (v{base_version}) "
                     f"{fmt(ref)} by {fmt(worsening)} > allowed {fmt(allowed)}"),
        )
    return CheckResult(
        status=Status.PASS, measured=measured, threshold=thr,
        message=(f"{params.metric} {fmt(cand)} vs {label} (v{base_version}) {fmt(ref)}: "
                 "no regression"),
    )
