"""The engine: tier -> controls for the target -> results -> waivers -> Decision.

Fail closed everywhere: a check that raises is an ERROR, an ERROR of a blocking control blocks,
and an evaluation that cannot even start (unknown declared tier, evidence that cannot be read)
still produces a BLOCK decision that says why.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterable

from . import __version__
from .controls.context import BaselineResolver, CheckContext, EvaluationOptions
from .decision import (
    CheckResult,
    ControlOutcome,
    Decision,
    ModelRef,
    PolicyRef,
    Severity,
    Status,
    TierResolution,
    Verdict,
    WaiverInfo,
)
from .errors import CheckError, EvidenceError, UserError
from .evidence.measure import first_non_finite
from .evidence.model import Evidence
from .policy.loader import Policy, ResolvedControl
from .policy.model import Waiver
from .tiering import TierError, resolve_tier

GATE_EVIDENCE_CONTROL = "MRM-GATE-EVIDENCE"
GATE_TIER_CONTROL = "MRM-GATE-TIER"


def _policy_ref(policy: Policy) -> PolicyRef:
    return PolicyRef(
        name=policy.metadata.name,
        version=policy.metadata.version,
        path=policy.path,
        sha256=policy.sha256,
        files=policy.files,
    )


def model_ref(evidence: Evidence) -> ModelRef:
    return ModelRef(
        name=evidence.model.name,
        version=evidence.model.version,
        uri=evidence.uri,
        source_kind=evidence.source_kind,
        tracking_uri=evidence.tracking_uri,
        run_id=evidence.model.run_id or evidence.run.run_id,
    )


def run_control(rc: ResolvedControl, ctx: CheckContext) -> tuple[CheckResult, float]:
    """Run one control's check; any exception becomes an ERROR result (fail closed)."""
    start = time.perf_counter()
    try:
        if rc.check is None or rc.params is None:
            raise CheckError(f"control {rc.id} has no resolved check")
        result = rc.check(rc.params, ctx)
        if not isinstance(result, CheckResult):
            raise CheckError(
                f"check {rc.check.name!r} returned {type(result).__name__}, not a CheckResult"
            )
        if result.status == Status.WAIVED:
            raise CheckError(f"check {rc.check.name!r} returned WAIVED; only the engine waives")
        if result.status == Status.PASS:
            # a pass on inf / NaN anywhere in what was measured is no pass (fail closed):
            # inf >= min and NaN compared with anything slip past a threshold unnoticed
            where = first_non_finite(result.measured)
            if where is not None:
                raise CheckError(
                    f"check {rc.check.name!r} passed on a non-finite measurement"
                    f"{' (' + where + ')' if where else ''}; a measurement must be a finite "
                    "number: fix the evidence it was computed from"
                )
    except (CheckError, EvidenceError, UserError) as exc:
        result = CheckResult(status=Status.ERROR, message=str(exc))
    except Exception as exc:  # a buggy check must not pass, nor crash the gate
        result = CheckResult(
            status=Status.ERROR,
            message=f"check raised {type(exc).__name__}: {exc}",
            notes=["internal error in the check; run with --debug for details"],
        )
        ctx.notes.append(f"{rc.id}: {type(exc).__name__} in check {rc.control.check}")
    return result, time.perf_counter() - start


def _waiver_info(w: Waiver, expired: bool, source: str | None) -> WaiverInfo:
    return WaiverInfo(id=w.id, control=w.control, model=w.model, version=w.version,
                      reason=w.reason, approver=w.approver, expires=w.expires, expired=expired,
                      source=source)


def apply_waivers(
    outcome: ControlOutcome,
    evidence: Evidence,
    waivers: Iterable[Waiver],
    today: dt.date,
    source: str | None,
) -> None:
    for w in waivers:
        if w.control != outcome.control_id or w.model != evidence.model.name:
            continue
        if w.version not in ("*", str(evidence.model.version)):
            continue
        if w.expires < today:
            outcome.expired_waivers.append(_waiver_info(w, True, source))
            continue
        if outcome.status in (Status.FAIL, Status.ERROR) and outcome.waiver is None:
            outcome.waiver = _waiver_info(w, False, source)
            outcome.status = Status.WAIVED


def decide(outcomes: list[ControlOutcome]) -> tuple[Verdict, list[str]]:
    """BLOCK if a blocking control failed/errored unwaived; CONDITIONAL if only warnings or
    waived failures; else APPROVE. Returns the verdict and one reason line per finding."""
    reasons: list[str] = []
    verdict = Verdict.APPROVE
    for o in outcomes:
        line = f"{o.control_id} ({o.severity.value}) {o.status.value}: {o.result.message}"
        if o.status in (Status.FAIL, Status.ERROR):
            if o.severity == Severity.BLOCK:
                verdict = Verdict.BLOCK
                reasons.append(line)
            elif o.severity == Severity.WARN:
                if verdict != Verdict.BLOCK:
                    verdict = Verdict.CONDITIONAL
                reasons.append(line)
        elif o.status == Status.WAIVED:
            if verdict != Verdict.BLOCK:
                verdict = Verdict.CONDITIONAL
            assert o.waiver is not None
            reasons.append(f"{line} (waived by {o.waiver.id}, approver {o.waiver.approver}, "
                           f"expires {o.waiver.expires})")
    if verdict == Verdict.APPROVE:
        reasons.append("every applicable control passed")
    return verdict, reasons


