"""Signed decision records (attestations): CI evaluates, the registry and the deploy verify.

An attestation binds one decision to exactly one model version (and, when it was digested, the
model directory's content), one policy (its sha256), one evidence state
(`Evidence.content_sha256()`), the target it was evaluated for, the verdict and the time of
the evaluation. It is an **in-toto Statement v1** (`statement.py`: subjects by sha256, predicate
type `https://mrm-gate.dev/attestation/model-risk-decision/v1`) in a **DSSE envelope**
(`dsse.py`, payloadType `application/vnd.in-toto+json`), signed with Ed25519 (verifiable by
standard tools: cosign, in-toto, Kyverno, sigstore-python's DSSE model) or HMAC-SHA256 (closed
setups). A gated MLflow server in `attestation` mode trusts a valid record instead of re-running
heavy validation suites in the request path; `mrm-gate attest verify` checks one at deploy time.
The old `mrm-gate.attestation/v1` envelope is still read for one release (`legacy.py`), with a
deprecation warning. See docs/attestations.md.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from ..errors import UserError
from .dsse import IN_TOTO_PAYLOAD_TYPE, EnvelopeError, canonical
from .keys import (
    MIN_HMAC_SECRET_BYTES,
    AttestationError,
    AttestationKeyError,
    Key,
    load_key,
)
from .legacy import DEPRECATION, LEGACY_ATTESTATION_TYPE, is_legacy, open_legacy
from .statement import PREDICATE_TYPE, STATEMENT_TYPE, record_from_statement, statement_for

ATTESTATION_TYPE = PREDICATE_TYPE
# Model version tag that carries an attestation. Under the `mrm.gate` prefix, so it is excluded
# from the evidence hash (attaching the record does not change what it attests).
ATTESTATION_TAG = "mrm.gate.attestation"

__all__ = [
    "ATTESTATION_TAG", "ATTESTATION_TYPE", "DEPRECATION", "IN_TOTO_PAYLOAD_TYPE",
    "LEGACY_ATTESTATION_TYPE", "MIN_HMAC_SECRET_BYTES", "PREDICATE_TYPE", "STATEMENT_TYPE",
    "AttestationError", "AttestationKeyError", "Key", "dumps", "load_key", "open_envelope",
    "parse_duration", "record_for", "sign", "sign_decision", "verify", "write_attestation",
]


def record_for(decision: Any, model_sha256: str | None = None) -> dict[str, Any]:
    """The attested fields of a Decision (the predicate, plus `type`).

    `model_sha256`: the model directory digest (`digest.model_dir_sha256`), when the model was
    available to digest; it becomes the Statement's model subject."""
    model: dict[str, Any] = {"name": decision.model.name, "version": decision.model.version}
    if decision.model.uri:
        model["uri"] = decision.model.uri
    if model_sha256:
        model["sha256"] = model_sha256
    return {
        "type": ATTESTATION_TYPE,
        "decision_id": decision.id,
        "model": model,
        "target": decision.target,
        "verdict": decision.verdict.value,
        "tier": decision.tier.tier,
        "policy": {"name": decision.policy.name, "version": decision.policy.version,
                   "sha256": decision.policy.sha256},
        "evidence_sha256": decision.evidence_sha256,
        "decided_at": decision.created_at.astimezone(dt.timezone.utc).isoformat(),
        "failing_controls": [o.control_id for o in decision.failing()],
        "waived_controls": sorted(o.control_id for o in decision.outcomes
                                  if o.waiver is not None and not o.waiver.expired),
        "actor": decision.actor,
        "tool_version": decision.tool_version,
    }


def statement_payload(record: dict[str, Any]) -> bytes:
    """The canonical JSON bytes of the record's in-toto Statement (the DSSE payload)."""
    return canonical(statement_for(record))


def sign(record: dict[str, Any], key: Key) -> dict[str, Any]:
    """`record` as an in-toto Statement in a DSSE envelope signed with `key`."""
    from . import dsse

    if not key.can_sign:
        raise AttestationKeyError(f"key {key.kid} is a public key; signing needs the private key")
    return dsse.sign(statement_payload(record), IN_TOTO_PAYLOAD_TYPE, key)


