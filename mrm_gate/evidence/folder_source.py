"""The built-in `local` evidence source: an evidence folder (`evidence.yaml` + files)."""

from __future__ import annotations

from pathlib import Path

from .model import Evidence
from .source import EvidenceSource, SubjectRef


class LocalFolderSource(EvidenceSource):
    """An evidence folder, or its `evidence.yaml`. Claims any subject that is not a URI, so it
    is tried last; baselines come from the folder's own `baselines:` (written by export)."""

    name = "local"

    @classmethod
    def claims(cls, subject: str) -> bool:
        head = subject.split("/", 1)[0]
        return not (head.endswith(":") and len(head) > 2)  # not scheme:/... (C:\ is a path)

    def describe(self, subject: str) -> SubjectRef:
        path = Path(subject)
        folder = path.parent if path.name in ("evidence.yaml", "evidence.yml") else path
        return SubjectRef(name=folder.name or subject, uri=subject, source_kind="local")

    def load(self, subject: str) -> Evidence:
        from .local import load_local_evidence

        return load_local_evidence(subject)
