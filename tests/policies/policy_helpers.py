"""Shared paths and small builders for the policy library tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policies"
TESTS_DIR = POLICIES / "tests"
GOOD = TESTS_DIR / "fixtures" / "good-model"
REFERENCE = ("default.yaml", "sr26-2.yaml", "eu-ai-act-high-risk.yaml", "nist-ai-rmf.yaml",
             "iso-42001.yaml")


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def cases_file(tmp_path: Path, cases: str, *, policy: Path = POLICIES / "default.yaml",
              name: str = "t.yaml") -> Path:
    """A PolicyTests file in tmp_path against `policy`, starting from the good fixture."""
    head = (f"apiVersion: mrm-gate/v1\nkind: PolicyTests\npolicy: {policy}\n"
            f"defaults: {{evidence: {GOOD}, target: champion, now: 2026-06-01}}\ncases:\n")
    return write(tmp_path / name, head + textwrap.indent(textwrap.dedent(cases), "  "))
