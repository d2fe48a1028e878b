"""Local evidence folder: `evidence.yaml` plus the files it names (paths inside the folder)."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from ..errors import EvidenceError
from .containment import load_yaml_redacted, resolve_inside
from .model import Evidence

EVIDENCE_FILE = "evidence.yaml"
EVIDENCE_NAMES = (EVIDENCE_FILE, "evidence.yml")


class LocalFolderStore:
    """Files of a local evidence folder; a path that resolves (after symlinks) outside the
    folder is refused, whether it is absolute, has `..`, or goes through a planted link."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def fetch(self, path: str) -> Path:
        real = resolve_inside(self.root, path, "evidence file", allow_absolute=True,
                              where=f"the evidence folder {self.root}")
        if not real.is_file():
            raise EvidenceError(f"evidence file {path!r} is not a regular file in {self.root}")
        return real

    def describe(self) -> str:
        return str(self.root)


def load_local_evidence(folder: str | Path) -> Evidence:
    from ..yamlsafe import pydantic_items

    root = Path(folder)
    name = EVIDENCE_FILE
    if not root.exists():
        raise EvidenceError(f"evidence folder {root} does not exist")
    if root.is_file():
        if root.name in EVIDENCE_NAMES:
            root, name = root.parent, root.name
        else:
            raise EvidenceError(f"{root} is a file; give the evidence folder holding "
                                f"{EVIDENCE_FILE}")
    if not (root / name).exists() and not (root / name).is_symlink():
        raise EvidenceError(f"{root} has no {EVIDENCE_FILE}; an evidence folder needs one "
                            "(see `mrm-gate evidence export` or docs/evidence.md)")
    # evidence.yaml itself may be a symlink: it must still resolve inside the folder
    file = resolve_inside(root, name, name, where=f"the evidence folder {root.resolve()}")
    if not file.is_file():
        raise EvidenceError(f"{root / name} is not a regular file")
    loc = load_yaml_redacted(file, "evidence")
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
