"""The Evidence model: everything the gate knows about one model version, whatever the source.

Sources (MLflow registry, local evidence folder) fill the same model. Files (datasets, model card,
backtest) are referenced, not loaded: a check asks `evidence.open_file(ref)` when it needs one,
and the source fetches it then (artifacts are downloaded only when a check needs them).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import numbers
from pathlib import Path
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr

# Tags the gate itself writes on a version. They are excluded from the evidence hash, so a
# version's hash does not change when the gate records its decision on it.
GATE_TAG_PREFIXES = (
    "mrm.decision",
    "mrm.policy_sha256",
    "mrm.evaluated_at",
    "mrm.tier",
    "mrm.break_glass",
    "mrm.report",
    "mrm.gate",
)


def is_gate_tag(key: str) -> bool:
    return key.startswith(GATE_TAG_PREFIXES)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _metric(value: Any) -> Any:
    """Numbers become floats, as MLflow stores them (so a metric read from MLflow and from its
    exported folder hashes the same); anything else (inf, NaN, a boolean, a string, a list) is
    kept as it came. The control that reads a metric refuses what is not a finite real number
    (`mrm_gate.evidence.measure`): one bad metric errors its controls, it does not stop the
    evidence from loading, so every other control still reports."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return value
    try:
        return float(value)
    except OverflowError:  # an integer beyond float range: kept, refused when read
        return value


# A run (or baseline) metric as recorded; see `_metric`.
MetricValue = Annotated[Any, BeforeValidator(_metric)]


class ModelInfo(_Strict):
    """Registered model + model version metadata."""

    name: str
    version: str | None = None
    tags: dict[str, str] = Field(default_factory=dict, description="model version tags")
    registered_model_tags: dict[str, str] = Field(default_factory=dict)
    aliases: list[str] = Field(default_factory=list)
    description: str | None = None
    registered_model_description: str | None = None
    source: str | None = None
    run_id: str | None = None
    creator: str | None = None
    created_at: dt.datetime | None = None
    stage: str | None = None

    def tag(self, key: str) -> str | None:
        """A tag from the version, falling back to the registered model (version wins)."""
        if key in self.tags:
            return self.tags[key]
        return self.registered_model_tags.get(key)


class DatasetInput(_Strict):
    """A dataset logged on the run with `mlflow.log_input` (its context names the role)."""

    name: str | None = None
    digest: str | None = None
    context: str | None = None
    source_type: str | None = None
    source: str | None = None
    schema_: str | None = Field(default=None, alias="schema")
    profile: str | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class RunInfo(_Strict):
    run_id: str | None = None
    experiment_id: str | None = None
    metrics: dict[str, MetricValue] = Field(
        default_factory=dict, description="finite numbers; anything else errors the controls "
        "that read it")
    params: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    datasets: list[DatasetInput] = Field(default_factory=list)
    artifacts: list[str] = Field(default_factory=list)
    user: str | None = None
    start_time: dt.datetime | None = None


class FileRef(_Strict):
    """A file of the evidence: relative to the evidence folder, or a run artifact path."""

    path: str
    format: str | None = None  # csv | parquet | json | yaml | md; inferred from suffix if absent
    sha256: str | None = None  # filled when the file is read or exported


class DatasetSpec(FileRef):
    """A dataset by role (reference / validation / current) with its column roles."""

    target: str | None = None
    prediction: str | None = None
    score: str | None = None
    sensitive: list[str] = Field(default_factory=list)
    features: list[str] | None = None  # None: every column that has no other role
    positive_label: Any = 1


class BaselineInfo(_Strict):
    """Metrics of the version holding a baseline alias (e.g. champion), for no-regression.

    Filled by the MLflow source on demand, and written by `evidence export` so a local folder
    reproduces the same comparison without the server.
    """

    version: str | None = None
    metrics: dict[str, MetricValue] = Field(default_factory=dict)


class Evidence(_Strict):
    """What the gate evaluates. Mirrors `evidence.yaml` of a local evidence folder."""

    # inf / NaN metrics dump as themselves (as float fields always did), not as null: the
    # content hash of evidence with a non-finite metric differs from one with a null metric.
    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="constants")

    model: ModelInfo
    run: RunInfo = Field(default_factory=RunInfo)
    model_card: dict[str, str] | None = Field(
        default=None, description="model card sections (heading -> text)"
    )
    model_card_file: str | None = None
    datasets: dict[str, DatasetSpec] = Field(default_factory=dict)
    backtest: FileRef | None = None
    model_artifact: str | None = Field(
        default=None,
        description="MLflow model directory (folder-relative, or a run artifact path); for "
        "mlflow sources the registered version itself is used when this is empty",
    )
    baselines: dict[str, BaselineInfo] = Field(
        default_factory=dict, description="alias or 'version:N' -> that version's metrics"
    )
    extra: dict[str, Any] = Field(default_factory=dict, description="free-form, hashed")

    # Provenance: not part of the content hash (the same evidence read from MLflow or from its
    # exported folder hashes the same).
    source_kind: str = "local"
    uri: str | None = None
    tracking_uri: str | None = None

    _files: FileStore | None = PrivateAttr(default=None)

    def attach_files(self, store: FileStore) -> Evidence:
        self._files = store
        return self

    def open_file(self, path: str, field: str | None = None) -> Path:
        """Local path of an evidence file, fetching it if needed. Raises EvidenceError.

        Every file of the evidence is opened through here: the store resolves it (after
        symlinks) inside its root (the evidence folder, or the folder the run's artifacts were
        downloaded to) or refuses it. `field` names where the path came from
        (`datasets.validation.path`), so a refusal says which entry to fix.
        """
        from ..errors import EvidenceError

        if self._files is None:
            raise EvidenceError(f"evidence has no file store; cannot read {path!r}")
        if field is None:
            return self._files.fetch(path)
        try:
            return self._files.fetch(path)
        except EvidenceError as exc:
            raise EvidenceError(f"{field}: {exc.message}", exc.items) from None

    def content_sha256(self) -> str:
        """SHA-256 of the evidence content, stable across sources and gate-written tags."""
        data = self.model_dump(
            mode="json", exclude={"source_kind", "uri", "tracking_uri"}, by_alias=True
        )
        data["model"]["tags"] = {
            k: v for k, v in data["model"]["tags"].items() if not is_gate_tag(k)
        }
        data["model"].pop("aliases", None)  # aliases move when a promotion happens
        data.pop("baselines", None)  # the champion's metrics are not this version's evidence
        for ref in [*data.get("datasets", {}).values(), data.get("backtest") or {}]:
            ref.pop("sha256", None)  # file digests are recorded by export, not by every source
        blob = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(blob.encode()).hexdigest()


class FileStore(Protocol):
    """Where an evidence source keeps its files (local folder or MLflow run artifacts).

    `fetch` returns a real local path that resolves inside the store's root, or raises
    EvidenceError (use `mrm_gate.evidence.containment`); it never follows a path out.
    """

    def fetch(self, path: str) -> Path: ...

    def describe(self) -> str: ...
