"""Write evidence as a self-contained, reproducible folder (`evidence.yaml` + files + digests).

Why: a decision must be reproducible without the server (an auditor, a pull request, a
regulator's copy). Evaluating the exported folder gives the same verdict, the same outcome per
control and the same evidence hash as evaluating the source, so the folder holds everything the
checks read:

* every file the evidence names (datasets, logged dataset inputs that are run files, the
  backtest, the model card file or the card found among the run's artifacts), at the same
  relative path, so `evidence.yaml` stays byte-for-byte the same evidence (same content hash);
* files the caller adds (`extra_files`: e.g. the Great Expectations suites a policy names);
* the model, when asked: the evidence's `model_artifact`, or the registered version's own model
  (MLflow 3 logged models live outside the run) under `mrm-export/model`;
* baselines: the metrics of the version holding each alias (or `version:N`) asked for, so
  no-regression compares against the same numbers offline;
* `mrm-export.json`: the manifest: provenance, the SHA-256 of every file written, where the
  model is, which aliases were looked up and who held them, and what could not be exported
  and why.

Gate-written `mrm.*` tags (`is_gate_tag`) stay out. Every path comes from data, so it is opened
through the evidence's file store (contained in the evidence) and written only as a relative
path without `..` below the new folder. The folder is built under a temporary name next to
`--out` and renamed into place at the end: a failed export leaves nothing, an existing file is
never overwritten, and the result is checked (the folder's evidence must hash as the source's)
before it is published.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..errors import EvidenceError, UserError
from .model import BaselineInfo, Evidence, is_gate_tag

if TYPE_CHECKING:
    from .source import EvidenceSource

MANIFEST = "mrm-export.json"
EXPORT_DIR = "mrm-export"  # files the evidence gives no path for (the registered model)
EXPORTED_MODEL_DIR = f"{EXPORT_DIR}/model"
FORMAT = "mrm-gate/evidence-export/v1"
RESERVED = ("evidence.yaml", "evidence.yml", MANIFEST)
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
INPUT_PREFIX = "mlflow-input:"
CARD_NAMES = ("model_card.md", "model_card.yaml", "model_card.yml", "MODEL_CARD.md")

IncludeModel = bool | Literal["auto"]


@dataclass(frozen=True)
class BundleFile:
    """A file to put into the bundle at `path` (relative, no `..`).

    Read from the evidence (`local` is None: through the evidence's file store, contained) or
    from `local`, a file the caller vouches for (a suite the policy names, relative to the
    working directory). `why` says which control or field reads it (for the manifest).
    """

    path: str
    local: Path | None = None
    why: str = ""


@dataclass
class _Plan:
    files: dict[str, tuple[Path, str]] = field(default_factory=dict)  # rel -> (local, why)
    skipped: list[dict[str, str]] = field(default_factory=list)

    def skip(self, path: str, why: str, reason: str) -> None:
        self.skipped.append({"path": path, "read_by": why, "reason": reason})


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_destination(out: str | Path) -> Path:
    """`out` as a new (or empty) folder, or UserError: nothing a user had is overwritten."""
    dest = Path(out)
    if dest.is_symlink() or (dest.exists() and (not dest.is_dir() or any(dest.iterdir()))):
        raise UserError(f"{dest} exists and is not an empty folder; choose a new --out "
                        "(an export never overwrites)")
    return dest


def _shown(text: object) -> str:
    """A value from data for a comment line: JSON-escaped (no newline can start a YAML key)."""
    return json.dumps(str(text), ensure_ascii=True)[1:-1]


def _redacted_uri(uri: str | None) -> str | None:
    """A tracking URI without credentials (`https://user:token@host` -> `https://host`)."""
    if not uri:
        return uri
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(uri)
    except ValueError:
        return "<unparseable URI>"
    if parts.username or parts.password:
        host = parts.hostname or ""
        netloc = host + (f":{parts.port}" if parts.port else "")
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


class ReservedName(EvidenceError):
    """An evidence file named like a file the export writes itself."""


def _relative(path: str, what: str) -> str:
    """`path` as written into the bundle: relative, no `..`, not a name the export reserves."""
    from .containment import check_relative

    pure = check_relative(path, what)
    rel = pure.as_posix()
    if rel in RESERVED or rel == EXPORT_DIR or rel.startswith(EXPORT_DIR + "/"):
        raise ReservedName(f"{what} {path!r} uses a name the export reserves "
                            f"({', '.join(RESERVED)}, {EXPORT_DIR}/); rename the file in the "
                            "evidence")
    return rel


# ----------------------------------------------------------------------------- what is read


def _input_file(source: str | None, run_id: str | None) -> str | None:
    """The run file a logged dataset input reads (as `datasets._fetch_uri` does), or None when
    it names none the gate would read (remote, another run's artifact, no source)."""
    from urllib.parse import unquote, urlparse

    from .datasets import _source_uri

    uri = _source_uri(source)
    if uri is None:
        return None
    if uri.startswith("runs:/"):
        rid, _, rel = uri[len("runs:/"):].partition("/")
        return rel if rid == run_id and rel else None
    if uri.startswith("file:"):
        parsed = urlparse(uri)
        return unquote(parsed.path) if parsed.netloc in ("", "localhost") else None
    if "://" in uri or uri.startswith(("s3:", "gs:", "http:", "https:", "dbfs:")):
        return None
    return uri


def evidence_files(evidence: Evidence) -> list[tuple[str, str]]:
    """Every file the evidence names that a check may read: (path as named, who names it)."""
    out: list[tuple[str, str]] = []
    run_id = evidence.model.run_id or evidence.run.run_id
    for role, spec in evidence.datasets.items():
        if spec.path.startswith(INPUT_PREFIX):
            continue  # the logged input it names is listed below
        out.append((spec.path, f"datasets.{role}.path"))
    for i, d in enumerate(evidence.run.datasets):
        rel = _input_file(d.source, run_id)
        if rel is not None:
            out.append((rel, f"run.datasets[{i}].source ({d.context or d.name or '?'})"))
    if evidence.backtest is not None:
        out.append((evidence.backtest.path, "backtest.path"))
    if evidence.model_card is None:
        if evidence.model_card_file:
            out.append((evidence.model_card_file, "model_card_file"))
        else:
            card = next((n for n in CARD_NAMES if n in evidence.run.artifacts), None)
            if card:
                out.append((card, "model card among the run's artifacts"))
    return out


def _stage(plan: _Plan, evidence: Evidence, path: str, why: str,
           local: Path | None = None) -> None:
    """Fetch one file (before anything is written) or note why it cannot be exported."""
    try:
        rel = _relative(path, why)
    except ReservedName:
        raise
    except EvidenceError as exc:
        plan.skip(path, why, f"{exc.message} (a check refuses it too)")
        return
    if rel in plan.files:
        return
    try:
        src = local if local is not None else evidence.open_file(path, why)
    except EvidenceError as exc:
        plan.skip(path, why, exc.message)
        return
    if not src.is_file():
        plan.skip(path, why, "not a regular file")
        return
    plan.files[rel] = (src, why)


# ----------------------------------------------------------------------------- the model


def model_folder(evidence: Evidence, source: EvidenceSource | None) -> tuple[Path, str]:
    """The local folder of the evidence's MLflow model and where it came from.

    `model_artifact` (a run artifact folder, or a folder of a local evidence folder), else the
    source's own location of the model (for MLflow: the registered version's model, which
    for MLflow 3 logged models is `models:/m-...`, not a run artifact). EvidenceError saying
    why when there is none or it cannot be read.
    """
    from .containment import check_tree

    origin = evidence.model.source or evidence.model_artifact or "the evidence"
    folder: Path | None = None
    if evidence.model_artifact:
        try:  # a run artifact folder is downloaded whole through the run's store
            got = evidence.open_file(evidence.model_artifact.rstrip("/"), "model_artifact")
            folder = got if got.is_dir() else None
        except EvidenceError:
            folder = None
        origin = evidence.model_artifact
    if folder is None:
        if source is None:
            raise EvidenceError("no evidence source to locate the model with")
        folder = Path(source.model_location(evidence))
    if not (folder / "MLmodel").is_file():
        raise EvidenceError(f"{origin} holds no MLflow model (no MLmodel file)")
    check_tree(folder, folder, f"the model {origin}", where="the model folder")
    return folder, origin


def exported_model_location(evidence: Evidence) -> str | None:
    """The model folder an export put into a local evidence folder (the manifest's
    `model.path`), or None when the folder has no exported model. Read through the evidence's
    file store, so the manifest (hostile like any file) cannot point outside the folder."""
    from .containment import check_tree

    try:
        manifest = evidence.open_file(MANIFEST)
    except EvidenceError:
        return None
    data = _read_manifest_file(manifest)
    model = data.get("model") if isinstance(data, dict) else None
    path = model.get("path") if isinstance(model, dict) else None
    if not isinstance(path, str) or not path:
        return None
    mlmodel = evidence.open_file(path.rstrip("/") + "/MLmodel", f"{MANIFEST} model.path")
    folder = mlmodel.parent
    check_tree(folder, folder, f"the exported model {path!r}", where="the model folder")
    return str(folder)


def _read_manifest_file(path: Path) -> Any:
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise EvidenceError(f"{MANIFEST} is larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise EvidenceError(f"{MANIFEST} is not valid JSON ({type(exc).__name__})") from None


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The manifest of an exported folder (for the CLI summary and tests)."""
    data = _read_manifest_file(Path(folder) / MANIFEST)
    if not isinstance(data, dict):
        raise EvidenceError(f"{MANIFEST} in {folder} is not a JSON object")
    return data


# ----------------------------------------------------------------------------- baselines


def _baselines(evidence: Evidence, keys: Sequence[str],
               resolve: Callable[..., Evidence | None] | None
               ) -> tuple[dict[str, BaselineInfo], dict[str, str | None]]:
    """Baselines for `keys` (aliases, or `version:N`): the recorded ones plus those looked up.

    Returns the `baselines:` to write and, per key, the version that held it (None: no
    version did when the export ran). A registry that cannot be read fails the export
    (EvidenceError): a bundle without the baseline would skip what the gate compares."""
    out = dict(evidence.baselines)
    held: dict[str, str | None] = {}
    for key in dict.fromkeys(keys):
        if not isinstance(key, str) or not key.strip():
            raise UserError(f"baseline alias {key!r} is empty")
        if key in out:
            held[key] = out[key].version
            continue
        if resolve is None:
            held[key] = None
            continue
        if key.startswith("version:"):
            other = resolve(alias=None, version=key[len("version:"):])
        else:
            other = resolve(alias=key, version=None)
        if other is None:
            held[key] = None
            continue
        out[key] = BaselineInfo(version=other.model.version, metrics=dict(other.run.metrics))
        held[key] = other.model.version
    return out, held


# ----------------------------------------------------------------------------- export


def export_evidence(
    evidence: Evidence,
    out: str | Path,
    *,
    source: EvidenceSource | None = None,
    baseline: Callable[..., Evidence | None] | None = None,
    include_model: IncludeModel = False,
    baseline_aliases: Sequence[str] = ("champion",),
    extra_files: Sequence[str | BundleFile] = (),
) -> Path:
    """Export `evidence` to `out` (a new or empty folder). Returns the evidence.yaml path.

    `source` is where the evidence came from (baselines, the model); `baseline` is the older
    form (a resolver `baseline(alias=..., version=...)`) and is used when no source is given.
    `include_model`: True exports the model or fails saying why; "auto" exports it when it can
    and records why not in the manifest. `baseline_aliases`: aliases or `version:N` whose
    holder's metrics are recorded. `extra_files`: more files, as evidence paths or
    `BundleFile`s. Raises UserError (exit 2) for a bad destination or a model that cannot be
    exported, EvidenceError when the evidence cannot be read faithfully.
    """
    dest = check_destination(out)
    resolve = baseline
    if resolve is None and source is not None:
        resolve = source.baseline_resolver(evidence)

    # 1. read everything first: a failure leaves nothing behind
    plan = _Plan()
    for path, why in evidence_files(evidence):
        _stage(plan, evidence, path, why)
    for item in extra_files:
        f = item if isinstance(item, BundleFile) else BundleFile(str(item), why="extra file")
        _stage(plan, evidence, f.path, f.why or "extra file", f.local)
    model_src: tuple[Path, str, str] | None = None  # (folder, origin, rel)
    model_note: str | None = None
    if include_model:
        try:
            folder, origin = model_folder(evidence, source)
            rel = (_relative(evidence.model_artifact.rstrip("/"), "model_artifact")
                   if evidence.model_artifact else EXPORTED_MODEL_DIR)
            model_src = (folder, origin, rel)
        except EvidenceError as exc:
            who = f"{evidence.model.name!r} version {evidence.model.version}"
            source_hint = (f" (registered source {evidence.model.source})"
                           if evidence.model.source else "")
            model_note = f"the model of {who}{source_hint} cannot be exported: {exc.message}"
            if include_model is True:
                raise UserError(model_note + "; export without --include-model, or fix the "
                                "model's registration") from None
            plan.skip(evidence.model_artifact or EXPORTED_MODEL_DIR, "the model", exc.message)
    baselines, held = _baselines(evidence, baseline_aliases, resolve)

    # 2. write into a private sibling folder, check it, then rename it into place
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.{uuid.uuid4().hex[:12]}.partial"
    tmp.mkdir()
    try:
        digests = _write_files(tmp, plan, model_src)
        # a copy of the data only: the file store (downloads, an HTTP connection) stays behind
        data = type(evidence).model_validate(evidence.model_dump(by_alias=True,
                                                                 exclude_unset=True))
        data.model.tags = {k: v for k, v in evidence.model.tags.items() if not is_gate_tag(k)}
        for spec in [*data.datasets.values(), data.backtest]:
            if spec is not None and not spec.sha256 and spec.path in digests:
                spec.sha256 = digests[spec.path]  # a declared digest is kept: it is checked
        if baselines:
            data.baselines = baselines
        _write_evidence_yaml(tmp, data, evidence)
        manifest = _manifest(evidence, digests, plan, held, model_src, model_note)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n",
                                    encoding="utf-8")
        _verify(tmp, evidence)
        _publish(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest / "evidence.yaml"


def _write_files(root: Path, plan: _Plan,
                 model_src: tuple[Path, str, str] | None) -> dict[str, str]:
    digests: dict[str, str] = {}
    for rel, (src, why) in plan.files.items():
        target = root / rel
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)
        except OSError as exc:  # a file and a folder of the same name, ...
            raise EvidenceError(f"{why} {rel!r} cannot be written into the export: "
                                f"{exc.strerror or exc}") from None
        digests[rel] = _sha256(target)
    if model_src is not None:
        folder, _, rel = model_src
        target = root / rel
        if target.exists():
            raise EvidenceError(f"the model folder {rel!r} collides with an evidence file")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(folder, target, symlinks=False)  # links were checked to stay inside
        for p in sorted(target.rglob("*")):
            if p.is_file():
                digests[p.relative_to(root).as_posix()] = _sha256(p)
    return digests


def _write_evidence_yaml(root: Path, data: Evidence, original: Evidence) -> None:
    import yaml

    # exclude_unset, not exclude_defaults: a value equal to its default but of another type
    # (positive_label 1.0 vs 1) must stay, or the folder would hash differently
    body = data.model_dump(mode="json", exclude={"source_kind", "uri", "tracking_uri"},
                           exclude_unset=True, by_alias=True)
    at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    header = (f"# Evidence exported by mrm-gate from {_shown(original.uri)} "
              f"(tracking URI {_shown(_redacted_uri(original.tracking_uri))}) at {at}.\n"
              f"# Content hash (checked equal to the source's): "
              f"{original.content_sha256()}\n"
              f"# File digests and what was not exported: {MANIFEST}\n")
    (root / "evidence.yaml").write_text(
        header + yaml.safe_dump(body, sort_keys=False, allow_unicode=True), encoding="utf-8")


def _manifest(evidence: Evidence, digests: dict[str, str], plan: _Plan,
              held: dict[str, str | None], model_src: tuple[Path, str, str] | None,
              model_note: str | None) -> dict[str, Any]:
    from .. import __version__

    model: dict[str, Any] | None = None
    if model_src is not None:
        _, origin, rel = model_src
        model = {"path": rel, "from": origin,
                 "files": sum(1 for k in digests if k.startswith(rel + "/"))}
    return {
        "format": FORMAT,
        "exported_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "tool_version": __version__,
        "source": {"kind": evidence.source_kind, "uri": evidence.uri,
                   "tracking_uri": _redacted_uri(evidence.tracking_uri)},
        "model_version": {"name": evidence.model.name, "version": evidence.model.version},
        "evidence_sha256": evidence.content_sha256(),
        "files": {rel: {"sha256": sha,
                        "read_by": plan.files[rel][1] if rel in plan.files else "the model"}
                  for rel, sha in digests.items()},
        "model": model,
        "model_not_exported": model_note,
        "baselines": held,  # alias or version:N -> version that held it (None: no version)
        "not_exported": plan.skipped,
    }


def add_manifest_context(folder: str | Path, context: Mapping[str, Any]) -> None:
    """Record what an export was for (a policy, a target) in the manifest of a folder that
    `export_evidence` just created."""
    path = Path(folder) / MANIFEST
    data = read_manifest(folder) if path.is_file() else {"format": FORMAT}  # a source's own export
    data["context"] = dict(context)
    tmp = path.with_name(f".{MANIFEST}.{uuid.uuid4().hex[:8]}")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _verify(root: Path, evidence: Evidence) -> None:
    """The folder's evidence must hash as the source's, or nothing is published."""
    from .local import load_local_evidence

    try:
        local = load_local_evidence(root)
    except EvidenceError as exc:
        raise EvidenceError(f"the exported evidence cannot be read back ({exc.message}); "
                            "nothing was written", exc.items) from None
    got, want = local.content_sha256(), evidence.content_sha256()
    if got != want:
        raise EvidenceError(f"the exported evidence hashes {got[:12]}..., not the source's "
                            f"{want[:12]}...; it would not reproduce the decision, so nothing "
                            "was written (please report this)")


def _publish(tmp: Path, dest: Path) -> None:
    """Rename the finished folder into place; an existing non-empty `dest` is never replaced
    (rename(2) replaces only an empty folder)."""
    try:
        os.rename(tmp, dest)  # atomic; fails if something appeared in dest meanwhile
    except OSError as exc:
        raise UserError(f"{dest} cannot be created ({exc.strerror or exc}); it must not exist "
                        "or be an empty folder") from None
