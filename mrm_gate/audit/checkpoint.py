"""Signed checkpoints: the head of a decision log, anchored outside the log.

A hash chain detects edits, removals and reordering *inside* the log, but not the removal of
its newest records, nor a rewrite of the last record with a recomputed hash: the shortened log
is still a valid chain. A checkpoint is a signed statement "log LOG_ID had record SEQ with hash
HEAD at time AT", kept apart from the log (a checkpoint file, the MLflow registry). `verify`
then requires the log to still contain every checkpointed head, so truncation or a rewrite at or
below the newest checkpoint is detected and named.

A checkpoint is a DSSE envelope, signed by the attestations' code (`mrm_gate.attestation.dsse`:
securesystemslib's PAE, key ids `hmac:`/`ed25519:`) with the attestation keys (`load_key`: HMAC
`env:VAR` or a file, or an Ed25519 PEM key), under a payloadType of its own::

    {"payload": "<base64 of the canonical JSON checkpoint>",
     "payloadType": "application/vnd.mrm-gate.checkpoint+json",
     "signatures": [{"keyid": "ed25519:…", "sig": "<base64>"}]}

The payloadType is part of the signed bytes (PAE), so an attestation never opens as a
checkpoint nor the reverse, even signed by the same key. The payload is canonical JSON with
exactly `log_id`, `seq`, `head_sha256`, `at` and an optional `label`. The old flat envelope
`mrm-gate.checkpoint/v1` is still read for one release (`legacy_checkpoint.py`, with a
deprecation warning); it is never written.
"""

from __future__ import annotations

import base64
import datetime as dt
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ..attestation import Key, dsse, load_key
from ..errors import UserError
from . import legacy_checkpoint
from .records import is_seq, is_sha256

CHECKPOINT_PAYLOAD_TYPE = "application/vnd.mrm-gate.checkpoint+json"
LEGACY_CHECKPOINT_TYPE = legacy_checkpoint.LEGACY_CHECKPOINT_TYPE
PAYLOAD_FIELDS = frozenset({"log_id", "seq", "head_sha256", "at"})
MAX_LABEL = 200
# How a checkpoint file's first line starts (json.dumps(sort_keys=True)): DSSE, or the old form.
FIRST_LINE_STARTS = (b'{"payload":"', b'{"alg":')
NOT_A_CHECKPOINT = (f"not a checkpoint envelope (a DSSE envelope with payloadType "
                    f"{CHECKPOINT_PAYLOAD_TYPE})")

SignedCheckpoint = dict[str, Any]
"""A checkpoint envelope as stored: JSON-able, opaque to stores."""


class CheckpointError(Exception):
    """A checkpoint is malformed, unsigned, signed with an untrusted key, or altered."""


@dataclass(frozen=True)
class Checkpoint:
    """Log `log_id` (the sha256 of its first record) had record `seq` with hash `head_sha256`.

    `label`: an optional name of the writer or store (signed, never shown in verify's messages).
    `deprecated`: opened from the old `mrm-gate.checkpoint/v1` envelope (not part of equality).
    """

    log_id: str
    seq: int
    head_sha256: str
    at: str  # ISO 8601, UTC: when the checkpoint was signed
    label: str | None = None
    deprecated: bool = field(default=False, compare=False, repr=False)

    @classmethod
    def now(cls, log_id: str, seq: int, head_sha256: str,
            label: str | None = None) -> Checkpoint:
        return cls(log_id=log_id, seq=seq, head_sha256=head_sha256,
                   at=dt.datetime.now(dt.timezone.utc).isoformat(), label=label)

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"log_id": self.log_id, "seq": self.seq,
                                "head_sha256": self.head_sha256, "at": self.at}
        if self.label is not None:
            body["label"] = self.label
        return body

    def sign(self, key: Key) -> SignedCheckpoint:
        """The checkpoint as a DSSE envelope signed with `key` (the attestations' signer)."""
        if not key.can_sign:
            raise UserError(f"key {key.kid} is a public key; signing checkpoints needs the "
                            "private key")
        body = self.payload()
        if _payload_problem(body):
            raise UserError(f"internal: not a checkpoint: {_payload_problem(body)}")
        return dsse.sign(dsse.canonical(body), CHECKPOINT_PAYLOAD_TYPE, key)

    @classmethod
    def verify(cls, envelope: Any, keys: list[Key]) -> Checkpoint:
        """The checkpoint in `envelope` if one of `keys` signed it; CheckpointError if not.

        A DSSE envelope of payloadType CHECKPOINT_PAYLOAD_TYPE, or (deprecated, this release
        only) an old `mrm-gate.checkpoint/v1` envelope: the result then has `deprecated`."""
        try:
            env = dsse.parse(envelope)
        except dsse.EnvelopeError as exc:
            raise CheckpointError("not valid JSON" if exc.kind == "json" else str(exc)) from None
        if legacy_checkpoint.is_legacy(env):
            try:
                body = legacy_checkpoint.open_legacy(env, keys)
            except ValueError as exc:
                raise CheckpointError(str(exc)) from None
            if _payload_problem(body, legacy=True):
                raise CheckpointError("payload is not a checkpoint (log_id, seq, head_sha256, "
                                      "at)")
            return cls(log_id=body["log_id"], seq=body["seq"], head_sha256=body["head_sha256"],
                       at=body["at"], deprecated=True)
        try:
            body, _key = dsse.open_envelope(env, keys, CHECKPOINT_PAYLOAD_TYPE)
        except dsse.EnvelopeError as exc:
            raise CheckpointError(_reason(exc, keys)) from None
        problem = _payload_problem(body)
        if problem:
            raise CheckpointError(f"payload is not a checkpoint ({problem})")
        return cls(log_id=body["log_id"], seq=body["seq"], head_sha256=body["head_sha256"],
                   at=body["at"], label=body.get("label"))


