"""Shared helpers of the core tests (imported by name: pytest prepends this folder)."""

from __future__ import annotations

import textwrap
from pathlib import Path

BASE_POLICY = """
apiVersion: mrm-gate/v1
kind: Policy
metadata: {name: test-policy, version: "1"}
tiering:
  tag: mrm.risk_tier
  default: high
  rules:
    - tier: critical
      all: [{tag: mrm.exposure, gte: 100000000}]
    - tier: low
      all: [{tag: mrm.purpose, in: [internal]}]
tiers:
  low:
    controls:
      - id: MRM-DOC-001
        check: metadata.required
        params: {tags: [owner]}
        remediation: Set the owner tag.
  high:
    extends: low
    controls:
      - id: MRM-PERF-001
        check: performance.threshold
        params: {metric: auc, min: 0.7}
      - id: MRM-PERF-003
        check: performance.threshold
        severity: warn
        params: {metric: ks, min: 0.3}
      - id: MRM-INFO-001
        check: performance.threshold
        severity: info
        params: {metric: brier, max: 0.1}
      - id: MRM-PERF-002
        check: performance.no_regression
        params: {metric: auc, tolerance: 0.01}
        applies_to: [champion]
  critical:
    extends: high
    controls:
      - id: MRM-GOV-003
        check: governance.approvals
        params: {min_approvers: 2}
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


GOOD = {
    "model": {"name": "credit-pd", "version": "3", "tags": {"owner": "alice"}},
    "run": {"metrics": {"auc": 0.81, "ks": 0.42, "brier": 0.05}},
}
