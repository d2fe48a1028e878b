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

    def baseline(self, evidence: Evidence, *, alias: str | None = None,
                 version: str | None = None) -> Evidence | None:
        """The version the folder records for `alias` (or `version:N`) in `baselines:`, as an
        export looked it up; None when it records none."""
        from .model import ModelInfo, RunInfo

        info = evidence.baselines.get(alias if alias is not None else f"version:{version}")
        if info is None:
            return None
        return Evidence(model=ModelInfo(name=evidence.model.name, version=info.version),
                        run=RunInfo(metrics=dict(info.metrics)), source_kind="local")

    def model_location(self, evidence: Evidence) -> str:
        """`model_artifact`, else the model an export copied into the folder (the registered
        version's own model, which has no run path: see `mrm-export.json`)."""
        if not evidence.model_artifact:
            from .export import exported_model_location

            found = exported_model_location(evidence)
            if found is not None:
                return found
        return super().model_location(evidence)
