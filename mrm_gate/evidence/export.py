"""Write evidence as a local folder (`evidence.yaml` + files), so a decision can be reproduced
without the server and a pull request can carry its evidence."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from pathlib import Path

import yaml

from ..errors import UserError
from .model import BaselineInfo, Evidence


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def export_evidence(evidence: Evidence, out: str | Path, *, baseline=None,
                    baseline_aliases: tuple[str, ...] = ("champion",),
                    include_model: bool = False) -> Path:
    """Export to `out` (must not exist or be empty). Returns the evidence.yaml path."""
    dest = Path(out)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise UserError(f"{dest} exists and is not an empty folder; choose a new --out")
    files: list[str] = [d.path for d in evidence.datasets.values()]
    if evidence.backtest:
        files.append(evidence.backtest.path)
    if evidence.model_card_file:
        files.append(evidence.model_card_file)
    staged = {f: evidence.open_file(f) for f in dict.fromkeys(files)}  # fetch all before writing
    data = evidence.model_copy(deep=True)
    if include_model and evidence.model_artifact:
        staged[evidence.model_artifact] = evidence.open_file(evidence.model_artifact)
    for alias in baseline_aliases:
        if baseline is not None and alias not in data.baselines:
            other = baseline(alias=alias)
            if other is not None:
                data.baselines[alias] = BaselineInfo(version=other.model.version,
                                                     metrics=other.run.metrics)
    dest.mkdir(parents=True, exist_ok=True)
    digests = {}
    for rel, src in staged.items():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, target)
        else:
            shutil.copy2(src, target)
            digests[rel] = _sha256(target)
    for spec in [*data.datasets.values(), data.backtest]:
        if spec is not None and spec.path in digests:
            spec.sha256 = digests[spec.path]
    body = data.model_dump(mode="json", exclude={"source_kind", "uri", "tracking_uri"},
                           exclude_defaults=True, by_alias=True)
    header = (f"# Evidence exported by mrm-gate from {evidence.uri} "
              f"(tracking URI {evidence.tracking_uri}) at "
              f"{dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}.\n"
              f"# Content hash (same as the source's): {evidence.content_sha256()}\n")
    path = dest / "evidence.yaml"
    path.write_text(header + yaml.safe_dump(body, sort_keys=False, allow_unicode=True),
                    encoding="utf-8")
    return path
