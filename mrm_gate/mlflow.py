"""Client side of the MLflow integration: `promote()` and the messages the gate shows.

`promote(name, version, alias=..., policy=...)` evaluates the version, and sets the alias only on
approval. The refusal text is built by `refusal_message`, which the server plugin uses too, so a
data scientist reads the same words whether the client helper or the gated server refused.

mlflow is imported inside functions (the CLI's `--help` must not pay for it).
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import MrmGateError

# Request header that asks a gated server for an emergency override; its value is the reason,
# percent-encoded (HTTP header values are Latin-1). The plugin also registers an MLflow request
# header provider that sends it from `MRM_GATE_BREAK_GLASS_REASON`, so the plain MlflowClient
# can use break-glass too.
BREAK_GLASS_HEADER = "X-MRM-Gate-Break-Glass"
BREAK_GLASS_ENV = "MRM_GATE_BREAK_GLASS_REASON"
MAX_LISTED_FAILURES = 8


class PromotionRefused(MrmGateError):
    """The gate (local evaluation or the server) refused the promotion. Exit code 1."""

    exit_code = 1

    def __init__(self, message: str, decision: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.decision = decision

    def __str__(self) -> str:
        return self.message


def action_text(name: str, version: str, *, alias: str | None = None,
                stage: str | None = None) -> str:
    if alias is not None:
        return f"setting alias @{alias} on model {name!r} version {version}"
    return f"moving model {name!r} version {version} to stage {stage!r}"


def refusal_message(decision: Any, *, action: str, report: str | None) -> str:
    """What a refused promotion says: verdict, failing control IDs and messages, the report."""
    failing = decision.failing()
    ids = ", ".join(o.control_id for o in failing) or "none"
    lines = [
        f"mrm-gate refused {action}: verdict {decision.verdict.value} under policy "
        f"{decision.policy.name!r} (tier {decision.tier.tier}, decision {decision.id}).",
        f"Failing controls: {ids}",
    ]
    for o in failing[:MAX_LISTED_FAILURES]:
        msg = " ".join(str(o.result.message).split())
        lines.append(f"  - {o.control_id} ({o.severity.value}) {o.status.value}: {msg}"
                     + (f" Fix: {o.remediation}" if o.remediation else ""))
    if len(failing) > MAX_LISTED_FAILURES:
        lines.append(f"  ... and {len(failing) - MAX_LISTED_FAILURES} more in the report")
    if report:
        lines.append(f"Report: {report}")
    return "\n".join(lines)


def encode_reason(reason: str) -> str:
    return urllib.parse.quote(reason, safe=" .,;:-_()/#@")


def decode_reason(value: str) -> str:
    return urllib.parse.unquote(value).strip()


@dataclass
class PromotionResult:
    decision: Any
    alias: str | None
    stage: str | None
    reports: list[Path] = field(default_factory=list)
    attestation: Path | None = None
    notes: list[str] = field(default_factory=list)


def promote(
    name: str,
    version: str | int,
    alias: str | None = None,
    *,
    policy: str | Path,
    stage: str | None = None,
    waivers: str | Path | None = None,
    tracking_uri: str | None = None,
    attest_key: str | None = None,
    break_glass_reason: str | None = None,
    output_dir: str | Path | None = None,
    formats: tuple[str, ...] = ("json", "html"),
    decision_log: str | Path | None = None,
    checkpoint: tuple[str, str] | None = None,
    timeout_s: float = 10.0,
    trust_model_code: bool = False,
) -> PromotionResult:
    """Evaluate `name` version `version` for `alias` (or `stage`), and promote only on approval.

    With `attest_key`, the signed decision record is attached to the version (tag
    `mrm.gate.attestation`) before the alias is set, which is what a server in `attestation`
    mode verifies. Raises `PromotionRefused` with the same text the gated server uses when the
    verdict is BLOCK or when the server refuses.
    """
    from .controls.context import EvaluationOptions
    from .decision import Verdict
    from .errors import UserError
    from .evidence.mlflow_source import MlflowSource, resolve_tracking_uri
    from .evidence.source import SourceSettings
    from .gate import DecisionLogRecorder, GateRequest, Recording, ReportFiles, run_gate

    if (alias is None) == (stage is None):
        raise UserError("give exactly one of alias or stage")
    version = str(version)
    target = alias if alias is not None else stage
    turi = resolve_tracking_uri(tracking_uri)
    request = GateRequest(subject=f"models:/{name}/{version}", policy=policy, waivers=waivers,
                          target=target,
                          options=EvaluationOptions(trust_model_code=trust_model_code))
    source = MlflowSource(SourceSettings(tracking_uri=turi, timeout_s=timeout_s))
    recorders: list = []
    if checkpoint is not None and (not all(checkpoint) or not decision_log):
        raise UserError("a checkpoint needs a decision log, a checkpoint file and its key")
    if decision_log:  # the log first: no report claims a decision the log does not hold
        recorders.append(DecisionLogRecorder(decision_log, kind="client_promote",
                                             checkpoint=checkpoint))
    if output_dir:
        recorders.append(ReportFiles(output_dir, list(formats)))
    recording = Recording()
    decision = run_gate(request, source, recorders=recorders, recording=recording)
    result = PromotionResult(decision=decision, alias=alias, stage=stage,
                             reports=list(recording.paths))
    action = action_text(name, version, alias=alias, stage=stage)
    if decision.verdict == Verdict.BLOCK and not break_glass_reason:
        report = str(result.reports[-1]) if result.reports else None
        raise PromotionRefused(refusal_message(decision, action=action, report=report), decision)

    from mlflow.exceptions import MlflowException

    from .evidence.mlflow_source import bounded_http

    with bounded_http(timeout_s):
        try:
            if attest_key:
                from .attestation import ATTESTATION_TAG, dumps, load_key, sign_decision

                envelope = sign_decision(decision, load_key(attest_key))
                _client(turi).set_model_version_tag(name, version, ATTESTATION_TAG,
                                                    dumps(envelope))
                if output_dir:
                    from .attestation import write_attestation

                    result.attestation = write_attestation(decision, attest_key, output_dir)
            _set(turi, name, version, alias=alias, stage=stage,
                 break_glass_reason=break_glass_reason)
        except MlflowException as exc:
            raise PromotionRefused(server_message(exc), decision) from None
        if attest_key and decision.model.run_id:
            # A server in attestation mode does not evaluate, so the report on the run comes
            # from here; uploaded after the promotion, as new run artifacts change the evidence.
            try:
                _upload_reports(turi, decision)
            except MlflowException as exc:
                result.notes.append(f"report not stored on the run: {server_message(exc)}")
    return result


def _upload_reports(tracking_uri: str, decision: Any) -> None:
    from .gate.recorders import ClientRegistryWriter, MlflowReportArtifact, Recording

    MlflowReportArtifact(ClientRegistryWriter(tracking_uri)).record(decision, Recording())


def server_message(exc: Exception) -> str:
    """The gated server's refusal text, without the client's `PERMISSION_DENIED: ` prefix."""
    text = str(getattr(exc, "message", exc))
    for prefix in ("PERMISSION_DENIED: ",):
        if text.startswith(prefix):
            text = text[len(prefix):]
    return text


def _client(tracking_uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def _set(tracking_uri: str, name: str, version: str, *, alias: str | None, stage: str | None,
         break_glass_reason: str | None) -> None:
    """Set the alias (or stage); with a break-glass reason, send the override header."""
    if not break_glass_reason:
        client = _client(tracking_uri)
        if alias is not None:
            client.set_registered_model_alias(name, alias, version)
        else:
            client.transition_model_version_stage(name, version, stage)
        return
    from mlflow.utils.credentials import get_default_host_creds
    from mlflow.utils.rest_utils import http_request, verify_rest_response

    if alias is not None:
        endpoint, body = "/api/2.0/mlflow/registered-models/alias", {
            "name": name, "alias": alias, "version": version}
    else:
        endpoint, body = "/api/2.0/mlflow/model-versions/transition-stage", {
            "name": name, "version": version, "stage": stage,
            "archive_existing_versions": False}
    resp = http_request(get_default_host_creds(tracking_uri), endpoint, "POST", json=body,
                        extra_headers={BREAK_GLASS_HEADER: encode_reason(break_glass_reason)})
    verify_rest_response(resp, endpoint)
