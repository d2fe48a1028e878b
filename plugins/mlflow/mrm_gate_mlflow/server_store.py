"""In-process access to the tracking server's own stores (runs, registry, artifacts).

Inside the server the gate reads evidence and writes its tags and reports through the same
store objects MLflow's handlers use, not through HTTP calls to itself: that is faster (the
attestation mode's latency budget), needs no service credentials when basic-auth is on, and the
gate's own writes of reserved `mrm.` tags do not pass through its own request hook.

This module is the only place that touches MLflow server internals (`mlflow.server.handlers`);
the integration tests exercise every function here against a real server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mrm_gate.evidence.mlflow_source import CachedRunArtifacts


def registry_store():
    from mlflow.server.handlers import _get_model_registry_store

    return _get_model_registry_store()


def tracking_store():
    from mlflow.server.handlers import _get_tracking_store

    return _get_tracking_store()


class InProcessClient:
    """The subset of `MlflowClient` that `mrm_gate.evidence.mlflow_source` uses, in-process.

    Returns the same entity objects the REST client returns, so evidence (and its hash) is
    identical whether read by CI over HTTP or by the gate inside the server. One instance serves
    one gated request: registered models and runs are read once and reused (the candidate and
    its baseline share the registered model; the artifact listing reuses the run).
    """

    def __init__(self) -> None:
        self._models: dict[str, Any] = {}
        self._versions: dict[tuple[str, str], Any] = {}
        self._runs: dict[str, Any] = {}

    def get_registered_model(self, name: str):
        """The registered model with its tags, description and aliases.

        On SQL stores its `latest_versions` are left empty: MLflow computes them by loading
        every version of the model, which the gate never reads and which would make a gated
        request slower the more versions a model has.
        """
        if name not in self._models:
            from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore

            store = registry_store()
            if isinstance(store, SqlAlchemyStore):
                with store.ManagedSessionMaker() as session:
                    sql_rm = store._get_registered_model(session, name, eager=True)
                    self._models[name] = sql_rm.to_mlflow_entity(preloaded_latest_versions=[])
            else:
                self._models[name] = store.get_registered_model(name)
        return self._models[name]

    def get_model_version(self, name: str, version: str):
        key = (name, str(version))
        if key not in self._versions:
            self._versions[key] = registry_store().get_model_version(name, str(version))
        return self._versions[key]

    def get_model_version_by_alias(self, name: str, alias: str):
        mv = registry_store().get_model_version_by_alias(name, alias)
        self._versions.setdefault((name, str(mv.version)), mv)
        return mv

    def get_model_version_download_uri(self, name: str, version: str) -> str:
        """Where the version's model files are, as a URI this process can read directly.

        A proxied `mlflow-artifacts:` location is mapped onto the server's own artifact
        destination (no HTTP call to itself, no process-global tracking URI)."""
        from mlflow.server import handlers as h

        uri = registry_store().get_model_version_download_uri(name, str(version))
        if h._is_servable_proxied_run_artifact_root(uri):
            dest = h._get_proxied_run_artifact_destination_path(proxied_artifact_root=uri)
            root = h._get_artifact_repo_mlflow_artifacts().artifact_uri
            return f"{root.rstrip('/')}/{dest}" if dest else root
        return uri

    def get_run(self, run_id: str):
        if run_id not in self._runs:
            self._runs[run_id] = tracking_store().get_run(run_id)
        return self._runs[run_id]

    def list_artifacts(self, run_id: str, path: str | None = None):
        """As the server's ListArtifacts handler lists them (`list_artifacts_impl`)."""
        from mlflow.server import handlers as h

        run = self.get_run(run_id)
        root = run.info.artifact_uri
        if h._is_servable_proxied_run_artifact_root(root):
            return h._list_artifacts_for_proxied_run_artifact_root(
                proxied_artifact_root=root, relative_path=path or None)
        return h._get_artifact_repo(run).list_artifacts(path or None)

    def is_prompt(self, name: str) -> bool:
        """Whether MLflow treats the registered model as a prompt (as its handlers decide)."""
        try:
            rm = self.get_registered_model(name)
        except Exception:
            return False
        return bool(rm._is_prompt())


