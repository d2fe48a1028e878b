"""What a check receives besides its params: the evidence and per-evaluation services."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from ..evidence.model import Evidence


class EvaluationOptions(BaseModel):
    """Knobs of one evaluation that are not policy (set by CLI flags or the server config)."""

    trust_model_code: bool = False  # loading a pickled model runs its code: an explicit decision
    seed: int = 0
    progress: bool = False
    now: Any = None  # datetime override for reproducible tests (None: utcnow)


# A baseline resolver returns the evidence of another version of the same registered model,
# chosen by alias (e.g. "champion") or version number; None when there is none.
BaselineResolver = Callable[..., "Evidence | None"]


@dataclass
class CheckContext:
    evidence: Evidence
    target: str | None = None
    control_id: str = ""
    options: EvaluationOptions = field(default_factory=EvaluationOptions)
    baseline: BaselineResolver | None = None
    # The evidence source (EvidenceSource): where the model is loaded from. None only for
    # evidence built in memory.
    source: Any = None
    # Shared by every check of one evaluation: datasets are read once and kept here, keyed by
    # content hash (see mrm_gate.evidence.datasets).
    cache: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # evaluation-level notes for the report

    def now(self):
        import datetime as dt

        return self.options.now or dt.datetime.now(dt.timezone.utc)
