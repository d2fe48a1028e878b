"""Decisions built by hand for the CI renderers' tests: one per verdict, plus awkward cases.

They do not go through the engine on purpose: the renderers are pure functions of a Decision, and
these cover combinations (waived + expired waiver + skipped + error in one model, hostile text) that
a real evaluation produces only with a lot of setup.
"""

from __future__ import annotations

import datetime as dt

from mrm_gate.decision import (
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

POLICY = "policies/credit.yaml"
NOW = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.timezone.utc)


def outcome(cid: str, status: Status, severity: Severity = Severity.BLOCK, *, line: int = 10,
            check: str = "performance.threshold", message: str | None = None,
            measured=None, threshold=None, evidence_file: str | None = None,
            waiver: WaiverInfo | None = None, expired: list[WaiverInfo] | None = None,
            refs: list[str] | None = None, policy_file: str | None = POLICY) -> ControlOutcome:
    result_status = Status.FAIL if status == Status.WAIVED else status
    return ControlOutcome(
        control_id=cid, check=check, severity=severity, status=status,
        result=CheckResult(status=result_status, message=message or f"{cid} {status.value}",
                           measured=measured, threshold=threshold, evidence_file=evidence_file),
        description=f"Description of {cid}", remediation=f"Do what {cid} asks.",
        refs=refs if refs is not None else ["sr11-7:validation", "eu-ai-act:art-15"],
        duration_s=0.0125, waiver=waiver, expired_waivers=expired or [],
        policy_file=policy_file, policy_line=line if policy_file else None, tier="high",
    )


def waiver(wid: str, control: str, *, expires: dt.date, expired: bool = False) -> WaiverInfo:
    return WaiverInfo(id=wid, control=control, model="credit-pd", version="*",
                      reason="compensating manual review", approver="cro@example.com",
                      expires=expires, expired=expired, source="waivers.yaml")


def decision(name: str, verdict: Verdict, outcomes: list[ControlOutcome], *,
             version: str = "3", source_kind: str = "local", uri: str | None = None,
             did: str = "00000000-0000-4000-8000-000000000001") -> Decision:
    return Decision(
        id=did, created_at=NOW, verdict=verdict,
        model=ModelRef(name=name, version=version, source_kind=source_kind,
                       uri=uri if uri is not None else f"models/{name}"),
        target="champion",
        tier=TierResolution(tier="high", source="tag", explanation="tag mrm.tier=high"),
        policy=PolicyRef(name="credit", version="1.2", path=POLICY, sha256="ab" * 32,
                         files=[POLICY]),
        evidence_sha256="cd" * 32, outcomes=outcomes, tool_version="0.1.0", duration_s=1.5,
        reasons=[f"{o.control_id} {o.status.value}" for o in outcomes
                 if o.status in (Status.FAIL, Status.ERROR, Status.WAIVED)],
    )


def approved() -> Decision:
    return decision("credit-approve", Verdict.APPROVE, [
        outcome("MRM-PERF-001", Status.PASS, measured=0.81, threshold={"min": 0.75}, line=12),
        outcome("MRM-DOC-001", Status.PASS, check="metadata.required", line=20),
        outcome("MRM-FAIR-001", Status.SKIPPED, check="fairness.disparity",
                message="no sensitive attribute declared", line=30),
    ], did="00000000-0000-4000-8000-00000000000a")


def conditional() -> Decision:
    return decision("credit-pd", Verdict.CONDITIONAL, [
        outcome("MRM-PERF-001", Status.PASS, measured=0.8, threshold={"min": 0.75}, line=12,
                expired=[waiver("W-OLD", "MRM-PERF-001", expires=dt.date(2024, 1, 1),
                                expired=True)]),
        outcome("MRM-DRIFT-001", Status.FAIL, Severity.WARN, check="drift.psi",
                measured={"income": 0.31}, threshold={"max": 0.25}, line=41,
                evidence_file="data/current.csv"),
        outcome("MRM-FAIR-001", Status.WAIVED, check="fairness.disparity", measured=0.12,
                threshold={"max": 0.1}, line=52,
                waiver=waiver("W-7", "MRM-FAIR-001", expires=dt.date(2025, 6, 30))),
    ], did="00000000-0000-4000-8000-00000000000b")


def blocked() -> Decision:
    return decision("credit-block", Verdict.BLOCK, [
        outcome("MRM-PERF-001", Status.FAIL, measured=0.61, threshold={"min": 0.75}, line=12,
                message="AUC 0.61 is below the minimum 0.75", evidence_file="predictions.csv"),
        outcome("MRM-DOC-001", Status.ERROR, check="metadata.required", line=20,
                message="model card model_card.md cannot be read"),
        outcome("MRM-FAIR-001", Status.SKIPPED, check="fairness.disparity", line=30),
        outcome("MRM-GOV-001", Status.FAIL, Severity.INFO, check="governance.review_age",
                line=60, measured=400, threshold={"max_days": 365}),
        outcome("MRM-EXPL-001", Status.PASS, check="explainability.shap", line=70),
    ], did="00000000-0000-4000-8000-00000000000c")


def precondition_blocked() -> Decision:
    """What the engine returns when evidence cannot be read: one ERROR with no policy line."""
    return decision("credit-broken", Verdict.BLOCK, [
        outcome("MRM-GATE-EVIDENCE", Status.ERROR, check="gate.precondition", policy_file=None,
                refs=[], message="evidence folder models/credit-broken has no evidence.yaml"),
    ], did="00000000-0000-4000-8000-00000000000d")


def mlflow_blocked() -> Decision:
    return decision("credit-mlflow", Verdict.BLOCK, [
        outcome("MRM-DOC-001", Status.FAIL, check="metadata.required", line=20,
                evidence_file="model_card.md", message="missing: model card section limitations"),
    ], source_kind="mlflow", uri="models:/credit-mlflow/4", version="4",
        did="00000000-0000-4000-8000-00000000000e")


def hostile() -> Decision:
    """Text that breaks naive XML, JSON, Markdown and workflow-command writers."""
    nasty = "bad\x00byte, 100% sure: a::b\r\nnext | line <tag> & \"q\" ✓ \U0001F600"
    return decision("we|rd, model: 100%", Verdict.BLOCK, [
        outcome("MRM-PERF-001", Status.FAIL, message=nasty, measured=float("nan"),
                threshold={"min": 0.75}, evidence_file="dir with space/ü.csv",
                refs=["x:y"]),
    ], uri="models/we rd", did="00000000-0000-4000-8000-00000000000f")


ALL = {"approved": approved, "conditional": conditional, "blocked": blocked,
       "precondition": precondition_blocked, "mlflow": mlflow_blocked, "hostile": hostile}
