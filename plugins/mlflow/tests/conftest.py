"""Fixtures: a real `mlflow server` (sqlite store in a temp dir, loopback, random port).

One server per test module (module-scoped), always stopped at the end. Start-up takes ~5 s with
`--workers 1` and job execution disabled.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mrm_gate_mlflow.testing import MLFLOW, MlflowServer, free_port, make_version

DATA = Path(__file__).parent / "data"
__all__ = ["DATA", "MLFLOW", "MlflowServer", "free_port", "gate_config", "make_version"]


def gate_config(root: Path, **overrides) -> dict:
    cfg = {
        "apiVersion": "mrm-gate/v1",
        "kind": "MlflowGate",
        "mode": "evaluate",
        "policy": str(DATA / "policy.yaml"),
        "decision_log": str(root / "log" / "decisions.jsonl"),
        "protected_aliases": ["champion", "production"],
        "protected_stages": ["Production"],
        "allow_conditional": True,
    }
    cfg.update(overrides)
    return cfg


@pytest.fixture(scope="module")
def server_factory(tmp_path_factory):
    """Start servers for one module; every one is stopped when the module ends."""
    started: list[MlflowServer] = []

    def make(name: str = "srv", **kwargs) -> MlflowServer:
        root = tmp_path_factory.mktemp(name)
        srv = MlflowServer(root, **kwargs)
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()
