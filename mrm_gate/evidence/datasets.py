"""Datasets by role, read once per evaluation and shared by every check.

A check asks `load_dataset(ctx, "validation")` and gets a `Dataset`: the frame, its column roles
(from the evidence's `DatasetSpec`), and per-column preparations (sorted numeric samples,
category codes) cached on the object, so drift, fairness and data quality all reuse one read and
one sort. Frames are cached in `ctx.cache` under the file's SHA-256: two roles pointing at the
same bytes share one frame, and a file that changed under a declared `sha256` is an error.

Sources, in order: the evidence's `datasets:` entry for the role (a local-folder file, a run
artifact, or `mlflow-input:<name-or-context>` for a dataset logged with `mlflow.log_input`), else
a dataset input of the run whose context is the role (its source must be a readable file).

Predictions come from the declared `prediction` / `score` column; otherwise the model version is
loaded with `mlflow.pyfunc`, which unpickles (runs) its code, so only when
`ctx.options.trust_model_code` is true, and every result that used it says so in its notes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CheckError, EvidenceError
from .model import DatasetSpec

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from ..controls.context import CheckContext
    from ..stats import SortedSample

INPUT_PREFIX = "mlflow-input:"
PARQUET_MAGIC = b"PAR1"
_HASH_CHUNK = 1 << 22


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Dataset:
    """One dataset of the evidence with its column roles and cached column preparations."""

    role: str
    spec: DatasetSpec
    frame: pd.DataFrame
    sha256: str
    source: str  # what the report shows as evidence_file
    _prepared: dict[Any, Any] = field(default_factory=dict, repr=False)

    @property
    def n_rows(self) -> int:
        return len(self.frame)

    @property
    def columns(self) -> list[str]:
        return [str(c) for c in self.frame.columns]

    def describe(self) -> str:
        return f"dataset {self.role!r} ({self.source})"

    def require(self, *names: str | None, why: str = "") -> None:
        """Raise a CheckError naming every missing column (and what exists instead)."""
        missing = [n for n in names if n is not None and n not in self.frame.columns]
        if missing:
            shown = ", ".join(self.columns[:30]) + (" ..." if len(self.columns) > 30 else "")
            raise CheckError(
                f"{self.describe()} has no column {', '.join(map(repr, missing))}"
                f"{' ' + why if why else ''}; its columns are: {shown}"
            )

    def column(self, name: str) -> pd.Series:
        self.require(name)
        return self.frame[name]

    def role_columns(self) -> set[str]:
        s = self.spec
        return {c for c in (s.target, s.prediction, s.score, *s.sensitive) if c}

    def feature_names(self) -> list[str]:
        """Declared features, else every column without another role."""
        if self.spec.features is not None:
            return list(self.spec.features)
        roles = self.role_columns()
        return [c for c in self.columns if c not in roles]

    def is_numeric(self, name: str) -> bool:
        import pandas as pd

        dtype = self.column(name).dtype
        return bool(pd.api.types.is_numeric_dtype(dtype)) and not pd.api.types.is_bool_dtype(
            dtype)

    def sorted(self, name: str) -> SortedSample:
        """The column as a sorted NaN-free sample (computed once, shared by every check)."""
        key = ("sorted", name)
        if key not in self._prepared:
            from ..stats import sorted_sample

            self._prepared[key] = sorted_sample(self.column(name).to_numpy(dtype="float64",
                                                                          na_value=float("nan")))
        return self._prepared[key]

    def codes(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Integer category codes (-1 = missing) and the category values, computed once."""
        key = ("codes", name)
        if key not in self._prepared:
            from ..stats import codes_and_uniques

            self._prepared[key] = codes_and_uniques(self.column(name))
        return self._prepared[key]

    def positive(self, name: str) -> np.ndarray:
        """Boolean array: the column equals the dataset's positive label."""
        import numpy as np

        col = self.column(name)
        label = self.spec.positive_label
        out = (col == label).to_numpy()
        if not out.any() and isinstance(label, (int, float)) and col.dtype == object:
            out = (col.astype(str) == str(label)).to_numpy()
        return np.asarray(out, dtype=bool)


