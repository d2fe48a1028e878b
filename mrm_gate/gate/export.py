"""Policy-aware evidence export: a bundle with everything a policy's controls read.

The evidence layer exports what the evidence names (datasets, card, backtest, the model when
asked); only a policy knows the rest, and the evidence layer may not import policies. So this
module reads the policy and tells the export what else to put into the folder:

* Great Expectations suites named by `data_quality.expectations` controls (`params.suite`): from
  the evidence when it holds them, else from the working directory, as the check finds them;
* the baseline of every `performance.no_regression` control (`baseline_alias` or
  `baseline_version`), and who holds the requested target alias: offline, the folder compares
  against the same numbers and knows whether another version holds the target;
* the model, when a control reads it (`explainability.shap`; fairness and prediction drift on a
  dataset without a declared prediction / score column; a third-party check that declares
  `needs=("model",)`).

The manifest (`mrm-export.json`) records the policy, the target and which control reads what.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import EvidenceError
from ..evidence.export import BundleFile, IncludeModel, add_manifest_context
from ..evidence.model import Evidence
from ..evidence.source import EvidenceSource

DEFAULT_BASELINES = ("champion",)


@dataclass
class ExportPlan:
    """What a policy reads beyond the evidence's own files."""

    baseline_keys: list[str] = field(default_factory=list)  # aliases and `version:N`
    suites: list[BundleFile] = field(default_factory=list)
    model_readers: list[str] = field(default_factory=list)  # control ids that load the model
    notes: list[str] = field(default_factory=list)
    reads: dict[str, list[str]] = field(default_factory=dict)  # control id -> what it reads
    tier: str | None = None


def _controls(policy: Any, evidence: Evidence, target: str | None) -> tuple[list[Any],
                                                                           str | None, str]:
    """The controls that run for this evidence and target; every control of every tier when
    the tier cannot be resolved (the gate then blocks anyway; the bundle stays complete)."""
    from ..tiering import TierError, resolve_tier

    try:
        tier = resolve_tier(policy, evidence).tier
        return policy.controls_for(tier, target), tier, f"tier {tier!r}"
    except TierError as exc:
        seen: dict[str, Any] = {}
        for controls in policy.effective.values():
            for rc in controls:
                seen.setdefault(f"{rc.tier}:{rc.id}", rc)
        return list(seen.values()), None, f"every tier (the tier cannot be resolved: {exc})"


def _spec(evidence: Evidence, role: str):
    return evidence.datasets.get(role)


def _lacks(evidence: Evidence, role: str, kind: str) -> bool:
    spec = _spec(evidence, role)
    return spec is None or not getattr(spec, kind)


def _model_reader(check: str, params: Any, evidence: Evidence, rc: Any) -> bool:
    """Whether the control may load the model (mirrors where checks call `load_model`)."""
    if check == "explainability.shap":
        return True
    if check == "fairness.disparity":
        spec = _spec(evidence, params.dataset)
        by_score = (spec is not None and spec.score and not spec.prediction
                    and params.score_threshold is not None)
        return _lacks(evidence, params.dataset, "prediction") and not by_score
    if check == "drift.prediction":
        ref = _spec(evidence, params.reference)
        kind = params.column or ("score" if ref is not None and ref.score else "prediction")
        return _lacks(evidence, params.reference, kind) or _lacks(evidence, params.current,
                                                                   kind)
    needs = getattr(rc.check, "needs", frozenset()) or frozenset()
    return "model" in needs


def _suite(name: str, evidence: Evidence, control_id: str, plan: ExportPlan) -> None:
    """The suite file as `data_quality._suite_path` finds it: an evidence file first, then a
    file relative to the working directory. Absolute paths are read in place by the check."""
    from ..evidence.containment import check_relative

    why = f"{control_id} params.suite"
    if Path(name).is_absolute():
        plan.notes.append(f"{why} {name!r} is an absolute path: the check reads it in place, so "
                          "it is not copied into the bundle")
        return
    try:
        check_relative(name, why)
    except EvidenceError as exc:
        plan.notes.append(f"{exc.message}; not copied into the bundle")
        return
    try:
        evidence.open_file(name, why)
        plan.suites.append(BundleFile(name, why=why))  # an evidence file: copied from there
        return
    except EvidenceError:
        pass
    local = Path(name)
    if local.is_file():
        plan.suites.append(BundleFile(name, local=local.resolve(), why=why))
    else:
        plan.notes.append(f"{why} {name!r} is neither in the evidence nor in the working "
                          "directory; the control errors, here and offline")


def plan_export(policy: Any, evidence: Evidence, *, target: str | None = None) -> ExportPlan:
    """What `policy`'s controls read beyond the evidence's own files, for `target`."""
    controls, tier, scope = _controls(policy, evidence, target)
    plan = ExportPlan(tier=tier)
    plan.notes.append(f"controls of {scope}" + (f" for target {target!r}" if target else ""))
    if target:
        plan.baseline_keys.append(target)  # who holds the target alias (a first promotion?)
    for rc in controls:
        check = rc.control.check or ""
        params = rc.params
        reads: list[str] = []
        if params is None:
            continue
        if check == "performance.no_regression":
            key = (params.baseline_alias if params.baseline_alias
                   else f"version:{params.baseline_version}")
            plan.baseline_keys.append(key)
            reads.append(f"baseline {key}")
        elif check == "data_quality.expectations" and params.suite:
            _suite(params.suite, evidence, rc.id, plan)
            reads.append(f"suite {params.suite}")
        if _model_reader(check, params, evidence, rc):
            plan.model_readers.append(rc.id)
            reads.append("the model")
        if reads:
            plan.reads[rc.id] = reads
    return plan


def export_for_policy(
    source: EvidenceSource,
    evidence: Evidence,
    out: str | Path,
    *,
    policy: Any = None,
    target: str | None = None,
    include_model: bool = False,
    baseline_aliases: Sequence[str] = DEFAULT_BASELINES,
) -> Path:
    """Export `evidence` with what `policy` (a path or a loaded Policy) reads for `target`.

    Without a policy: the evidence's files, the baselines named, the holder of `target`, and
    the model only with `include_model`. With one, the model is exported when a control reads
    it (when it cannot be, the manifest says why: the control errors offline as it does
    online); `include_model=True` makes a model that cannot be exported an error.
    """
    from ..evidence.export import check_destination

    check_destination(out)  # before reading anything
    plan = ExportPlan()
    policy_info: dict[str, Any] | None = None
    if policy is not None:
        from .pipeline import load_request_policy
        from .request import GateRequest

        loaded, _ = load_request_policy(GateRequest(subject="", policy=policy))
        plan = plan_export(loaded, evidence, target=target)
        policy_info = {"name": loaded.metadata.name, "version": loaded.metadata.version,
                       "sha256": loaded.sha256}
    elif target:
        plan.baseline_keys.append(target)
    keys = list(dict.fromkeys([*baseline_aliases, *plan.baseline_keys]))
    model: IncludeModel = include_model or ("auto" if plan.model_readers else False)
    path = source.export(evidence, out, include_model=model, baseline_aliases=keys,
                         extra_files=plan.suites)
    context: dict[str, Any] = {"target": target, "baseline_keys": keys,
                               "model_read_by": plan.model_readers, "notes": plan.notes}
    if policy_info is not None:
        context["policy"] = policy_info
        context["tier"] = plan.tier
        context["reads"] = plan.reads
    add_manifest_context(path.parent, context)
    return path
