"""The gate service: one pipeline that every channel composes.

    request = GateRequest(subject="models:/credit/3", policy="policy.yaml", target="champion")
    decision = run_gate(request, recorders=[DecisionLogRecorder("decisions.jsonl"),
                                            ReportFiles("reports", ["json", "html"])])

`run_gate` owns every fail-closed precondition (evidence that cannot be read, an evaluation that
errors: a BLOCK decision that says why); channels (CLI `evaluate`, `promote`, the gated MLflow
server, the webhook receiver, `ci github`, `policy test`) build a request, pick recorders, and
act on the Decision. None re-implements loading or recording.
"""

from __future__ import annotations

from .pipeline import run_gate
from .recorders import (
    AttestationFile,
    DecisionLogRecorder,
    MlflowDecisionRecorder,
    Recorder,
    Recording,
    RecordingFailed,
    ReportFiles,
    decision_tags,
)
from .request import GateRequest

__all__ = [
    "AttestationFile",
    "DecisionLogRecorder",
    "GateRequest",
    "MlflowDecisionRecorder",
    "Recorder",
    "Recording",
    "RecordingFailed",
    "ReportFiles",
    "decision_tags",
    "run_gate",
]
