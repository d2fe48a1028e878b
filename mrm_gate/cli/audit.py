"""`mrm-gate audit verify`: check the decision log's hash chain."""

from __future__ import annotations

import click


@click.group()
def audit() -> None:
    """The append-only decision log."""


@audit.command()
@click.argument("file", type=click.Path())
def verify(file) -> int:
    """Verify FILE; name every edited, removed or reordered record. Exit 1 if any."""
    from ..audit import verify as verify_log

    result = verify_log(file)
    if result.ok:
        click.echo(f"ok: {file}: {result.records} records, chain intact")
        return 0
    click.echo(click.style("TAMPERED: ", fg="red", bold=True)
               + f"{file}: {len(result.problems)} problem(s) in {result.records} records", err=True)
    for p in result.problems:
        click.echo(f"  {p}", err=True)
    return 1
