"""`mrm-gate policy ...`: validate, schema, explain."""

from __future__ import annotations

import json

import click


@click.group()
def policy() -> None:
    """Work with policy files."""


@policy.command()
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("--waivers", "waivers_path", type=click.Path(),
              help="Also validate this waivers file against the (first) policy, and warn about "
                   "expired and soon-expiring waivers.")
@click.option("--expiring-within", "within_days", type=click.IntRange(min=0), default=30,
              show_default=True, metavar="DAYS",
              help="With --waivers: warn about waivers that expire within DAYS days.")
def validate(files, waivers_path, within_days) -> int:
    """Validate policy FILES; report every problem with file:line:column and field path.

    Warnings (expired or soon-expiring waivers) are printed but do not fail the command.
    """
    import datetime as dt

    from ..errors import UserError
    from ..policy import load_policy
    from ..policy.loader import expiry_warnings, read_waivers

    failed = 0
    first = None
    for f in files:
        try:
            pol = load_policy(f)
        except UserError as exc:
            failed += 1
            click.echo(click.style("invalid: ", fg="red", bold=True) + str(exc), err=True)
            continue
        first = first or pol
        n = sum(len(c) for c in pol.effective.values())
        click.echo(f"ok: {f} ({pol.metadata.name}, tiers {', '.join(pol.tier_names)}; "
                   f"{len(pol.control_ids())} controls, {n} tier entries; "
                   f"sha256 {pol.sha256[:12]})")
    if waivers_path:
        try:
            # Without a valid policy the file is still checked on its own (not for dangling
            # control ids), so one run shows every problem.
            ws, loc = read_waivers(waivers_path, first)
        except UserError as exc:
            failed += 1
            click.echo(click.style("invalid: ", fg="red", bold=True) + str(exc), err=True)
        else:
            note = "" if first is not None else " (control ids not checked: no valid policy)"
            click.echo(f"ok: {waivers_path} ({len(ws)} waivers){note}")
            for item in expiry_warnings(ws, loc, dt.date.today(), within_days):
                click.echo(click.style("warning: ", fg="yellow", bold=True) + item.render(),
                           err=True)
    return 2 if failed else 0


@policy.command()
def schema() -> int:
    """Print the JSON Schema of policy files (for editor completion)."""
    from ..policy.schema import policy_json_schema

    click.echo(json.dumps(policy_json_schema(), indent=2))
    return 0


@policy.command()
@click.argument("file", type=click.Path())
@click.option("--tier", required=True, help="Tier to explain.")
@click.option("--stage", "--target", "target", help="Target stage/alias (default: any).")
def explain(file, tier, target) -> int:
    """List the controls that would run for --tier and --stage, and why."""
    from rich.table import Table

    from ..output.console import make_console
    from ..output.values import fmt_value
    from ..policy import load_policy

    pol = load_policy(file)
    rows = pol.explain(tier, target)
    table = Table(title=f"{pol.metadata.name}: tier {tier}, target {target or 'any'}")
    for col in ("control", "check", "severity", "runs", "params", "why"):
        table.add_column(col, overflow="fold")
    for rc, runs, why in rows:
        params = rc.params.model_dump(exclude_defaults=True) if rc.params else {}
        table.add_row(rc.id, rc.control.check or "", rc.control.severity.value,
                      "yes" if runs else "no", fmt_value(params), why)
    console = make_console()
    console.print(table)
    n = sum(1 for _, r, _ in rows if r)
    console.print(f"{n} of {len(rows)} controls run. Tiering: default {pol.tiering.default!r}, "
                  f"tag {pol.tiering.tag!r}, {len(pol.tiering.rules)} rule(s), precedence "
                  f"{pol.tiering.precedence}.")
    return 0


from .policy_tools import coverage, diff, test_cmd  # noqa: E402  (attached subcommands)

policy.add_command(coverage)
policy.add_command(diff)
policy.add_command(test_cmd)
