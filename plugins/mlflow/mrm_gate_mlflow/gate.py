"""The gate's decisions, independent of Flask: promotion checks, tag rules, recording.

`Gate.check_promotion` is called for a request to put a model version under a protected alias or
stage. It returns normally when the request may proceed and raises `Refusal` otherwise. Every
path that is not a clear approval refuses (fail closed): an unreadable policy, evidence that
cannot be collected, an evaluation that errors, a missing or invalid attestation, a failure to
record the decision.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mrm_gate.errors import EvidenceError, UserError
from mrm_gate.mlflow import REPORT_ARTIFACT_DIR, action_text, refusal_message, report_files

from .config import GateConfig, load_verify_keys

_logger = logging.getLogger("mrm_gate_mlflow")


class Refusal(Exception):
    """The request is refused; `message` goes to the client (HTTP 403 PERMISSION_DENIED)."""

    def __init__(self, message: str, *, busy: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.busy = busy  # 503: the client may retry


@dataclass
class Caller:
    """Who asks, and what they asked for beyond the request body."""

    user: str | None = None
    break_glass_reason: str | None = None
    remote_addr: str | None = None
    files_uri: str | None = None  # where evidence files are downloaded from (this server)
    # Locks held until MLflow has applied the request (released by the app's teardown hook).
    held: list = field(default_factory=list)


class PolicyCache:
    """The policy and waivers, reloaded when a file changes; a reload failure refuses."""

    def __init__(self, cfg: GateConfig) -> None:
        self.cfg = cfg
        self._lock = threading.Lock()
        self._stamp: tuple | None = None
        self._value: tuple[Any, list] | None = None

    def _files(self) -> list[Path]:
        files = [Path(f) for f in (self._value[0].files if self._value else [])]
        files.append(self.cfg.path(self.cfg.policy))
        if self.cfg.waivers:
            files.append(self.cfg.path(self.cfg.waivers))
        return files

    @staticmethod
    def _stat(files: list[Path]) -> tuple:
        out = []
        for f in files:
            try:
                st = f.stat()
                out.append((str(f), st.st_mtime_ns, st.st_size))
            except OSError:
                out.append((str(f), None, None))
        return tuple(out)

    def get(self) -> tuple[Any, list]:
        from mrm_gate.policy import load_policy, load_waivers

        with self._lock:
            stamp = self._stat(self._files())
            if self._value is not None and stamp == self._stamp:
                return self._value
            try:
                policy = load_policy(self.cfg.path(self.cfg.policy))
                waivers = (load_waivers(self.cfg.path(self.cfg.waivers), policy)
                           if self.cfg.waivers else [])
            except UserError as exc:
                self._value = None
                raise Refusal(f"mrm-gate cannot read its policy, so it refuses every protected "
                              f"promotion (fail closed): {exc}") from None
            self._value = (policy, waivers)
            self._stamp = self._stat(self._files())
            return self._value


class Gate:
    def __init__(self, cfg: GateConfig) -> None:
        from mrm_gate.attestation import parse_duration
        from mrm_gate.audit import DecisionLog

        self.cfg = cfg
        self.policies = PolicyCache(cfg)
        self.policies.get()
        self.log = DecisionLog(cfg.decision_log_path)
        self.keys = load_verify_keys(cfg.attestation.keys, cfg)
        self.max_age = parse_duration(cfg.attestation.max_age)
        self._slots = threading.BoundedSemaphore(cfg.max_concurrent_evaluations)
        self._targets: dict[tuple[str, str], threading.Lock] = {}
        self._targets_guard = threading.Lock()

    def _target_lock(self, name: str, target: str) -> threading.Lock:
        key = (name, target.lower())
        with self._targets_guard:
            return self._targets.setdefault(key, threading.Lock())

    # ---- evidence -------------------------------------------------------------------------

    def load_evidence(self, name: str, version: str, files_uri: str | None, client=None):
        """Evidence of one version read in-process, and a baseline resolver (EvidenceError)."""
        from mrm_gate.evidence.mlflow_source import version_evidence

        from .server_store import InProcessArtifactStore, InProcessClient

        client = client or InProcessClient()

        def read(v: str):
            try:
                ev = version_evidence(
                    client, files_uri or "", name, v, f"models:/{name}/{v}",
                    store_for=lambda run_id: InProcessArtifactStore(run_id, client))
            except EvidenceError:
                raise
            except Exception as exc:
                raise EvidenceError(f"cannot read model {name!r} version {v}: "
                                    f"{_first_line(exc)}") from None
            return ev

        def baseline(alias: str | None = None, version: str | None = None):
            try:
                v = (str(client.get_model_version_by_alias(name, alias).version)
                     if alias is not None else str(version))
                client.get_model_version(name, v)
            except Exception:
                return None
            return read(v)

        return read(str(version)), baseline

    # ---- promotions -----------------------------------------------------------------------

    def check_promotion(self, name: str, version: str, *, alias: str | None = None,
                        stage: str | None = None, caller: Caller) -> dict[str, Any] | None:
        """Allow (return the log record, None for prompts) or refuse (raise Refusal) one
        protected promotion."""
        from .server_store import InProcessClient

        client = InProcessClient()  # one per request: reads are shared within it
        if not self.cfg.gate_prompts and client.is_prompt(name):
            return None  # prompts live in the registry too; they are not models
        target = alias if alias is not None else stage
        action = action_text(name, version, alias=alias, stage=stage)
        bg = self._break_glass(caller, action, name, version, target)
        # One promotion per (model, alias/stage) at a time, from the decision until MLflow has
        # applied it: the log's order is the order of the changes, and MLflow's own race on
        # concurrent alias writes (a unique-constraint error) cannot happen within a worker.
        lock = self._target_lock(name, target or "")
        if not lock.acquire(timeout=self.cfg.evidence.timeout_s):
            raise Refusal(f"mrm-gate is busy with another promotion of {name!r} to {target!r}; "
                          f"{action} was not evaluated, retry shortly", busy=True)
        if not self._slots.acquire(timeout=self.cfg.evidence.timeout_s):
            lock.release()
            raise Refusal(f"mrm-gate is busy evaluating other promotions; {action} was not "
                          "evaluated, retry shortly", busy=True)
        try:
            if self.cfg.mode == "attestation":
                record = self._attested(name, version, target, action, caller, bg, client)
            else:
                record = self._evaluated(name, version, target, action, caller, bg, client)
        except BaseException:
            lock.release()
            raise
        finally:
            self._slots.release()
        caller.held.append(lock)
        return record

    def _break_glass(self, caller: Caller, action: str, name: str, version: str,
                     target: str | None) -> str | None:
        reason = caller.break_glass_reason
        if not reason:
            return None
        bgc = self.cfg.break_glass
        problem = None
        if not bgc.users:
            problem = "break-glass is not enabled on this server (break_glass.users is empty)"
        elif caller.user is None:
            problem = "break-glass needs an authenticated user"
        elif caller.user not in bgc.users:
            problem = f"user {caller.user!r} may not use break-glass"
        elif len(reason) < bgc.min_reason_chars:
            problem = (f"the break-glass reason must have at least {bgc.min_reason_chars} "
                       "characters")
        if problem:
            self.log.append({"model": {"name": name, "version": version}, "target": target,
                             "actor": caller.user, "reason": reason, "refused": problem,
                             "at": _now().isoformat()}, kind="break_glass_refused")
            raise Refusal(f"mrm-gate refused break-glass for {action}: {problem}")
        return reason

    def _evaluated(self, name, version, target, action, caller: Caller, bg, client) -> dict:
        from mrm_gate.controls.context import EvaluationOptions
        from mrm_gate.decision import ModelRef, Verdict
        from mrm_gate.engine import blocked_decision, evaluate

        policy, waivers = self.policies.get()
        try:
            evidence, baseline = self.load_evidence(name, version, caller.files_uri, client)
        except EvidenceError as exc:
            decision = blocked_decision(
                policy, ModelRef(name=name, version=version, uri=f"models:/{name}/{version}",
                                 source_kind="mlflow"), target, str(exc), actor=caller.user)
        else:
            try:
                decision = evaluate(
                    policy, evidence, target=target, waivers=waivers,
                    waivers_file=str(self.cfg.path(self.cfg.waivers)) if waivers else None,
                    options=EvaluationOptions(trust_model_code=self.cfg.trust_model_code),
                    baseline=baseline, actor=caller.user)
            except Exception as exc:  # an engine bug must not open the gate
                _logger.exception("evaluation failed")
                decision = blocked_decision(policy, _model_ref(evidence), target,
                                            f"evaluation failed: {_first_line(exc)}",
                                            evidence_sha256=evidence.content_sha256(),
                                            actor=caller.user)
        allowed = decision.verdict == Verdict.APPROVE or (
            decision.verdict == Verdict.CONDITIONAL and self.cfg.allow_conditional)
        run_id = decision.model.run_id
        report = None
        problems: list[str] = []
        try:
            report = self._store_reports(decision, run_id, client)
        except Exception as exc:
            problems.append(f"report not stored: {_first_line(exc)}")
        tags = decision_tags(self.cfg.mode, decision.verdict.value, decision.id, target,
                             decision.policy.sha256, decision.created_at, decision.tier.tier,
                             report)
        override = bg is not None and not allowed
        if override:
            tags.update(self._break_glass_tags(caller, bg))
        try:
            from .server_store import set_version_tags

            if decision.model.version:
                set_version_tags(name, version, tags)
        except Exception as exc:
            problems.append(f"tags not written: {_first_line(exc)}")
        extra = {"action": action, "report": report, "mode": "evaluate"}
        if problems:
            extra["recording_problems"] = problems
        if override:
            extra["break_glass"] = {"user": caller.user, "reason": bg}
        record = self.log.append(decision, kind="break_glass" if override else "decision",
                                 extra=extra)
        if override:
            return record
        if not allowed:
            text = refusal_message(decision, action=action, report=report)
            if decision.verdict == Verdict.CONDITIONAL:
                text += "\n(CONDITIONAL decisions are not accepted: allow_conditional is false)"
            raise Refusal(text)
        if problems:
            raise Refusal(f"mrm-gate approved {action} (decision {decision.id}) but could not "
                          f"record it ({'; '.join(problems)}); refused (fail closed), retry")
        return record

    def _attested(self, name, version, target, action, caller: Caller, bg, client) -> dict:
        from mrm_gate.attestation import ATTESTATION_TAG, AttestationError, verify

        policy, _waivers = self.policies.get()
        reason = None
        rec: dict | None = None
        evidence_sha = None
        try:
            evidence, _ = self.load_evidence(name, version, caller.files_uri, client)
            evidence_sha = evidence.content_sha256()
            envelope = evidence.model.tags.get(ATTESTATION_TAG)
            if not envelope:
                raise AttestationError(
                    f"model {name!r} version {version} has no attestation (tag "
                    f"{ATTESTATION_TAG}); run `mrm-gate promote models:/{name}/{version} "
                    f"--alias {target} --policy POLICY --attest KEY` in CI")
            rec = verify(envelope, self.keys, name=name, version=version,
                         policy_sha256=policy.sha256, evidence_sha256=evidence_sha,
                         target=target, max_age=self.max_age,
                         allow_conditional=self.cfg.allow_conditional)
        except (AttestationError, EvidenceError) as exc:
            reason = str(exc)
        entry = {"model": {"name": name, "version": version}, "target": target,
                 "actor": caller.user, "policy_sha256": policy.sha256,
                 "evidence_sha256": evidence_sha, "attestation": rec,
                 "verified": reason is None, "reason": reason, "at": _now().isoformat()}
        if reason is not None and bg is None:
            self.log.append(entry, kind="attestation_refused", extra={"action": action})
            raise Refusal(f"mrm-gate refused {action}: no valid attestation for this version "
                          f"and policy (fail closed): {reason}")
        tags: dict[str, str] = {}
        if rec is not None:
            tags = decision_tags(self.cfg.mode, rec["verdict"], rec["decision_id"], target,
                                 policy.sha256, _parse_time(rec["decided_at"]),
                                 rec.get("tier") or "", None)
        if reason is not None:  # break-glass over a missing/invalid attestation
            tags.update(self._break_glass_tags(caller, bg))
            entry["break_glass"] = {"user": caller.user, "reason": bg}
        problems = []
        try:
            from .server_store import set_version_tags

            set_version_tags(name, version, tags)
        except Exception as exc:
            problems.append(f"tags not written: {_first_line(exc)}")
        kind = "attestation" if reason is None else "break_glass"
        record = self.log.append(entry, kind=kind, extra={"action": action,
                                                          "recording_problems": problems})
        if problems and reason is None:
            raise Refusal(f"mrm-gate verified the attestation for {action} but could not "
                          f"record it ({'; '.join(problems)}); refused (fail closed), retry")
        return record

    # ---- recording ------------------------------------------------------------------------

    @staticmethod
    def _break_glass_tags(caller: Caller, reason: str) -> dict[str, str]:
        return {"mrm.break_glass": "true", "mrm.break_glass_by": caller.user or "",
                "mrm.break_glass_reason": reason[:5000],
                "mrm.break_glass_at": _now().isoformat()}

    def _store_reports(self, decision, run_id: str | None, client=None) -> str:
        """Write JSON + HTML reports as run artifacts (or on the server when there is no run)."""
        with tempfile.TemporaryDirectory(prefix="mrm-gate-report-") as tmp:
            files = report_files(decision, Path(tmp))
            if run_id:
                from .server_store import log_run_artifacts

                folder = log_run_artifacts(run_id, files, f"{REPORT_ARTIFACT_DIR}/{decision.id}",
                                           client)
                return f"{folder}/report.html"
            out = self.cfg.reports_path / decision.id
            out.mkdir(parents=True, exist_ok=True)
            for f in files:
                os.replace(f, out / f.name)
            return str(out / "report.html")

    # ---- other registry changes -----------------------------------------------------------

    def log_alias_removed(self, name: str, alias: str, version: str | None, *, how: str,
                          caller: Caller) -> None:
        self.log.append({"model": {"name": name, "version": version}, "alias": alias,
                         "how": how, "actor": caller.user, "remote_addr": caller.remote_addr,
                         "at": _now().isoformat()}, kind="protected_alias_removed")


def decision_tags(mode: str, verdict: str, decision_id: str, target: str | None,
                  policy_sha: str, at: dt.datetime, tier: str,
                  report: str | None) -> dict[str, str]:
    """The tags the gate writes on a version for one decision (all in the reserved set)."""
    tags = {
        "mrm.decision": verdict,
        "mrm.decision_id": decision_id,
        "mrm.decision_target": target or "",
        "mrm.policy_sha256": policy_sha,
        "mrm.evaluated_at": at.astimezone(dt.timezone.utc).isoformat(),
        "mrm.tier": tier,
        "mrm.gate.mode": mode,
    }
    if report:
        tags["mrm.report"] = report
    return tags


def _model_ref(evidence):
    from mrm_gate.engine import model_ref

    return model_ref(evidence)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _parse_time(text: str) -> dt.datetime:
    t = dt.datetime.fromisoformat(text)
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0][:300] if lines else type(exc).__name__)
