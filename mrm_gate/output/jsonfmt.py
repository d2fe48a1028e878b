"""JSON format: the Decision (schema in docs/decision-schema.md), policy-test results, a policy
diff, a coverage report, a gap-risk report and a portfolio. JSON escapes every string itself."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..decision import Decision

if TYPE_CHECKING:
    from ..policy.coverage import CoverageReport
    from ..policy.diff import PolicyDiff
    from ..policy_tests import SuiteResult
    from ..risk._aggregate import PortfolioRisk
    from ..risk._analysis import GapRiskReport


def decision(d: Decision) -> str:
    return d.model_dump_json(indent=2) + "\n"


render = decision  # the name every format module had before the family grew


def policy_tests(suite: SuiteResult) -> str:
    passed, failed = suite.counts()
    data = {
        "passed": passed, "failed": failed, "duration_s": round(suite.duration_s, 3),
        "results": [{"file": r.file, "policy": r.policy, "case": r.case, "ok": r.ok,
                     "expected": r.expected, "actual": r.actual, "diff": r.problems}
                    for r in suite.results],
        "coverage": [{"policy": c.policy, "control": c.control,
                      "passing_cases": c.passing_cases, "failing_cases": c.failing_cases}
                     for covs in suite.coverage.values() for c in covs],
    }
    return json.dumps(data, indent=2) + "\n"


def policy_diff(d: PolicyDiff) -> str:
    data = {
        "old": {"name": d.old.metadata.name, "version": d.old.metadata.version,
                "path": d.old.path, "sha256": d.old.sha256},
        "new": {"name": d.new.metadata.name, "version": d.new.metadata.version,
                "path": d.new.path, "sha256": d.new.sha256},
        "counts": d.counts(), "loosens": d.loosens,
        "changes": [{"subject": c.subject, "kind": c.kind, "what": c.what, "field": c.path,
                     "old": c.old, "new": c.new, "tiers": c.tiers} for c in d.changes],
    }
    return json.dumps(data, indent=2, default=str) + "\n"


def coverage(report: CoverageReport) -> str:
    data = {
        "policy": report.policy, "policy_path": report.policy_path,
        "framework": report.framework.id, "framework_title": report.framework.title,
        "tier": report.tier, "summary": report.summary(),
        "clauses": [{
            "id": c.id, "title": c.title, "depth": c.depth, "leaf": c.leaf, "status": c.status,
            "controls": [{"id": sc.id, "check": sc.check, "severity": sc.severity,
                          "tiers": sc.tiers, "via": sc.via} for sc in c.controls],
            "through_sub_clauses": c.via_children,
        } for c in report.clauses],
    }
    return json.dumps(data, indent=2) + "\n"


def _numpy_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def risk(report: GapRiskReport, *, variant: str | None = None) -> str:
    return json.dumps(report.to_dict(), indent=2, default=_numpy_default) + "\n"


def portfolio(p: PortfolioRisk, *, notes: list[str] | tuple[str, ...] = ()) -> str:
    return json.dumps(p.to_dict() | {"notes": list(notes)}, indent=2,
                      default=_numpy_default) + "\n"
