"""The one result type: Status, CheckResult, ControlOutcome, Decision.

Every reporter is a pure function of `Decision`; the JSON report is `Decision.model_dump_json()`
and its schema (`DECISION_SCHEMA_VERSION`) is documented in docs/decision-schema.md.
"""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

DECISION_SCHEMA_VERSION = "1.0"


class Status(str, Enum):
    """Outcome of one control. ERROR is the explicit unknown: never counted as a pass."""

    PASS = "PASS"
    FAIL = "FAIL"
    ERROR = "ERROR"
    SKIPPED = "SKIPPED"
    WAIVED = "WAIVED"


class Severity(str, Enum):
    BLOCK = "block"
    WARN = "warn"
    INFO = "info"


class Verdict(str, Enum):
    APPROVE = "APPROVE"
    CONDITIONAL = "CONDITIONAL"
    BLOCK = "BLOCK"

    @property
    def rank(self) -> int:
        return {"APPROVE": 0, "CONDITIONAL": 1, "BLOCK": 2}[self.value]


class Figure(BaseModel):
    """A picture a check attaches to its result (SVG text or base64 PNG), shown in HTML."""

    title: str
    media_type: str = "image/svg+xml"  # or image/png (then `data` is base64)
    data: str
    caption: str | None = None


class CheckResult(BaseModel):
    """What a check returns: its verdict on the evidence, and the numbers behind it.

    `measured` and `threshold` are short, human-readable values (scalars or small mappings)
    shown in every report; `details` carries tables (e.g. per-group metrics) as JSON-able data.
    """

    model_config = ConfigDict(extra="forbid")

    status: Status
    message: str
    measured: Any = None
    threshold: Any = None
    details: dict[str, Any] = Field(default_factory=dict)
    figures: list[Figure] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)  # e.g. "SHAP on a 1000-row sample, seed 0"
    evidence_file: str | None = None  # where the measured value came from, when it is a file


class WaiverInfo(BaseModel):
    id: str
    control: str
    model: str
    version: str
    reason: str
    approver: str
    expires: dt.date
    expired: bool = False
    source: str | None = None  # waivers file


class ControlOutcome(BaseModel):
    """One control as evaluated: its definition, the check's result, timing and waiver."""

    control_id: str
    check: str
    severity: Severity
    status: Status
    result: CheckResult
    description: str | None = None
    remediation: str | None = None
    refs: list[str] = Field(default_factory=list)
    duration_s: float = 0.0
    waiver: WaiverInfo | None = None
    expired_waivers: list[WaiverInfo] = Field(default_factory=list)
    policy_file: str | None = None
    policy_line: int | None = None
    tier: str | None = None  # the tier whose list contributed this control


class ModelRef(BaseModel):
    name: str
    version: str | None = None
    uri: str | None = None
    source_kind: str = "local"  # "mlflow" or "local"
    tracking_uri: str | None = None
    run_id: str | None = None


class PolicyRef(BaseModel):
    name: str
    version: str | None = None
    path: str | None = None
    sha256: str
    files: list[str] = Field(default_factory=list)


class TierResolution(BaseModel):
    tier: str
    source: str  # "tag", "rule", "default", "override"
    explanation: str


class Decision(BaseModel):
    """The gate's verdict on one model version for one target, with everything behind it."""

    schema_version: str = DECISION_SCHEMA_VERSION
    id: str
    created_at: dt.datetime
    verdict: Verdict
    model: ModelRef
    target: str | None = None
    tier: TierResolution
    policy: PolicyRef
    evidence_sha256: str
    evidence_provenance: dict[str, Any] = Field(default_factory=dict)
    outcomes: list[ControlOutcome] = Field(default_factory=list)
    waivers_file: str | None = None
    tool_version: str
    duration_s: float = 0.0
    reasons: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    actor: str | None = None  # who asked (authenticated user on the server)

    def counts(self) -> dict[str, int]:
        out = {s.value: 0 for s in Status}
        for o in self.outcomes:
            out[o.status.value] += 1
        return out

    def failing(self) -> list[ControlOutcome]:
        """Controls that failed or errored and were not waived, worst severity first."""
        order = {Severity.BLOCK: 0, Severity.WARN: 1, Severity.INFO: 2}
        bad = [o for o in self.outcomes if o.status in (Status.FAIL, Status.ERROR)]
        return sorted(bad, key=lambda o: (order[o.severity], o.control_id))
