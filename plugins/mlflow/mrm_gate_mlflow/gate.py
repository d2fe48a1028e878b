"""The gate's decisions, independent of Flask: promotion checks, tag rules, recording.

`Gate.check_promotion` is called for a request to put a model version under a protected alias or
stage. It returns normally when the request may proceed and raises `Refusal` otherwise. Every
path that is not a clear approval refuses (fail closed): an unreadable policy, evidence that
cannot be collected (including a baseline the registry could not read), an evaluation that
errors, a missing or invalid attestation, a failure to record the decision.

Evaluate mode runs on the one gate pipeline (`mrm_gate.gate.run_gate`) with the MLflow evidence
source reading the server's own stores in-process, and records in the order that keeps the
record honest: report artifact, decision log, then the version's tags. When a recorder fails,
the later ones do not run, so no tag ever claims an approval that no log holds.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mrm_gate.errors import EvidenceError, UserError
from mrm_gate.gate import DecisionLogRecorder, MlflowDecisionRecorder
from mrm_gate.gate.recorders import decision_tags
from mrm_gate.mlflow import action_text, refusal_message

from .config import GateConfig, load_verify_keys
from .observe import GateObserver

_logger = logging.getLogger("mrm_gate_mlflow")


class Refusal(Exception):
    """The request is refused; `message` goes to the client (HTTP 403 PERMISSION_DENIED).

    `reason` is the refusal's class, for metrics: verdict, attestation, policy_unreadable,
    recording, break_glass, busy, internal.
    """

    def __init__(self, message: str, *, busy: bool = False, reason: str = "verdict") -> None:
        super().__init__(message)
        self.message = message
        self.busy = busy  # 503: the client may retry
        self.reason = "busy" if busy else reason


@dataclass
class Caller:
    """Who asks, and what they asked for beyond the request body."""

    user: str | None = None
    break_glass_reason: str | None = None
    remote_addr: str | None = None
    files_uri: str | None = None  # recorded as the evidence's tracking URI (this server)
    # Locks held until MLflow has applied the request (released by the app's teardown hook).
    held: list = field(default_factory=list)


class PolicyCache:
    """The policy and waivers, reloaded when the *content* of any of their files changes.

    Every `get()` hashes the files (the policy, every file of its `extends` chain, the
    waivers): a swapped file is enforced from the next request on, whatever its size or
    modification time. Policies are small; hashing them costs tens of microseconds (measured in
    benchmarks/results/mlflow_gate.md). A reload failure refuses every protected promotion
    until the files are fixed (fail closed).
    """

    def __init__(self, cfg: GateConfig) -> None:
        self.cfg = cfg
        self._lock = threading.Lock()
        self._digest: str | None = None
        self._value: tuple[Any, list] | None = None
        self._files: list[Path] = self._base_files()

    def _base_files(self) -> list[Path]:
        files = [self.cfg.path(self.cfg.policy)]
        if self.cfg.waivers:
            files.append(self.cfg.path(self.cfg.waivers))
        return files  # type: ignore[return-value]

    @staticmethod
    def _content_digest(files: list[Path]) -> str:
        h = hashlib.sha256()
        for f in files:
            h.update(str(f).encode("utf-8", "surrogateescape") + b"\0")
            try:
                h.update(f.read_bytes())
            except OSError as exc:
                h.update(f"<unreadable: {exc.errno}>".encode())
            h.update(b"\0")
        return h.hexdigest()

    def get(self) -> tuple[Any, list]:
        from mrm_gate.policy import load_policy, load_waivers

        with self._lock:
            digest = self._content_digest(self._files)
            if self._value is not None and digest == self._digest:
                return self._value
            try:
                policy = load_policy(self.cfg.path(self.cfg.policy))
                waivers = (load_waivers(self.cfg.path(self.cfg.waivers), policy)
                           if self.cfg.waivers else [])
            except UserError as exc:
                self._value = None
                self._digest = None
                self._files = self._base_files()
                raise Refusal(f"mrm-gate cannot read its policy, so it refuses every protected "
                              f"promotion (fail closed): {exc}",
                              reason="policy_unreadable") from None
            self.cfg.use_policy(policy)  # the owner-writable tags follow the policy
            files = [Path(f) for f in policy.files] + self._base_files()
            self._files = list(dict.fromkeys(files))
            self._value = (policy, waivers)
            # the digest of what was just loaded; a change in between is seen next time
            self._digest = self._content_digest(self._files)
            return self._value


class Gate:
    def __init__(self, cfg: GateConfig, observer: GateObserver | None = None) -> None:
        from mrm_gate.attestation import parse_duration
        from mrm_gate.audit import DecisionLog

        self.cfg = cfg
        self.policies = PolicyCache(cfg)
        self.policies.get()
        from .checkpoints import checkpoint_writer

        # with decision_log_checkpoint, every append signs the new head and writes it to the
        # registry (in-process) or a checkpoint file, under the log's lock
        self.log = DecisionLog(cfg.decision_log_path, checkpoint=checkpoint_writer(cfg))
        self.keys = load_verify_keys(cfg.attestation.keys, cfg)
        self.max_age = parse_duration(cfg.attestation.max_age)
        self.observer = observer or GateObserver()
        self._slots = threading.BoundedSemaphore(cfg.max_concurrent_evaluations)
        self._targets: dict[tuple[str, str], threading.Lock] = {}
        self._targets_guard = threading.Lock()

    def _target_lock(self, name: str, target: str) -> threading.Lock:
        key = (name, target.lower())
        with self._targets_guard:
            return self._targets.setdefault(key, threading.Lock())

    def refresh_policy(self) -> None:
        """Reload the policy if its files changed, so the owner-writable tags follow it; an
        unreadable policy keeps the tags of the last one that loaded."""
        with contextlib.suppress(Refusal):
            self.policies.get()

    # ---- evidence -------------------------------------------------------------------------

    def source(self, files_uri: str | None, client=None):
        """The MLflow evidence source over this server's own stores (no HTTP, no global
        tracking URI). One per request: the client caches what it read."""
        from mrm_gate.evidence.mlflow_source import MlflowSource
        from mrm_gate.evidence.source import SourceSettings

        from .server_store import InProcessArtifactStore, InProcessClient

        client = client or InProcessClient()
        return MlflowSource(SourceSettings(
            tracking_uri=files_uri or "", timeout_s=self.cfg.evidence.timeout_s, client=client,
            store_for=lambda run_id: InProcessArtifactStore(run_id, client)))

    def load_evidence(self, name: str, version: str, files_uri: str | None, client=None):
        """Evidence of one version read in-process, and its baseline resolver.

        Raises EvidenceError. The resolver returns None only when no version holds the alias;
        a registry that cannot be read raises EvidenceError (the control errors and blocks).
        """
        client = client or _in_process_client()
        client.prefetch(name, str(version))
        src = self.source(files_uri, client)
        evidence = src.load(f"models:/{name}/{version}")
        return evidence, src.baseline_resolver(evidence)

    # ---- promotions -----------------------------------------------------------------------

    def check_promotion(self, name: str, version: str, *, alias: str | None = None,
                        stage: str | None = None, caller: Caller) -> dict[str, Any] | None:
        """Allow (return the log record, None for prompts) or refuse (raise Refusal) one
        protected promotion. Every outcome is one structured log line and one metric."""
        from .server_store import InProcessClient

        started = time.perf_counter()
        target = alias if alias is not None else stage
        outcome: dict[str, Any] = {"model": name, "version": str(version), "target": target,
                                   "mode": self.cfg.mode, "actor": caller.user}
        try:
            record = self._check_promotion(name, str(version), alias, stage, target, caller,
                                           InProcessClient(), outcome)
        except Refusal as r:
            self.observer.decided(outcome, allowed=False, refusal=r.reason,
                                  seconds=time.perf_counter() - started)
            r.counted = True  # type: ignore[attr-defined]
            raise
        except BaseException:
            self.observer.decided(outcome, allowed=False, refusal="internal",
                                  seconds=time.perf_counter() - started)
            raise
        if record is not None:
            self.observer.decided(outcome, allowed=True, refusal=None,
                                  seconds=time.perf_counter() - started)
        return record

    def _check_promotion(self, name, version, alias, stage, target, caller: Caller, client,
                         outcome: dict) -> dict[str, Any] | None:
        if not self.cfg.gate_prompts and client.is_prompt(name):
            return None  # prompts live in the registry too; they are not models
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
                record = self._attested(name, version, target, action, caller, bg, client,
                                        outcome)
            else:
                record = self._evaluated(name, version, target, action, caller, bg, client,
                                         outcome)
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
            raise Refusal(f"mrm-gate refused break-glass for {action}: {problem}",
                          reason="break_glass")
        return reason

    def _allowed(self, verdict: str) -> bool:
        return verdict == "APPROVE" or (verdict == "CONDITIONAL" and self.cfg.allow_conditional)

    def _evaluated(self, name, version, target, action, caller: Caller, bg, client,
                   outcome: dict) -> dict:
        from mrm_gate.controls.context import EvaluationOptions
        from mrm_gate.gate import GateRequest, Recording, RecordingFailed, run_gate
        from mrm_gate.gate.recorders import MlflowReportArtifact

        from .server_store import InProcessWriter

        policy, waivers = self.policies.get()
        request = GateRequest(
            subject=f"models:/{name}/{version}", policy=policy, waivers=waivers,
            waivers_file=str(self.cfg.path(self.cfg.waivers)) if self.cfg.waivers else None,
            target=target, options=EvaluationOptions(trust_model_code=self.cfg.trust_model_code),
            actor=caller.user)
        writer = InProcessWriter(client)
        override = _BreakGlass(self, caller, bg)
        recorders = [
            MlflowReportArtifact(writer, fallback_dir=self.cfg.reports_path),
            _GateLog(self.log, extra={"action": action, "mode": "evaluate"}, override=override),
            _GateTags(writer, mode=self.cfg.mode, override=override),
        ]
        recording = Recording()
        try:
            for r in recorders:
                r.prepare()
        except UserError as exc:  # a recorder that cannot work at all (e.g. the log path)
            raise Refusal(f"mrm-gate cannot record decisions, so it refuses {action} "
                          f"(fail closed): {exc}", reason="recording") from None
        # the model, the version, its run and the baselines' in one database session
        client.prefetch(name, version, baseline_aliases(policy))
        try:
            decision = run_gate(request, self.source(caller.files_uri, client),
                                recorders=recorders, recording=recording)
        except RecordingFailed as exc:
            outcome.update(verdict=exc.decision.verdict.value, decision_id=exc.decision.id)
            self._recording_failed(exc, action)
            raise Refusal(f"mrm-gate decided {exc.decision.verdict.value} for {action} "
                          f"(decision {exc.decision.id}) but could not record it "
                          f"({exc.recorder}: {exc.reason}); refused (fail closed), retry",
                          reason="recording") from None
        except UserError as exc:  # e.g. a recorder's check between the two prepare() calls
            raise Refusal(f"mrm-gate could not evaluate or record {action}, so it refuses it "
                          f"(fail closed): {exc}", reason="internal") from None
        verdict = decision.verdict.value
        outcome.update(verdict=verdict, decision_id=decision.id)
        if override.applied:
            outcome["break_glass"] = True
            return recording.log_record or {}
        if not self._allowed(verdict):
            text = refusal_message(decision, action=action, report=recording.report_uri)
            if verdict == "CONDITIONAL":
                text += "\n(CONDITIONAL decisions are not accepted: allow_conditional is false)"
            raise Refusal(text, reason="verdict")
        return recording.log_record or {}

    def _recording_failed(self, exc, action: str) -> None:
        """Say in the log (when it can be written) that a decision was not fully recorded and
        the promotion refused, so a logged approval is never read as a promotion."""
        from mrm_gate.audit import CheckpointFailed

        if exc.recorder == _GateLog.name and isinstance(exc.error, CheckpointFailed):
            # the decision is in the log but not anchored: say there that it was refused
            _logger.error("mrm-gate could not checkpoint decision %s: %s", exc.decision.id,
                          exc.reason)
        elif exc.recorder == _GateLog.name:
            _logger.error("mrm-gate could not append decision %s to the log: %s",
                          exc.decision.id, exc.reason)
            return
        try:
            self.log.append({"decision_id": exc.decision.id,
                             "verdict": exc.decision.verdict.value,
                             "model": {"name": exc.decision.model.name,
                                       "version": exc.decision.model.version},
                             "target": exc.decision.target, "recorder": exc.recorder,
                             "problem": exc.reason, "promotion": "refused",
                             "at": _now().isoformat()},
                            kind="recording_failed", extra={"action": action})
        except CheckpointFailed:
            pass  # the record is in the log; its checkpoint failed again (already logged)
        except Exception:
            _logger.exception("mrm-gate could not log the recording failure of %s",
                              exc.decision.id)

    def _attested(self, name, version, target, action, caller: Caller, bg, client,
                  outcome: dict) -> dict:
        from mrm_gate.attestation import ATTESTATION_TAG, AttestationError, verify

        from .server_store import InProcessWriter

        policy, _waivers = self.policies.get()
        reason = None
        rec: dict | None = None
        evidence_sha = None
        try:
            client.prefetch(name, version)  # model, version and run in one database session
            evidence = self.source(caller.files_uri, client).load(f"models:/{name}/{version}")
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
        if rec is not None:
            outcome.update(verdict=rec.get("verdict"), decision_id=rec.get("decision_id"))
        if reason is not None and bg is None:
            self.log.append(entry, kind="attestation_refused", extra={"action": action})
            raise Refusal(f"mrm-gate refused {action}: no valid attestation for this version "
                          f"and policy (fail closed): {reason}", reason="attestation")
        tags: dict[str, str] = {}
        if rec is not None:
            tags = decision_tags(self.cfg.mode, rec["verdict"], rec["decision_id"], target,
                                 policy.sha256, _parse_time(rec["decided_at"]),
                                 rec.get("tier") or "", None)
        if reason is not None:  # break-glass over a missing/invalid attestation
            tags.update(_break_glass_tags(caller, bg))
            entry["break_glass"] = {"user": caller.user, "reason": bg}
            outcome["break_glass"] = True
        kind = "attestation" if reason is None else "break_glass"
        # The log first: a tag never claims an approval that no log holds.
        try:
            record = self.log.append(entry, kind=kind, extra={"action": action})
        except Exception as exc:
            from mrm_gate.audit import CheckpointFailed

            if isinstance(exc, CheckpointFailed):  # in the log, not anchored: say it was refused
                self._log_tag_failure(entry, action, exc, recorder="decision log checkpoint")
            raise Refusal(f"mrm-gate verified the attestation for {action} but could not "
                          f"record it in the decision log ({_first_line(exc)}); refused "
                          "(fail closed), retry", reason="recording") from None
        try:
            InProcessWriter(client).set_tags(name, version, tags)
        except Exception as exc:
            self._log_tag_failure(entry, action, exc)
            raise Refusal(f"mrm-gate verified the attestation for {action} but could not "
                          f"write its tags ({_first_line(exc)}); refused (fail closed), retry",
                          reason="recording") from None
        return record

    def _log_tag_failure(self, entry: dict, action: str, exc: Exception,
                         recorder: str = "registry tags") -> None:
        from mrm_gate.audit import CheckpointFailed

        try:
            self.log.append({**entry, "recorder": recorder, "problem": _first_line(exc),
                             "promotion": "refused"}, kind="recording_failed",
                            extra={"action": action})
        except CheckpointFailed:
            pass  # the record is in the log; its checkpoint failed again
        except Exception:
            _logger.exception("mrm-gate could not log a recording failure")

    # ---- other registry changes -----------------------------------------------------------

    def log_alias_removed(self, name: str, alias: str, version: str | None, *, how: str,
                          caller: Caller) -> None:
        self.log.append({"model": {"name": name, "version": version}, "alias": alias,
                         "how": how, "actor": caller.user, "remote_addr": caller.remote_addr,
                         "at": _now().isoformat()}, kind="protected_alias_removed")


# ---- recorders with the server's break-glass rule -------------------------------------------


class _BreakGlass:
    """Whether a decision is recorded as a break-glass override: an allowed user gave a reason
    and the verdict would not have allowed the promotion."""

    def __init__(self, gate: Gate, caller: Caller, reason: str | None) -> None:
        self.gate, self.caller, self.reason = gate, caller, reason
        self.applied = False

    def __call__(self, decision) -> bool:
        self.applied = self.reason is not None and not self.gate._allowed(
            decision.verdict.value)
        return self.applied

    def tags(self) -> dict[str, str]:
        return _break_glass_tags(self.caller, self.reason or "")


class _GateLog(DecisionLogRecorder):
    """The decision log, kind `break_glass` (with who and why) for an override."""

    def __init__(self, log, *, extra: dict, override: _BreakGlass) -> None:
        super().__init__(log, kind="decision", extra=extra)
        self.override = override

    def record(self, decision, recording) -> None:
        if self.override(decision):
            self.kind = "break_glass"
            self.extra["break_glass"] = {"user": self.override.caller.user,
                                         "reason": self.override.reason}
        super().record(decision, recording)


class _GateTags(MlflowDecisionRecorder):
    """The decision's tags on the version, plus `mrm.break_glass*` for an override."""

    def __init__(self, writer, *, mode: str, override: _BreakGlass) -> None:
        super().__init__(writer, mode=mode)
        self.override = override

    def record(self, decision, recording) -> None:
        if self.override.applied:
            self.extra_tags.update(self.override.tags())
        super().record(decision, recording)


def _break_glass_tags(caller: Caller, reason: str) -> dict[str, str]:
    return {"mrm.break_glass": "true", "mrm.break_glass_by": caller.user or "",
            "mrm.break_glass_reason": reason[:5000],
            "mrm.break_glass_at": _now().isoformat()}


def baseline_aliases(policy) -> tuple[str, ...]:
    """The aliases the policy's controls compare with (`baseline_alias` params)."""
    out = []
    for resolved in policy.effective.values():
        for rc in resolved:
            alias = (rc.control.params or {}).get("baseline_alias")
            if isinstance(alias, str) and alias:
                out.append(alias)
    return tuple(dict.fromkeys(out))


def _in_process_client():
    from .server_store import InProcessClient

    return InProcessClient()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _parse_time(text: str) -> dt.datetime:
    t = dt.datetime.fromisoformat(text)
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0][:300] if lines else type(exc).__name__)