# ----------------------------------------------------------------------------- loading


def load_dataset(ctx: CheckContext, role: str) -> Dataset:
    """The evidence's dataset for `role`, read once per evaluation (cached in `ctx.cache`)."""
    key = f"dataset-role:{role}"
    if key in ctx.cache:
        return ctx.cache[key]
    spec = _spec_for_role(ctx, role)
    path, source = _resolve_path(ctx, spec, role)
    sha = _content_hash(ctx, path)
    if spec.sha256 and spec.sha256.lower() != sha:
        raise CheckError(
            f"dataset {role!r} ({source}) has SHA-256 {sha[:12]}..., not the {spec.sha256[:12]}..."
            " declared in the evidence: the file changed after the evidence was recorded"
        )
    fmt = _format(spec, path)
    frame_key = f"dataset-frame:{sha}:{fmt}"
    if frame_key not in ctx.cache:
        ctx.cache[frame_key] = _read_frame(path, fmt, role, source)
    frame = ctx.cache[frame_key]
    ds = Dataset(role=role, spec=spec, frame=frame, sha256=sha, source=source)
    _validate(ds)
    ctx.cache[key] = ds
    return ds


def _spec_for_role(ctx: CheckContext, role: str) -> DatasetSpec:
    ev = ctx.evidence
    if role in ev.datasets:
        return ev.datasets[role]
    logged = [d for d in ev.run.datasets if d.context == role]
    if logged:
        return DatasetSpec(path=INPUT_PREFIX + (logged[0].name or role))
    declared = ", ".join(sorted(ev.datasets)) or "none"
    inputs = ", ".join(sorted({d.context or d.name or "?" for d in ev.run.datasets})) or "none"
    raise CheckError(
        f"the evidence has no {role!r} dataset (declared datasets: {declared}; run dataset "
        f"inputs by context: {inputs}); add `datasets: {{{role}: {{path: ...}}}}` to the "
        "evidence (evidence.yaml or the run artifact mrm/evidence.yaml) or log it with "
        f"mlflow.log_input(..., context={role!r})"
    )


def _resolve_path(ctx: CheckContext, spec: DatasetSpec, role: str) -> tuple[Path, str]:
    if not spec.path.startswith(INPUT_PREFIX):
        try:
            return ctx.evidence.open_file(spec.path, f"datasets.{role}.path"), spec.path
        except EvidenceError as exc:
            raise CheckError(f"dataset {role!r}: {exc}") from None
    wanted = spec.path[len(INPUT_PREFIX):]
    matches = [d for d in ctx.evidence.run.datasets if wanted in (d.name, d.context)]
    if not matches:
        raise CheckError(f"dataset {role!r} names the logged input {wanted!r}, but the run has "
                         "no dataset input with that name or context")
    d = matches[0]
    uri = _source_uri(d.source)
    if uri is None:
        raise CheckError(f"dataset {role!r}: logged input {wanted!r} has no file source "
                         f"({d.source_type}); log it with a file or run-artifact source")
    return _fetch_uri(ctx, uri, role, f"run.datasets[{wanted!r}].source"), uri


def _source_uri(source: str | None) -> str | None:
    """The location in a logged dataset's source (a plain string, or MLflow's JSON with
    `uri` / `url` / `path`); None when it names none."""
    if not source:
        return None
    try:
        data = json.loads(source)
    except ValueError:
        return source
    if isinstance(data, dict):
        for key in ("uri", "url", "path"):
            if isinstance(data.get(key), str) and data[key]:
                return data[key]
    return None


