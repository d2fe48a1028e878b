"""Query the decision log: one summary per record, filters, and inert text for terminals.

Records come from every channel (CLI evaluate, promote, the gated server, the webhook receiver)
with different payloads; `summarize` reads the few fields they share (decision id, model,
version, target or alias, verdict) wherever each channel puts them. Everything in a record is
data written by whoever controlled the evidence: `inert` makes it safe to print.
"""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import UserError
from .records import is_record
from .verifier import MAX_LINE, open_log

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def inert(value: Any, limit: int | None = None) -> str:
    """`value` as one line of plain text that no terminal, CI runner or markup interprets.

    Control, format (bidi overrides, zero-width) and separator characters become visible
    escapes (`\\n`, `\\x1b`, `\\u202e`); a backslash is doubled so escapes are unambiguous.
    Rich markup is only inert because nothing here renders markup: print with click.echo.
    """
    text = "" if value is None else str(value)
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co"):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    s = "".join(out)
    if limit is not None and len(s) > limit:
        s = s[: max(limit - 1, 0)] + "…"
    return s


@dataclass(frozen=True)
class Summary:
    line: int
    seq: int
    recorded_at: str
    kind: str
    decision_id: str | None
    model: str | None
    version: str | None
    target: str | None
    verdict: str | None
    sha256: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    return str(value)


def summarize(line: int, record: dict[str, Any]) -> Summary:
    payload = record.get("decision")
    payload = payload if isinstance(payload, dict) else {}
    extra = record.get("extra") if isinstance(record.get("extra"), dict) else {}
    attested = payload.get("attestation") if isinstance(payload.get("attestation"), dict) else {}
    model = payload.get("model") if isinstance(payload.get("model"), dict) else {}
    verdict = payload.get("verdict")
    if verdict is None and record.get("kind") == "attestation":
        verdict = attested.get("verdict")  # the verified attested verdict
    return Summary(
        line=line, seq=record["seq"], recorded_at=str(record.get("recorded_at", "")),
        kind=record["kind"],
        decision_id=_text(payload.get("id") or payload.get("decision_id")
                          or attested.get("decision_id")),
        model=_text(model.get("name")), version=_text(model.get("version")),
        target=_text(payload.get("target") or payload.get("alias") or extra.get("alias")),
        verdict=_text(verdict), sha256=record["sha256"])


def iter_records(path: str | Path) -> Iterator[tuple[int, dict[str, Any] | None]]:
    """(line number, record or None for a line that is not a record); UserError if no log."""
    fh = open_log(Path(path))
    found = False
    with fh:
        lineno = 0
        while raw := fh.readline(MAX_LINE):
            lineno += 1
            rec: Any = None
            if not raw.endswith(b"\n") and len(raw) == MAX_LINE:
                while (rest := fh.readline(MAX_LINE)) and not rest.endswith(b"\n"):
                    pass  # skip the rest of an overlong line: not a record
            elif raw.strip():
                try:
                    rec = json.loads(raw)
                except (ValueError, RecursionError):
                    rec = None
            found = found or is_record(rec)
            yield lineno, rec if is_record(rec) else None
    if lineno and not found:
        raise UserError(f"{inert(path, 200)} is not a decision log (no line in it is a "
                        "decision record)")


def parse_when(text: str, *, end_of_day: bool = False) -> dt.datetime:
    """YYYY-MM-DD or an ISO 8601 time (UTC when no zone) -> aware datetime; UserError if not.

    A bare date as an upper bound means the end of that day (`--until 2026-03-31` includes
    the 31st).
    """
    raw = str(text).strip()
    try:
        if len(raw) == 10:
            day = dt.date.fromisoformat(raw)
            when = dt.datetime.combine(day, dt.time.max if end_of_day else dt.time.min)
        else:
            when = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise UserError(f"{raw[:60]!r} is not a date: use YYYY-MM-DD or an ISO 8601 time such "
                        "as 2026-03-31T12:00:00+00:00") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def _recorded(s: Summary) -> dt.datetime | None:
    try:
        when = dt.datetime.fromisoformat(s.recorded_at)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class Filter:
    model: str | None = None
    verdict: str | None = None
    kind: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def __call__(self, s: Summary) -> bool:
        if self.model is not None and s.model != self.model:
            return False
        if self.verdict is not None and (s.verdict or "").upper() != self.verdict.upper():
            return False
        if self.kind is not None and s.kind != self.kind:
            return False
        if self.since is not None or self.until is not None:
            when = _recorded(s)
            if when is None:
                return False
            if self.since is not None and when < self.since:
                return False
            if self.until is not None and when > self.until:
                return False
        return True


def select(path: str | Path, keep: Filter) -> tuple[list[Summary], list[int]]:
    """Summaries of the records `keep` accepts, and the line numbers that are not records."""
    rows, bad = [], []
    for line, rec in iter_records(path):
        if rec is None:
            bad.append(line)
        else:
            s = summarize(line, rec)
            if keep(s):
                rows.append(s)
    return rows, bad


def find(path: str | Path, decision_id: str) -> list[tuple[Summary, dict[str, Any]]]:
    """Every record of one decision: its full id, or a prefix of at least 8 characters that
    names one decision only; or `seq:N`, the record with that sequence number. UserError when
    none or several decisions match."""
    want = str(decision_id).strip()
    if want.startswith("seq:") and want[4:].isdigit():
        seq = int(want[4:])
        hits = [(summarize(line, rec), rec) for line, rec in iter_records(path)
                if rec is not None and rec["seq"] == seq]
        if not hits:
            raise UserError(f"no record with seq {seq} in {inert(path, 200)}")
        return hits
    if len(want) < 8:
        raise UserError("give the decision id, or at least its first 8 characters")
    hits: list[tuple[Summary, dict[str, Any]]] = []
    for line, rec in iter_records(path):
        if rec is None:
            continue
        s = summarize(line, rec)
        if s.decision_id is not None and s.decision_id.startswith(want):
            hits.append((s, rec))
    ids = {s.decision_id for s, _ in hits}
    if not hits:
        raise UserError(f"no record of decision {inert(want, 80)} in {inert(path, 200)}")
    if len(ids) > 1:
        shown = ", ".join(sorted(inert(i, 40) for i in ids)[:5])
        raise UserError(f"{inert(want, 80)} is the start of several decision ids ({shown}); "
                        "give more of it")
    return hits
