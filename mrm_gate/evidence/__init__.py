"""Evidence: one model for MLflow and local-folder sources; files fetched lazily."""

from .model import DatasetSpec, Evidence, FileRef, ModelInfo, RunInfo

__all__ = ["DatasetSpec", "Evidence", "FileRef", "ModelInfo", "RunInfo"]
