"""Every `-o/--output` writer refuses an existing file: exit 2, a message naming the file, the
user's file untouched — including a symlink planted at that name (not written through)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from mrm_gate.cli import run

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "policies" / "default.yaml"
GOOD = ROOT / "policies" / "tests" / "fixtures" / "good-model"
BACKTEST = ROOT / "examples" / "backtests" / "corporate.csv"


def _cases(tmp_path: Path) -> Path:
    path = tmp_path / "cases.yaml"
    path.write_text(textwrap.dedent(f"""\
        apiVersion: mrm-gate/v1
        kind: PolicyTests
        policy: {POLICY}
        defaults: {{evidence: {GOOD}, target: champion, now: 2026-06-01}}
        cases:
          - name: good model
            expect: {{decision: APPROVE}}
        """))
    return path


# command -> argv builder taking (tmp_path, output file)
COMMANDS = {
    "risk -o": lambda t, o: ["risk", str(BACKTEST), "--n-boot", "0", "--format", "json",
                             "-o", str(o)],
    "risk portfolio -o": lambda t, o: ["risk", "portfolio", str(BACKTEST), "--n-boot", "0",
                                       "-o", str(o)],
    "policy diff -o": lambda t, o: ["policy", "diff", str(POLICY), str(POLICY), "--format",
                                    "markdown", "-o", str(o)],
    "policy coverage -o": lambda t, o: ["policy", "coverage", str(POLICY), "--framework",
                                        "sr26-2", "-o", str(o)],
    "policy test -o": lambda t, o: ["policy", "test", str(_cases(t)), "--format", "junit",
                                    "-o", str(o)],
    "card init --out": lambda t, o: ["card", "init", "--tier", "high", "--policy", str(POLICY),
                                     "--out", str(o)],
}


@pytest.mark.parametrize("planted", ["file", "symlink"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_existing_output_is_never_overwritten(tmp_path, capsys, command, planted):
    out = tmp_path / "existing.md"
    victim = tmp_path / "victim.txt"
    if planted == "file":
        out.write_text("precious")
        victim = out
    else:
        victim.write_text("precious")
        os.symlink(victim, out)
    code = run(COMMANDS[command](tmp_path, out))
    err = capsys.readouterr().err
    assert code == 2, err
    assert str(out) in err and "already exists" in err and "never overwrites" in err
    assert victim.read_text() == "precious"
    assert "Traceback" not in err


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_new_output_file_is_written(tmp_path, capsys, command):
    out = tmp_path / "new.out"
    code = run(COMMANDS[command](tmp_path, out))
    assert code in (0, 1), capsys.readouterr().err
    assert out.read_text().strip()


def test_output_into_a_missing_folder_is_a_clear_error(tmp_path, capsys):
    out = tmp_path / "no" / "such" / "folder" / "diff.md"
    assert run(COMMANDS["policy diff -o"](tmp_path, out)) == 2
    err = capsys.readouterr().err
    assert f"cannot write {out}" in err and "Traceback" not in err