def _fetch_uri(ctx: CheckContext, uri: str, role: str, field: str) -> Path:
    """The local file of a logged dataset's source, read only from inside the evidence.

    `runs:/<this run>/path` and plain or `file://` paths go through the evidence's file store,
    which refuses what resolves outside the evidence folder or the run's artifacts (an
    absolute path on the machine running the gate, `..`, a symlink). Other runs' artifacts and
    remote URIs are refused: the evidence of a version is its own run's.
    """
    from urllib.parse import unquote, urlparse

    run_id = ctx.evidence.model.run_id or ctx.evidence.run.run_id
    if uri.startswith("runs:/"):
        rid, _, rel = uri[len("runs:/"):].partition("/")
        if rid != run_id or not rel:
            raise CheckError(
                f"dataset {role!r}: {field} {uri!r} is not an artifact of this version's run "
                f"({run_id}); the gate reads only the evidence of the version itself: log the "
                "dataset as an artifact of the model's run"
            )
        local = rel
    elif uri.startswith("file:"):
        parsed = urlparse(uri)
        if parsed.netloc not in ("", "localhost"):
            raise CheckError(f"dataset {role!r}: {field} {uri!r} is on another host; log the "
                             "dataset as a run artifact")
        local = unquote(parsed.path)
    elif "://" in uri or uri.startswith(("s3:", "gs:", "http:", "https:", "dbfs:")):
        raise CheckError(f"dataset {role!r}: logged source {uri} is remote; the gate reads "
                         "only files and run artifacts (log the dataset as a run artifact)")
    else:
        local = uri
    try:
        return ctx.evidence.open_file(local, field)
    except EvidenceError as exc:
        raise CheckError(f"dataset {role!r}: {exc}") from None


def _content_hash(ctx: CheckContext, path: Path) -> str:
    st = path.stat()
    key = f"dataset-sha:{path}:{st.st_size}:{st.st_mtime_ns}"
    if key not in ctx.cache:
        ctx.cache[key] = file_sha256(path)
    return ctx.cache[key]


def _format(spec: DatasetSpec, path: Path) -> str:
    fmt = (spec.format or "").lower()
    if not fmt:
        suffixes = [s.lower() for s in path.suffixes]
        if suffixes[-1:] in ([".parquet"], [".pq"]):
            fmt = "parquet"
        elif ".csv" in suffixes:
            fmt = "csv"
        else:
            raise CheckError(f"cannot tell the format of dataset file {path.name}; name it "
                             "*.csv or *.parquet or set `format:` on the dataset")
    if fmt not in ("csv", "parquet"):
        raise CheckError(f"dataset format {fmt!r} is not supported (csv or parquet)")
    return fmt


def _read_frame(path: Path, fmt: str, role: str, source: str) -> pd.DataFrame:
    """The dataset as a frame. A parser's message quotes the bad line of the file, so only its
    error class and position reach the user (`containment.parse_error_text`)."""
    import pandas as pd

    from .containment import parse_error_text

    if fmt == "parquet":
        with path.open("rb") as fh:
            head = fh.read(4)
            fh.seek(max(0, path.stat().st_size - 4))
            tail = fh.read(4)
        if head != PARQUET_MAGIC or tail != PARQUET_MAGIC:
            raise CheckError(f"dataset {role!r} ({source}) is not a Parquet file (no PAR1 "
                             "magic bytes); re-export it with DataFrame.to_parquet or declare "
                             "its real format")
        try:
            return pd.read_parquet(path)
        except Exception as exc:
            raise CheckError(f"dataset {role!r} ({source}) cannot be read as Parquet: "
                             f"{parse_error_text(exc)}") from None
    try:
        try:
            return pd.read_csv(path, engine="pyarrow")
        except ImportError:
            return pd.read_csv(path)
    except Exception as exc:
        raise CheckError(f"dataset {role!r} ({source}) cannot be read as CSV: "
                         f"{parse_error_text(exc)}") from None


