"""Local evidence folder: `evidence.yaml` plus the files it names (relative paths)."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from ..errors import EvidenceError, UserError
from .model import Evidence

EVIDENCE_FILE = "evidence.yaml"


class LocalFolderStore:
    """Files of a local evidence folder; paths may not escape the folder."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def fetch(self, path: str) -> Path:
        candidate = (self.root / path).resolve()
        if self.root not in candidate.parents and candidate != self.root:
            raise EvidenceError(
                f"evidence file {path!r} points outside the evidence folder {self.root}; "
                "use a path relative to the folder"
            )
        if not candidate.is_file():
            raise EvidenceError(f"evidence file {path!r} not found in {self.root}")
        return candidate

    def describe(self) -> str:
        return str(self.root)


def load_local_evidence(folder: str | Path) -> Evidence:
    from ..yamlsafe import load_yaml, pydantic_items

    root = Path(folder)
    if not root.exists():
        raise EvidenceError(f"evidence folder {root} does not exist")
    if root.is_file():
        if root.name in (EVIDENCE_FILE, "evidence.yml"):
            root = root.parent
        else:
            raise EvidenceError(f"{root} is a file; give the evidence folder holding "
                                f"{EVIDENCE_FILE}")
    file = root / EVIDENCE_FILE
    if not file.exists():
        raise EvidenceError(f"{root} has no {EVIDENCE_FILE}; an evidence folder needs one "
                            "(see `mrm-gate evidence export` or docs/evidence.md)")
    try:
        loc = load_yaml(file, "evidence")
    except UserError as exc:
        raise EvidenceError(str(exc), exc.items) from None
    if not isinstance(loc.data, dict) or "model" not in loc.data:
        raise EvidenceError(f"{file} must be a mapping with at least a 'model' key "
                            "(model: {name: ..., version: ...})")
    data = dict(loc.data)
    data.setdefault("source_kind", "local")
    data.setdefault("uri", str(root))
    try:
        ev = Evidence.model_validate(data)
    except ValidationError as exc:
        raise EvidenceError(f"evidence file {file} is invalid",
                            pydantic_items(exc, loc)) from None
    return ev.attach_files(LocalFolderStore(root))