def sign_decision(decision: Any, key: Key, model_sha256: str | None = None) -> dict[str, Any]:
    return sign(record_for(decision, model_sha256), key)


def dumps(envelope: dict[str, Any]) -> str:
    return json.dumps(envelope, sort_keys=True, indent=None, separators=(",", ":"))


_PREFIXES = {
    "json": "attestation is {}",
    "shape": "attestation envelope is malformed: {}",
    "type": "attestation envelope {}",
    "unsigned": "attestation {}",
    "payload": "attestation {}",
}


def open_envelope(envelope: Any, keys: list[Key]) -> dict[str, Any]:
    """Check the signature with one of `keys` and return the record; AttestationError if not.

    The record is the predicate plus `type` and `subject`; an old-format record also carries
    `warnings` (its deprecation)."""
    from . import dsse

    try:
        env = dsse.parse(envelope)
        if is_legacy(env):
            return open_legacy(env, keys)
        statement, _key = dsse.open_envelope(env, keys, IN_TOTO_PAYLOAD_TYPE)
    except EnvelopeError as exc:
        if exc.kind == "untrusted":
            known = ", ".join(k.kid for k in keys) or "none"
            raise AttestationError(f"attestation is signed with key {', '.join(exc.keyids)}, "
                                   f"which this server does not trust (trusted: {known})") \
                from None
        if exc.kind == "invalid":
            raise AttestationError("attestation signature is invalid (the record was altered "
                                   "or signed with another key)") from None
        raise AttestationError(_PREFIXES[exc.kind].format(exc)) from None
    return record_from_statement(statement)


