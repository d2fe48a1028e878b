"""Signed decision records (attestations): CI evaluates, the registry verifies.

An attestation binds one decision to exactly one model version, one policy (its sha256), one
evidence state (`Evidence.content_sha256()`), the target it was evaluated for, the verdict and
the time of the evaluation. A gated MLflow server in `attestation` mode trusts a valid record
instead of re-running heavy validation suites in the request path, the way deploy-time admission
(GKE Binary Authorization, Kyverno image verification) trusts attestations made in CI.

Envelope (JSON)::

    {"type": "mrm-gate.attestation/v1", "alg": "HS256" | "Ed25519", "kid": "...",
     "payload": "<base64 of the canonical JSON record>", "sig": "<base64 signature>"}

The signature covers `PREFIX + payload-bytes` (domain separation: a signature made for another
purpose with the same key can never verify as an attestation). Keys:

* HMAC-SHA256: a shared secret of at least 32 bytes, from a file or `env:VARIABLE`;
* Ed25519: a PEM private key signs (`openssl genpkey -algorithm ed25519`), the PEM public key
  (or the private key) verifies. `cryptography` is imported only when an Ed25519 key is used.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import UserError

ATTESTATION_TYPE = "mrm-gate.attestation/v1"
PREFIX = b"mrm-gate.attestation/v1\n"
MIN_HMAC_SECRET_BYTES = 32
# Model version tag that carries an attestation. Under the `mrm.gate` prefix, so it is excluded
# from the evidence hash (attaching the record does not change what it attests).
ATTESTATION_TAG = "mrm.gate.attestation"


class AttestationError(Exception):
    """The record is missing, malformed, unsigned, for something else, stale or not approving.

    The message says which, and is shown to the user as the reason of the refusal.
    """


class AttestationKeyError(UserError):
    """A signing or verification key cannot be read (a user error: exit code 2)."""


@dataclass(frozen=True)
class Key:
    """A signing or verification key. `secret` for HMAC; `private`/`public` for Ed25519."""

    alg: str  # "HS256" or "Ed25519"
    kid: str
    secret: bytes | None = None
    private: Any = None
    public: Any = None

    @property
    def can_sign(self) -> bool:
        return self.secret is not None or self.private is not None


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str).encode()


def _hmac_key(secret: bytes, where: str) -> Key:
    if len(secret) < MIN_HMAC_SECRET_BYTES:
        raise AttestationKeyError(f"HMAC key {where} has {len(secret)} bytes; use at least "
                        f"{MIN_HMAC_SECRET_BYTES} random bytes (e.g. `openssl rand -hex 32`)")
    # The key id must not let anyone test guesses of the secret faster than a signature does.
    kid = "hmac:" + hmac.new(secret, b"mrm-gate key id", hashlib.sha256).hexdigest()[:16]
    return Key(alg="HS256", kid=kid, secret=secret)


def _ed25519_kid(public: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]


def load_key(spec: str) -> Key:
    """Load a key from `env:VARIABLE` (HMAC secret) or a file (PEM Ed25519 key or HMAC secret).

    Raises `AttestationKeyError` (a user error) naming the variable or file and what is wrong.
    """
    if spec.startswith("env:"):
        var = spec[4:]
        value = os.environ.get(var)
        if not value:
            raise AttestationKeyError(f"key variable {var} is not set or empty")
        return _hmac_key(value.strip().encode(), f"in ${var}")
    path = Path(spec)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AttestationKeyError(f"cannot read key file {path}: {exc.strerror}") from None
    if b"-----BEGIN" not in data:
        return _hmac_key(data.strip(), f"file {path}")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

    try:
        if b"PRIVATE KEY" in data:
            private = serialization.load_pem_private_key(data, password=None)
            if not isinstance(private, Ed25519PrivateKey):
                raise AttestationKeyError(f"key file {path} is not an Ed25519 key "
                                f"({type(private).__name__}); only Ed25519 PEM keys are supported")
            public = private.public_key()
            return Key(alg="Ed25519", kid=_ed25519_kid(public), private=private, public=public)
        public = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise AttestationKeyError(f"key file {path} is not a readable PEM key: {exc}") from None
    if not isinstance(public, Ed25519PublicKey):
        raise AttestationKeyError(f"key file {path} is not an Ed25519 public key "
                        f"({type(public).__name__})")
    return Key(alg="Ed25519", kid=_ed25519_kid(public), public=public)


def record_for(decision: Any) -> dict[str, Any]:
    """The attested fields of a Decision (what the registry checks before trusting it)."""
    return {
        "type": ATTESTATION_TYPE,
        "decision_id": decision.id,
        "model": {"name": decision.model.name, "version": decision.model.version},
        "target": decision.target,
        "verdict": decision.verdict.value,
        "tier": decision.tier.tier,
        "policy": {"name": decision.policy.name, "version": decision.policy.version,
                   "sha256": decision.policy.sha256},
        "evidence_sha256": decision.evidence_sha256,
        "decided_at": decision.created_at.astimezone(dt.timezone.utc).isoformat(),
        "failing_controls": [o.control_id for o in decision.failing()],
        "actor": decision.actor,
        "tool_version": decision.tool_version,
    }


def sign(record: dict[str, Any], key: Key) -> dict[str, Any]:
    """Wrap `record` in a signed envelope."""
    if not key.can_sign:
        raise AttestationKeyError(f"key {key.kid} is a public key; signing needs the private key")
    payload = _canonical(record)
    if key.alg == "HS256":
        sig = hmac.new(key.secret, PREFIX + payload, hashlib.sha256).digest()
    else:
        sig = key.private.sign(PREFIX + payload)
    return {"type": ATTESTATION_TYPE, "alg": key.alg, "kid": key.kid,
            "payload": base64.b64encode(payload).decode(), "sig": base64.b64encode(sig).decode()}


def sign_decision(decision: Any, key: Key) -> dict[str, Any]:
    return sign(record_for(decision), key)


def dumps(envelope: dict[str, Any]) -> str:
    return json.dumps(envelope, sort_keys=True, indent=None, separators=(",", ":"))


def open_envelope(envelope: Any, keys: list[Key]) -> dict[str, Any]:
    """Check the signature with one of `keys` and return the record; AttestationError if not."""
    if isinstance(envelope, (str, bytes)):
        try:
            envelope = json.loads(envelope)
        except ValueError:
            raise AttestationError("attestation is not valid JSON") from None
    if not isinstance(envelope, dict) or envelope.get("type") != ATTESTATION_TYPE:
        raise AttestationError(f"attestation is not an {ATTESTATION_TYPE} envelope")
    try:
        payload = base64.b64decode(envelope["payload"], validate=True)
        sig = base64.b64decode(envelope["sig"], validate=True)
        alg, kid = envelope["alg"], envelope.get("kid")
    except (KeyError, ValueError, TypeError):
        raise AttestationError("attestation envelope is malformed (payload/sig/alg)") from None
    candidates = [k for k in keys if k.alg == alg and (kid is None or k.kid == kid)]
    if not candidates:
        known = ", ".join(k.kid for k in keys) or "none"
        raise AttestationError(f"attestation is signed with key {kid} ({alg}), which this "
                               f"server does not trust (trusted: {known})")
    if not any(_valid(k, payload, sig) for k in candidates):
        raise AttestationError("attestation signature is invalid (the record was altered or "
                               "signed with another key)")
    try:
        record = json.loads(payload)
    except ValueError:
        raise AttestationError("attestation payload is not valid JSON") from None
    if not isinstance(record, dict) or record.get("type") != ATTESTATION_TYPE:
        raise AttestationError("attestation payload has the wrong type")
    return record


def _valid(key: Key, payload: bytes, sig: bytes) -> bool:
    if key.alg == "HS256":
        want = hmac.new(key.secret, PREFIX + payload, hashlib.sha256).digest()
        return hmac.compare_digest(want, sig)
    from cryptography.exceptions import InvalidSignature

    try:
        key.public.verify(sig, PREFIX + payload)
    except InvalidSignature:
        return False
    return True


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
    now = now or dt.datetime.now(dt.timezone.utc)
    model = rec.get("model") or {}
    if model.get("name") != name:
        raise AttestationError(f"attestation is for model {model.get('name')!r}, not {name!r}")
    if str(model.get("version")) != str(version):
        raise AttestationError(
            f"attestation is for version {model.get('version')}, not version {version}")
    if rec.get("target") is not None and str(rec["target"]).lower() != (target or "").lower():
        raise AttestationError(f"attestation was evaluated for target {rec['target']!r}, "
                               f"not {target!r}")
    policy_hash = (rec.get("policy") or {}).get("sha256")
    if policy_hash != policy_sha256:
        raise AttestationError(
            f"attestation was made with policy sha256 {str(policy_hash)[:12]}…, the server "
            f"enforces {policy_sha256[:12]}…; evaluate again with the current policy")
    attested = str(rec.get("evidence_sha256"))
    if attested != evidence_sha256:
        raise AttestationError(
            f"the evidence changed since the attestation (attested {attested[:12]}…, "
            f"now {evidence_sha256[:12]}…); evaluate again")
    try:
        decided = dt.datetime.fromisoformat(rec["decided_at"])
    except (KeyError, TypeError, ValueError):
        raise AttestationError("attestation has no valid decided_at time") from None
    if decided.tzinfo is None:
        decided = decided.replace(tzinfo=dt.timezone.utc)
    age = now - decided
    if age > max_age:
        raise AttestationError(f"attestation is stale: made {_human(age)} ago, the maximum "
                               f"age is {_human(max_age)}; evaluate again")
    if age < -dt.timedelta(minutes=5):
        raise AttestationError("attestation is dated in the future; check the signer's clock")
    verdict = rec.get("verdict")
    allowed = {"APPROVE", "CONDITIONAL"} if allow_conditional else {"APPROVE"}
    if verdict not in allowed:
        failing = ", ".join(rec.get("failing_controls") or []) or "none listed"
        raise AttestationError(f"attested verdict is {verdict} (failing controls: {failing}); "
                               f"accepted: {', '.join(sorted(allowed))}")
    return rec


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


def write_attestation(decision: Any, key_spec: str, out_dir: str | Path) -> Path:
    """Sign `decision` with the key named by `key_spec` and write it next to the reports.

    The file name is the reports' stem (`report_stem`: model name and version from evidence are
    made safe, never a path) and the file is created inside `out_dir`, never over another."""
    from .output import report_stem
    from .output.files import ensure_folder, inside, write_new_file

    envelope = sign_decision(decision, load_key(key_spec))
    out = ensure_folder(out_dir)
    path = inside(out, f"{report_stem(decision)}.attestation.json")
    return write_new_file(path, dumps(envelope) + "\n")
