"""The pre-DSSE envelope `mrm-gate.attestation/v1`: still read for one release, deprecated.

    {"type": "mrm-gate.attestation/v1", "alg": "HS256" | "Ed25519", "kid": "...",
     "payload": "<base64 of the canonical JSON record>", "sig": "<base64 signature>"}

The signature covers `PREFIX + payload`. Records opened from it carry a deprecation warning
(`record["warnings"]`, and a log warning); mrm-gate no longer writes it (`sign` is kept for
tests that prove old records still verify). Remove after the next release.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from typing import Any

from .keys import AttestationError, AttestationKeyError, Key

LEGACY_ATTESTATION_TYPE = "mrm-gate.attestation/v1"
PREFIX = b"mrm-gate.attestation/v1\n"
DEPRECATION = ("deprecated attestation format mrm-gate.attestation/v1: accepted for this "
               "release only; evaluate again with this mrm-gate to get an in-toto DSSE "
               "attestation")

_logger = logging.getLogger("mrm_gate.attestation")


def is_legacy(envelope: Any) -> bool:
    return isinstance(envelope, dict) and envelope.get("type") == LEGACY_ATTESTATION_TYPE


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str).encode()


def sign(record: dict[str, Any], key: Key) -> dict[str, Any]:
    """An old-format envelope (tests only: mrm-gate writes DSSE)."""
    if not key.can_sign:
        raise AttestationKeyError(f"key {key.kid} is a public key; signing needs the private key")
    payload = _canonical({**record, "type": LEGACY_ATTESTATION_TYPE})
    if key.alg == "HS256":
        sig = hmac.new(key.secret, PREFIX + payload, hashlib.sha256).digest()
    else:
        sig = key.private.sign(PREFIX + payload)
    return {"type": LEGACY_ATTESTATION_TYPE, "alg": key.alg, "kid": key.kid,
            "payload": base64.b64encode(payload).decode(), "sig": base64.b64encode(sig).decode()}


def open_legacy(envelope: dict[str, Any], keys: list[Key]) -> dict[str, Any]:
    """The record of an old-format envelope, with a deprecation warning; AttestationError."""
    try:
        payload = base64.b64decode(envelope["payload"], validate=True)
        sig = base64.b64decode(envelope["sig"], validate=True)
        alg, kid = envelope["alg"], envelope.get("kid")
    except (KeyError, ValueError, TypeError):
        raise AttestationError("attestation envelope is malformed (payload/sig/alg)") from None
    # The key id is required: without it an HMAC key could be tried on an Ed25519 claim.
    candidates = [k for k in keys if k.alg == alg and k.kid == kid]
    if not candidates:
        known = ", ".join(k.kid for k in keys) or "none"
        raise AttestationError(f"attestation is signed with key {str(kid)[:40]} "
                               f"({str(alg)[:10]}), which this server does not trust "
                               f"(trusted: {known})")
    if not any(_valid(k, payload, sig) for k in candidates):
        raise AttestationError("attestation signature is invalid (the record was altered or "
                               "signed with another key)")
    try:
        record = json.loads(payload)
    except (ValueError, RecursionError):
        raise AttestationError("attestation payload is not valid JSON") from None
    if not isinstance(record, dict) or record.get("type") != LEGACY_ATTESTATION_TYPE:
        raise AttestationError("attestation payload has the wrong type")
    _logger.warning("%s (decision %s)", DEPRECATION, str(record.get("decision_id"))[:64])
    return {**record, "warnings": [DEPRECATION]}


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
