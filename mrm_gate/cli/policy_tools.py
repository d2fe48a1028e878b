"""`mrm-gate policy coverage | diff | test` and `mrm-gate card init`.

The policy subcommands are attached to the `policy` group in `cli/policy.py`; `card` is its own
group in the COMMANDS table. Everything heavy is imported inside the commands.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from . import EXIT_APPROVE, EXIT_BLOCK

DEFAULT_POLICY = Path("policies") / "default.yaml"
POLICY_ENV = "MRM_GATE_POLICY"


def _emit(text: str, out: str | None) -> None:
    """stdout (no --output, or `-`), or a new file: an existing file is never overwritten."""
    if out and out != "-":
        from ..output import write_new_file

        write_new_file(out, text)
        click.echo(f"wrote {out}", err=True)
    else:
        click.echo(text, nl=False)


@click.command("coverage")
@click.argument("policy_file", type=click.Path())
@click.option("--framework", required=True,
              help="Clause catalogue: sr26-2, sr11-7, eu-ai-act, nist-ai-rmf, iso-42001.")
@click.option("--tier", help="Only the controls of this tier (default: every tier).")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]),
              default="text", show_default=True)
@click.option("--output", "-o", "out", help="Write to this new file instead of stdout (an "
              "existing file is never overwritten).")
def coverage(policy_file, framework, tier, fmt, out) -> int:
    """List every clause of --framework with the controls of POLICY_FILE that serve it, and the
    clauses no control serves."""
    from ..output import render
    from ..policy import load_policy
    from ..policy.coverage import coverage as build

    report = build(load_policy(policy_file), framework, tier=tier)
    _emit(render(report, fmt), out)
    return EXIT_APPROVE


@click.command("diff")
@click.argument("old", type=click.Path())
@click.argument("new", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]),
              default="text", show_default=True)
@click.option("--fail-on-loosen", is_flag=True,
              help="Exit 1 when NEW removes or loosens a control (for review gates in CI).")
@click.option("--output", "-o", "out", help="Write to this new file instead of stdout (an "
              "existing file is never overwritten).")
def diff(old, new, fmt, fail_on_loosen, out) -> int:
    """Show what changes from policy OLD to NEW: controls added, removed, tightened, loosened
    (thresholds, severity, tiers, targets) and tiering changes."""
    from ..output import render
    from ..policy import load_policy
    from ..policy.diff import diff_policies

    result = diff_policies(load_policy(old), load_policy(new))
    _emit(render(result, fmt), out)
    return EXIT_BLOCK if fail_on_loosen and result.loosens else EXIT_APPROVE


@click.command("test")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["tap", "junit", "json"]), default="tap",
              show_default=True)
@click.option("--output", "-o", "out", help="Write the report to this new file (never "
              "overwritten; a one-line summary still goes to stderr).")
@click.option("-k", "select", help="Only cases whose 'policy :: case' title contains this.")
@click.option("--require-coverage", is_flag=True, help="Also fail when a control of a tested "
              "policy lacks a passing or a failing case.")
def test_cmd(paths, fmt, out, select, require_coverage) -> int:
    """Run the policy test cases in PATHS (files, or folders of *.yaml; default
    policies/tests) and compare each decision with what the case expects. Exit 1 on any
    failure."""
    from ..errors import UserError
    from ..output import render
    from ..policy_tests import run_tests

    if not paths:
        default = Path("policies") / "tests"
        if not default.is_dir():
            raise UserError("give the policy test files or folders to run (no policies/tests "
                            "folder here)")
        paths = (str(default),)
    suite = run_tests(paths, select=select)
    if not suite.results:
        raise UserError("no test case matched" + (f" -k {select!r}" if select else ""))
    text = render(suite, fmt)
    _emit(text, out)
    passed, failed = suite.counts()
    gaps = suite.coverage_gaps()
    if out and out != "-":
        click.echo(f"{passed} passed, {failed} failed; {len(gaps)} control(s) without both a "
                   "passing and a failing case", err=True)
    if failed or (require_coverage and gaps):
        return EXIT_BLOCK
    return EXIT_APPROVE


@click.group()
def card() -> None:
    """Model card templates."""


@card.command("init")
@click.option("--tier", required=True, help="Risk tier whose documentation controls apply.")
@click.option("--policy", "policy_path", type=click.Path(),
              help=f"Policy YAML (default: ${POLICY_ENV}, else {DEFAULT_POLICY}).")
@click.option("--target", help="Target stage/alias, when controls depend on it.")
@click.option("--out", "out", default="model_card.md", show_default=True,
              help="File to create ('-' for stdout). An existing file is never overwritten.")
@click.option("--model-name", help="Model name for the card's title.")
@click.option("--format", "fmt", type=click.Choice(["markdown", "yaml"]),
              help="Card format (default: from the --out suffix).")
def card_init(tier, policy_path, target, out, model_name, fmt) -> int:
    """Write a model card template with exactly the sections the policy's metadata.required
    controls demand for --tier."""
    from ..card import format_for, plan_card, write_new
    from ..errors import UserError
    from ..output import render
    from ..policy import load_policy

    policy_path = policy_path or os.environ.get(POLICY_ENV)
    if not policy_path:
        if not DEFAULT_POLICY.is_file():
            raise UserError(f"no policy given: pass --policy, set ${POLICY_ENV}, or run where "
                            f"{DEFAULT_POLICY} exists")
        policy_path = str(DEFAULT_POLICY)
    plan = plan_card(load_policy(policy_path), tier, target)
    if not plan.sections:
        raise UserError(f"tier {tier!r} of {policy_path} requires no model card sections "
                        "(no metadata.required control with card_sections); nothing to write")
    text = render(plan, format_for(Path(out), fmt), model_name=model_name)
    if out == "-":
        click.echo(text, nl=False)
        return EXIT_APPROVE
    write_new(Path(out), text)
    click.echo(f"wrote {out}: {len(plan.sections)} section(s) required by {plan.policy} tier "
               f"{tier}: {', '.join(plan.section_names)}")
    return EXIT_APPROVE