def _run_repo(run) -> tuple[Any, str]:
    """Artifact repository and the path prefix inside it for a run's artifact root."""
    from mlflow.server import handlers as h

    root = run.info.artifact_uri
    if h._is_servable_proxied_run_artifact_root(root):
        dest = h._get_proxied_run_artifact_destination_path(proxied_artifact_root=root)
        return h._get_artifact_repo_mlflow_artifacts(), dest
    return h._get_artifact_repo(run), ""


def _join(prefix: str, path: str) -> str:
    return f"{prefix.rstrip('/')}/{path}".lstrip("/") if prefix else path


class InProcessArtifactStore(CachedRunArtifacts):
    """`FileStore` over a run's artifacts, read directly from the server's artifact storage."""

    def __init__(self, run_id: str, client: InProcessClient | None = None) -> None:
        super().__init__(run_id)
        self.client = client or InProcessClient()

    def _download(self, path: str, dst: str) -> str:
        repo, prefix = _run_repo(self.client.get_run(self.run_id))
        return repo.download_artifacts(_join(prefix, path), dst_path=dst)


def log_run_artifacts(run_id: str, files: list[Path], artifact_dir: str,
                      client: InProcessClient | None = None) -> str:
    """Store `files` under `artifact_dir` of the run; return the `runs:/` URI of the folder."""
    repo, prefix = _run_repo((client or InProcessClient()).get_run(run_id))
    for f in files:
        repo.log_artifact(str(f), _join(prefix, artifact_dir))
    return f"runs:/{run_id}/{artifact_dir}"


class InProcessWriter:
    """`mrm_gate.gate.recorders.RegistryWriter` over the server's own stores: the gate's
    reports go to the run's artifact storage and its tags to the registry without passing
    through the gate's own request hook (which refuses reserved `mrm.` keys)."""

    def __init__(self, client: InProcessClient | None = None) -> None:
        self.client = client or InProcessClient()

    def log_reports(self, run_id: str, files: list[Path], artifact_dir: str) -> None:
        log_run_artifacts(run_id, files, artifact_dir, self.client)

    def set_tags(self, name: str, version: str, tags: dict[str, str]) -> None:
        if tags:
            set_version_tags(name, version, tags)


def set_version_tags(name: str, version: str, tags: dict[str, str]) -> None:
    """Write all of a decision's tags in one transaction on SQL stores (all or none).

    Other registry stores get one call per tag through the public store API, `mrm.decision`
    last: once it is visible, every other tag of the decision is too.
    """
    from mlflow.entities.model_registry import ModelVersionTag
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore

    store = registry_store()
    if not isinstance(store, SqlAlchemyStore):
        for k in sorted(tags, key=lambda key: key == "mrm.decision"):
            store.set_model_version_tag(name, str(version), ModelVersionTag(k, str(tags[k])))
        return
    from mlflow.store.model_registry.dbmodels.models import SqlModelVersionTag
    from mlflow.utils.validation import (
        _validate_model_name,
        _validate_model_version,
        _validate_model_version_tag,
    )

    _validate_model_name(name)
    v = _validate_model_version(str(version))
    for k, val in tags.items():
        _validate_model_version_tag(k, str(val))
    with store.ManagedSessionMaker(read_only=False) as session:
        sql_mv = store._get_sql_model_version(session, name, v)
        existing = {t.key: t for t in sql_mv.model_version_tags if t.key in tags}
        for k, val in tags.items():
            if k in existing:
                existing[k].value = str(val)
            else:
                session.add(SqlModelVersionTag(workspace=sql_mv.workspace, name=name, version=v,
                                               key=k, value=str(val)))


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
