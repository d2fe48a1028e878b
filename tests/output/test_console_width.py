"""Without a TTY (CI logs, pipes) tables are laid out wide, or at `COLUMNS` when set; never folded
at rich's 80-column fallback. Run as real processes: stdout is a pipe, as in CI."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mrm_gate.output.console import WIDE, make_console, width_for

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "policies" / "default.yaml"
GOOD = ROOT / "policies" / "tests" / "fixtures" / "good-model"

COMMANDS = {
    "checks list": ["checks", "list"],
    "policy explain": ["policy", "explain", str(POLICY), "--tier", "high"],
    "evaluate": ["evaluate", "--evidence", str(GOOD), "--policy", str(POLICY)],
}


def _cli(args: list[str], columns: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    if columns is not None:
        env["COLUMNS"] = columns
    env["PYTHONPATH"] = str(ROOT)  # the tree under test, not whatever is installed
    proc = subprocess.run([sys.executable, "-c", "from mrm_gate.cli import main; main()", *args],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    return proc.stdout


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_tables_are_wide_without_a_tty(command):
    out = _cli(COMMANDS[command], None)
    widest = max(len(line) for line in out.splitlines())
    assert 80 < widest <= WIDE, widest


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_columns_is_honoured(command):
    out = _cli(COMMANDS[command], "100")
    assert max(len(line) for line in out.splitlines()) <= 100


@pytest.mark.parametrize(("env", "tty", "width"), [
    ({}, False, WIDE),
    ({"COLUMNS": "132"}, False, 132),
    ({"COLUMNS": "132"}, True, 132),
    ({}, True, None),  # a terminal: rich measures it
    ({"COLUMNS": "0"}, False, WIDE),
    ({"COLUMNS": "wide"}, False, WIDE),
])
def test_width_rule(env, tty, width):
    class Stream(io.StringIO):
        def isatty(self) -> bool:
            return tty

    assert width_for(Stream(), env) == width


def test_a_report_file_keeps_its_fixed_width():
    buf = io.StringIO()
    assert make_console(file=buf, width=120).width == 120
