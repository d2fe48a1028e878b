"""The import contract (.importlinter) holds, and it would catch an upward import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(cwd: Path, pythonpath: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    return subprocess.run([str(LINT), "--no-cache"], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_the_layers_contract_holds() -> None:
    proc = _lint(ROOT, ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


@pytest.mark.parametrize(("module", "upward"), [
    ("evidence/local.py", "from ..policy import loader as _x  # noqa"),
    ("policy/model.py", "from .. import engine as _x  # noqa"),
    ("controls/metadata.py", "from .. import gate as _x  # noqa"),
    ("cli/checks.py", "import mrm_gate_mlflow as _x  # noqa"),
])
def test_the_contract_catches_an_upward_import(tmp_path, module, upward) -> None:
    shutil.copytree(ROOT / "mrm_gate", tmp_path / "mrm_gate",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    target = tmp_path / "mrm_gate" / module
    target.write_text(target.read_text() + f"\n{upward}\n")
    proc = _lint(tmp_path, tmp_path)
    assert proc.returncode != 0, proc.stdout[-2000:]
    assert "BROKEN" in proc.stdout
