"""Running a check the way the engine does (errors become ERROR results), for the suite tests."""

from __future__ import annotations

from typing import Any

from mrm_gate.controls.context import CheckContext, EvaluationOptions
from mrm_gate.controls.registry import default_registry
from mrm_gate.decision import CheckResult, Status
from mrm_gate.errors import CheckError, EvidenceError


def run_check(name: str, params: dict[str, Any], evidence, *, trust: bool = False,
              cache: dict | None = None, seed: int = 0) -> CheckResult:
    """Validate params through the registered check's model and run it; a CheckError or
    EvidenceError becomes an ERROR result, as in `mrm_gate.engine.run_control`."""
    chk = default_registry().get(name)
    p = chk.params.model_validate(params)
    ctx = CheckContext(evidence=evidence, control_id="TEST-001",
                       options=EvaluationOptions(trust_model_code=trust, seed=seed),
                       cache={} if cache is None else cache)
    try:
        return chk(p, ctx)
    except (CheckError, EvidenceError) as exc:
        return CheckResult(status=Status.ERROR, message=str(exc))
