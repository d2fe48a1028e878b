"""`mrm-gate` command line.

Commands live in their own modules and are imported only when run, so `mrm-gate --help` stays
fast (it must not import mlflow, shap, great_expectations or evidently). Add a built-in command
with one line in COMMANDS: name -> ("module:attribute", "one-line help").

Plugins add commands through the entry-point group `mrm_gate.commands` (name = "module:attr",
a click command), as they add checks and evidence sources; the core never imports a plugin.
`--help` lists them from the entry-point metadata alone, as "(plugin: DISTRIBUTION)"; a plugin
command is imported when it runs, and one that cannot be imported is an exit-2 error naming its
plugin. A built-in name always wins over a plugin's (docs/writing-plugins.md).

Exit codes: 0 approve (and conditional unless --fail-on conditional), 1 block, 2 usage or
policy error, 3 internal error. Tracebacks only with --debug.
"""

from __future__ import annotations

import functools
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
    "audit": ("mrm_gate.cli.audit:audit",
              "Verify, checkpoint and query the hash-chained decision log."),
    "promote": ("mrm_gate.cli.promote:promote",
                "Evaluate a model version and set an MLflow alias only on approval."),
    "ci": ("mrm_gate.cli.ci:ci", "Run the gate in CI: `ci github` is what the GitHub Action runs."),
    "risk": ("mrm_gate.cli.risk:risk",
             "Gap-based model-risk measures of backtests (MR1-3, EL_RM)."),
    "attest": ("mrm_gate.cli.attest:attest", "Verify an in-toto attestation; digest a model dir."),
}

EXIT_APPROVE, EXIT_BLOCK, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3

COMMANDS_GROUP = "mrm_gate.commands"
# Commands known to come from a plugin: a hint when the plugin is not installed.
KNOWN_PLUGIN_COMMANDS = {"webhook": "mrm-gate-mlflow"}


@functools.lru_cache(maxsize=1)
def plugin_commands() -> dict[str, object]:
    """Entry points of `mrm_gate.commands` by name (metadata only: nothing is imported).
    Built-in names are not overridable; of two plugins claiming a name, the first found wins.
    Read once per process: scanning every installed distribution's metadata costs 50-130 ms."""
    from importlib.metadata import entry_points

    found: dict[str, object] = {}
    for ep in entry_points(group=COMMANDS_GROUP):
        if ep.name not in COMMANDS:
            found.setdefault(ep.name, ep)
    return found


def _dist_name(ep) -> str:
    dist = getattr(ep, "dist", None)
    return getattr(dist, "name", None) or ep.value.split(":")[0].split(".")[0]


def load_plugin_command(name: str, ep) -> click.Command:
    """The plugin's command object; UserError (exit 2) naming the plugin when it is broken."""
    from ..errors import UserError

    plugin = _dist_name(ep)
    try:
        obj = ep.load()
    except Exception as exc:
        raise UserError(f"command {name!r} of plugin {plugin} ({ep.value}) cannot be imported: "
                        f"{type(exc).__name__}: {str(exc).strip()[:300]}; reinstall the plugin "
                        f"(pip install --force-reinstall {plugin}) or uninstall it") from None
    if not isinstance(obj, click.Command):
        raise UserError(f"command {name!r} of plugin {plugin} ({ep.value}) is not a click "
                        f"command ({type(obj).__name__}); the plugin is broken")
    return obj


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *plugin_commands()})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS:
            module, attr = COMMANDS[name][0].split(":")
            return getattr(importlib.import_module(module), attr)
        ep = plugin_commands().get(name)
        if ep is not None:
            return load_plugin_command(name, ep)
        if name in KNOWN_PLUGIN_COMMANDS:
            from ..errors import UserError

            plugin = KNOWN_PLUGIN_COMMANDS[name]
            raise UserError(f"`mrm-gate {name}` is provided by the plugin {plugin}, which is "
                            f"not installed: pip install {plugin}")
        return None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        plugins = plugin_commands()
        rows = [(name, COMMANDS[name][1] if name in COMMANDS
                 else f"(plugin: {_dist_name(plugins[name])})")
                for name in self.list_commands(ctx)]
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
