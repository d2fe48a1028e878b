"""Verify a decision log: the hash chain, and that it still holds every anchored head.

The chain alone cannot show that the newest records were removed (a shorter chain is still a
chain). Anchors can: signed checkpoints (checkpoint.py) and heads the caller wrote down
(`--expect-head SEQ:SHA256`). Each anchor says "record SEQ had hash H"; a log without that
record was truncated, a log with another hash there was rewritten. Without any anchor the
result carries a warning saying exactly that.

Problems (the log cannot be trusted: exit 1) and warnings (true, worth reading, not tampering
on their own: an unanchored tail, a torn last write, a repair) are kept apart. Every message is
built from the log's structure (line, seq, hashes, times), never from free text in records.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..attestation import Key
from ..errors import UserError
from .checkpoint import Checkpoint, CheckpointError
from .legacy_checkpoint import DEPRECATION as CHECKPOINT_DEPRECATION
from .records import (
    GENESIS,
    RECORD_START,
    is_record,
    is_seq,
    is_sha256,
    looks_like_torn_record,
    record_hash,
)

MAX_PROBLEMS = 1000
MAX_LINE = 64 << 20
NO_ANCHOR = ("no checkpoint (--checkpoint FILE --key KEY) or --expect-head was given: removal "
             "of the newest records, or a rewrite of the last record with a recomputed hash, "
             "cannot be detected")


@dataclass
class VerifyResult:
    ok: bool
    records: int
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    head_seq: int | None = None  # seq of the last record (None: empty log)
    head_sha256: str | None = None
    log_id: str | None = None  # sha256 of the first record
    anchored_seq: int | None = None  # highest seq an anchor confirmed
    repairs: int = 0


@dataclass(frozen=True)
class _Anchor:
    seq: int
    sha256: str
    log_id: str | None
    label: str


class _Problems(list):
    """A list that keeps the first MAX_PROBLEMS messages and counts the rest."""

    dropped = 0

    def add(self, text: str) -> None:
        if len(self) < MAX_PROBLEMS:
            self.append(text)
        else:
            self.dropped += 1

    def final(self) -> list[str]:
        out = list(self)
        if self.dropped:
            out.append(f"... and {self.dropped} more problem(s)")
        return out


def parse_head(text: str) -> tuple[int, str]:
    """`SEQ:SHA256` (as `audit verify` prints the head) -> (seq, sha256); UserError if not."""
    seq, _, sha = str(text).strip().partition(":")
    sha = sha.strip().lower()
    if not seq.strip().isdigit() or not is_sha256(sha):
        raise UserError(f"--expect-head {str(text)[:100]!r} is not SEQ:SHA256 (a record number, "
                        "a colon and the full 64-hex-digit hash, as `audit verify` prints it)")
    return int(seq), sha


def verify(path: str | Path, *, checkpoints: Any = None, keys: Iterable[Key] = (),
           expect_head: tuple[int, str] | None = None) -> VerifyResult:
    """Check every record's hash, the chain, and every anchor; name what is wrong and where.

    `checkpoints`: a CheckpointStore (all of a file's checkpoints are checked, the newest of
    any other store) or an iterable of signed envelopes; `keys` verify them. `expect_head`:
    (seq, sha256) the log must contain. Raises UserError when the file is not a decision log.
    """
    p = Path(path)
    problems = _Problems()
    warnings: list[str] = []
    anchors: list[_Anchor] = []
    if checkpoints is not None:
        anchors += _checkpoint_anchors(checkpoints, list(keys), problems, warnings)
    if expect_head is not None:
        anchors.append(_Anchor(expect_head[0], expect_head[1], None, "--expect-head"))
    wanted = {a.seq for a in anchors}
    at_seq: dict[int, str] = {}

    fh = open_log(p)
    prev, expected_seq, n, repairs = GENESIS, 0, 0, 0
    head_seq: int | None = None
    head_sha: str | None = None
    log_id: str | None = None
    any_record = False
    with fh:
        lineno = 0
        while True:
            raw = fh.readline(MAX_LINE)
            if not raw:
                break
            lineno += 1
            if not raw.endswith(b"\n") and len(raw) == MAX_LINE:
                problems.add(f"line {lineno}: longer than {MAX_LINE >> 20} MiB; not a record")
                while (rest := fh.readline(MAX_LINE)) and not rest.endswith(b"\n"):
                    pass
                n += 1
                continue
            if not raw.strip():
                problems.add(f"line {lineno}: empty line in the log")
                continue
            rec = _load(raw)
            if not raw.endswith(b"\n") and fh.peek(1) == b"" and looks_like_torn_record(raw):
                what = ("a complete record without its newline" if is_record(rec)
                        else "not a complete record")
                warnings.append(
                    f"line {lineno}: torn last write ({len(raw)} bytes, no newline, {what}): an "
                    "append was interrupted; the next append removes these bytes and keeps "
                    "them in a log_repaired record")
                if not is_record(rec):
                    continue
            n += 1
            if rec is None:
                problems.add(f"line {lineno}: not valid JSON; record damaged")
                continue
            if not isinstance(rec, dict):
                problems.add(f"line {lineno}: not a decision record (a JSON "
                             f"{type(rec).__name__}); record damaged or replaced")
                continue
            any_record = any_record or is_record(rec)
            seq = rec.get("seq")
            seq_ok = is_seq(seq)
            shown = seq if seq_ok else "?"
            sha = rec.get("sha256")
            if lineno == 1 and seq == 0 and is_sha256(sha):
                log_id = sha
            if sha != record_hash(rec):
                problems.add(f"line {lineno} (seq {shown}): content does not match its hash; "
                             "the record was edited")
            if rec.get("prev_sha256") != prev:
                if seq_ok and seq > expected_seq:
                    problems.add(f"line {lineno} (seq {seq}): record(s) "
                                 f"{expected_seq}..{seq - 1} removed before it")
                elif seq_ok and seq < expected_seq:
                    problems.add(f"line {lineno} (seq {seq}): out of order (expected seq "
                                 f"{expected_seq}); records were reordered")
                else:
                    problems.add(f"line {lineno} (seq {shown}): does not chain to the previous "
                                 "record (previous record edited or replaced)")
            elif seq != expected_seq:
                problems.add(f"line {lineno}: sequence number {shown}, expected {expected_seq}")
            if rec.get("kind") == "log_repaired":
                repairs += 1
                info = rec.get("decision") if isinstance(rec.get("decision"), dict) else {}
                removed = info.get("removed_bytes")
                warnings.append(
                    f"line {lineno} (seq {shown}): the log was repaired at "
                    f"{_short(rec.get('recorded_at'))}: "
                    f"{removed if is_seq(removed) else '?'} bytes of an interrupted write were "
                    "removed (kept in the record); review them with "
                    f"`mrm-gate audit show LOG seq:{shown}`")
            prev = sha if isinstance(sha, str) else ""
            if seq_ok:
                if seq in wanted and seq not in at_seq:
                    at_seq[seq] = prev
                head_seq, head_sha = seq, prev
            expected_seq = (seq if seq_ok else expected_seq) + 1
    if n and not any_record:
        raise UserError(f"{p} is not a decision log (no line in it is a decision record)")

    anchored = _check_anchors(anchors, at_seq, head_seq, log_id, problems)
    if not anchors and checkpoints is None:
        warnings.insert(0, NO_ANCHOR)
    elif anchors:
        newest = max(anchors, key=lambda a: a.seq)
        if head_seq is not None and head_seq > newest.seq:
            warnings.append(
                f"records {newest.seq + 1}..{head_seq} are newer than the newest anchor "
                f"({newest.label}, seq {newest.seq}) and not anchored: their removal could not "
                "be detected")
    final = problems.final()
    return VerifyResult(ok=not final, records=n, problems=final, warnings=warnings,
                        head_seq=head_seq, head_sha256=head_sha, log_id=log_id,
                        anchored_seq=anchored, repairs=repairs)


def open_log(p: Path):
    if p.is_dir():
        raise UserError(f"{p} is a directory, not a decision log; name the log file "
                        "(e.g. decisions.jsonl)")
    try:
        fh = p.open("rb")
    except FileNotFoundError:
        raise UserError(f"decision log {p} does not exist") from None
    except OSError as exc:
        raise UserError(f"cannot read decision log {p}: {exc.strerror}") from None
    start = fh.peek(1 << 16)[: 1 << 16]
    if start and not start.startswith(b"{") and RECORD_START not in start:
        fh.close()
        raise UserError(f"{p} is not a decision log (it does not start with a decision record)")
    return fh


def _load(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


def _short(value: Any) -> str:
    """A time from a record, only if it looks like one (never free text into a message)."""
    text = str(value)[:40]
    return text if text and all(c in "0123456789-:T.+Z " for c in text) else "?"


def _checkpoint_anchors(source: Any, keys: list[Key], problems: _Problems,
                        warnings: list[str]) -> list[_Anchor]:
    if not keys:
        raise UserError("checking checkpoints needs the key that signed them (--key KEY: the "
                        "HMAC secret, or the Ed25519 public or private key)")
    entries: list[tuple[str, Any, str | None, bool]] = []
    if hasattr(source, "entries"):
        for e in source.entries():
            label = getattr(e, "label", None) or f"checkpoint line {e.line}"
            entries.append((label, e.envelope, e.error, e.torn))
    elif hasattr(source, "latest"):
        latest = source.latest()
        if latest is not None:
            entries.append(("latest checkpoint", latest, None, False))
    else:
        entries = [(f"checkpoint {i + 1}", env, None, False) for i, env in enumerate(source)]
    anchors: list[_Anchor] = []
    deprecated: list[str] = []
    for label, envelope, error, torn in entries:
        if error is None:
            try:
                cp = Checkpoint.verify(envelope, keys)
            except CheckpointError as exc:
                error = str(exc)
            else:
                anchors.append(_Anchor(cp.seq, cp.head_sha256, cp.log_id,
                                       f"{label} (signed {_short(cp.at)})"))
                if cp.deprecated:
                    deprecated.append(label)
                continue
        if torn:
            warnings.append(f"{label}: torn last write (no newline); ignored")
        else:
            problems.add(f"{label}: {error}; the checkpoints were altered")
    if deprecated:  # still anchors the log (this release only): a warning, not a problem
        more = f" and {len(deprecated) - 1} more" if len(deprecated) > 1 else ""
        warnings.append(f"{deprecated[0]}{more}: {CHECKPOINT_DEPRECATION}")
    if not anchors:
        problems.add("the checkpoint store holds no valid checkpoint: nothing anchors the log "
                     "(a store emptied by someone who may write to it looks the same)")
    return anchors


def _check_anchors(anchors: list[_Anchor], at_seq: dict[int, str], head_seq: int | None,
                   log_id: str | None, problems: _Problems) -> int | None:
    """Add a problem per anchor the log does not hold; the highest seq anchored, if any."""
    anchored: int | None = None
    ends = "the log is empty" if head_seq is None else f"the log ends at seq {head_seq}"
    for a in sorted(anchors, key=lambda a: a.seq):
        if a.log_id is not None and log_id is not None and a.log_id != log_id:
            problems.add(
                f"{a.label}: it anchors log id {a.log_id[:16]}…, this log's id (the hash of its "
                f"first record) is {log_id[:16]}…: the log was replaced or rewritten from its "
                "first record, or the checkpoints belong to another log")
        elif a.seq in at_seq:
            if at_seq[a.seq] != a.sha256:
                problems.add(
                    f"seq {a.seq}: the record differs from {a.label} (anchored sha256 "
                    f"{a.sha256[:16]}…, the log has {str(at_seq[a.seq])[:16]}…): the log was "
                    f"rewritten at or below seq {a.seq}")
            else:
                anchored = a.seq
        elif head_seq is None or a.seq > head_seq:
            first = 0 if head_seq is None else head_seq + 1
            problems.add(
                f"records {first}..{a.seq} are missing from the end of the log (tail "
                f"truncation): {a.label} anchors seq {a.seq} (sha256 {a.sha256[:16]}…), "
                f"{ends}")
        else:
            problems.add(f"seq {a.seq}: anchored by {a.label} but not in the log (removed)")
    return anchored
