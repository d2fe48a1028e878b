"""MLflow evidence: registry metadata, the run, and run artifacts fetched on demand.

mlflow is imported inside functions: a metadata-only CLI path that never touches MLflow does not
pay its import time. A server that does not answer is detected with a bounded probe before any
client call (MLflow's own client retries for minutes by default), then blocks (fail closed).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import socket
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..errors import EvidenceError
from .model import DatasetInput, Evidence, ModelInfo, RunInfo
from .source import EvidenceSource, SourceSettings, SubjectRef

MODEL_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[\w.-]+))$")
EVIDENCE_ARTIFACT = "mrm/evidence.yaml"
MAX_ARTIFACTS = 500
# Where the gate stores its own reports on a run; not evidence (recording a decision must not
# change the evidence it was made on).
GATE_ARTIFACT_DIRS = ("mrm/decisions",)


def parse_model_uri(uri: str) -> tuple[str, str | None, str | None]:
    m = MODEL_URI.match(uri.strip())
    if not m:
        raise EvidenceError(
            f"model URI {uri!r} is not of the form models:/NAME/VERSION or models:/NAME@ALIAS"
        )
    return m.group("name"), m.group("version"), m.group("alias")


def resolve_tracking_uri(tracking_uri: str | None) -> str:
    if tracking_uri:
        return tracking_uri
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    raise EvidenceError(
        "no tracking URI: pass --tracking-uri or set MLFLOW_TRACKING_URI "
        "(e.g. http://127.0.0.1:5000 or sqlite:///mlflow.db)"
    )


def probe_server(tracking_uri: str, timeout_s: float) -> None:
    """Fail fast (bounded wait) when an HTTP tracking server does not answer."""
    parsed = urlparse(tracking_uri)
    if parsed.scheme not in ("http", "https"):
        return
    host = parsed.hostname or "localhost"
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        raise EvidenceError(
            f"MLflow tracking server {tracking_uri} did not answer within {timeout_s:g} s "
            f"({exc.strerror or exc}); the gate blocks until evidence can be read"
        ) from None


@contextmanager
def bounded_http(timeout_s: float):
    """Keep MLflow's HTTP retries short so an unresponsive server cannot stall the gate."""
    keys = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
            "MLFLOW_HTTP_REQUEST_TIMEOUT": str(max(1, int(timeout_s))),
            "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1"}
    saved = {k: os.environ.get(k) for k in keys}
    for k, v in keys.items():
        os.environ.setdefault(k, v)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)