def _reason(exc: dsse.EnvelopeError, keys: list[Key]) -> str:
    """The checkpoint's wording of why a DSSE envelope does not open."""
    if exc.kind == "untrusted":
        trusted = ", ".join(k.kid for k in keys) or "none"
        return (f"signed with key {', '.join(repr(k) for k in exc.keyids)}, which is not "
                f"trusted here (trusted: {trusted})")
    if exc.kind == "invalid":
        return "signature is invalid (the checkpoint was altered or signed with another key)"
    if exc.kind == "type":
        return f"not a checkpoint: {exc}"
    if exc.kind == "unsigned":
        return "has no signatures (an unsigned checkpoint is never trusted)"
    return f"malformed envelope: {exc}"


def _payload_problem(body: Any, *, legacy: bool = False) -> str | None:
    """What makes `body` not a checkpoint payload, or None. Exactly the known fields (an
    unknown one is refused: nobody reads a signed field we do not understand)."""
    if not isinstance(body, dict):
        return "not a JSON object"
    fields = set(body)
    extra = sorted(fields - PAYLOAD_FIELDS - {"label"})
    if extra and not legacy:
        return f"unexpected field {extra[0][:40]!r}"
    missing = sorted(PAYLOAD_FIELDS - fields)
    if missing:
        return f"no {missing[0]!r}"
    if not is_sha256(body["log_id"]):
        return "log_id is not a sha256"
    if not is_seq(body["seq"]):
        return "seq is not a non-negative integer"
    if not is_sha256(body["head_sha256"]):
        return "head_sha256 is not a sha256"
    if not isinstance(body["at"], str) or not 0 < len(body["at"]) <= 64:
        return "at is not a time"
    label = body.get("label")
    if "label" in body and not legacy and not (
            isinstance(label, str) and 0 < len(label) <= MAX_LABEL and label.isprintable()):
        return f"label is not a printable string of 1..{MAX_LABEL} characters"
    return None


def envelope_error(envelope: Any) -> str | None:
    """Why an (unverified) stored value is not a checkpoint envelope, or None when it has the
    shape of one (DSSE with the checkpoint payloadType, or the deprecated flat form). Stores
    use it to tell checkpoints from other data; only `Checkpoint.verify` trusts one."""
    if not isinstance(envelope, dict):
        return NOT_A_CHECKPOINT
    if envelope.get("payloadType") == CHECKPOINT_PAYLOAD_TYPE \
            or legacy_checkpoint.is_legacy(envelope):
        return None
    return NOT_A_CHECKPOINT


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
                error = envelope_error(env)
                if error is not None:
                    yield Entry(lineno, None, error, torn)
                    continue
                yield Entry(lineno, env, None, torn)

    def _check_first(self, fd: int) -> None:
        """The file's first line starts like an envelope we write (a torn one too)."""
        head = os.pread(fd, 64, 0)
        if not head.startswith(FIRST_LINE_STARTS):
            raise UserError(f"{self.path} is not a checkpoint file (its first line is not a "
                            "checkpoint envelope); nothing was written")


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

    def __init__(self, store: CheckpointStore, key: Key, *, label: str | None = None) -> None:
        if not key.can_sign:
            raise UserError(f"checkpoint key {key.kid} is a public key; signing needs the "
                            "private key (or the HMAC secret)")
        self.store = store
        self.key = key
        self.label = label  # signed into every checkpoint (e.g. which writer made it)

    @classmethod
    def to_file(cls, path: str | Path, key_spec: str) -> CheckpointWriter:
        """The CLI's writer: `--checkpoint FILE --checkpoint-key KEY`."""
        return cls(FileCheckpointStore(path), load_key(key_spec))

    def checkpoint(self, log_id: str, seq: int, head_sha256: str) -> SignedCheckpoint:
        envelope = Checkpoint.now(log_id, seq, head_sha256, self.label).sign(self.key)
        self.store.write(envelope)
        return envelope
