"""Fixtures: a real `mlflow server` (sqlite store in a temp dir, loopback, random port).

One server per test module (module-scoped), always stopped at the end. Start-up takes ~5 s with
`--workers 1` and job execution disabled.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mrm_gate_mlflow.testing import MLFLOW, MlflowServer, free_port, make_version

DATA = Path(__file__).parent / "data"
__all__ = ["DATA", "MLFLOW", "MlflowServer", "free_port", "gate_config", "make_version",
           "rest_prompt_with_version"]


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


def rest_prompt_with_version(url: str, client, name: str, auth=None) -> str:
    """A registered model marked as a prompt, holding a model version. MLflow's client refuses
    to make one; its REST API does not, so someone trying to get around the gate could."""
    import requests

    exp = client.get_experiment_by_name("plugin-tests")
    run = client.create_run(exp.experiment_id if exp else client.create_experiment("plugin-tests"))
    base = f"{url}/api/2.0/mlflow"
    requests.post(f"{base}/registered-models/create", auth=auth, timeout=30, json={
        "name": name, "tags": [{"key": "mlflow.prompt.is_prompt", "value": "true"}]
    }).raise_for_status()
    resp = requests.post(f"{base}/model-versions/create", auth=auth, timeout=30, json={
        "name": name, "source": f"{run.info.artifact_uri}/model", "run_id": run.info.run_id})
    assert resp.status_code == 200, resp.text
    return resp.json()["model_version"]["version"]