def quiet_downloads() -> None:
    """No MLflow "Downloading artifacts" progress bars from the gate's own downloads: they
    flood the CLI's stderr and the server's log. Set once for the process, unless the user
    set the variable."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def _not_found(exc: Exception) -> bool:
    return "RESOURCE_DOES_NOT_EXIST" in str(getattr(exc, "error_code", "")) or (
        "not found" in str(exc).lower() or "does not exist" in str(exc).lower()
    )


class CachedRunArtifacts:
    """A run's artifacts, each downloaded once, on first use, into a private temporary folder.

    Subclasses say how one artifact is downloaded (over the tracking API here; from the
    server's own artifact storage in the MLflow plugin).
    """

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._fetched: dict[str, Path] = {}

    def _download(self, path: str, dst: str) -> str:
        raise NotImplementedError

    def fetch(self, path: str) -> Path:
        """The artifact's local copy. The path must be relative without `..` (checked before
        any download), and what was downloaded must resolve, with everything below it, inside
        the private folder (no symlink out of it)."""
        from .containment import check_relative, check_tree, resolve_inside

        if path in self._fetched:
            return self._fetched[path]
        what = f"artifact of run {self.run_id}"
        check_relative(path, what)
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="mrm-gate-artifacts-")
        # each artifact in a folder of its own: `a/x.csv` and `b/x.csv` must not overwrite each
        # other (MLflow's download keeps only the base name)
        own = Path(self._tmp.name) / hashlib.sha256(path.encode()).hexdigest()[:16]
        own.mkdir(exist_ok=True)
        try:
            quiet_downloads()
            local = self._download(path, str(own))
        except Exception as exc:
            raise EvidenceError(
                f"artifact {path!r} of run {self.run_id} cannot be read: "
                f"{_short(exc)}"
            ) from None
        where = "the run's downloaded artifacts"
        try:
            real = resolve_inside(Path(self._tmp.name), local, "download", where=where,
                                  allow_absolute=True)
        except EvidenceError:
            raise EvidenceError(f"{what} {path!r} resolves outside {where} (a symlink?); "
                                "the gate reads only files inside the run's artifacts") from None
        if real.is_dir():
            check_tree(Path(self._tmp.name), real, f"{what} {path!r}", where=where)
        self._fetched[path] = real
        return real

    def describe(self) -> str:
        return f"runs:/{self.run_id}"


class MlflowArtifactStore(CachedRunArtifacts):
    """Run artifacts read through the MLflow client (any tracking URI)."""

    def __init__(self, run_id: str, tracking_uri: str) -> None:
        super().__init__(run_id)
        self.tracking_uri = tracking_uri

    def _download(self, path: str, dst: str) -> str:
        import mlflow.artifacts

        return mlflow.artifacts.download_artifacts(
            run_id=self.run_id, artifact_path=path, dst_path=dst,
            tracking_uri=self.tracking_uri,
        )


def _client(tracking_uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def _list_artifacts(client, run_id: str) -> list[str]:
    out: list[str] = []
    stack = [""]
    while stack and len(out) < MAX_ARTIFACTS:
        for info in client.list_artifacts(run_id, stack.pop() or None):
            if info.path.startswith(GATE_ARTIFACT_DIRS):
                continue
            if info.is_dir:
                if info.path.endswith(("model", "artifacts")):
                    out.append(info.path + "/")  # an MLflow model directory: listed, not walked
                else:
                    stack.append(info.path)  # its files are listed, not the folder itself
            else:
                out.append(info.path)
    return sorted(out)


def _ts(ms: int | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc) if ms else None


def version_evidence(
    client,
    tracking_uri: str,
    name: str,
    version: str,
    uri: str,
    store_for: Callable[[str], CachedRunArtifacts] | None = None,
) -> Evidence:
    """Evidence for one registered model version (registry + run + declared files).

    `store_for(run_id)` gives the artifact store (default: the MLflow client on
    `tracking_uri`); the server plugin passes one that reads its own artifact storage.
    """
    rm = client.get_registered_model(name)
    mv = client.get_model_version(name, version)
    aliases = list(getattr(mv, "aliases", []) or [])
    model = ModelInfo(
        name=name, version=str(mv.version), tags=dict(mv.tags or {}),
        registered_model_tags=dict(rm.tags or {}), aliases=aliases,
        description=mv.description or None,
        registered_model_description=rm.description or None, source=mv.source,
        run_id=mv.run_id or None, creator=mv.user_id or None,
        created_at=_ts(mv.creation_timestamp), stage=mv.current_stage or None,
    )
    run = RunInfo()
    if mv.run_id:
        try:
            r = client.get_run(mv.run_id)
        except Exception as exc:
            raise EvidenceError(
                f"run {mv.run_id} of {name} v{version} cannot be read: {exc}"
            ) from None
        inputs = []
        for di in (r.inputs.dataset_inputs if r.inputs else []) or []:
            ctx = next((t.value for t in di.tags if t.key == "mlflow.data.context"), None)
            d = di.dataset
            inputs.append(DatasetInput(name=d.name, digest=d.digest, context=ctx,
                                       source_type=d.source_type, source=d.source,
                                       schema=d.schema, profile=d.profile))
        run = RunInfo(
            run_id=r.info.run_id, experiment_id=r.info.experiment_id,
            metrics=dict(r.data.metrics), params=dict(r.data.params),
            tags={k: v for k, v in r.data.tags.items() if not k.startswith("mlflow.log-model")},
            datasets=inputs, artifacts=_list_artifacts(client, r.info.run_id),
            user=r.info.user_id or None, start_time=_ts(r.info.start_time),
        )
    make_store = store_for or (lambda run_id: MlflowArtifactStore(run_id, tracking_uri))
    store = make_store(mv.run_id) if mv.run_id else None
    declared: dict[str, Any] = {}
    if store is not None and EVIDENCE_ARTIFACT in run.artifacts:
        from .containment import load_yaml_redacted

        data = load_yaml_redacted(store.fetch(EVIDENCE_ARTIFACT), "run evidence").data or {}
        if not isinstance(data, dict):
            raise EvidenceError(f"{EVIDENCE_ARTIFACT} of run {mv.run_id} must be a mapping")
        allowed = {"datasets", "model_card", "model_card_file", "backtest", "model_artifact",
                   "extra"}
        unknown = set(data) - allowed
        if unknown:
            raise EvidenceError(f"{EVIDENCE_ARTIFACT} of run {mv.run_id}: unknown keys "
                                f"{sorted(unknown)} (allowed: {sorted(allowed)})")
        declared = data
    try:
        ev = Evidence(model=model, run=run, source_kind="mlflow", uri=uri,
                      tracking_uri=tracking_uri, **declared)
    except Exception as exc:
        from .containment import unquoted

        raise EvidenceError(f"{EVIDENCE_ARTIFACT} of run {mv.run_id} is invalid: "
                            f"{unquoted(str(exc))}") from None
    if store is not None:
        ev.attach_files(store)
    return ev


class MlflowSource(EvidenceSource):
    """Evidence of a registered model version: `models:/NAME/VERSION` or `models:/NAME@ALIAS`.

    Over any tracking URI by default (bounded probe, short retries). The gated server passes its
    in-process client and artifact-store factory in `SourceSettings` instead, so it reads its
    own stores without HTTP and without touching process-global MLflow settings.
    """

    name = "mlflow"

    @classmethod
    def claims(cls, subject: str) -> bool:
        return subject.strip().startswith("models:/")

    def __init__(self, settings: SourceSettings | None = None) -> None:
        super().__init__(settings)
        self._client_obj = self.settings.client
        self._turi: str | None = None
        self._models: dict[tuple[str, str], str] = {}  # downloaded model folders
        self._baselines: dict[tuple[str, str], Evidence] = {}

    def describe(self, subject: str) -> SubjectRef:
        m = MODEL_URI.match(subject.strip())
        name = m.group("name") if m else subject.removeprefix("models:/").split("/")[0]
        return SubjectRef(name=name.split("@")[0] or subject, uri=subject,
                          version=m.group("version") if m else None, source_kind="mlflow",
                          tracking_uri=self.settings.tracking_uri)

    @property
    def in_process(self) -> bool:
        return self.settings.client is not None

    def tracking_uri(self) -> str:
        if self._turi is None:
            self._turi = (self.settings.tracking_uri or "" if self.in_process
                          else resolve_tracking_uri(self.settings.tracking_uri))
        return self._turi

    def client(self):
        """The injected client; else, for an http(s) server, the stdlib REST client (no MLflow
        import, see `mlflow_rest`); else MLflow's own client."""
        if self._client_obj is None:
            from .mlflow_rest import MlflowRestClient, fallback_reason

            turi = self.tracking_uri()
            self._client_obj = (MlflowRestClient(turi, self.settings.timeout_s)
                                if fallback_reason(turi) is None else _client(turi))
        return self._client_obj

    @contextmanager
    def _io(self):
        if self.in_process:
            yield
            return
        with bounded_http(self.settings.timeout_s):
            yield

    def _version(self, subject: str) -> tuple[str, str]:
        """(name, version) of the subject, resolving an alias; EvidenceError when absent."""
        name, version, alias = parse_model_uri(subject)
        turi = self.tracking_uri()
        if not self.in_process:
            probe_server(turi, self.settings.timeout_s)
        client = self.client()
        try:
            client.get_registered_model(name)
        except Exception as exc:
            if _not_found(exc):
                raise EvidenceError(f"registered model {name!r} not found at {turi}") from None
            raise EvidenceError(f"cannot read registered model {name!r} at {turi}: "
                                f"{_short(exc)}") from None
        if alias is not None:
            try:
                version = str(client.get_model_version_by_alias(name, alias).version)
            except Exception as exc:
                if _not_found(exc):
                    raise EvidenceError(f"no version of {name!r} holds alias @{alias}") from None
                raise EvidenceError(f"cannot resolve {subject}: {_short(exc)}") from None
        try:
            client.get_model_version(name, version)
        except Exception as exc:
            if _not_found(exc):
                raise EvidenceError(f"model {name!r} has no version {version} at {turi}") from None
            raise EvidenceError(f"cannot read {subject}: {_short(exc)}") from None
        return name, str(version)

    def _read(self, name: str, version: str, uri: str) -> Evidence:
        try:
            client = self.client()
            return version_evidence(client, self.tracking_uri(), name, version, uri,
                                    store_for=self.settings.store_for
                                    or getattr(client, "store_for", None))
        except EvidenceError:
            raise
        except Exception as exc:  # a store error must block, not crash the channel
            raise EvidenceError(f"cannot read model {name!r} version {version}: "
                                f"{_short(exc)}") from None

    def load(self, subject: str) -> Evidence:
        with self._io():
            name, version = self._version(subject)
            return self._read(name, version, subject)

    def baseline(self, evidence: Evidence, *, alias: str | None = None,
                 version: str | None = None) -> Evidence | None:
        """None only when no version holds `alias` (or `version` does not exist); a registry
        that cannot be read raises EvidenceError, so the control errors and blocks."""
        name = evidence.model.name
        with self._io():
            client = self.client()
            try:
                if alias is not None:
                    v = str(client.get_model_version_by_alias(name, alias).version)
                else:
                    v = str(version)
                    client.get_model_version(name, v)
            except Exception as exc:
                if _not_found(exc):
                    return None
                what = f"@{alias}" if alias is not None else f"version {version}"
                raise EvidenceError(f"cannot read the baseline ({what}) of {name!r}: "
                                    f"{_short(exc)}") from None
            if (name, v) not in self._baselines:  # several controls ask for the same one
                self._baselines[(name, v)] = self._read(name, v, f"models:/{name}/{v}")
            return self._baselines[(name, v)]

    def model_location(self, evidence: Evidence) -> str:
        """A local folder holding the MLflow model: the run's `model_artifact` (downloaded
        through the run's artifact store, so it stays inside it), else the registered version's
        own artifacts. No process-global tracking URI is set."""
        if evidence.model_artifact:
            return super().model_location(evidence)
        if not evidence.model.version:
            return super().model_location(evidence)
        name, version = evidence.model.name, evidence.model.version
        if (name, version) in self._models:
            return self._models[(name, version)]
        with self._io():
            try:
                client = self.client()
                uri = client.get_model_version_download_uri(name, version)
                import mlflow.artifacts

                dst = tempfile.mkdtemp(prefix="mrm-gate-model-")
                quiet_downloads()
                kwargs = {} if self.in_process else {"tracking_uri": self.tracking_uri()}
                local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=dst,
                                                            **kwargs)
            except Exception as exc:
                raise EvidenceError(f"the model of {name!r} version {version} cannot be "
                                    f"downloaded: {_short(exc)}") from None
        self._models[(name, version)] = local
        return local


def load_mlflow_evidence(uri: str, *, tracking_uri: str | None = None,
                         timeout_s: float = 10.0) -> tuple[Evidence, Any]:
    """Evidence for `models:/name/version` or `models:/name@alias`, plus a baseline resolver."""
    source = MlflowSource(SourceSettings(tracking_uri=tracking_uri, timeout_s=timeout_s))
    ev = source.load(uri)
    return ev, source.baseline_resolver(ev)


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