def _validate(ds: Dataset) -> None:
    """Declared columns must exist and the dataset must have rows."""
    s = ds.spec
    declared = [c for c in (s.target, s.prediction, s.score, *s.sensitive, *(s.features or []))
                if c]
    ds.require(*declared, why="(declared in the evidence's dataset spec)")
    if ds.n_rows == 0:
        raise CheckError(f"{ds.describe()} has no rows")


# ----------------------------------------------------------------------------- predictions


@dataclass
class LoadedModel:
    uri: str
    pyfunc: Any
    raw: Any  # the flavor's native model (e.g. sklearn estimator) when available
    note: str

    def input_columns(self, ds: Dataset) -> list[str]:
        try:
            schema = self.pyfunc.metadata.get_input_schema()
            names = schema.input_names() if schema is not None else None
        except Exception:
            names = None
        return [str(n) for n in names] if names else ds.feature_names()


def model_uri(ctx: CheckContext) -> str:
    """Where the model is, as the evidence source says (a local folder after download)."""
    ev = ctx.evidence
    source = ctx.source
    if source is None:  # evidence built in memory: the source its kind names
        from .source import SourceSettings, open_source

        source = open_source("models:/" if ev.source_kind == "mlflow" else ".",
                             settings=SourceSettings(tracking_uri=ev.tracking_uri))
    try:
        return source.model_location(ev)
    except EvidenceError as exc:
        raise CheckError(f"model artifact {ev.model_artifact or ev.model.name!r}: {exc}") \
            from None


def load_model(ctx: CheckContext, *, why: str) -> LoadedModel:
    """Load the model version with mlflow.pyfunc: only when model code is trusted."""
    if not ctx.options.trust_model_code:
        raise CheckError(
            f"{why}; loading the MLflow model unpickles and runs its code, which the gate does "
            "only when told the source is trusted (--trust-model-code / trust_model_code: true)"
        )
    uri = model_uri(ctx)
    key = f"model:{uri}"
    if key in ctx.cache:
        cached = ctx.cache[key]
        if isinstance(cached, CheckError):
            raise cached
        return cached
    try:
        import mlflow.pyfunc

        with _quiet():
            pyfunc = mlflow.pyfunc.load_model(uri)
    except Exception as exc:
        err = CheckError(f"the model {uri} cannot be loaded: {type(exc).__name__}: "
                         f"{str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ''}")
        ctx.cache[key] = err
        raise err from None
    try:
        raw = pyfunc.get_raw_model()
    except Exception:
        raw = None
    note = f"model {uri} was loaded with mlflow.pyfunc (trusted model code)"
    loaded = LoadedModel(uri=uri, pyfunc=pyfunc, raw=raw, note=note)
    ctx.cache[key] = loaded
    return loaded


@dataclass
class SampledInputs:
    """A check's view of the model's inputs: the dataset, the model, its input columns, the
    sampled rows, and the generator (its state after sampling) for the check's further draws."""

    ds: Any
    loaded: LoadedModel
    cols: list[str]
    frame: Any
    rng: Any
    seed: int


