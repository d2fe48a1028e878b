"""A third-party evidence source, as a plugin author would write it: one module + one entry
point (see mrm_gate_jsonsource-1.0.dist-info/entry_points.txt and docs/writing-sources.md).

Subjects look like `jsonfile:/path/credit-pd-3.json`: the whole evidence in one JSON file.
Baselines are sibling files named `<model>@<alias>.json`.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from mrm_gate.errors import EvidenceError
from mrm_gate.evidence import Evidence
from mrm_gate.evidence.source import EvidenceSource, SubjectRef

PREFIX = "jsonfile:"


class JsonFileSource(EvidenceSource):
    name = "jsonfile"

    @classmethod
    def claims(cls, subject: str) -> bool:
        return subject.startswith(PREFIX)

    def describe(self, subject: str) -> SubjectRef:
        return SubjectRef(name=Path(subject[len(PREFIX):]).stem or subject, uri=subject,
                          source_kind=self.name)

    def _read(self, path: Path, uri: str) -> Evidence:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise EvidenceError(f"cannot read {path}: {exc.strerror}") from None
        except ValueError as exc:
            raise EvidenceError(f"{path} is not JSON ({type(exc).__name__})") from None
        if not isinstance(data, dict):
            raise EvidenceError(f"{path} must hold a JSON object")
        try:
            return Evidence.model_validate({**data, "source_kind": self.name, "uri": uri})
        except ValidationError as exc:
            raise EvidenceError(f"{path} is not valid evidence: {exc.error_count()} "
                                "problem(s)") from None

    def load(self, subject: str) -> Evidence:
        return self._read(Path(subject[len(PREFIX):]), subject)

    def baseline(self, evidence: Evidence, *, alias: str | None = None,
                 version: str | None = None) -> Evidence | None:
        if alias is None:
            return None
        folder = Path(evidence.uri[len(PREFIX):]).parent
        path = folder / f"{evidence.model.name}@{alias}.json"
        return self._read(path, f"{PREFIX}{path}") if path.exists() else None
