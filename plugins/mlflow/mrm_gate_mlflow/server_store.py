"""In-process access to the tracking server's own stores (runs, registry, artifacts).

Inside the server the gate reads evidence and writes its tags and reports through the same
store objects MLflow's handlers use, not through HTTP calls to itself: that is faster (the
attestation mode's latency budget), needs no service credentials when basic-auth is on, and the
gate's own writes of reserved `mrm.` tags do not pass through its own request hook.

This module is the only place that touches MLflow server internals (`mlflow.server.handlers`);
the integration tests exercise every function here against a real server.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any


def registry_store():
    from mlflow.server.handlers import _get_model_registry_store

    return _get_model_registry_store()


def tracking_store():
    from mlflow.server.handlers import _get_tracking_store

    return _get_tracking_store()


class InProcessClient:
    """The subset of `MlflowClient` that `mrm_gate.evidence.mlflow_source` uses, in-process.

    Returns the same entity objects the REST client returns, so evidence (and its hash) is
    identical whether read by CI over HTTP or by the gate inside the server.
    """

    def get_registered_model(self, name: str):
        return registry_store().get_registered_model(name)

    def get_model_version(self, name: str, version: str):
        return registry_store().get_model_version(name, str(version))

    def get_model_version_by_alias(self, name: str, alias: str):
        return registry_store().get_model_version_by_alias(name, alias)

    def get_run(self, run_id: str):
        return tracking_store().get_run(run_id)

    def list_artifacts(self, run_id: str, path: str | None = None):
        from mlflow.entities import FileInfo
        from mlflow.protos.service_pb2 import ListArtifacts
        from mlflow.server.handlers import list_artifacts_impl

        msg = ListArtifacts(run_id=run_id)
        if path:
            msg.path = path
        resp = list_artifacts_impl(msg)
        return [FileInfo.from_proto(f) for f in resp.files]


def _run_repo(run_id: str) -> tuple[Any, str]:
    """Artifact repository and the path prefix inside it for a run's artifact root."""
    from mlflow.server import handlers as h

    run = tracking_store().get_run(run_id)
    root = run.info.artifact_uri
    if h._is_servable_proxied_run_artifact_root(root):
        dest = h._get_proxied_run_artifact_destination_path(proxied_artifact_root=root)
        return h._get_artifact_repo_mlflow_artifacts(), dest
    return h._get_artifact_repo(run), ""


def _join(prefix: str, path: str) -> str:
    return f"{prefix.rstrip('/')}/{path}".lstrip("/") if prefix else path


class InProcessArtifactStore:
    """`FileStore` over a run's artifacts, read directly from the server's artifact storage."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._fetched: dict[str, Path] = {}

    def fetch(self, path: str) -> Path:
        from mrm_gate.errors import EvidenceError

        if path in self._fetched:
            return self._fetched[path]
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="mrm-gate-server-")
        try:
            repo, prefix = _run_repo(self.run_id)
            local = repo.download_artifacts(_join(prefix, path), dst_path=self._tmp.name)
        except Exception as exc:
            raise EvidenceError(
                f"artifact {path!r} of run {self.run_id} cannot be read: {exc}") from None
        self._fetched[path] = Path(local)
        return self._fetched[path]

    def describe(self) -> str:
        return f"runs:/{self.run_id}"


def log_run_artifacts(run_id: str, files: list[Path], artifact_dir: str) -> str:
    """Store `files` under `artifact_dir` of the run; return the `runs:/` URI of the folder."""
    repo, prefix = _run_repo(run_id)
    for f in files:
        repo.log_artifact(str(f), _join(prefix, artifact_dir))
    return f"runs:/{run_id}/{artifact_dir}"


def set_version_tags(name: str, version: str, tags: dict[str, str]) -> None:
    from mlflow.entities.model_registry import ModelVersionTag

    store = registry_store()
    for k, v in tags.items():
        store.set_model_version_tag(name, str(version), ModelVersionTag(k, str(v)))


def registered_model_aliases(name: str) -> dict[str, str]:
    """alias -> version of a registered model ({} when it does not exist)."""
    try:
        rm = registry_store().get_registered_model(name)
    except Exception:
        return {}
    aliases = getattr(rm, "aliases", None) or {}
    if isinstance(aliases, dict):
        return {k: str(v) for k, v in aliases.items()}
    return {a.alias: str(a.version) for a in aliases}


def is_prompt(name: str) -> bool:
    from mlflow.prompt.constants import IS_PROMPT_TAG_KEY

    try:
        rm = registry_store().get_registered_model(name)
    except Exception:
        return False
    return str((rm.tags or {}).get(IS_PROMPT_TAG_KEY, "")).lower() == "true"
