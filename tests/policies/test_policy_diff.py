"""`mrm-gate policy diff OLD NEW`: every material change, classified."""

from __future__ import annotations

import json

import pytest
from policy_helpers import POLICIES, write

from mrm_gate.cli import run
from mrm_gate.policy import load_policy
from mrm_gate.policy.diff import diff_policies

BASE = """\
apiVersion: mrm-gate/v1
kind: Policy
metadata: {name: p, version: "1"}
tiering:
  default: high
  precedence: highest
  rules:
    - {tier: high, any: [{tag: mrm.purpose, in: [credit]}]}
tiers:
  low:
    controls:
      - id: MRM-DOC-001
        check: metadata.required
        params: {tags: [owner]}
        refs: ["sr26-2:documentation"]
  high:
    extends: low
    controls:
      - id: MRM-PERF-001
        check: performance.threshold
        params: {metric: auc, min: 0.70}
      - id: MRM-PERF-002
        check: performance.no_regression
        params: {metric: auc, tolerance: 0.01, on_missing_baseline: skip}
        applies_to: [champion]
      - id: MRM-GOV-002
        check: governance.review_age
        params: {max_age_days: 365}
      - id: MRM-GOV-003
        check: governance.approvals
        params: {min_approvers: 2, allowed: [carol, dave]}
"""


def _diff(tmp_path, old: str, new: str):
    a = load_policy(write(tmp_path / "old.yaml", old))
    b = load_policy(write(tmp_path / "new.yaml", new))
    return diff_policies(a, b)


def _one(tmp_path, new: str):
    d = _diff(tmp_path, BASE, new)
    material = [c for c in d.changes if c.kind != "mapping"]
    assert len(material) == 1, [(c.kind, c.subject, c.what) for c in d.changes]
    return material[0]


def test_identical_policies_have_no_change(tmp_path):
    d = _diff(tmp_path, BASE, BASE)
    assert d.changes == [] and not d.loosens


@pytest.mark.parametrize(("old", "new", "kind", "subject", "what"), [
    ("min: 0.70", "min: 0.75", "tightened", "MRM-PERF-001", "params.min 0.7 -> 0.75"),
    ("min: 0.70", "min: 0.65", "loosened", "MRM-PERF-001", "params.min 0.7 -> 0.65"),
    ("max_age_days: 365", "max_age_days: 180", "tightened", "MRM-GOV-002",
     "params.max_age_days 365 -> 180"),
    ("tolerance: 0.01", "tolerance: 0.05", "loosened", "MRM-PERF-002",
     "params.tolerance 0.01 -> 0.05"),
    ("on_missing_baseline: skip", "on_missing_baseline: fail", "tightened", "MRM-PERF-002",
     "params.on_missing_baseline skip -> fail"),
    ("tags: [owner]", "tags: [owner, validator]", "tightened", "MRM-DOC-001",
     "params.tags: +[validator]"),
    ("tags: [owner]", "tags: [steward]", "changed", "MRM-DOC-001",
     "params.tags: +[steward] -[owner]"),
    ("allowed: [carol, dave]", "allowed: [carol, dave, erin]", "loosened", "MRM-GOV-003",
     "params.allowed: +[erin]"),
    ("min_approvers: 2,", "min_approvers: 1,", "loosened", "MRM-GOV-003",
     "params.min_approvers 2 -> 1"),
    ("params: {metric: auc, min: 0.70}", "params: {metric: auc, min: 0.70, max: 0.99}",
     "tightened", "MRM-PERF-001", "params.max none -> 0.99"),
    ("params: {metric: auc, min: 0.70}", "params: {metric: gini, min: 0.70}", "changed",
     "MRM-PERF-001", "params.metric auc -> gini"),
    ("applies_to: [champion]", "applies_to: [champion, production]", "tightened",
     "MRM-PERF-002", "applies_to [champion] -> [champion, production]"),
    ("applies_to: [champion]", "applies_to: []", "tightened", "MRM-PERF-002",
     "applies_to [champion] -> every target"),
    ("default: high", "default: low", "loosened", "tiering", "default tier high -> low"),
    ("precedence: highest", "precedence: tag", "loosened", "tiering",
     "precedence highest -> tag"),
    ("{tier: high, any:", "{tier: low, any:", "loosened", "tiering",
     "rule 1 assigns high -> low"),
])
def test_each_change_is_classified(tmp_path, old, new, kind, subject, what):
    assert old in BASE
    change = _one(tmp_path, BASE.replace(old, new, 1))
    assert (change.kind, change.subject, change.what) == (kind, subject, what)