def model_input_sample(ctx: CheckContext, dataset: str, *, why: str, sample_size: int,
                       seed: int | None, what: str) -> SampledInputs:
    """The dataset, the trusted model, its input columns and a seeded sample of its input rows
    (sorted row order, so a sample is the same whatever the engine): what every check that
    explores the model's response (SHAP, sensitivity) starts from. A column entirely missing in
    the sample is an error: its distribution cannot be explored."""
    import numpy as np

    ds = load_dataset(ctx, dataset)
    loaded = load_model(ctx, why=why)
    cols = loaded.input_columns(ds)
    ds.require(*cols, why="(an input of the model's signature)")
    seed = ctx.options.seed if seed is None else seed
    rng = np.random.default_rng(seed)
    n = min(sample_size, ds.n_rows)
    rows = np.sort(rng.choice(ds.n_rows, size=n, replace=False))
    frame = ds.frame.iloc[rows][cols].reset_index(drop=True)
    empty = [c for c in cols if frame[c].isna().all()]
    if empty:
        raise CheckError(f"input(s) {empty} are entirely missing (all NaN) in the {what} "
                         f"sample of {ds.describe()}")
    return SampledInputs(ds, loaded, cols, frame, rng, seed)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    import logging
    import warnings

    logger = logging.getLogger("mlflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


@dataclass
class Values:
    """A column of model output for a dataset, and the note to report if the model ran."""

    values: np.ndarray
    note: str | None = None


def model_output(ctx: CheckContext, ds: Dataset, kind: str) -> Values:
    """Predictions (`kind="prediction"`) or positive-class scores (`kind="score"`).

    From the declared column when there is one, else by running the (trusted) model on the
    dataset's model input columns, checking that it returns one value per row.
    """
    import numpy as np

    column = ds.spec.prediction if kind == "prediction" else ds.spec.score
    if column:
        return Values(ds.column(column).to_numpy())
    key = ("model-output", kind)
    if key in ds._prepared:
        return ds._prepared[key]
    model = load_model(ctx, why=f"{ds.describe()} declares no {kind} column")
    cols = model.input_columns(ds)
    ds.require(*cols, why="(an input of the model's signature)")
    X = ds.frame[cols]
    try:
        with _quiet():
            if kind == "score":
                if model.raw is None or not hasattr(model.raw, "predict_proba"):
                    raise CheckError(f"{ds.describe()} declares no score column and the model "
                                     "has no predict_proba; declare `score:` on the dataset")
                out = np.asarray(model.raw.predict_proba(X))
                if out.ndim == 2:
                    classes = list(getattr(model.raw, "classes_", range(out.shape[1])))
                    label = ds.spec.positive_label
                    idx = classes.index(label) if label in classes else out.shape[1] - 1
                    out = out[:, idx]
            else:
                out = np.asarray(model.pyfunc.predict(X))
    except CheckError:
        raise
    except Exception as exc:
        raise CheckError(f"the model {model.uri} failed to predict on {ds.describe()}: "
                         f"{type(exc).__name__}: {str(exc)[:300]}") from None
    if out.ndim == 2 and out.shape[1] == 1:
        out = out[:, 0]
    if out.ndim != 1 or out.shape[0] != ds.n_rows:
        raise CheckError(f"the model {model.uri} returned shape {tuple(out.shape)} for "
                         f"{ds.n_rows} rows of {ds.describe()}; expected one {kind} per row")
    values = Values(out, model.note)
    ds._prepared[key] = values
    return values


# ----------------------------------------------------------------------------- progress


@contextlib.contextmanager
def task_progress(ctx: CheckContext, description: str, total: int) -> Iterator[Any]:
    """A transient rich progress bar on stderr when `ctx.options.progress`; yields
    `advance(n=1)`. Silent otherwise, and when another live display (e.g. the CLI's bar over
    the controls) is already running: two would overwrite each other's lines."""
    if not ctx.options.progress or total <= 1 or os.environ.get("MRM_GATE_NO_PROGRESS"):
        yield lambda n=1: None
        return
    from rich.console import Console
    from rich.file_proxy import FileProxy
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    if isinstance(sys.stderr, FileProxy) or isinstance(sys.stdout, FileProxy):
        yield lambda n=1: None  # a rich live display redirects the streams while it runs
        return

    progress = Progress(TextColumn(f"  {ctx.control_id} {description}"), BarColumn(),
                        TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                        console=Console(stderr=True), transient=True)
    try:
        progress.start()
    except Exception:  # rich.errors.LiveError: the CLI already shows a live display
        yield lambda n=1: None
        return
    task = progress.add_task(description, total=total)
    try:
        yield lambda n=1: progress.advance(task, n)
    finally:
        progress.stop()
