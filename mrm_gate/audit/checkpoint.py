"""Signed checkpoints: the head of a decision log, anchored outside the log.

A hash chain detects edits, removals and reordering *inside* the log, but not the removal of
its newest records, nor a rewrite of the last record with a recomputed hash: the shortened log
is still a valid chain. A checkpoint is a signed statement "log LOG_ID had record SEQ with hash
HEAD at time AT", kept apart from the log (a checkpoint file, the MLflow registry). `verify`
then requires the log to still contain every checkpointed head, so truncation or a rewrite at or
below the newest checkpoint is detected and named.

Keys are the attestation keys (`mrm_gate.attestation.load_key`: HMAC `env:VAR` or a file, or an
Ed25519 PEM key). The signature covers `PREFIX + payload`, a prefix different from the
attestations', so a signature made for one purpose never verifies as the other.

Envelope (one JSON line in a checkpoint file)::

    {"type": "mrm-gate.checkpoint/v1", "alg": "HS256" | "Ed25519", "kid": "...",
     "payload": "<base64 of the canonical JSON checkpoint>", "sig": "<base64 signature>"}
"""

from __future__ import annotations

import base64
import datetime as dt
import fcntl
import hashlib
import hmac
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ..attestation import Key, load_key
from ..errors import UserError
from .records import canonical, is_seq, is_sha256

CHECKPOINT_TYPE = "mrm-gate.checkpoint/v1"
PREFIX = b"mrm-gate.checkpoint/v1\n"

SignedCheckpoint = dict[str, Any]
"""A checkpoint envelope as stored: JSON-able, opaque to stores."""


class CheckpointError(Exception):
    """A checkpoint is malformed, unsigned, signed with an untrusted key, or altered."""


@dataclass(frozen=True)
class Checkpoint:
    """Log `log_id` (the sha256 of its first record) had record `seq` with hash `head_sha256`."""

    log_id: str
    seq: int
    head_sha256: str
    at: str  # ISO 8601, UTC: when the checkpoint was signed

    @classmethod
    def now(cls, log_id: str, seq: int, head_sha256: str) -> Checkpoint:
        return cls(log_id=log_id, seq=seq, head_sha256=head_sha256,
                   at=dt.datetime.now(dt.timezone.utc).isoformat())

    def payload(self) -> dict[str, Any]:
        return {"type": CHECKPOINT_TYPE, **asdict(self)}

    def sign(self, key: Key) -> SignedCheckpoint:
        if not key.can_sign:
            raise UserError(f"key {key.kid} is a public key; signing checkpoints needs the "
                            "private key")
        payload = canonical(self.payload())
        return {"type": CHECKPOINT_TYPE, "alg": key.alg, "kid": key.kid,
                "payload": base64.b64encode(payload).decode(),
                "sig": base64.b64encode(_sign(key, PREFIX + payload)).decode()}

    @classmethod
    def verify(cls, envelope: Any, keys: list[Key]) -> Checkpoint:
        """The checkpoint in `envelope` if one of `keys` signed it; CheckpointError if not."""
        if isinstance(envelope, (str, bytes)):
            try:
                envelope = json.loads(envelope)
            except (ValueError, RecursionError):
                raise CheckpointError("not valid JSON") from None
        if not isinstance(envelope, dict) or envelope.get("type") != CHECKPOINT_TYPE:
            raise CheckpointError(f"not a {CHECKPOINT_TYPE} envelope")
        try:
            payload = base64.b64decode(envelope["payload"], validate=True)
            sig = base64.b64decode(envelope["sig"], validate=True)
            alg, kid = envelope["alg"], envelope.get("kid")
        except (KeyError, ValueError, TypeError):
            raise CheckpointError("malformed envelope (payload/sig/alg)") from None
        candidates = [k for k in keys if k.alg == alg and k.kid == kid]
        if not candidates:
            trusted = ", ".join(k.kid for k in keys) or "none"
            raise CheckpointError(f"signed with key {str(kid)[:40]!r} ({str(alg)[:10]}), which "
                                  f"is not trusted here (trusted: {trusted})")
        if not any(_valid(k, PREFIX + payload, sig) for k in candidates):
            raise CheckpointError("signature is invalid (the checkpoint was altered or signed "
                                  "with another key)")
        try:
            body = json.loads(payload)
        except ValueError:
            raise CheckpointError("payload is not valid JSON") from None
        if not (isinstance(body, dict) and body.get("type") == CHECKPOINT_TYPE
                and is_sha256(body.get("log_id")) and is_seq(body.get("seq"))
                and is_sha256(body.get("head_sha256")) and isinstance(body.get("at"), str)):
            raise CheckpointError("payload is not a checkpoint (log_id, seq, head_sha256, at)")
        return cls(log_id=body["log_id"], seq=body["seq"], head_sha256=body["head_sha256"],
                   at=body["at"])


def _sign(key: Key, data: bytes) -> bytes:
    if key.alg == "HS256":
        return hmac.new(key.secret, data, hashlib.sha256).digest()
    return key.private.sign(data)


