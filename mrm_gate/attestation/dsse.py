"""DSSE envelopes (Dead Simple Signing Envelope v1) signed with our keys.

The pre-authentication encoding and the Ed25519 signature are `securesystemslib`'s
(`securesystemslib.dsse.Envelope.pae`, `CryptoSigner`, `SSlibKey.verify_signature`), never
hand-rolled. HMAC-SHA256 signs the same PAE bytes (closed setups only: standard DSSE tools do
not verify HMAC). The JSON form is the standard one::

    {"payload": "<base64>", "payloadType": "...",
     "signatures": [{"keyid": "...", "sig": "<base64>"}]}

Opening is strict, because every byte of an envelope is hostile: exactly those three fields, a
known payloadType, at least one signature, base64 that decodes, a signature from a trusted key
(HMAC signatures are checked only with HMAC keys, Ed25519 only with Ed25519 keys; a `keyid`
names which), and then a payload that is canonical JSON (RFC 8785 form for the values we sign:
sorted keys, no whitespace, no duplicate keys, no NaN) - so no two parsers can read one signed
payload differently. Signatures are checked before the payload is parsed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from .keys import Key

IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
ENVELOPE_FIELDS = frozenset({"payload", "payloadType", "signatures"})


class EnvelopeError(Exception):
    """Why an envelope does not open. `kind` classifies it for callers that reword it:
    json | shape | type | unsigned | untrusted | invalid | payload."""

    def __init__(self, kind: str, message: str, keyids: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.kind = kind
        self.keyids = keyids  # for "untrusted": the key ids the envelope names


def canonical(obj: Any) -> bytes:
    """Canonical JSON bytes: keys sorted by UTF-16 code units (RFC 8785), no whitespace,
    UTF-8, no NaN/Infinity. Floats are refused: nothing we sign carries one, and their
    canonical text differs between serialisers."""
    return json.dumps(_sorted(obj), separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def _sorted(obj: Any) -> Any:
    if isinstance(obj, dict):
        for k in obj:
            if not isinstance(k, str):
                raise TypeError(f"JSON object key {k!r} is not a string")
        return {k: _sorted(obj[k]) for k in sorted(obj, key=lambda s: s.encode("utf-16-be"))}
    if isinstance(obj, (list, tuple)):
        return [_sorted(v) for v in obj]
    if isinstance(obj, float):
        raise TypeError("floats are not signed (canonical form is ambiguous)")
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    raise TypeError(f"{type(obj).__name__} is not JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k[:40]!r}")
        out[k] = v
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def strict_json(data: bytes) -> Any:
    """Parse `data` as canonical JSON; ValueError naming what is wrong."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("not UTF-8") from None
    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    try:
        again = canonical(obj)
    except (TypeError, ValueError) as exc:
        raise ValueError(str(exc)) from None
    if again != data:
        raise ValueError("not in canonical form (sorted keys, no whitespace)")
    return obj


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise EnvelopeError("shape", f"{what} is not a base64 string")
    try:  # DSSE allows standard or URL-safe base64
        alt = text.replace("-", "+").replace("_", "/")
        return base64.b64decode(alt + "=" * (-len(alt) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise EnvelopeError("shape", f"{what} is not valid base64") from None


def _pae(payload_type: str, payload: bytes) -> bytes:
    from securesystemslib.dsse import Envelope

    return Envelope(payload, payload_type, {}).pae()


def _sslib_key(key: Key) -> Any:
    from securesystemslib.signer import SSlibKey

    return SSlibKey.from_crypto(key.public, keyid=key.kid)


def sign(payload: bytes, payload_type: str, key: Key) -> dict[str, Any]:
    """A DSSE envelope (JSON form) over `payload`, signed with `key`."""
    if key.alg == "HS256":
        sig = hmac.new(key.secret, _pae(payload_type, payload), hashlib.sha256).digest()
    else:
        from securesystemslib.dsse import Envelope
        from securesystemslib.signer import CryptoSigner

        env = Envelope(payload, payload_type, {})
        signature = env.sign(CryptoSigner(key.private, _sslib_key(key)))
        sig = bytes.fromhex(signature.signature)
    return {"payload": _b64(payload), "payloadType": payload_type,
            "signatures": [{"keyid": key.kid, "sig": _b64(sig)}]}


def _verifies(key: Key, pae: bytes, sig: bytes) -> bool:
    if key.alg == "HS256":
        return hmac.compare_digest(hmac.new(key.secret, pae, hashlib.sha256).digest(), sig)
    from securesystemslib.exceptions import UnverifiedSignatureError, VerificationError
    from securesystemslib.signer import Signature

    try:
        _sslib_key(key).verify_signature(Signature(key.kid, sig.hex()), pae)
    except (UnverifiedSignatureError, VerificationError):
        return False
    return True


def parse(envelope: Any) -> dict[str, Any]:
    """The envelope as a dict (from JSON text, bytes or a dict); EnvelopeError if it is not
    JSON or not an object."""
    if isinstance(envelope, (str, bytes)):
        try:
            envelope = json.loads(envelope, object_pairs_hook=_no_duplicates)
        except (ValueError, RecursionError):
            raise EnvelopeError("json", "not valid JSON") from None
    if not isinstance(envelope, dict):
        raise EnvelopeError("shape", "not a JSON object")
    return envelope


def open_envelope(envelope: Any, keys: list[Key], payload_type: str) -> tuple[Any, Key]:
    """The payload (parsed canonical JSON) and the key that signed it; EnvelopeError if not.

    Order: shape, payloadType, signatures (trusted key id, then the signature), payload.
    """
    env = parse(envelope)
    extra = sorted(set(env) - ENVELOPE_FIELDS)
    missing = sorted(ENVELOPE_FIELDS - set(env))
    if extra or missing:
        detail = (f"unexpected field {extra[0][:40]!r}" if extra
                  else f"no {missing[0]!r} field")
        raise EnvelopeError("shape", f"not a DSSE envelope ({detail})")
    if env["payloadType"] != payload_type:
        raise EnvelopeError("type", f"payloadType is {str(env['payloadType'])[:60]!r}, "
                                    f"not {payload_type!r}")
    payload = _unb64(env["payload"], "payload")
    sigs = env["signatures"]
    if not isinstance(sigs, list) or not sigs:
        raise EnvelopeError("unsigned", "has no signatures (an unsigned envelope is never "
                                        "trusted)")
    pae = _pae(payload_type, payload)
    seen_ids: list[str] = []
    tried = False
    for i, entry in enumerate(sigs):
        if not isinstance(entry, dict) or set(entry) - {"keyid", "sig"} or "sig" not in entry:
            raise EnvelopeError("shape", f"signature {i} is malformed (keyid, sig)")
        keyid = entry.get("keyid")
        if keyid is not None and not isinstance(keyid, str):
            raise EnvelopeError("shape", f"signature {i} has a keyid that is not a string")
        sig = _unb64(entry["sig"], f"signature {i}")
        # A key id selects the key (and so the algorithm); without one, every trusted key.
        candidates = [k for k in keys if not keyid or k.kid == keyid]
        if not candidates:
            seen_ids.append(str(keyid)[:40])
            continue
        tried = True
        for key in candidates:
            if _verifies(key, pae, sig):
                try:
                    return strict_json(payload), key
                except ValueError as exc:
                    raise EnvelopeError("payload", f"payload is not canonical JSON: {exc}") \
                        from None
    if not tried:
        trusted = ", ".join(k.kid for k in keys) or "none"
        raise EnvelopeError("untrusted", f"is signed with key {', '.join(seen_ids)}, which "
                                         f"is not trusted here (trusted: {trusted})",
                            tuple(seen_ids))
    raise EnvelopeError("invalid", "signature is invalid (the record was altered or signed "
                                   "with another key)")
