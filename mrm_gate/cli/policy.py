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
              help="Also validate this waivers file against the (first) policy.")
def validate(files, waivers_path) -> int:
    """Validate policy FILES; report every problem with file:line:column and field path."""
    from ..errors import PolicyError, UserError
    from ..policy import load_policy, load_waivers

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
    if waivers_path and first is not None:
        try:
            ws = load_waivers(waivers_path, first)
            click.echo(f"ok: {waivers_path} ({len(ws)} waivers)")
        except PolicyError as exc:
            failed += 1
            click.echo(click.style("invalid: ", fg="red", bold=True) + str(exc), err=True)
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
