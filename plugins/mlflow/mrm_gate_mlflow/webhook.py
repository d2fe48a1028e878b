"""Webhook receiver: the fallback for MLflow servers that cannot run the gate plugin.

MLflow's webhooks fire after a change, so they cannot stop a promotion; the receiver reacts:

* `model_version_alias.created` for a protected alias: evaluate the version for that alias; on
  BLOCK (or any failure to decide and record) move the alias back to the last version whose
  approval for it the receiver can *prove* (approvals.py: its own decision log or a verified
  attestation; tags are never proof), or remove the alias when there is none or with
  `webhook.revert: remove`;
* `model_version.created`: evaluate early (all controls, no target) and tag, so owners see the
  verdict before anyone promotes.

Both run on the gate pipeline (`mrm_gate.gate.run_gate` with the MLflow evidence source and the
report-artifact, decision-log and registry-tag recorders): nothing here loads evidence or
records a decision itself.

Requests are checked before any work: headers first (a missing or malformed signature,
timestamp or delivery id is refused before the body is read), a body limit (413, enforced while
reading), then MLflow's signature (`X-MLflow-Signature: v1,<base64 HMAC-SHA256 of
"<delivery id>.<timestamp>.<body>">`), recency (`tolerance_s`), replay (a delivery id seen before
is acknowledged, not processed again) and the payload's shape (400). Work happens on one
background thread, in arrival order, so MLflow's delivery (30 s timeout) never waits for an
evaluation.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import hmac
import json
import logging
import queue
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mrm_gate.errors import UserError

from .config import GateConfig

_logger = logging.getLogger("mrm_gate_mlflow.webhook")

SIGNATURE_HEADER = "X-MLflow-Signature"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
DELIVERY_HEADER = "X-MLflow-Delivery-Id"
EVENTS = ("model_version.created", "model_version_alias.created")
ACTOR = "mrm-gate-webhook"

# MLflow's registry payloads are a few hundred bytes; nothing legitimate comes near this.
MAX_BODY_BYTES = 256 * 1024
MAX_SIGNATURE_CHARS = 2048
# MLflow sends str(int(time.time())): ASCII digits only (`\d` would take any Unicode digit).
_TIMESTAMP = re.compile(r"[0-9]{1,11}")
_DELIVERY_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_VERSION = re.compile(r"[0-9]{1,18}")


class Rejected(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def read_secret(spec: str, cfg: GateConfig | None = None) -> bytes:
    """The webhook secret from `env:VAR` or a file (UserError naming what is missing)."""
    import os

    if spec.startswith("env:"):
        value = os.environ.get(spec[4:], "").strip()
        if not value:
            raise UserError(f"webhook secret variable {spec[4:]} is not set; it must hold the "
                            "secret given to MLflow when the webhook was created")
        return value.encode()
    path = cfg.path(spec) if cfg is not None else Path(spec)
    try:
        value = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise UserError(f"cannot read webhook secret file {path}: {exc.strerror}") from None
    if not value:
        raise UserError(f"webhook secret file {path} is empty")
    return value.encode()


def sign(secret: bytes, delivery_id: str, timestamp: str, body: str) -> str:
    """MLflow's signature of one delivery (mlflow.webhooks.delivery)."""
    mac = hmac.new(secret, f"{delivery_id}.{timestamp}.{body}".encode(), hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


@dataclass(frozen=True)
class Event:
    """One registry event the receiver acts on, with its fields checked."""

    kind: str  # one of EVENTS
    name: str
    version: str
    alias: str | None = None


def _field(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise Rejected(400, f"payload data.{key} must be a non-empty string")
    return value


def parse_event(text: str) -> Event | None:
    """The event in a verified body; None for an event the receiver does not handle.

    Rejected(400) for a body that is not a JSON object with string `entity`/`action` and, for
    a handled event, an object `data` with a string `name`, a version number and (for aliases)
    a string `alias`. Names are otherwise passed on as they are: MLflow allows almost anything
    in a name, and refusing a real alias event here would leave the alias unevaluated; a name
    the evidence source cannot read blocks (and reverts) instead.
    """
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError):
        raise Rejected(400, "body is not JSON") from None
    if not isinstance(payload, dict):
        raise Rejected(400, f"body is a JSON {type(payload).__name__}, not an object")
    entity, action = payload.get("entity"), payload.get("action")
    if not isinstance(entity, str) or not isinstance(action, str):
        raise Rejected(400, "payload entity and action must be strings")
    kind = f"{entity}.{action}"
    if kind not in EVENTS:
        return None
    data = payload.get("data")
    if not isinstance(data, dict):
        raise Rejected(400, "payload data must be an object")
    name = _field(data, "name")
    raw = data.get("version")
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str) or not _VERSION.fullmatch(raw) or int(raw) < 1:
        raise Rejected(400, "payload data.version must be a version number")
    alias = _field(data, "alias") if kind == "model_version_alias.created" else None
    return Event(kind=kind, name=name, version=str(int(raw)), alias=alias)


