"""Evidence: one model for MLflow and local-folder sources; files fetched lazily."""

from __future__ import annotations

from typing import Any

from .model import DatasetSpec, Evidence, FileRef, ModelInfo, RunInfo


def load_evidence_with_baseline(
    source: str, *, tracking_uri: str | None = None, timeout_s: float = 10.0
) -> tuple[Evidence, Any]:
    """Evidence plus a baseline resolver (None for local folders, which carry `baselines`)."""
    if source.startswith("models:/"):
        from .mlflow_source import load_mlflow_evidence

        return load_mlflow_evidence(source, tracking_uri=tracking_uri, timeout_s=timeout_s)
    from .local import load_local_evidence

    return load_local_evidence(source), None


def load_evidence(source: str, *, tracking_uri: str | None = None,
                  timeout_s: float = 10.0) -> Evidence:
    """Evidence from `models:/name/version`, `models:/name@alias`, or a local folder."""
    return load_evidence_with_baseline(source, tracking_uri=tracking_uri, timeout_s=timeout_s)[0]


__all__ = ["DatasetSpec", "Evidence", "FileRef", "ModelInfo", "RunInfo", "load_evidence",
           "load_evidence_with_baseline"]