def evaluate(
    policy: Policy,
    evidence: Evidence,
    *,
    target: str | None = None,
    waivers: Iterable[Waiver] = (),
    waivers_file: str | None = None,
    options: EvaluationOptions | None = None,
    baseline: BaselineResolver | None = None,
    actor: str | None = None,
    progress=None,
    source=None,
) -> Decision:
    """Evaluate `evidence` against `policy` for `target` and return the Decision."""
    options = options or EvaluationOptions()
    started = time.perf_counter()
    now = options.now or dt.datetime.now(dt.timezone.utc)
    waivers = list(waivers)
    try:
        tier = resolve_tier(policy, evidence)
    except TierError as exc:
        return blocked_decision(
            policy, model_ref(evidence), target, str(exc), control_id=GATE_TIER_CONTROL,
            evidence_sha256=evidence.content_sha256(), actor=actor, now=now,
            tier=TierResolution(tier=policy.tiering.default, source="invalid",
                                explanation=str(exc)),
        )
    controls = policy.controls_for(tier.tier, target)
    cache: dict = {}
    notes: list[str] = []
    outcomes: list[ControlOutcome] = []
    for i, rc in enumerate(controls):
        if progress is not None:
            progress(i, len(controls), rc.id)
        ctx = CheckContext(evidence=evidence, target=target, control_id=rc.id, options=options,
                           baseline=baseline, cache=cache, notes=notes, source=source)
        result, took = run_control(rc, ctx)
        outcome = ControlOutcome(
            control_id=rc.id, check=rc.control.check or "", severity=rc.control.severity,
            status=result.status, result=result, description=rc.control.description,
            remediation=rc.control.remediation, refs=rc.control.refs, duration_s=took,
            policy_file=rc.file, policy_line=rc.line, tier=rc.tier,
        )
        apply_waivers(outcome, evidence, waivers, now.date(), waivers_file)
        outcomes.append(outcome)
    if progress is not None:
        progress(len(controls), len(controls), "")
    verdict, reasons = decide(outcomes)
    if not controls:
        notes.append(f"tier {tier.tier!r} has no controls for target {target!r}")
    return Decision(
        id=str(uuid.uuid4()), created_at=now, verdict=verdict, model=model_ref(evidence),
        target=target, tier=tier, policy=_policy_ref(policy),
        evidence_sha256=evidence.content_sha256(),
        evidence_provenance=_provenance(evidence), outcomes=outcomes, waivers_file=waivers_file,
        tool_version=__version__, duration_s=time.perf_counter() - started, reasons=reasons,
        notes=notes, actor=actor,
    )


def _provenance(evidence: Evidence) -> dict:
    prov = {"source": evidence.source_kind, "uri": evidence.uri}
    if evidence.tracking_uri:
        prov["tracking_uri"] = evidence.tracking_uri
    if evidence.run.run_id:
        prov["run_id"] = evidence.run.run_id
    if evidence.model.source:
        prov["model_source"] = evidence.model.source
    if evidence.model.created_at:
        prov["version_created_at"] = evidence.model.created_at.isoformat()
    if evidence.model.creator:
        prov["version_creator"] = evidence.model.creator
    if evidence.datasets:
        prov["datasets"] = {k: v.path for k, v in evidence.datasets.items()}
    return prov


def blocked_decision(
    policy: Policy,
    model: ModelRef,
    target: str | None,
    reason: str,
    *,
    control_id: str = GATE_EVIDENCE_CONTROL,
    evidence_sha256: str = "",
    actor: str | None = None,
    now: dt.datetime | None = None,
    tier: TierResolution | None = None,
) -> Decision:
    """A BLOCK decision for an evaluation that could not run (fail closed), saying why."""
    now = now or dt.datetime.now(dt.timezone.utc)
    outcome = ControlOutcome(
        control_id=control_id, check="gate.precondition", severity=Severity.BLOCK,
        status=Status.ERROR, result=CheckResult(status=Status.ERROR, message=reason),
        description="The gate could not evaluate the policy; it blocks (fail closed).",
        remediation="Fix the cause named in the message and evaluate again.",
    )
    return Decision(
        id=str(uuid.uuid4()), created_at=now, verdict=Verdict.BLOCK, model=model, target=target,
        tier=tier or TierResolution(tier=policy.tiering.default, source="unresolved",
                                    explanation="evaluation did not start"),
        policy=_policy_ref(policy), evidence_sha256=evidence_sha256, outcomes=[outcome],
        tool_version=__version__, reasons=[f"{control_id} (block) ERROR: {reason}"], actor=actor,
    )
