"""The pre-DSSE checkpoint envelope `mrm-gate.checkpoint/v1`: still read for one release.

    {"type": "mrm-gate.checkpoint/v1", "alg": "HS256" | "Ed25519", "kid": "...",
     "payload": "<base64 of the canonical JSON checkpoint>", "sig": "<base64 signature>"}

The signature covers `PREFIX + payload`. Logs anchored by such checkpoints must not suddenly
fail, so `Checkpoint.verify` still opens them and `audit verify` adds a deprecation warning;
mrm-gate no longer writes them (`sign` is kept for the tests that prove old checkpoints still
verify). Remove after the next release, with `legacy.py` of the attestations.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from ..attestation import Key
from .records import canonical

LEGACY_CHECKPOINT_TYPE = "mrm-gate.checkpoint/v1"
PREFIX = b"mrm-gate.checkpoint/v1\n"
DEPRECATION = ("deprecated checkpoint format mrm-gate.checkpoint/v1: accepted for this release "
               "only; new checkpoints are DSSE envelopes (run `mrm-gate audit checkpoint` to "
               "anchor the head in the new format)")


def is_legacy(envelope: Any) -> bool:
    return isinstance(envelope, dict) and envelope.get("type") == LEGACY_CHECKPOINT_TYPE


def sign(body: dict[str, Any], key: Key) -> dict[str, Any]:
    """An old-format envelope over `body` (tests only: mrm-gate writes DSSE)."""
    payload = canonical({"type": LEGACY_CHECKPOINT_TYPE, **body})
    if key.alg == "HS256":
        sig = hmac.new(key.secret, PREFIX + payload, hashlib.sha256).digest()
    else:
        sig = key.private.sign(PREFIX + payload)
    return {"type": LEGACY_CHECKPOINT_TYPE, "alg": key.alg, "kid": key.kid,
            "payload": base64.b64encode(payload).decode(), "sig": base64.b64encode(sig).decode()}


def open_legacy(envelope: dict[str, Any], keys: list[Key]) -> dict[str, Any]:
    """The payload of an old envelope signed by one of `keys`; ValueError (its message is the
    reason) if not. The key id is required and must name a key of the envelope's `alg`: an HMAC
    key is never tried on an Ed25519 claim."""
    try:
        payload = base64.b64decode(envelope["payload"], validate=True)
        sig = base64.b64decode(envelope["sig"], validate=True)
        alg, kid = envelope["alg"], envelope.get("kid")
    except (KeyError, ValueError, TypeError):
        raise ValueError("malformed envelope (payload/sig/alg)") from None
    candidates = [k for k in keys if k.alg == alg and k.kid == kid]
    if not candidates:
        trusted = ", ".join(k.kid for k in keys) or "none"
        raise ValueError(f"signed with key {str(kid)[:40]!r} ({str(alg)[:10]}), which is not "
                         f"trusted here (trusted: {trusted})")
    if not any(_valid(k, PREFIX + payload, sig) for k in candidates):
        raise ValueError("signature is invalid (the checkpoint was altered or signed with "
                         "another key)")
    try:
        body = json.loads(payload)
    except (ValueError, RecursionError):
        raise ValueError("payload is not valid JSON") from None
    if not isinstance(body, dict) or body.pop("type", None) != LEGACY_CHECKPOINT_TYPE:
        raise ValueError("payload is not a checkpoint (wrong type)")
    return body


def _valid(key: Key, data: bytes, sig: bytes) -> bool:
    if key.alg == "HS256":
        return hmac.compare_digest(hmac.new(key.secret, data, hashlib.sha256).digest(), sig)
    from cryptography.exceptions import InvalidSignature

    try:
        key.public.verify(sig, data)
    except InvalidSignature:
        return False
    return True
