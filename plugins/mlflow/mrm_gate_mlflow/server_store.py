"""In-process access to the tracking server's own stores (runs, registry, artifacts).

Inside the server the gate reads evidence and writes its tags and reports through the same
store objects MLflow's handlers use, not through HTTP calls to itself: that is faster (the
attestation mode's latency budget), needs no service credentials when basic-auth is on, and the
gate's own writes of reserved `mrm.` tags do not pass through its own request hook.

This module is the only place that touches MLflow server internals (`mlflow.server.handlers`);
the integration tests exercise every function here against a real server.
"""

from __future__ import annotations

import contextlib
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
            store = registry_store()
            if _sql_registry(store):
                with store.ManagedSessionMaker() as session:
                    self._read_model(store, session, name)
            else:
                self._models[name] = store.get_registered_model(name)
        return self._models[name]

    def prefetch(self, name: str, version: str, aliases: tuple[str, ...] = ()) -> None:
        """Read the registered model, the version and the version's run in one database
        session (SQL stores; each session costs a connection and most of a gated request's
        time), and the same for the versions holding `aliases` (the baselines the policy
        compares with). Later calls are answered from what was read. Errors are not raised
        here: the call that needs the missing piece reads it again and reports the error."""
        store = registry_store()
        if not _sql_registry(store):
            return
        try:
            with store.ManagedSessionMaker() as session:
                if name not in self._models:
                    self._read_model(store, session, name)
                self._read_version(store, session, name, str(version))
                held = _aliases(self._models[name])
                for alias in aliases:
                    v = held.get(alias)
                    if v is not None and (name, v) not in self._versions:
                        self._read_version(store, session, name, v)
        except Exception:
            return

    def _read_model(self, store, session, name: str) -> None:
        sql_rm = store._get_registered_model(session, name, eager=True)
        self._models[name] = sql_rm.to_mlflow_entity(preloaded_latest_versions=[])

    def _read_version(self, store, session, name: str, version: str):
        """The version (aliases populated as MLflow's get_model_version does), and its run in
        the same session when the tracking store shares the registry's database."""
        sql_mv = store._get_sql_model_version(session, name, version, eager=True)
        mv = sql_mv.to_mlflow_entity()
        rm = self._models.get(name)
        if rm is not None:  # the aliases of the model read in this session, in MLflow's order
            mv.aliases = [a for a, v in _aliases(rm).items() if v == str(mv.version)]
        else:
            mv = store._populate_model_version_aliases(session, name, mv)
        self._versions[(name, str(version))] = mv
        run_id = mv.run_id
        if run_id and run_id not in self._runs:
            tracking = tracking_store()
            if _shares_database(store, tracking):
                # on failure get_run reads it again and reports the error
                with contextlib.suppress(Exception):
                    self._runs[run_id] = _run_in_session(tracking, session, run_id)
        return mv

    def get_model_version(self, name: str, version: str):
        key = (name, str(version))
        if key not in self._versions:
            store = registry_store()
            if _sql_registry(store):
                with store.ManagedSessionMaker() as session:
                    return self._read_version(store, session, name, str(version))
            self._versions[key] = store.get_model_version(name, str(version))
        return self._versions[key]

    def get_model_version_by_alias(self, name: str, alias: str):
        """The version holding `alias`. When the registered model was read in this request,
        the alias is resolved from it (same request, same snapshot) and the version and its
        run are read in one session; otherwise as MLflow's store does."""
        rm = self._models.get(name)
        store = registry_store()
        if rm is None or not _sql_registry(store):
            mv = store.get_model_version_by_alias(name, alias)
            self._versions.setdefault((name, str(mv.version)), mv)
            return mv
        holder = _aliases(rm).get(alias)
        if holder is None:
            from mlflow.exceptions import MlflowException
            from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

            raise MlflowException(f"Registered model alias {alias} not found.",
                                  INVALID_PARAMETER_VALUE)
        return self.get_model_version(name, holder)

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


def _sql_registry(store) -> bool:
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore

    return isinstance(store, SqlAlchemyStore)


def _shares_database(registry, tracking) -> bool:
    """Whether the tracking store's reads go to the registry's database (the default set-up:
    one backend store URI, no read replica), so one session can read both."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    if not isinstance(tracking, SqlAlchemyStore):
        return False
    replica = getattr(tracking, "read_db_uri", None)
    return tracking.db_uri == registry.db_uri and replica in (None, tracking.db_uri)


def _run_in_session(tracking, session, run_id: str):
    """A run as `SqlAlchemyStore.get_run` builds it (info, data, dataset inputs), read in the
    given session. Its logged-model inputs and outputs are left empty: evidence does not read
    them (`version_evidence` uses info, data and dataset inputs), and they cost two queries."""
    from mlflow.entities import Run, RunInputs, RunOutputs

    run = tracking._get_run(run_uuid=run_id, session=session, eager=True)
    entity = run.to_mlflow_entity()
    inputs = tracking._get_run_inputs(run_uuids=[run_id], session=session)[0]
    return Run(entity.info, entity.data, RunInputs(dataset_inputs=inputs, model_inputs=[]),
               RunOutputs([]))


def _aliases(rm) -> dict[str, str]:
    aliases = getattr(rm, "aliases", None) or {}
    if isinstance(aliases, dict):
        return {k: str(v) for k, v in aliases.items()}
    return {a.alias: str(a.version) for a in aliases}


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
        """Write the tags, unless the version read in this request already holds exactly
        these values (re-promoting an attested version: no second write transaction)."""
        if not tags:
            return
        known = self.client._versions.get((name, str(version)))
        current = dict(getattr(known, "tags", None) or {}) if known is not None else None
        if current is not None and all(current.get(k) == str(v) for k, v in tags.items()):
            return
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
    return _aliases(rm)
