"""A real `mlflow server` for tests and benchmarks: sqlite store, loopback, random port.

Started in its own process group so `stop()` ends the CLI and its uvicorn worker together.
With `--workers 1` and job execution disabled it is up in ~5 s (~420 MB).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml

MLFLOW = str(Path(sys.executable).parent / "mlflow")
START_TIMEOUT_S = 90


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MlflowServer:
    """A real tracking server process (its own process group, so stop() ends all of it)."""

    def __init__(self, root: Path, *, app_name: str | None = "mrm-gate",
                 config: dict | None = None, env: dict | None = None) -> None:
        self.root = root
        self.app_name = app_name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env_extra = dict(env or {})
        self.proc: subprocess.Popen | None = None
        self.config_path = root / "gate.yaml"
        if config is not None:
            self.write_config(config)

    def write_config(self, config: dict) -> None:
        self.config_path.write_text(yaml.safe_dump(config), encoding="utf-8")

    def command(self) -> list[str]:
        cmd = [MLFLOW, "server", "--backend-store-uri", f"sqlite:///{self.root}/mlflow.db",
               "--artifacts-destination", str(self.root / "artifacts"),
               "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
        if self.app_name:
            cmd += ["--app-name", self.app_name]
        return cmd

    def environment(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING")}
        env.update({"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
                    # MLflow's telemetry thread edits os.environ while requests reads it
                    # (a KeyError now and then); the machine has no internet anyway
                    "MLFLOW_DISABLE_TELEMETRY": "true",
                    "MRM_GATE_MLFLOW_CONFIG": str(self.config_path),
                    "PYTHONUNBUFFERED": "1"})
        env.update(self.env_extra)
        return env

    def start(self) -> MlflowServer:
        self.log = open(self.root / f"server-{self.port}.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(self.command(), cwd=self.root, env=self.environment(),
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited ({self.proc.returncode}):\n"
                                   + self.output()[-4000:])
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("mlflow server did not start in time:\n" + self.output()[-4000:])

    def output(self) -> str:
        return (self.root / f"server-{self.port}.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
            except ProcessLookupError:
                pass
        self.proc = None
        self.log.close()

    def restart(self) -> MlflowServer:
        self.stop()
        return self.start()


def make_version(client, name: str, *, auc: float | None, owner: str | None = "alice",
                 description: str | None = "Scores retail credit applications.",
                 tags: dict | None = None, registered_tags: dict | None = None) -> str:
    """A run with metrics and a registered version of it; returns the version number."""
    from mlflow.exceptions import MlflowException

    exp = client.get_experiment_by_name("plugin-tests")
    exp_id = exp.experiment_id if exp else client.create_experiment("plugin-tests")
    run = client.create_run(exp_id)
    if auc is not None:
        client.log_metric(run.info.run_id, "auc", auc)
    client.set_terminated(run.info.run_id)
    try:
        client.create_registered_model(name, tags=registered_tags)
    except MlflowException as exc:
        if "RESOURCE_ALREADY_EXISTS" not in str(exc) and "already exists" not in str(exc):
            raise
    vtags = dict(tags or {})
    if owner:
        vtags["owner"] = owner
    mv = client.create_model_version(name, source=f"{run.info.artifact_uri}/model",
                                     run_id=run.info.run_id, tags=vtags,
                                     description=description)
    return str(mv.version)
