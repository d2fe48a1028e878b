"""What a platform team watches: one JSON log line per gate decision, and Prometheus metrics.

Log: logger `mrm_gate_mlflow`, level INFO, one line per protected promotion the gate handled::

    {"event": "mrm_gate.decision", "model": "credit", "version": "7", "target": "champion",
     "verdict": "BLOCK", "decision_id": "6f1c...", "allowed": false, "refusal": "verdict",
     "duration_ms": 41.2, "mode": "evaluate", "actor": "alice"}

Metrics (served at `/mrm-gate/metrics`, text format 0.0.4):

* `mrm_gate_decisions_total{mode, verdict, outcome}`: verdict APPROVE / CONDITIONAL / BLOCK, or
  `none` when no verdict was reached (no valid attestation, policy unreadable, busy);
  outcome `allowed` / `refused`;
* `mrm_gate_refusals_total{reason}`: verdict, attestation, policy_unreadable, recording,
  break_glass, busy, internal, malformed_request, reserved_tag;
* `mrm_gate_decision_seconds{mode}`: time the gate spent on a protected promotion (histogram).

With several uvicorn workers, set `PROMETHEUS_MULTIPROC_DIR` (prometheus-client's multiprocess
mode) so a scrape sees every worker; otherwise each worker reports its own counts.
Values from requests (model names, actors) are JSON-encoded in the log and never used as metric
labels (unbounded label sets would let a client blow up the metrics' memory).
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

LOGGER = "mrm_gate_mlflow"
METRICS_PATH = "/mrm-gate/metrics"
REFUSAL_REASONS = ("verdict", "attestation", "policy_unreadable", "recording", "break_glass",
                   "busy", "internal", "malformed_request", "reserved_tag")
BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

_logger = logging.getLogger(LOGGER)


def configure_logging() -> None:
    """Make the decision lines visible in the server's output when nobody configured the
    `mrm_gate_mlflow` logger (MLflow configures only its own)."""
    if _logger.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    _logger.addHandler(handler)
    if _logger.level == logging.NOTSET:
        _logger.setLevel(logging.INFO)
    _logger.propagate = False


class GateObserver:
    """Counts and logs decisions. Metrics need `prometheus-client` (a dependency of the
    plugin); without it only the log lines are written."""

    def __init__(self) -> None:
        self.registry = None
        try:
            from prometheus_client import CollectorRegistry, Counter, Histogram
        except ImportError:  # pragma: no cover - prometheus-client is a declared dependency
            return
        self.registry = CollectorRegistry(auto_describe=True)
        self.decisions = Counter("mrm_gate_decisions", "Protected promotions handled by the "
                                 "gate", ["mode", "verdict", "outcome"], registry=self.registry)
        self.refusals = Counter("mrm_gate_refusals", "Requests the gate refused, by reason "
                                "class", ["reason"], registry=self.registry)
        self.latency = Histogram("mrm_gate_decision_seconds", "Time the gate spent on a "
                                 "protected promotion", ["mode"], buckets=BUCKETS,
                                 registry=self.registry)
        for reason in REFUSAL_REASONS:  # present (at 0) from the first scrape
            self.refusals.labels(reason=reason)

    def decided(self, outcome: dict[str, Any], *, allowed: bool, refusal: str | None,
                seconds: float) -> None:
        line = {"event": "mrm_gate.decision", "model": outcome.get("model"),
                "version": outcome.get("version"), "target": outcome.get("target"),
                "verdict": outcome.get("verdict"), "decision_id": outcome.get("decision_id"),
                "allowed": allowed, "refusal": refusal,
                "duration_ms": round(seconds * 1000, 3), "mode": outcome.get("mode"),
                "actor": outcome.get("actor")}
        if outcome.get("break_glass"):
            line["break_glass"] = True
        _logger.info(json.dumps(line, ensure_ascii=True, sort_keys=False))
        if self.registry is None:
            return
        mode = str(outcome.get("mode") or "")
        verdict = outcome.get("verdict")
        verdict = verdict if verdict in ("APPROVE", "CONDITIONAL", "BLOCK") else "none"
        self.decisions.labels(mode=mode, verdict=verdict,
                              outcome="allowed" if allowed else "refused").inc()
        self.latency.labels(mode=mode).observe(seconds)
        if not allowed:
            self.refused(refusal or "internal")

    def refused(self, reason: str) -> None:
        if self.registry is not None:
            self.refusals.labels(reason=reason if reason in REFUSAL_REASONS
                                 else "internal").inc()

    def exposition(self) -> tuple[bytes, str]:
        """The metrics in Prometheus' text format, and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        if self.registry is None:  # pragma: no cover
            return b"", CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
