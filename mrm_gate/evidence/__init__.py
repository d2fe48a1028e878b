"""Evidence: one model for every source (MLflow, local folders, plugins); files fetched lazily."""

from __future__ import annotations

from typing import Any

from .model import DatasetSpec, Evidence, FileRef, ModelInfo, RunInfo


def load_evidence_with_baseline(
    source: str, *, tracking_uri: str | None = None, timeout_s: float = 10.0
) -> tuple[Evidence, Any]:
    """Evidence plus a baseline resolver, from the source that claims `source`
    (see `mrm_gate.evidence.source`)."""
    from .source import SourceSettings, open_source

    src = open_source(source, settings=SourceSettings(tracking_uri=tracking_uri,
                                                      timeout_s=timeout_s))
    ev = src.load(source)
    return ev, src.baseline_resolver(ev)


def load_evidence(source: str, *, tracking_uri: str | None = None,
                  timeout_s: float = 10.0) -> Evidence:
    """Evidence from `models:/name/version`, `models:/name@alias`, a local folder, or any
    subject a registered source claims."""
    return load_evidence_with_baseline(source, tracking_uri=tracking_uri, timeout_s=timeout_s)[0]


__all__ = ["DatasetSpec", "Evidence", "FileRef", "ModelInfo", "RunInfo", "load_evidence",
           "load_evidence_with_baseline"]
