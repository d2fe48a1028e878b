"""Small helpers shared by the built-in checks."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Params(BaseModel):
    """Base of every built-in params model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


def fmt(v: float | None) -> str:
    if v is None:
        return "n/a"
    return f"{v:.4g}"
