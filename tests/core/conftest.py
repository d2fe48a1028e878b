"""Fixtures for the core tests: policies and local evidence folders written to tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from core_helpers import BASE_POLICY, write


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    return write(tmp_path / "policy.yaml", BASE_POLICY)


@pytest.fixture
def make_evidence(tmp_path: Path):
    """Write an evidence folder from a mapping; returns its path."""
    counter = [0]

    def make(data: dict, files: dict[str, str] | None = None) -> Path:
        counter[0] += 1
        folder = tmp_path / f"evidence{counter[0]}"
        folder.mkdir()
        (folder / "evidence.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
        for name, text in (files or {}).items():
            write(folder / name, text)
        return folder

    return make
