"""Signing and verification keys for attestations and checkpoints, and the errors they raise.

* HMAC-SHA256: a shared secret of at least 32 bytes, from a file or `env:VARIABLE` (closed
  setups only: standard DSSE/in-toto tools cannot verify an HMAC signature);
* Ed25519: a PEM private key signs (`openssl genpkey -algorithm ed25519`), the PEM public key
  (or the private key) verifies. `cryptography` is imported only when an Ed25519 key is used.

A key id (`hmac:<16 hex>`, `ed25519:<16 hex>`) is a hint carried in the envelope's `keyid`; it
never replaces the signature check, and an HMAC id cannot be used to test guesses of the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UserError

MIN_HMAC_SECRET_BYTES = 32


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


def _hmac_key(secret: bytes, where: str) -> Key:
    if len(secret) < MIN_HMAC_SECRET_BYTES:
        raise AttestationKeyError(f"HMAC key {where} has {len(secret)} bytes; use at least "
                                  f"{MIN_HMAC_SECRET_BYTES} random bytes (e.g. "
                                  "`openssl rand -hex 32`)")
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
                raise AttestationKeyError(
                    f"key file {path} is not an Ed25519 key ({type(private).__name__}); only "
                    "Ed25519 PEM keys are supported")
            public = private.public_key()
            return Key(alg="Ed25519", kid=_ed25519_kid(public), private=private, public=public)
        public = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise AttestationKeyError(f"key file {path} is not a readable PEM key: {exc}") from None
    if not isinstance(public, Ed25519PublicKey):
        raise AttestationKeyError(f"key file {path} is not an Ed25519 public key "
                                  f"({type(public).__name__})")
    return Key(alg="Ed25519", kid=_ed25519_kid(public), public=public)
