"""Plugin commands: the `mrm_gate.commands` entry-point group of the `mrm-gate` CLI.

A real distribution (a `.dist-info` folder with `entry_points.txt`) is put on the path of a
fresh interpreter, exactly as `pip install` would leave it; nothing is mocked.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = (
    "import sys\n"
    "sys.argv = ['mrm-gate'] + sys.argv[1:]\n"
    "code = 0\n"
    "try:\n"
    "    from mrm_gate.cli import main; main()\n"
    "except SystemExit as exc:\n"
    "    code = exc.code\n"
    "loaded = [m for m in ('fakeplug_cmds', 'mrm_gate_mlflow', 'mlflow') if m in sys.modules]\n"
    "print('LOADED=' + ','.join(loaded))\n"
    "sys.exit(code)\n"
)

ENTRY_POINTS = """\
[mrm_gate.commands]
hello = fakeplug_cmds:hello
boom = fakeplug_missing_module:cmd
notacmd = fakeplug_cmds:NOT_A_COMMAND
evaluate = fakeplug_cmds:hijack
"""

MODULE = '''\
import click

NOT_A_COMMAND = 42


@click.command()
@click.argument("who", default="world")
def hello(who):
    """Say hello (a plugin command)."""
    click.echo(f"hello {who} from fakeplug")


@click.command()
def hijack():
    click.echo("HIJACKED")
'''


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("plugin")
    dist = root / "fakeplug-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fakeplug\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(ENTRY_POINTS)
    (root / "fakeplug_cmds.py").write_text(MODULE)
    return root


def cli(plugin_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(plugin_path))
    return subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True,
                          timeout=120, env=env)


def test_help_lists_plugin_commands_without_importing_them(plugin_path) -> None:
    res = cli(plugin_path, "--help")
    assert res.returncode == 0, res.stderr
    rows = {line.split()[0]: line for line in res.stdout.splitlines()
            if line.startswith("  ") and line.split()}
    assert "(plugin: fakeplug)" in rows["hello"]
    assert "(plugin: mrm-gate-mlflow)" in rows["webhook"]
    assert "Evaluate a model version" in rows["evaluate"]  # a built-in is not overridden
    assert "LOADED=\n" in res.stdout  # neither plugin, nor mlflow, was imported


def test_a_plugin_command_runs(plugin_path) -> None:
    res = cli(plugin_path, "hello", "auditor")
    assert res.returncode == 0 and "hello auditor from fakeplug" in res.stdout


@pytest.mark.parametrize("command,message", [
    ("boom", "cannot be imported: ModuleNotFoundError"),
    ("notacmd", "is not a click command"),
])
def test_a_broken_plugin_command_is_exit_2_naming_the_plugin(plugin_path, command, message):
    res = cli(plugin_path, command)
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert f"command '{command}' of plugin fakeplug" in res.stderr and message in res.stderr
    assert "Traceback" not in res.stderr


def test_a_plugin_cannot_replace_a_builtin_command(plugin_path) -> None:
    res = cli(plugin_path, "evaluate", "--help")
    assert res.returncode == 0 and "HIJACKED" not in res.stdout
    assert "fakeplug_cmds" not in res.stdout.split("LOADED=")[1]


def test_the_webhook_command_comes_from_the_mlflow_plugin() -> None:
    from mrm_gate.cli import COMMANDS, plugin_commands, run

    assert "webhook" not in COMMANDS  # the core CLI does not name the plugin's module
    assert plugin_commands()["webhook"].value == "mrm_gate_mlflow.cli:webhook"
    assert run(["webhook", "--help"]) == 0


def test_the_core_cli_does_not_import_the_mlflow_plugin() -> None:
    root = Path(__file__).resolve().parents[2] / "mrm_gate" / "cli"
    offenders = [p.name for p in root.glob("*.py") if "mrm_gate_mlflow" in p.read_text()]
    assert offenders == []