def verify(
    envelope: Any,
    keys: list[Key],
    *,
    name: str,
    version: str,
    policy_sha256: str,
    evidence_sha256: str,
    target: str | None,
    max_age: dt.timedelta,
    allow_conditional: bool,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Return the record if it attests an acceptable decision for exactly this request.

    Raises AttestationError with the first reason it does not (signature, model, version,
    target, policy hash, evidence hash, age, verdict), each naming both values.
    """
    rec = open_envelope(envelope, keys)
    check_record(rec, name=name, version=version, policy_sha256=policy_sha256,
                 evidence_sha256=evidence_sha256, target=target)
    check_fresh(rec, max_age=max_age, now=now)
    check_verdict(rec, {"APPROVE", "CONDITIONAL"} if allow_conditional else {"APPROVE"})
    return rec


def check_record(rec: dict[str, Any], *, name: str | None = None, version: str | None = None,
                 policy_sha256: str | None = None, evidence_sha256: str | None = None,
                 target: Any = ...) -> None:
    """The record is for this model, version, target, policy and evidence (those given)."""
    model = rec.get("model") or {}
    if name is not None and model.get("name") != name:
        raise AttestationError(f"attestation is for model {model.get('name')!r}, not {name!r}")
    if version is not None and str(model.get("version")) != str(version):
        raise AttestationError(
            f"attestation is for version {model.get('version')}, not version {version}")
    if target is not ... and rec.get("target") is not None \
            and str(rec["target"]).lower() != (target or "").lower():
        raise AttestationError(f"attestation was evaluated for target {rec['target']!r}, "
                               f"not {target!r}")
    policy_hash = (rec.get("policy") or {}).get("sha256")
    if policy_sha256 is not None and policy_hash != policy_sha256:
        raise AttestationError(
            f"attestation was made with policy sha256 {str(policy_hash)[:12]}…, the server "
            f"enforces {policy_sha256[:12]}…; evaluate again with the current policy")
    attested = str(rec.get("evidence_sha256"))
    if evidence_sha256 is not None and attested != evidence_sha256:
        raise AttestationError(
            f"the evidence changed since the attestation (attested {attested[:12]}…, "
            f"now {evidence_sha256[:12]}…); evaluate again")


def decided_at(rec: dict[str, Any]) -> dt.datetime:
    try:
        decided = dt.datetime.fromisoformat(rec["decided_at"])
    except (KeyError, TypeError, ValueError):
        raise AttestationError("attestation has no valid decided_at time") from None
    return decided if decided.tzinfo else decided.replace(tzinfo=dt.timezone.utc)


def check_fresh(rec: dict[str, Any], *, max_age: dt.timedelta | None,
                now: dt.datetime | None = None) -> None:
    """Not older than `max_age` (None: any age) and not dated in the future."""
    now = now or dt.datetime.now(dt.timezone.utc)
    age = now - decided_at(rec)
    if max_age is not None and age > max_age:
        raise AttestationError(f"attestation is stale: made {_human(age)} ago, the maximum "
                               f"age is {_human(max_age)}; evaluate again")
    if age < -dt.timedelta(minutes=5):
        raise AttestationError("attestation is dated in the future; check the signer's clock")


def check_verdict(rec: dict[str, Any], allowed: set[str]) -> None:
    verdict = rec.get("verdict")
    if verdict not in allowed:
        failing = ", ".join(rec.get("failing_controls") or []) or "none listed"
        raise AttestationError(f"attested verdict is {verdict} (failing controls: {failing}); "
                               f"accepted: {', '.join(sorted(allowed))}")


def _human(delta: dt.timedelta) -> str:
    s = int(abs(delta.total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= size:
            return f"{s / size:.1f} {unit}"
    return f"{s} s"


def parse_duration(text: str | int | float) -> dt.timedelta:
    """'90s', '15m', '24h', '7d' or a number of seconds -> timedelta (UserError if invalid)."""
    if isinstance(text, (int, float)):
        return dt.timedelta(seconds=float(text))
    t = str(text).strip().lower()
    units = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
    for suffix in sorted(units, key=len, reverse=True):
        if t.endswith(suffix):
            number = t[: -len(suffix)].strip()
            break
    else:
        suffix, number = "s", t
    try:
        value = float(number)
    except ValueError:
        raise UserError(f"invalid duration {text!r}; use e.g. 90s, 15m, 24h or 7d") from None
    if value <= 0:
        raise UserError(f"duration {text!r} must be positive")
    return dt.timedelta(seconds=value * units[suffix])


def write_attestation(decision: Any, key_spec: str, out_dir: str | Path,
                      model_dir: str | Path | None = None) -> Path:
    """Sign `decision` with the key named by `key_spec` and write it next to the reports.

    `model_dir`: the model directory, digested into the Statement's model subject. The file
    name is the reports' stem (`report_stem`: model name and version from evidence are made
    safe, never a path) and the file is created inside `out_dir`, never over another."""
    from ..output import report_stem
    from ..output.files import ensure_folder, inside, write_new_file

    model_sha = None
    if model_dir is None:
        model_dir = local_model_dir(decision)
    if model_dir is not None:
        from .digest import model_dir_sha256

        model_sha = model_dir_sha256(model_dir)
    envelope = sign_decision(decision, load_key(key_spec), model_sha)
    out = ensure_folder(out_dir)
    path = inside(out, f"{report_stem(decision)}.attestation.json")
    return write_new_file(path, dumps(envelope) + "\n")


def local_model_dir(decision: Any) -> str | None:
    """The model folder of the decision's evidence, through the source that read it: a local
    folder's `model_artifact` (or the model an export copied), contained in the folder; for
    MLflow, the registered version's model downloaded to a private folder. None when the
    evidence names no model or it cannot be fetched (the Statement then names only the
    evidence subject, and `attest verify --model-dir` can bind the model at build time)."""
    from ..errors import EvidenceError, UserError
    from ..evidence.source import SourceSettings, open_source

    prov = decision.evidence_provenance or {}
    uri = prov.get("uri")
    if not uri or prov.get("source") not in ("local", "mlflow"):
        return None
    try:
        source = open_source(str(uri), name=str(prov["source"]),
                             settings=SourceSettings(tracking_uri=prov.get("tracking_uri")))
        evidence = source.load(str(uri))
        if prov["source"] == "local" and not evidence.model_artifact:
            from ..evidence.export import exported_model_location

            return exported_model_location(evidence)
        return source.model_location(evidence)
    except (EvidenceError, UserError):
        return None
