"""Append-only, hash-chained decision log (JSON Lines); see records.py for the format.

`prev_sha256` is the previous record's `sha256` (64 zeros for the first). Editing, removing or
reordering any record breaks the chain at a place `verify` names; removing the newest records is
detected only against a signed checkpoint (checkpoint.py). Appends take an exclusive `flock` on
the file, so several processes (CLI runs, server workers) can append safely.

Append reads only what it needs: the first record once per file (the log's identity, and proof
that the file is a decision log) and the last line when another process appended since (the
head is cached by device, inode and size). A torn last line left by a crash mid-write is cut
off by the next append, which first writes a `log_repaired` record holding the removed bytes.
"""

from __future__ import annotations

import base64
import datetime as dt
import fcntl
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UserError
from .checkpoint import CheckpointWriter, FileCheckpointStore
from .records import (
    GENESIS,
    RECORD_START,
    line_bytes,
    looks_like_torn_record,
    parse_record,
    record_hash,
)

CHUNK = 1 << 16
# Bytes of a torn write kept (base64) in the log_repaired record; beyond this only the hash.
MAX_KEPT_TORN_BYTES = 1 << 20
REPAIR_KIND = "log_repaired"


@dataclass(frozen=True)
class _Head:
    file: tuple[int, int]  # st_dev, st_ino
    size: int
    seq: int  # seq of the last record; -1 when the log is empty
    sha256: str
    log_id: str | None  # sha256 of the first record