def test_a_change_inherited_by_several_tiers_is_listed_once_with_them(tmp_path):
    new = BASE.replace("tags: [owner]", "tags: [owner, validator]")
    change = _one(tmp_path, new)
    assert change.tiers == ["low", "high"]


def test_severity_and_removal_and_addition(tmp_path):
    new = (BASE.replace("      - id: MRM-GOV-003\n        check: governance.approvals\n"
                        "        params: {min_approvers: 2, allowed: [carol, dave]}\n", "")
           .replace("params: {max_age_days: 365}", "params: {max_age_days: 365}\n"
                    "        severity: warn")
           + "      - id: MRM-OPS-001\n        check: metadata.required\n"
             "        params: {tags: [mrm.monitoring]}\n")
    d = _diff(tmp_path, BASE, new)
    got = {(c.kind, c.subject, c.what) for c in d.changes}
    assert ("removed", "MRM-GOV-003", "control removed (governance.approvals)") in got
    assert ("loosened", "MRM-GOV-002", "severity block -> warn") in got
    assert ("added", "MRM-OPS-001", "new control (metadata.required, block)") in got
    assert d.loosens
    assert [c.kind for c in d.changes] == sorted(
        (c.kind for c in d.changes),
        key=["added", "removed", "tightened", "loosened", "changed", "mapping"].index)


def test_moving_a_control_between_tiers(tmp_path):
    moved_down = BASE.replace(
        "        refs: [\"sr26-2:documentation\"]\n",
        "        refs: [\"sr26-2:documentation\"]\n      - id: MRM-GOV-002\n"
        "        check: governance.review_age\n        params: {max_age_days: 365}\n")
    d = _diff(tmp_path, BASE, moved_down)
    assert [(c.kind, c.what) for c in d.changes] == [
        ("tightened", "now required in tier(s) low")]
    d = _diff(tmp_path, moved_down, BASE)
    assert [(c.kind, c.what) for c in d.changes] == [
        ("loosened", "no longer required in tier(s) low")]


def test_refs_only_change_is_a_mapping_change(tmp_path):
    d = _diff(tmp_path, BASE, BASE.replace('"sr26-2:documentation"', '"sr26-2:inventory"'))
    assert [(c.kind, c.what) for c in d.changes] == [
        ("mapping", "refs: +[sr26-2:inventory] -[sr26-2:documentation]")]
    assert not d.loosens


def test_cli_text_json_and_fail_on_loosen(tmp_path, capsys):
    old = write(tmp_path / "old.yaml", BASE)
    new = write(tmp_path / "new.yaml", BASE.replace("min: 0.70", "min: 0.60"))
    assert run(["policy", "diff", str(old), str(new)]) == 0
    out = capsys.readouterr().out
    assert "loosened   MRM-PERF-001  params.min 0.7 -> 0.6  [high]" in out
    assert "this change LOOSENS the policy" in out
    assert run(["policy", "diff", str(old), str(new), "--fail-on-loosen"]) == 1
    capsys.readouterr()
    assert run(["policy", "diff", str(old), str(new), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["loosens"] and data["counts"]["loosened"] == 1
    assert data["changes"][0]["old"] == 0.7 and data["changes"][0]["new"] == 0.6
    assert run(["policy", "diff", str(old), str(new), "--format", "markdown"]) == 0
    assert "| loosened | `MRM-PERF-001` | params.min 0.7 -> 0.6 | high |" in (
        capsys.readouterr().out)


def test_framework_policy_against_its_base(capsys):
    assert run(["policy", "diff", str(POLICIES / "default.yaml"),
                str(POLICIES / "sr26-2.yaml"), "--fail-on-loosen"]) == 0
    lines = [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()]
    assert "added SR-INV-001 new control (metadata.required, block) [low, medium, high, " \
           "critical]" in lines
    assert "tightened MRM-GAP-001 now required in tier(s) high [high]" in lines
