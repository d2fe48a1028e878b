"""`mrm-gate audit`: verify, anchor and query the hash-chained decision log.

Exit codes: 0 intact (warnings, e.g. an unanchored tail, are printed), 1 tampered (verify,
checkpoint), 2 usage error (a directory or a non-log file as LOG, a bad key, a bad date, an
unknown decision id). Everything printed from a record goes through `inert`.
"""

from __future__ import annotations

import json

import click

KEY_HELP = ("Key the checkpoints are signed with: env:VAR (HMAC secret) or a file (HMAC secret, "
            "Ed25519 PEM public or private key). Repeat for rotated keys.")


@click.group()
def audit() -> None:
    """The append-only decision log: verify, checkpoint, list, show."""


def _keys(specs):
    from ..attestation import load_key

    return [load_key(s) for s in specs]


def _store(path: str, log: str):
    import os

    from ..audit import FileCheckpointStore
    from ..errors import UserError

    if os.path.exists(path) and os.path.exists(log) and os.path.samefile(path, log):
        raise UserError(f"--checkpoint {path} is the decision log itself; checkpoints must be "
                        "kept apart from the log")
    return FileCheckpointStore(path)


def _report(log: str, result) -> None:
    from ..audit.query import inert

    for w in result.warnings:
        click.echo(click.style("warning: ", fg="yellow", bold=True) + inert(w), err=True)
    if result.ok:
        head = ("empty" if result.head_seq is None
                else f"head {result.head_seq}:{result.head_sha256}")
        click.echo(f"ok: {inert(log)}: {result.records} records, chain intact; {head}")
        if result.anchored_seq is not None:
            click.echo(f"anchored: the log holds every checkpointed head (newest: seq "
                       f"{result.anchored_seq})")
        return
    click.echo(click.style("TAMPERED: ", fg="red", bold=True)
               + f"{inert(log)}: {len(result.problems)} problem(s) in {result.records} records",
               err=True)
    for p in result.problems:
        click.echo(f"  {inert(p)}", err=True)


@audit.command()
@click.argument("file", type=click.Path())
@click.option("--checkpoint", "checkpoint_file", type=click.Path(), metavar="FILE",
              help="Checkpoint file (JSON Lines of signed heads) kept apart from the log; the "
                   "log must still hold every head it anchors.")
@click.option("--key", "--checkpoint-key", "key_specs", multiple=True, metavar="KEY",
              help=KEY_HELP)
@click.option("--expect-head", metavar="SEQ:SHA256",
              help="A head you wrote down earlier (as this command prints it); the log must "
                   "still hold that record with that hash.")
def verify(file, checkpoint_file, key_specs, expect_head) -> int:
    """Verify the log FILE: every hash, the chain, and every anchored head.

    Names every edited, removed or reordered record, and the truncation or rewrite of the
    newest records below a checkpoint or --expect-head. Exit 1 if any. Without an anchor the
    removal of the newest records cannot be detected: a warning says so.
    """
    from ..audit import parse_head
    from ..audit import verify as verify_log
    from ..errors import UserError

    if key_specs and not checkpoint_file:
        raise UserError("--key is for checking a --checkpoint FILE; give the checkpoint file")
    store = _store(checkpoint_file, file) if checkpoint_file else None
    result = verify_log(file, checkpoints=store, keys=_keys(key_specs),
                        expect_head=parse_head(expect_head) if expect_head else None)
    _report(file, result)
    return 0 if result.ok else 1


@audit.command()
@click.argument("file", type=click.Path())
@click.option("--checkpoint", "checkpoint_file", type=click.Path(), required=True,
              metavar="FILE", help="Checkpoint file to append the signed head to (created if "
                                   "missing).")
@click.option("--key", "--checkpoint-key", "key_spec", required=True, metavar="KEY",
              help="Signing key: env:VAR (HMAC secret), or an HMAC secret or Ed25519 PEM "
                   "private key file.")
def checkpoint(file, checkpoint_file, key_spec) -> int:
    """Sign the current head of FILE into a checkpoint file (e.g. after each CI run, or from
    cron). The log and the existing checkpoints are verified first: a tampered log is never
    anchored (exit 1)."""
    import os

    from ..audit import CheckpointWriter, DecisionLog
    from ..audit import verify as verify_log
    from ..errors import UserError

    key = _keys([key_spec])[0]
    store = _store(checkpoint_file, file)
    writer = CheckpointWriter(store, key)
    has_checkpoints = os.path.exists(checkpoint_file) and os.path.getsize(checkpoint_file) > 0
    result = verify_log(file, checkpoints=store if has_checkpoints else None, keys=[key])
    if not result.ok:
        _report(file, result)
        click.echo("no checkpoint written: the log does not verify", err=True)
        return 1
    if result.head_seq is None:
        raise UserError(f"decision log {file} is empty; there is no head to checkpoint")
    seq, sha, log_id = DecisionLog(file).head()
    if (seq, sha) != (result.head_seq, result.head_sha256):
        raise UserError("the log changed while it was verified; run the command again")
    writer.checkpoint(log_id, seq, sha)
    click.echo(f"checkpoint: head {seq}:{sha} of {file} signed with {key.kid}, "
               f"written to {checkpoint_file}")
    return 0


def _when(ctx, param, value):
    from ..audit.query import parse_when
    from ..errors import UserError

    if value is None:
        return None
    try:
        return parse_when(value, end_of_day=param.name == "until")
    except UserError as exc:
        raise click.BadParameter(str(exc)) from None


