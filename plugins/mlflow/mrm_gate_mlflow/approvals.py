"""Proof that a model version was approved for an alias: what the webhook receiver may restore to.

On a plain MLflow server (no plugin) every model owner can write every tag, so `mrm.decision`,
`mrm.decision_target` and `mrm.evaluated_at` on a version prove nothing: they are hints for
people. The receiver restores a protected alias only to a version whose approval it can prove:

1. **its own decision log**: the log's hash chain verifies (an edited, reordered or removed
   record makes every record untrusted), and the *latest* verdict-bearing record the log holds
   for this exact model, version and alias is APPROVE (or CONDITIONAL when allowed), and that
   record was made under the policy enforced now (same sha256), on the evidence the version has
   now (same evidence sha256), and any waiver it relied on is still in force;
2. **a signed attestation** (the `mrm.gate.attestation` tag) that verifies with one of the
   configured keys for this exact model, version, alias, current policy and current evidence,
   and is not older than `attestation.max_age` (nor older than a later BLOCK in the log).

Why both hashes: the policy hash means a version approved under an older (perhaps weaker)
policy is not put back into service without being evaluated again; the evidence hash binds the
record to *this* registry's version (its run id, metrics, tags, timestamps), so a log copied from
another environment, where a model of the same name had an approved version 3, proves nothing
here, and an owner who edits a version's tags or metrics after its approval loses the approval.

With `decision_log_checkpoint` configured, the log must also hold every head its checkpoints
anchor (the newest one, and the ring kept in the registry): a log truncated or rewritten at or
below a checkpoint, or a store holding no valid checkpoint, makes no approval in it trusted.

What this does not defend against: anyone who can write the receiver's log file can append a
well-chained record after the newest checkpoint (the chain is not keyed); keep the log where
model owners cannot write. On a plain MLflow server, whoever may write the registry may delete
the checkpoint tags or put back older valid ones: that is seen only against an anchor outside
the registry (docs/security.md). Anyone who holds an attestation signing key can attest
anything.

Candidates never come from a filter string built from data: log candidates are read from the
log, attestation candidates from `search_model_versions` with an exact-name filter only when the
name can be quoted in MLflow's filter language (no quote or backslash), and every result is kept
only if its name is exactly the model's.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_logger = logging.getLogger("mrm_gate_mlflow.approvals")

MAX_SEARCHED_VERSIONS = 1000
_UNQUOTABLE = ("'", '"', "\\")


@dataclass(frozen=True)
class Proof:
    """Why the receiver may restore `version`: where the approval is recorded, and when."""

    version: str
    via: str  # "decision log" | "attestation"
    decision_id: str
    at: dt.datetime

    def describe(self) -> str:
        return f"{self.via} decision {self.decision_id}"


@dataclass(frozen=True)
class _LogVerdict:
    version: str
    verdict: str
    decision_id: str
    policy_sha256: str | None
    evidence_sha256: str | None
    waivers: tuple[tuple[str, str], ...]  # (waiver id, control id) the decision relied on
    at: dt.datetime


def _aware(text: Any) -> dt.datetime | None:
    try:
        when = dt.datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def _records(path: Path) -> Iterator[dict[str, Any]]:
    """Every JSON object line of the log, in order (read-only; the chain is checked apart)."""
    with path.open("rb") as fh:
        for raw in fh:
            try:
                rec = json.loads(raw)
            except (ValueError, RecursionError):
                continue
            if isinstance(rec, dict):
                yield rec


def _verdict_record(rec: dict[str, Any], name: str, alias: str) -> _LogVerdict | None:
    """The record as a verdict on (name, some version, alias), or None when it is not one.

    Only Decision-shaped payloads carry a verdict (an id, a verdict, the policy and evidence
    hashes). The target must equal the alias exactly: a decision for another alias, or an early
    evaluation with no target, is not an approval for this alias.
    """
    d = rec.get("decision")
    if not isinstance(d, dict):
        return None
    model = d.get("model")
    if not isinstance(model, dict) or model.get("name") != name:
        return None
    version, verdict, target = model.get("version"), d.get("verdict"), d.get("target")
    if not (isinstance(version, str) and isinstance(verdict, str) and target == alias):
        return None
    policy = d.get("policy") if isinstance(d.get("policy"), dict) else {}
    waivers = []
    for o in d.get("outcomes") or []:
        if isinstance(o, dict) and o.get("status") == "WAIVED":
            w = o.get("waiver") if isinstance(o.get("waiver"), dict) else {}
            waivers.append((str(w.get("id")), str(o.get("control_id"))))
    at = _aware(rec.get("recorded_at")) or _aware(d.get("created_at"))
    if at is None:
        return None
    return _LogVerdict(version=version, verdict=verdict, decision_id=str(d.get("id")),
                       policy_sha256=policy.get("sha256"),
                       evidence_sha256=d.get("evidence_sha256"), waivers=tuple(waivers), at=at)


def latest_log_verdicts(path: Path, name: str, alias: str) -> dict[str, _LogVerdict]:
    """Per version of `name`, the latest verdict the log records for `alias` (log order)."""
    latest: dict[str, _LogVerdict] = {}
    if not path.is_file():
        return latest
    for rec in _records(path):
        v = _verdict_record(rec, name, alias)
        if v is not None:
            latest[v.version] = v
    return latest


def log_is_intact(path: Path, checkpoints: Any = None, keys: list[Any] | None = None) -> bool:
    """The log's hash chain verifies, and with `checkpoints` (a store, verified with `keys`)
    the log holds every anchored head (an empty or absent log holds no proof either way)."""
    from mrm_gate.audit import verify

    if not path.is_file():
        return True
    try:
        result = verify(path, checkpoints=checkpoints, keys=keys or ())
    except Exception as exc:  # an unreadable log proves nothing
        _logger.warning("decision log %s cannot be verified: %s", path, exc)
        return False
    if not result.ok:
        _logger.warning("decision log %s does not verify (%s); no approval in it is trusted",
                        path, "; ".join(result.problems[:3]))
    return result.ok


def name_filter(name: str) -> str | None:
    """An exact-name filter for `search_model_versions`, or None when MLflow's filter language
    cannot express the name safely (it has no escapes: a quote or backslash in a name would end
    or bend the string literal)."""
    if any(c in name for c in _UNQUOTABLE) or any(ord(c) < 32 for c in name):
        return None
    return f"name = '{name}'"


class ApprovalProver:
    """Finds the most recent provable approval of a model's versions for one alias.

    `evidence_sha(name, version)` returns the version's current evidence hash (or raises when
    it cannot be read: then that version is not proven). `policy_sha` and `waivers` are the ones
    enforced now.
    """

    def __init__(self, *, log_path: Path, client: Any, policy_sha: str, waivers: list[Any],
                 allowed: Callable[[str], bool], evidence_sha: Callable[[str, str], str],
                 keys: list[Any], max_age: dt.timedelta, allow_conditional: bool,
                 today: dt.date | None = None, checkpoints: Any = None,
                 checkpoint_keys: list[Any] | None = None) -> None:
        self.log_path = Path(log_path)
        self.client = client
        self.policy_sha = policy_sha
        self.waivers = waivers
        self.allowed = allowed
        self.evidence_sha = evidence_sha
        self.keys = keys
        self.max_age = max_age
        self.allow_conditional = allow_conditional
        self.today = today or dt.date.today()
        self.checkpoints = checkpoints  # a CheckpointStore anchoring the log, or None
        self.checkpoint_keys = checkpoint_keys or []
        self._evidence: dict[tuple[str, str], str | None] = {}

    def _current_evidence(self, name: str, version: str) -> str | None:
        key = (name, version)
        if key not in self._evidence:
            try:
                self._evidence[key] = self.evidence_sha(name, version)
            except Exception as exc:
                _logger.info("evidence of %s v%s cannot be read: %s", name, version, exc)
                self._evidence[key] = None
        return self._evidence[key]

    def _waivers_hold(self, used: tuple[tuple[str, str], ...]) -> bool:
        current = {(str(w.id), str(w.control)): w for w in self.waivers}
        return all(k in current and current[k].expires >= self.today for k in used)

    def _log_candidates(self, name: str, alias: str) -> tuple[list[Proof], dict[str, Any]]:
        verdicts = latest_log_verdicts(self.log_path, name, alias)
        if verdicts and not log_is_intact(self.log_path, self.checkpoints,
                                          self.checkpoint_keys):
            return [], {}
        out = []
        for v in verdicts.values():
            if not self.allowed(v.verdict):
                continue
            if v.policy_sha256 != self.policy_sha or not self._waivers_hold(v.waivers):
                continue
            out.append(Proof(v.version, "decision log", v.decision_id, v.at))
        return out, verdicts

    def _versions(self, name: str) -> list[Any]:
        flt = name_filter(name)
        if flt is None:
            return []
        out: list[Any] = []
        token = None
        while len(out) < MAX_SEARCHED_VERSIONS:
            page = self.client.search_model_versions(flt, max_results=200, page_token=token)
            out += [mv for mv in page if mv.name == name]  # exact name, whatever the filter did
            token = getattr(page, "token", None)
            if not token:
                break
        return out

    def _attested_candidates(self, name: str, alias: str) -> list[tuple[Proof, str]]:
        from mrm_gate.attestation import ATTESTATION_TAG, AttestationError, open_envelope

        if not self.keys:
            return []
        out = []
        for mv in self._versions(name):
            envelope = (mv.tags or {}).get(ATTESTATION_TAG)
            if not envelope:
                continue
            try:
                rec = open_envelope(envelope, self.keys)  # signature first: cheap, no I/O
            except AttestationError:
                continue
            at = _aware(rec.get("decided_at"))
            if at is not None:
                out.append((Proof(str(mv.version), "attestation", str(rec.get("decision_id")),
                                  at), envelope))
        return out

    def _attestation_holds(self, name: str, alias: str, proof: Proof, envelope: str,
                           verdicts: dict[str, Any]) -> bool:
        from mrm_gate.attestation import AttestationError, verify

        later = verdicts.get(proof.version)
        if later is not None and later.at > proof.at and not self.allowed(later.verdict):
            return False  # the gate blocked this version for this alias after it was attested
        evidence = self._current_evidence(name, proof.version)
        if evidence is None:
            return False
        try:
            verify(envelope, self.keys, name=name, version=proof.version,
                   policy_sha256=self.policy_sha, evidence_sha256=evidence, target=alias,
                   max_age=self.max_age, allow_conditional=self.allow_conditional)
        except AttestationError as exc:
            _logger.info("attestation of %s v%s not accepted: %s", name, proof.version, exc)
            return False
        return True

    def last_approved(self, name: str, alias: str, *, exclude: str) -> Proof | None:
        """The provable approval for `alias` made most recently, of a version other than
        `exclude` that still exists; None when there is none."""
        log_proofs, verdicts = self._log_candidates(name, alias)
        attested = self._attested_candidates(name, alias)
        candidates: list[tuple[Proof, str | None]] = [(p, None) for p in log_proofs] + attested
        candidates.sort(key=lambda c: c[0].at, reverse=True)
        for proof, envelope in candidates:
            if proof.version == exclude:
                continue
            if envelope is None:
                want = verdicts[proof.version].evidence_sha256
                if want is None or self._current_evidence(name, proof.version) != want:
                    continue  # the version changed since it was approved, or is gone
            elif not self._attestation_holds(name, alias, proof, envelope, verdicts):
                continue
            return proof
        return None