@dataclass
class Outcome:
    kind: str
    detail: dict[str, Any]


class AliasRevert:
    """A step of the recording chain, first: on a decision that does not allow the alias, move
    it off the version before anything else is written (reports, log, tags), so a recording
    failure cannot leave the alias in place; later recorders carry what was done."""

    name = "alias revert"

    def __init__(self, receiver: Receiver, event: Event, log_recorder: Any,
                 tag_recorder: Any) -> None:
        self.receiver = receiver
        self.event = event
        self.log_recorder = log_recorder
        self.tag_recorder = tag_recorder
        self.result: dict[str, Any] | None = None

    def prepare(self) -> None:
        return None

    def record(self, decision: Any, recording: Any) -> None:
        if self.receiver.allowed(decision.verdict.value):
            return
        ev = self.event
        self.result = self.receiver.revert(ev.name, str(ev.alias), ev.version)
        self.log_recorder.extra["revert"] = self.result
        self.tag_recorder.extra_tags["mrm.gate.reverted"] = f"@{ev.alias}: " \
                                                            f"{self.result['action']}"


class Receiver:
    def __init__(self, cfg: GateConfig, *, secret: bytes, tracking_uri: str,
                 max_body_bytes: int = MAX_BODY_BYTES) -> None:
        from mrm_gate.attestation import parse_duration
        from mrm_gate.audit import CheckpointWriter, DecisionLog

        from .config import load_verify_keys
        from .gate import PolicyCache

        self.cfg = cfg
        self.secret = secret
        self.tracking_uri = tracking_uri
        self.tolerance_s = cfg.webhook.tolerance_s
        self.max_body_bytes = max_body_bytes
        from .checkpoints import checkpoint_key, checkpoint_store

        # with decision_log_checkpoint, every append is anchored (registry tags through the
        # REST API, or a checkpoint file), and approvals are trusted only from a log that
        # holds every anchored head
        self.checkpoints = checkpoint_store(cfg, tracking_uri=tracking_uri)
        self.checkpoint_key = checkpoint_key(cfg) if self.checkpoints is not None else None
        self.log = DecisionLog(cfg.decision_log_path, checkpoint=(
            None if self.checkpoints is None
            else CheckpointWriter(self.checkpoints, self.checkpoint_key)))
        self.keys = load_verify_keys(cfg.attestation.keys, cfg)
        self.max_age = parse_duration(cfg.attestation.max_age)
        self.policies = PolicyCache(cfg)
        self.policies.get()  # refuse to start with a broken policy
        self._seen: collections.OrderedDict[str, float] = collections.OrderedDict()
        self._seen_lock = threading.Lock()
        self.queue: queue.Queue = queue.Queue()
        self.outcomes: list[Outcome] = []  # most recent last (for operators and tests)
        self._worker = threading.Thread(target=self._run, name="mrm-gate-webhook",
                                        daemon=True)
        self._worker.start()

    # ---- verification ---------------------------------------------------------------------

    def check_headers(self, headers, *, now: float | None = None) -> tuple[str, str, str]:
        """(signature, timestamp, delivery id) when present, well-formed and recent; raises
        Rejected otherwise. Cheap: runs before the body is read."""
        now = time.time() if now is None else now
        sig = headers.get(SIGNATURE_HEADER)
        ts = headers.get(TIMESTAMP_HEADER)
        delivery = headers.get(DELIVERY_HEADER)
        if not sig or not ts or not delivery:
            raise Rejected(401, f"missing {SIGNATURE_HEADER}, {TIMESTAMP_HEADER} or "
                           f"{DELIVERY_HEADER}; configure the webhook with a secret")
        if not _TIMESTAMP.fullmatch(ts):
            raise Rejected(400, f"{TIMESTAMP_HEADER} is not a Unix time (up to 11 ASCII "
                           "digits)")
        if not _DELIVERY_ID.fullmatch(delivery):
            raise Rejected(400, f"{DELIVERY_HEADER} is not a delivery id")
        if len(sig) > MAX_SIGNATURE_CHARS:
            raise Rejected(400, f"{SIGNATURE_HEADER} is too long")
        age = now - int(ts)
        if abs(age) > self.tolerance_s:
            raise Rejected(401, f"timestamp is {int(age)} s off (tolerance "
                           f"{self.tolerance_s} s); replayed or clock skew")
        return sig, ts, delivery

    def accept(self, headers, body: bytes, *, now: float | None = None) -> str:
        """Verify one delivery and queue it; returns 'queued', 'duplicate' or 'ignored' (an
        event the receiver does not act on). Raises Rejected."""
        now = time.time() if now is None else now
        sig, ts, delivery = self.check_headers(headers, now=now)
        if len(body) > self.max_body_bytes:
            raise Rejected(413, f"body is larger than {self.max_body_bytes} bytes")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise Rejected(400, "body is not UTF-8") from None
        want = sign(self.secret, delivery, ts, text)
        if not any(hmac.compare_digest(want, s.strip()) for s in sig.split(" ")):
            raise Rejected(401, "signature does not match (wrong secret or altered body)")
        with self._seen_lock:
            cutoff = now - 2 * self.tolerance_s
            while self._seen and next(iter(self._seen.values())) < cutoff:
                self._seen.popitem(last=False)
            if delivery in self._seen:
                return "duplicate"
            self._seen[delivery] = now
        event = parse_event(text)
        if event is None:
            return "ignored"
        self.queue.put(event)
        return "queued"

    # ---- processing -----------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            event = self.queue.get()
            try:
                self.handle(event)
            except Exception as exc:  # keep serving; the failure is logged and recorded
                _logger.exception("webhook processing failed")
                self.outcomes.append(Outcome("error", {"error": str(exc)[:500]}))
            finally:
                self.queue.task_done()

    def handle(self, event: Event) -> None:
        if event.kind == "model_version_alias.created":
            if self.cfg.is_protected_alias(str(event.alias)):
                self.on_alias_created(event.name, str(event.alias), event.version)
        elif event.kind == "model_version.created" and self.cfg.webhook.evaluate_on_create:
            self.on_version_created(event.name, event.version)

    def _client(self):
        from mlflow.tracking import MlflowClient

        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def _request(self, name: str, version: str, target: str | None):
        """The gate request and MLflow source for one version (Refusal: unreadable policy)."""
        from mrm_gate.controls.context import EvaluationOptions
        from mrm_gate.evidence.mlflow_source import MlflowSource
        from mrm_gate.evidence.source import SourceSettings
        from mrm_gate.gate import GateRequest

        policy, waivers = self.policies.get()
        settings = SourceSettings(tracking_uri=self.tracking_uri,
                                  timeout_s=self.cfg.evidence.timeout_s)
        request = GateRequest(
            subject=f"models:/{name}/{version}", policy=policy, waivers=waivers,
            waivers_file=str(self.cfg.path(self.cfg.waivers)) if self.cfg.waivers else None,
            target=target, options=EvaluationOptions(trust_model_code=self.cfg.trust_model_code),
            actor=ACTOR, source="mlflow", settings=settings)
        return request, MlflowSource(settings)

    def allowed(self, verdict: str) -> bool:
        return verdict == "APPROVE" or (verdict == "CONDITIONAL" and self.cfg.allow_conditional)

    def on_version_created(self, name: str, version: str) -> None:
        from mrm_gate.gate import DecisionLogRecorder, MlflowDecisionRecorder, run_gate
        from mrm_gate.gate.recorders import ClientRegistryWriter, MlflowReportArtifact

        request, source = self._request(name, version, None)
        writer = ClientRegistryWriter(self.tracking_uri)
        decision = run_gate(request, source, recorders=[
            MlflowReportArtifact(writer),
            DecisionLogRecorder(self.log, kind="webhook_early"),
            MlflowDecisionRecorder(writer, mode="webhook"),
        ])
        self.outcomes.append(Outcome("early", {"name": name, "version": version,
                                               "verdict": decision.verdict.value}))

    def on_alias_created(self, name: str, alias: str, version: str) -> None:
        """Evaluate the alias's new holder; anything short of a recorded approval reverts."""
        from mrm_gate.gate import DecisionLogRecorder, MlflowDecisionRecorder, run_gate
        from mrm_gate.gate.recorders import ClientRegistryWriter, MlflowReportArtifact

        step: AliasRevert | None = None
        try:
            request, source = self._request(name, version, alias)
            writer = ClientRegistryWriter(self.tracking_uri)
            log_recorder = DecisionLogRecorder(self.log, kind="webhook_alias",
                                               extra={"alias": alias})
            tag_recorder = MlflowDecisionRecorder(writer, mode="webhook")
            step = AliasRevert(self, Event("model_version_alias.created", name, version, alias),
                               log_recorder, tag_recorder)
            decision = run_gate(request, source, recorders=[
                step, MlflowReportArtifact(writer), log_recorder, tag_recorder])
        except Exception as exc:  # not decided, or decided but not recorded: revert
            self._failed(name, alias, version, exc, step.result if step else None)
            return
        self.outcomes.append(Outcome("alias", {"name": name, "version": version, "alias": alias,
                                               "verdict": decision.verdict.value,
                                               "revert": step.result or {}}))

    def _failed(self, name: str, alias: str, version: str, exc: Exception,
                revert: dict[str, Any] | None) -> None:
        from mrm_gate.gate import RecordingFailed

        from .gate import Refusal

        if isinstance(exc, Refusal):
            message = exc.message
        elif isinstance(exc, RecordingFailed):
            message = str(exc)
        else:
            message = f"evaluation failed: {type(exc).__name__}: {exc}"
        _logger.warning("%s v%s for @%s: %s", name, version, alias, message)
        if revert is None:
            try:
                revert = self.revert(name, alias, version)
            except Exception as rexc:
                _logger.exception("revert of @%s on %s failed", alias, name)
                revert = {"action": f"failed: {type(rexc).__name__}: {str(rexc)[:300]}"}
        try:
            self.log.append({"model": {"name": name, "version": version}, "alias": alias,
                             "error": message[:1000], "revert": revert}, kind="webhook_error")
        except Exception:
            _logger.exception("the decision log cannot record the failure either")
        self.outcomes.append(Outcome("error", {"name": name, "version": version,
                                               "alias": alias, "revert": revert,
                                               "error": message[:500]}))

    # ---- reverting ------------------------------------------------------------------------

    def revert(self, name: str, alias: str, version: str) -> dict[str, Any]:
        """Move `alias` off `version`: to the last provably approved version, or remove it."""
        from mlflow.exceptions import MlflowException

        client = self._client()
        try:
            current = str(client.get_model_version_by_alias(name, alias).version)
        except MlflowException as exc:
            if not _not_found(exc):
                raise  # the registry could not be read: the caller records the failure
            return {"action": "none (alias already removed)"}
        if current != version:
            return {"action": f"none (alias already moved to version {current})"}
        proof = None
        if self.cfg.webhook.revert == "restore":
            proof = self.prover(client).last_approved(name, alias, exclude=version)
        if proof is not None:
            client.set_registered_model_alias(name, alias, proof.version)
            return {"action": f"restored to version {proof.version}",
                    "restored_to": proof.version, "proof": proof.describe()}
        client.delete_registered_model_alias(name, alias)
        return {"action": "removed", "removed": True}

    def prover(self, client):
        """What may prove a past approval: this receiver's log and the configured keys."""
        from mrm_gate.evidence.mlflow_source import MlflowSource
        from mrm_gate.evidence.source import SourceSettings

        from .approvals import ApprovalProver

        policy, waivers = self.policies.get()
        source = MlflowSource(SourceSettings(tracking_uri=self.tracking_uri,
                                             timeout_s=self.cfg.evidence.timeout_s))

        def evidence_sha(name: str, version: str) -> str:
            return source.load(f"models:/{name}/{version}").content_sha256()

        return ApprovalProver(log_path=self.cfg.decision_log_path, client=client,
                              policy_sha=policy.sha256, waivers=waivers, allowed=self.allowed,
                              evidence_sha=evidence_sha, keys=self.keys, max_age=self.max_age,
                              allow_conditional=self.cfg.allow_conditional,
                              checkpoints=self.checkpoints,
                              checkpoint_keys=[self.checkpoint_key] if self.checkpoint_key
                              else [])