COLUMNS = (("seq", 6), ("recorded_at", 19), ("kind", 24), ("verdict", 11), ("model", 40),
           ("version", 10), ("target", 16), ("decision_id", 36))


def _table(rows) -> list[str]:
    """Plain aligned columns, one record a line, never wrapped (readable in CI logs and pipes).

    Cells are escaped and capped at their column's width; `--format json` has every value.
    """
    from ..audit.query import inert

    cells = [[inert(getattr(s, name) if name != "recorded_at" else s.recorded_at[:19], width)
              for name, width in COLUMNS] for s in rows]
    widths = [max([len(name)] + [len(r[i]) for r in cells])
              for i, (name, _) in enumerate(COLUMNS)]
    header = [name for name, _ in COLUMNS]
    lines = []
    for r in [header, *cells]:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return lines


@audit.command(name="list")
@click.argument("file", type=click.Path())
@click.option("--model", help="Only this registered model (exact name).")
@click.option("--verdict", type=click.Choice(["APPROVE", "CONDITIONAL", "BLOCK"],
                                             case_sensitive=False))
@click.option("--kind", help="Only records of this kind (decision, break_glass, attestation, "
                             "log_repaired, ...).")
@click.option("--since", callback=_when, metavar="DATE",
              help="Recorded at or after DATE (YYYY-MM-DD or ISO 8601; UTC if no zone).")
@click.option("--until", callback=_when, metavar="DATE",
              help="Recorded at or before DATE (a bare date includes that whole day).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def list_(file, model, verdict, kind, since, until, fmt) -> int:
    """List the records of the log FILE, oldest first, optionally filtered.

    This is a query, not a verification: run `audit verify` to trust what it shows.
    """
    from ..audit.query import Filter, select

    rows, bad = select(file, Filter(model=model, verdict=verdict, kind=kind, since=since,
                                    until=until))
    if fmt == "json":
        click.echo(json.dumps([s.as_dict() for s in rows], indent=2, ensure_ascii=True))
    else:
        for line in _table(rows):
            click.echo(line)
    if bad:
        shown = ", ".join(map(str, bad[:10])) + (", ..." if len(bad) > 10 else "")
        click.echo(click.style("warning: ", fg="yellow", bold=True)
                   + f"{len(bad)} line(s) are not records (line {shown}); run `mrm-gate audit "
                     "verify`", err=True)
    return 0


@audit.command()
@click.argument("file", type=click.Path())
@click.argument("decision_id")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="json: the full records.")
def show(file, decision_id, fmt) -> int:
    """Show every record of one decision in the log FILE (DECISION_ID: the full id, its first
    8+ characters, or seq:N for the record with that sequence number)."""
    from ..audit.query import find

    hits = find(file, decision_id)
    if fmt == "json":
        records = [rec for _, rec in hits]
        click.echo(json.dumps(records if len(records) > 1 else records[0], indent=2,
                              ensure_ascii=True, sort_keys=True))
        return 0
    for i, (s, rec) in enumerate(hits):
        if i:
            click.echo("")
        for line in _show_text(s, rec):
            click.echo(line)
    return 0


def _show_text(s, rec) -> list[str]:
    """Labelled lines: the record's place in the chain, then what the decision says."""
    from ..audit.query import inert

    payload = rec.get("decision") if isinstance(rec.get("decision"), dict) else {}
    out = [f"record      seq {s.seq} (line {s.line}), {inert(s.kind)}, recorded "
           f"{inert(s.recorded_at)}",
           f"sha256      {s.sha256}",
           f"decision    {inert(s.decision_id)}",
           f"model       {inert(s.model)}" + (f" v{inert(s.version)}" if s.version else ""),
           f"target      {inert(s.target)}",
           f"verdict     {inert(s.verdict)}"]
    out = [line for line in out if line.rstrip() != line[:12].rstrip()]
    tier = payload.get("tier")
    if isinstance(tier, dict):
        out.append(f"tier        {inert(tier.get('tier'))} ({inert(tier.get('source'))})")
    policy = payload.get("policy")
    if isinstance(policy, dict):
        out.append(f"policy      {inert(policy.get('name'))} {inert(policy.get('version'))} "
                   f"sha256:{inert(policy.get('sha256'), 64)}")
    if payload.get("actor"):
        out.append(f"actor       {inert(payload.get('actor'))}")
    reasons = payload.get("reasons")
    if isinstance(reasons, list) and reasons:
        out.append("reasons")
        out.extend(f"  - {inert(r)}" for r in reasons)
    if s.kind == "log_repaired":
        out.extend(_repair_lines(payload))
    for label in ("reason", "refused", "error"):
        if payload.get(label):
            out.append(f"{label:<12}{inert(payload.get(label))}")
    extra = rec.get("extra")
    if isinstance(extra, dict) and extra:
        keys = ", ".join(inert(k, 40) for k in sorted(extra, key=str))
        out.append(f"extra       {keys} (see --format json)")
    return out


def _repair_lines(info: dict) -> list[str]:
    """What a log_repaired record says it removed, with the removed bytes shown inert."""
    import base64
    import binascii

    from ..audit.query import inert

    out = [f"repair      {inert(info.get('repair'))}",
           f"removed     {inert(info.get('removed_bytes'))} bytes at offset "
           f"{inert(info.get('at_offset'))}, sha256 {inert(info.get('removed_sha256'), 64)}"]
    try:
        raw = base64.b64decode(str(info.get("removed_b64", "")), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if raw:
        out.append(f"bytes       {inert(raw.decode('utf-8', 'replace'), 2000)}")
    return out
