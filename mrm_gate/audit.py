"""Append-only, hash-chained decision log (JSON Lines).

Each line is a record `{"seq", "prev_sha256", "sha256", "recorded_at", "decision"}` where
`sha256` is the SHA-256 of the canonical JSON of the record without its own `sha256` field, and
`prev_sha256` is the previous record's `sha256` (64 zeros for the first). Editing, removing or
reordering any record breaks the chain at a place `verify` names. Appends take an exclusive
`flock` on the file, so several processes (CLI runs, server workers) can append safely.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UserError

GENESIS = "0" * 64


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str).encode()


def record_hash(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "sha256"}
    return hashlib.sha256(_canonical(body)).hexdigest()


class DecisionLog:
    """A decision log file; `append` is atomic with respect to other appenders."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def append(self, decision: Any, *, kind: str = "decision",
               extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Append a Decision (or any JSON-able mapping) and return the written record."""
        payload = (decision.model_dump(mode="json") if hasattr(decision, "model_dump")
                   else decision)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            prev, seq = self._tail(fd)
            record: dict[str, Any] = {
                "seq": seq,
                "kind": kind,
                "recorded_at": dt.datetime.now(dt.timezone.utc).isoformat(),
                "prev_sha256": prev,
                "decision": payload,
            }
            if extra:
                record["extra"] = extra
            record["sha256"] = record_hash(record)
            os.write(fd, _canonical(record) + b"\n")
            os.fsync(fd)
            return record
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    @staticmethod
    def _tail(fd: int) -> tuple[str, int]:
        """Hash and next sequence number after the last complete record."""
        size = os.lseek(fd, 0, os.SEEK_END)
        if size == 0:
            return GENESIS, 0
        chunk = 1 << 16
        pos, buf = size, b""
        while pos > 0:
            step = min(chunk, pos)
            pos -= step
            os.lseek(fd, pos, os.SEEK_SET)
            buf = os.read(fd, step) + buf
            lines = buf.rstrip(b"\n").split(b"\n")
            if len(lines) > 1 or pos == 0:
                last = json.loads(lines[-1])
                return last["sha256"], int(last["seq"]) + 1
        raise UserError("decision log is unreadable")


@dataclass
class VerifyResult:
    ok: bool
    records: int
    problems: list[str] = field(default_factory=list)


def verify(path: str | Path) -> VerifyResult:
    """Check every record's hash and the chain; name each edited, removed or reordered record."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"decision log {p} does not exist")
    problems: list[str] = []
    prev = GENESIS
    expected_seq = 0
    n = 0
    with p.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                problems.append(f"line {lineno}: empty line in the log")
                continue
            n += 1
            try:
                rec = json.loads(raw)
            except json.JSONDecodeError as exc:
                problems.append(f"line {lineno}: not valid JSON ({exc.msg}); record damaged")
                continue
            seq = rec.get("seq")
            if rec.get("sha256") != record_hash(rec):
                problems.append(f"line {lineno} (seq {seq}): content does not match its hash; "
                                "the record was edited")
            if rec.get("prev_sha256") != prev:
                if seq is not None and seq > expected_seq:
                    problems.append(f"line {lineno} (seq {seq}): record(s) "
                                    f"{expected_seq}..{seq - 1} removed before it")
                elif seq is not None and seq < expected_seq:
                    problems.append(f"line {lineno} (seq {seq}): out of order (expected seq "
                                    f"{expected_seq}); records were reordered")
                else:
                    problems.append(f"line {lineno} (seq {seq}): does not chain to the previous "
                                    "record (previous record edited or replaced)")
            elif seq != expected_seq:
                problems.append(f"line {lineno}: sequence number {seq}, expected {expected_seq}")
            prev = rec.get("sha256", "")
            expected_seq = (seq if isinstance(seq, int) else expected_seq) + 1
    return VerifyResult(ok=not problems, records=n, problems=problems)
