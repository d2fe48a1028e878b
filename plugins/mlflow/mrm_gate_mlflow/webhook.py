"""Webhook receiver: the fallback for MLflow servers that cannot run the gate plugin.

MLflow's webhooks fire after a change, so they cannot stop a promotion; the receiver reacts:

* `model_version_alias.created` for a protected alias: evaluate the version for that alias,
  tag it, and on BLOCK move the alias back to the last version approved for it (or remove the
  alias when there is none, or with `webhook.revert: remove`);
* `model_version.created`: evaluate early (all controls, no target) and tag, so owners see the
  verdict before anyone promotes.

Requests are verified the way MLflow signs them (`X-MLflow-Signature: v1,<base64 HMAC-SHA256 of
"<delivery id>.<timestamp>.<body>">`), must be recent (`tolerance_s`), and a delivery id seen
before is acknowledged but not processed again (replay). Work happens on one background thread,
in arrival order, so MLflow's delivery (30 s timeout) never waits for an evaluation.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import hmac
import json
import logging
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mrm_gate.errors import UserError
from mrm_gate.mlflow import REPORT_ARTIFACT_DIR

from .config import GateConfig

_logger = logging.getLogger("mrm_gate_mlflow.webhook")

SIGNATURE_HEADER = "X-MLflow-Signature"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
DELIVERY_HEADER = "X-MLflow-Delivery-Id"
EVENTS = ("model_version.created", "model_version_alias.created")


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


@dataclass
class Outcome:
    kind: str
    detail: dict[str, Any]


class Receiver:
    def __init__(self, cfg: GateConfig, *, secret: bytes, tracking_uri: str) -> None:
        from mrm_gate.audit import DecisionLog

        from .gate import PolicyCache

        self.cfg = cfg
        self.secret = secret
        self.tracking_uri = tracking_uri
        self.tolerance_s = cfg.webhook.tolerance_s
        self.log = DecisionLog(cfg.decision_log_path)
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

    def accept(self, headers, body: bytes, *, now: float | None = None) -> str:
        """Verify one delivery and queue it; returns 'queued' or 'duplicate'. Raises Rejected."""
        now = time.time() if now is None else now
        sig = headers.get(SIGNATURE_HEADER)
        ts = headers.get(TIMESTAMP_HEADER)
        delivery = headers.get(DELIVERY_HEADER)
        if not sig or not ts or not delivery:
            raise Rejected(401, f"missing {SIGNATURE_HEADER}, {TIMESTAMP_HEADER} or "
                           f"{DELIVERY_HEADER}; configure the webhook with a secret")
        try:
            age = now - int(ts)
        except ValueError:
            raise Rejected(400, "timestamp is not a Unix time") from None
        if abs(age) > self.tolerance_s:
            raise Rejected(401, f"timestamp is {int(age)} s off (tolerance "
                           f"{self.tolerance_s} s); replayed or clock skew")
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
        try:
            payload = json.loads(text)
        except ValueError:
            raise Rejected(400, "body is not JSON") from None
        self.queue.put(payload)
        return "queued"

    # ---- processing -----------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            payload = self.queue.get()
            try:
                self.handle(payload)
            except Exception as exc:  # keep serving; the failure is logged and recorded
                _logger.exception("webhook processing failed")
                self.outcomes.append(Outcome("error", {"error": str(exc)[:500]}))
            finally:
                self.queue.task_done()

    def handle(self, payload: dict[str, Any]) -> None:
        event = f"{payload.get('entity')}.{payload.get('action')}"
        data = payload.get("data") or {}
        if event == "model_version_alias.created":
            if self.cfg.is_protected_alias(str(data.get("alias", ""))):
                self.on_alias_created(str(data["name"]), str(data["alias"]),
                                      str(data["version"]))
        elif event == "model_version.created" and self.cfg.webhook.evaluate_on_create:
            self.on_version_created(str(data["name"]), str(data["version"]))

    def _client(self):
        from mlflow.tracking import MlflowClient

        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def evaluate(self, name: str, version: str, target: str | None):
        from mrm_gate.controls.context import EvaluationOptions
        from mrm_gate.decision import ModelRef
        from mrm_gate.engine import blocked_decision, evaluate
        from mrm_gate.errors import EvidenceError
        from mrm_gate.evidence import load_evidence_with_baseline

        policy, waivers = self.policies.get()  # Refusal when unreadable
        uri = f"models:/{name}/{version}"
        try:
            evidence, baseline = load_evidence_with_baseline(
                uri, tracking_uri=self.tracking_uri, timeout_s=self.cfg.evidence.timeout_s)
        except EvidenceError as exc:
            return blocked_decision(policy, ModelRef(name=name, version=version, uri=uri,
                                                     source_kind="mlflow"), target, str(exc))
        return evaluate(policy, evidence, target=target, waivers=waivers,
                        options=EvaluationOptions(trust_model_code=self.cfg.trust_model_code),
                        baseline=baseline, actor="mrm-gate-webhook")

    def _record(self, decision, name: str, version: str, target: str | None,
                extra_tags: dict[str, str] | None = None) -> str | None:
        """Report artifact on the run, decision tags on the version; returns the report URI."""
        import tempfile

        from mrm_gate.mlflow import report_files

        from .gate import decision_tags

        client = self._client()
        report = None
        if decision.model.run_id:
            with tempfile.TemporaryDirectory() as tmp:
                folder = f"{REPORT_ARTIFACT_DIR}/{decision.id}"
                for p in report_files(decision, Path(tmp)):
                    client.log_artifact(decision.model.run_id, str(p), folder)
                report = f"runs:/{decision.model.run_id}/{folder}/report.html"
        tags = decision_tags("webhook", decision.verdict.value, decision.id, target,
                             decision.policy.sha256, decision.created_at, decision.tier.tier,
                             report)
        tags.update(extra_tags or {})
        # `mrm.decision` last: once it is visible, every other tag of the decision is too
        for k in sorted(tags, key=lambda key: key == "mrm.decision"):
            client.set_model_version_tag(name, version, k, tags[k])
        return report

    def _allowed(self, verdict: str) -> bool:
        return verdict == "APPROVE" or (verdict == "CONDITIONAL" and self.cfg.allow_conditional)

    def on_version_created(self, name: str, version: str) -> None:
        decision = self.evaluate(name, version, None)
        report = self._record(decision, name, version, None)
        self.log.append(decision, kind="webhook_early", extra={"report": report})
        self.outcomes.append(Outcome("early", {"name": name, "version": version,
                                               "verdict": decision.verdict.value}))

    def on_alias_created(self, name: str, alias: str, version: str) -> None:
        from .gate import Refusal

        try:
            decision = self.evaluate(name, version, alias)
        except Exception as exc:  # no decision, no approval: revert (fail closed)
            _logger.warning("evaluation of %s v%s for @%s failed: %s", name, version, alias, exc)
            message = exc.message if isinstance(exc, Refusal) else f"evaluation failed: {exc}"
            revert = self._revert(name, alias, version)
            self.log.append({"model": {"name": name, "version": version}, "alias": alias,
                             "error": message[:1000], "revert": revert}, kind="webhook_error")
            self.outcomes.append(Outcome("error", {"name": name, "version": version,
                                                   "alias": alias, "revert": revert}))
            return
        allowed = self._allowed(decision.verdict.value)
        revert: dict[str, Any] = {}
        if not allowed:
            revert = self._revert(name, alias, version)
        tags = {"mrm.gate.reverted": f"@{alias}: {revert['action']}"} if revert else None
        report = self._record(decision, name, version, alias, tags)
        self.log.append(decision, kind="webhook_alias",
                        extra={"alias": alias, "report": report, "revert": revert or None})
        self.outcomes.append(Outcome("alias", {"name": name, "version": version, "alias": alias,
                                               "verdict": decision.verdict.value,
                                               "revert": revert}))

    def _revert(self, name: str, alias: str, version: str) -> dict[str, Any]:
        """Move `alias` off a blocked version: to the last approved holder, or remove it."""
        client = self._client()
        try:
            current = str(client.get_model_version_by_alias(name, alias).version)
        except Exception:
            return {"action": "none (alias already removed)"}
        if current != version:
            return {"action": f"none (alias already moved to version {current})"}
        previous = None
        if self.cfg.webhook.revert == "restore":
            previous = self._previous_holder(client, name, alias, exclude=version)
        if previous is not None:
            client.set_registered_model_alias(name, alias, previous)
            return {"action": f"restored to version {previous}", "restored_to": previous}
        client.delete_registered_model_alias(name, alias)
        return {"action": "removed", "removed": True}

    def _previous_holder(self, client, name: str, alias: str, exclude: str) -> str | None:
        """The version most recently approved for `alias` (by the gate's own tags)."""
        best: tuple[str, str] | None = None
        for mv in client.search_model_versions(f"name = '{_quote(name)}'"):
            tags = mv.tags or {}
            if str(mv.version) == exclude or tags.get("mrm.decision_target") != alias:
                continue
            if not self._allowed(tags.get("mrm.decision", "")):
                continue
            when = tags.get("mrm.evaluated_at", "")
            if best is None or when > best[0]:
                best = (when, str(mv.version))
        return best[1] if best else None


def _quote(name: str) -> str:
    return name.replace("'", "\\'")


def create_receiver_app(receiver: Receiver):
    """A small Flask app: POST /webhook (or /) receives deliveries, GET /health answers."""
    from flask import Flask, jsonify, request

    app = Flask("mrm-gate-webhook")

    @app.post("/")
    @app.post("/webhook")
    def receive():
        try:
            status = receiver.accept(request.headers, request.get_data())
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