def _valid(key: Key, data: bytes, sig: bytes) -> bool:
    if key.alg == "HS256":
        return hmac.compare_digest(hmac.new(key.secret, data, hashlib.sha256).digest(), sig)
    from cryptography.exceptions import InvalidSignature

    try:
        key.public.verify(sig, data)
    except InvalidSignature:
        return False
    return True


@runtime_checkable
class CheckpointStore(Protocol):
    """Where checkpoints live, apart from the log (a file; the MLflow registry).

    `write` must be durable when it returns (raise if not); `latest` returns the envelope with
    the highest `seq` written so far, or None. Stores never interpret envelopes: `verify` does.
    A store may also offer `entries()` (every envelope, see FileCheckpointStore) so that every
    checkpoint, not only the newest, is checked.
    """

    def write(self, cp: SignedCheckpoint) -> None: ...

    def latest(self) -> SignedCheckpoint | None: ...


@dataclass(frozen=True)
class Entry:
    """One checkpoint of a store (a line of a file, a tag of a registered model): its
    envelope, or why it is not one."""

    line: int
    envelope: Any
    error: str | None = None
    torn: bool = False
    label: str | None = None  # how messages name it (default: "checkpoint line N")


class FileCheckpointStore:
    """Checkpoints as JSON Lines, one signed envelope a line, appended under `flock`.

    A torn last line (a crash mid-write) is removed by the next write: it carries no signature
    that anything could rely on. A file whose first line is not a checkpoint is refused (it is
    somebody else's file).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def write(self, cp: SignedCheckpoint) -> None:
        line = json.dumps(cp, sort_keys=True, separators=(",", ":")).encode() + b"\n"
        if self.path.is_dir():
            raise UserError(f"checkpoint file {self.path} is a directory; name a file")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as exc:
            raise UserError(f"cannot open checkpoint file {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            if size:
                self._check_first(fd)
                last = os.pread(fd, 1, size - 1)
                if last != b"\n":
                    os.ftruncate(fd, _after_last_newline(fd, size))
            _write_all(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)  # closing releases the lock

    def latest(self) -> SignedCheckpoint | None:
        best: tuple[int, SignedCheckpoint] | None = None
        for entry in self.entries():
            if entry.error is None:
                seq = _payload_seq(entry.envelope)
                if seq is not None and (best is None or seq >= best[0]):
                    best = (seq, entry.envelope)
        return best[1] if best else None

    def entries(self) -> Iterator[Entry]:
        """Every line: its envelope (unverified), or the reason it is not an envelope."""
        try:
            fh = self.path.open("rb")
        except IsADirectoryError:
            raise UserError(f"checkpoint file {self.path} is a directory; name a file") from None
        except FileNotFoundError:
            raise UserError(f"checkpoint file {self.path} does not exist") from None
        except OSError as exc:
            raise UserError(f"cannot read checkpoint file {self.path}: {exc.strerror}") from None
        with fh:
            for lineno, raw in enumerate(fh, start=1):
                torn = not raw.endswith(b"\n")
                try:
                    env = json.loads(raw)
                except (ValueError, RecursionError):
                    yield Entry(lineno, None, "not valid JSON", torn)
                    continue
                if not isinstance(env, dict) or env.get("type") != CHECKPOINT_TYPE:
                    yield Entry(lineno, None, f"not a {CHECKPOINT_TYPE} envelope", torn)
                    continue
                yield Entry(lineno, env, None, torn)

    def _check_first(self, fd: int) -> None:
        head = os.pread(fd, 64, 0)
        if not head.startswith(b'{"alg":'):
            raise UserError(f"{self.path} is not a checkpoint file (its first line is not a "
                            f"{CHECKPOINT_TYPE} envelope); nothing was written")


def _payload_seq(envelope: Any) -> int | None:
    try:
        seq = json.loads(base64.b64decode(envelope["payload"]))["seq"]
    except Exception:  # unverified data: any shape
        return None
    return seq if is_seq(seq) else None


def _after_last_newline(fd: int, size: int) -> int:
    pos = size
    while pos > 0:
        step = min(1 << 16, pos)
        pos -= step
        i = os.pread(fd, step, pos).rfind(b"\n")
        if i >= 0:
            return pos + i + 1
    return 0


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class CheckpointWriter:
    """Signs the log head after an append and writes it to a store (see DecisionLog.append).

    Called while the log's lock is held, so checkpoints reach the store in log order.
    """

    def __init__(self, store: CheckpointStore, key: Key) -> None:
        if not key.can_sign:
            raise UserError(f"checkpoint key {key.kid} is a public key; signing needs the "
                            "private key (or the HMAC secret)")
        self.store = store
        self.key = key

    @classmethod
    def to_file(cls, path: str | Path, key_spec: str) -> CheckpointWriter:
        """The CLI's writer: `--checkpoint FILE --checkpoint-key KEY`."""
        return cls(FileCheckpointStore(path), load_key(key_spec))

    def checkpoint(self, log_id: str, seq: int, head_sha256: str) -> SignedCheckpoint:
        envelope = Checkpoint.now(log_id, seq, head_sha256).sign(self.key)
        self.store.write(envelope)
        return envelope
