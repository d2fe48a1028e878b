"""`mrm-gate` command line.

Commands live in their own modules and are imported only when run, so `mrm-gate --help` stays
fast (it must not import mlflow, shap, great_expectations or evidently). Add a command with one
line in COMMANDS: name -> ("module:attribute", "one-line help").

Exit codes: 0 approve (and conditional unless --fail-on conditional), 1 block, 2 usage or
policy error, 3 internal error. Tracebacks only with --debug.
"""

from __future__ import annotations

import importlib
import sys

import click

COMMANDS: dict[str, tuple[str, str]] = {
    "evaluate": ("mrm_gate.cli.evaluate:evaluate",
                 "Evaluate a model version against a policy: approve or block."),
    "policy": ("mrm_gate.cli.policy:policy",
               "Validate, explain, test, diff policies; coverage of a framework; schema."),
    "evidence": ("mrm_gate.cli.evidence:evidence", "Export MLflow evidence as a local folder."),
    "checks": ("mrm_gate.cli.checks:checks", "List the check types that policies can use."),
    "card": ("mrm_gate.cli.policy_tools:card", "Write a model card template a policy requires."),
    "audit": ("mrm_gate.cli.audit:audit", "Verify the hash-chained decision log."),
    "promote": ("mrm_gate.cli.promote:promote",
                "Evaluate a model version and set an MLflow alias only on approval."),
    "webhook": ("mrm_gate.cli.webhook:webhook",
                "Receive MLflow registry webhooks: evaluate, tag, revert blocked aliases."),
    "ci": ("mrm_gate.cli.ci:ci", "Run the gate in CI: `ci github` is what the GitHub Action runs."),
    "risk": ("mrm_gate.cli.risk:risk",
             "Gap-based model-risk measures of backtests (MR1-3, EL_RM)."),
}

EXIT_APPROVE, EXIT_BLOCK, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name][0].split(":")
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mrm-gate", prog_name="mrm-gate")
def cli() -> None:
    """mrm-gate: policy-as-code gate for model risk management.

    Evaluates a model version's evidence (MLflow registry or a local evidence folder) against a
    risk-tiered policy and approves or blocks its promotion. Add --debug to any command to see
    tracebacks.
    """


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    if debug:
        args = [a for a in args if a != "--debug"]
    sys.exit(run(args, debug=debug))


def run(args: list[str], *, debug: bool = False) -> int:
    from ..errors import MrmGateError

    try:
        rv = cli.main(args=args, prog_name="mrm-gate", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return EXIT_USAGE
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE
    except MrmGateError as exc:
        if debug:
            import traceback

            traceback.print_exc()
        click.echo(click.style("error: ", fg="red", bold=True) + str(exc), err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return EXIT_INTERNAL
    except Exception as exc:
        if debug:
            import traceback

            traceback.print_exc()
        else:
            click.echo(
                click.style("internal error: ", fg="red", bold=True)
                + f"{type(exc).__name__}: {exc}\n(run again with --debug for the traceback, "
                "and please report it)", err=True)
        return EXIT_INTERNAL
    return rv if isinstance(rv, int) else 0