def _read_bounded(stream, limit: int) -> bytes:
    """At most `limit` bytes of `stream` (short reads are continued)."""
    chunks, total = [], 0
    while total < limit:
        chunk = stream.read(min(65536, limit - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def _not_found(exc: Exception) -> bool:
    """MLflow's "no such alias": RESOURCE_DOES_NOT_EXIST over REST; the SQL store says so in
    its message."""
    return (getattr(exc, "error_code", None) == "RESOURCE_DOES_NOT_EXIST"
            or "not found" in str(exc).lower())


def create_receiver_app(receiver: Receiver):
    """A small Flask app: POST /webhook (or /) receives deliveries, GET /health answers.

    Flask's MAX_CONTENT_LENGTH refuses a declared length over the limit before reading; a
    chunked body is read at most one byte past the limit: 413 either way."""
    from flask import Flask, jsonify, request

    app = Flask("mrm-gate-webhook")
    # One byte over the limit may be read, so that a body over it is told from one at it.
    app.config["MAX_CONTENT_LENGTH"] = receiver.max_body_bytes + 1

    @app.errorhandler(413)
    def too_large(_exc):
        return jsonify({"error": f"body is larger than {receiver.max_body_bytes} bytes"}), 413

    @app.post("/")
    @app.post("/webhook")
    def receive():
        try:
            receiver.check_headers(request.headers)  # before the body is read
            body = _read_bounded(request.stream, receiver.max_body_bytes + 1)
            status = receiver.accept(request.headers, body)
        except Rejected as r:
            _logger.warning("webhook rejected: %s", r.message)
            return jsonify({"error": r.message}), r.status
        return jsonify({"status": status}), 202 if status == "queued" else 200

    @app.get("/health")
    def health():
        return jsonify({"status": "ok", "queued": receiver.queue.qsize()})

    return app


def build_receiver(config_path: str | None, tracking_uri: str | None) -> Receiver:
    import os

    from .config import load_config

    cfg = load_config(config_path)
    uri = tracking_uri or cfg.webhook.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        raise UserError("the webhook receiver needs the MLflow tracking URI: webhook."
                        "tracking_uri in the configuration, --tracking-uri, or "
                        "MLFLOW_TRACKING_URI")
    return Receiver(cfg, secret=read_secret(cfg.webhook.secret, cfg), tracking_uri=uri)
