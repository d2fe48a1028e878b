"""The record format of the decision log: canonical JSON, the hash, what counts as a record.

A record is one line of canonical JSON (keys sorted, no spaces) holding `seq`, `kind`,
`recorded_at`, `prev_sha256`, `decision` (the payload), optionally `extra`, and `sha256`: the
SHA-256 of the canonical JSON of the record without its own `sha256`. Keys are sorted, so every
record line starts with RECORD_START; a torn write is recognised by that prefix.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

GENESIS = "0" * 64
RECORD_START = b'{"decision":'
_SHA = re.compile(r"[0-9a-f]{64}")


def canonical(obj: Any) -> bytes:
    """The bytes that are hashed and signed. A lone surrogate (JSON allows `"\\ud800"`, so
    evidence can carry one) is encoded with `surrogatepass` instead of failing the append."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str).encode("utf-8", "surrogatepass")


def line_bytes(record: dict[str, Any]) -> bytes:
    """One record as a log line: canonical UTF-8, or ASCII-escaped JSON when the record holds
    text that is not valid UTF-8 (a lone surrogate), so every line stays readable JSON."""
    try:
        text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          default=str).encode()
    except UnicodeEncodeError:
        text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                          default=str).encode()
    return text + b"\n"


def record_hash(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "sha256"}
    return hashlib.sha256(canonical(body)).hexdigest()


def is_sha256(value: Any) -> bool:
    return isinstance(value, str) and _SHA.fullmatch(value) is not None


def is_seq(value: Any) -> bool:
    """A sequence number is a non-negative int (a JSON `true` is not one)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def is_record(obj: Any) -> bool:
    """Has the shape of a log record (says nothing about its hash or its place in the chain)."""
    return (isinstance(obj, dict) and is_seq(obj.get("seq")) and is_sha256(obj.get("sha256"))
            and is_sha256(obj.get("prev_sha256")) and isinstance(obj.get("kind"), str)
            and "decision" in obj)


def parse_record(raw: bytes) -> dict[str, Any] | None:
    """The record on one line, or None when the line is not one."""
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return obj if is_record(obj) else None


def looks_like_torn_record(tail: bytes) -> bool:
    """Bytes after the last newline that an interrupted append can have left.

    A prefix of a record line (or of RECORD_START), or NUL bytes (some file systems extend a
    file with zeros when a machine stops mid-write). Anything else is not ours to remove.
    """
    if not tail:
        return True
    if tail.strip(b"\0") == b"":
        return True
    return tail.startswith(RECORD_START) or RECORD_START.startswith(tail)