class DecisionLog:
    """A decision log file; `append` is atomic with respect to other appenders.

    `checkpoint`: a CheckpointWriter that anchors the head after every append (a default for
    `append`, which may override it per call).
    """

    def __init__(self, path: str | Path, *, checkpoint: CheckpointWriter | None = None) -> None:
        self.path = Path(path)
        self.checkpoint = checkpoint
        self._head: _Head | None = None
        self._first: tuple[tuple[int, int], str] | None = None  # file -> log id

    def append(self, decision: Any, *, kind: str = "decision",
               extra: dict[str, Any] | None = None,
               checkpoint: CheckpointWriter | None = None) -> dict[str, Any]:
        """Append a Decision (or any JSON-able mapping) and return the written record.

        With a checkpoint writer (argument or the log's default), the new head is signed and
        written to its store before returning; if that fails, `CheckpointFailed` is raised and
        carries the record, which is in the log (appended, but not anchored).
        """
        payload = (decision.model_dump(mode="json") if hasattr(decision, "model_dump")
                   else decision)
        writer = checkpoint or self.checkpoint
        if writer is not None:
            self._refuse_same_file(writer)
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                head = self._read_head(fd)
                record = self._write(fd, head, kind, payload, extra)
            except BaseException:
                self._head = None  # the file may hold a torn write now; read it next time
                raise
            if writer is not None:
                try:
                    writer.checkpoint(self._head.log_id, record["seq"], record["sha256"])
                except Exception as exc:
                    raise CheckpointFailed(record, exc) from exc
            return record
        finally:
            os.close(fd)  # closing releases the lock

    def head(self) -> tuple[int, str, str | None]:
        """(seq, sha256, log id) of the last record; (-1, GENESIS, None) for an empty log."""
        if not self.path.exists():
            raise UserError(f"decision log {self.path} does not exist")
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            head = self._read_head(fd, repair=False)
            return head.seq, head.sha256, head.log_id
        finally:
            os.close(fd)

    # ---- internals --------------------------------------------------------------------------

    def _open(self) -> int:
        if self.path.is_dir():
            raise UserError(f"decision log {self.path} is a directory; name a file")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as exc:
            raise UserError(f"cannot open decision log {self.path}: {exc.strerror}") from None

    def _refuse_same_file(self, writer: CheckpointWriter) -> None:
        store = writer.store
        if isinstance(store, FileCheckpointStore) and (
                os.path.realpath(store.path) == os.path.realpath(self.path)):
            raise UserError(f"the checkpoint file {store.path} is the decision log itself; "
                            "checkpoints must be kept apart from the log")

    def _write(self, fd: int, head: _Head, kind: str, payload: Any,
               extra: dict[str, Any] | None) -> dict[str, Any]:
        record: dict[str, Any] = {
            "seq": head.seq + 1,
            "kind": kind,
            "recorded_at": dt.datetime.now(dt.timezone.utc).isoformat(),
            "prev_sha256": head.sha256,
            "decision": payload,
        }
        if extra:
            record["extra"] = extra
        record["sha256"] = record_hash(record)
        line = line_bytes(record)
        _write_all(fd, line)
        os.fsync(fd)
        log_id = head.log_id or record["sha256"]
        if self._first is None or self._first[0] != head.file:
            self._first = (head.file, log_id)
        self._head = _Head(head.file, head.size + len(line), record["seq"], record["sha256"],
                           log_id)
        return record

    def _read_head(self, fd: int, *, repair: bool = True) -> _Head:
        st = os.fstat(fd)
        file = (st.st_dev, st.st_ino)
        cached = self._head
        if cached is not None and cached.file == file and cached.size == st.st_size:
            return cached
        size = st.st_size
        if size == 0:
            return _Head(file, 0, -1, GENESIS, None)
        end = _after_last_newline(fd, size)
        torn = size - end
        if torn:
            tail = os.pread(fd, torn, end)
            if not looks_like_torn_record(tail):
                if end == 0:
                    raise self._not_a_log("its content is not a decision record")
                raise UserError(
                    f"decision log {self.path} ends with {torn} bytes that are not a record "
                    "(no newline, not the start of a record); nothing was appended. Inspect the "
                    "end of the file; run `mrm-gate audit verify` on it")
        log_id = self._log_id(fd, file) if end else None
        if end:
            last = parse_record(_last_line(fd, end))
            if last is None:
                raise UserError(
                    f"the last line of decision log {self.path} is not a record (damaged or "
                    "edited); nothing was appended. Run `mrm-gate audit verify` on it")
            head = _Head(file, end, last["seq"], last["sha256"], log_id)
        else:
            head = _Head(file, 0, -1, GENESIS, None)
        if torn and repair:
            os.ftruncate(fd, end)
            head = self._record_repair(fd, head, tail)
        return head

    def _record_repair(self, fd: int, head: _Head, tail: bytes) -> _Head:
        """Write the log_repaired record for the torn bytes just cut off; the new head."""
        info: dict[str, Any] = {
            "repair": "torn last line removed (an append was interrupted)",
            "removed_bytes": len(tail),
            "removed_sha256": hashlib.sha256(tail).hexdigest(),
            "at_offset": head.size,
        }
        if len(tail) <= MAX_KEPT_TORN_BYTES:
            info["removed_b64"] = base64.b64encode(tail).decode()
        self._write(fd, head, REPAIR_KIND, info, None)
        return self._head

    def _log_id(self, fd: int, file: tuple[int, int]) -> str:
        """The first record's sha256, read once per file; proves the file is a decision log."""
        if self._first is not None and self._first[0] == file:
            return self._first[1]
        if os.pread(fd, len(RECORD_START), 0) != RECORD_START:
            raise self._not_a_log("it does not start with a decision record")
        first = parse_record(_first_line(fd))
        if first is None or first["seq"] != 0 or first["prev_sha256"] != GENESIS:
            raise self._not_a_log("its first line is not the first record of a decision log")
        self._first = (file, first["sha256"])
        return first["sha256"]

    def _not_a_log(self, why: str) -> UserError:
        return UserError(f"{self.path} is not a decision log ({why}); nothing was appended. "
                         "Name a new file or an existing decision log")


class CheckpointFailed(UserError):
    """The record was appended, but its checkpoint could not be written."""

    def __init__(self, record: dict[str, Any], cause: Exception) -> None:
        super().__init__(f"decision log record seq {record['seq']} was appended, but its "
                         f"checkpoint could not be written: {cause}")
        self.record = record


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _after_last_newline(fd: int, size: int) -> int:
    """Offset just after the last b"\\n" (0 if none): where complete lines end."""
    pos = size
    while pos > 0:
        step = min(CHUNK, pos)
        pos -= step
        i = os.pread(fd, step, pos).rfind(b"\n")
        if i >= 0:
            return pos + i + 1
    return 0


def _last_line(fd: int, end: int) -> bytes:
    """The complete line ending at `end` (which is just after a newline)."""
    start = _after_last_newline(fd, end - 1)
    return os.pread(fd, end - start, start)


def _first_line(fd: int) -> bytes:
    buf, pos = b"", 0
    while True:
        chunk = os.pread(fd, CHUNK, pos)
        if not chunk:
            return buf
        i = chunk.find(b"\n")
        if i >= 0:
            return buf + chunk[: i + 1]
        buf += chunk
        pos += len(chunk)
