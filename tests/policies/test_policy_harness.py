"""The policy test harness (`mrm-gate policy test`): cases as data, readable diffs, TAP/JUnit."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
import yaml
from policy_helpers import GOOD, ROOT, cases_file, write

from mrm_gate.cli import run
from mrm_gate.errors import UserError
from mrm_gate.policy_tests import combine_patches, deep_merge, run_tests

PASSING = """\
- name: good model is approved
  expect: {decision: APPROVE, tier: low}
- name: no owner blocks
  patch: {model: {tags: {owner: null}}}
  expect: {decision: BLOCK, failing: [MRM-DOC-001]}
"""

FAILING = """\
- name: wrong verdict and controls
  patch: {model: {tags: {mrm.risk_tier: high, validator: alice}}}
  expect: {decision: APPROVE, tier: low}
"""


@pytest.mark.parametrize(("base", "patch", "merged"), [
    ({"a": 1, "b": {"c": 2, "d": 3}}, {"b": {"c": None}}, {"a": 1, "b": {"d": 3}}),
    ({"a": [1, 2]}, {"a": [3]}, {"a": [3]}),
    ({"a": {"b": 1}}, {"a": {"b": {"c": 2}}}, {"a": {"b": {"c": 2}}}),
    ({"a": 1}, {"z": None}, {"a": 1}),
])
def test_deep_merge(base, patch, merged):
    assert deep_merge(base, patch) == merged


def test_combined_patches_keep_removals():
    both = combine_patches({"model": {"tags": {"a": "1"}}}, {"model": {"tags": {"b": None}}})
    assert both == {"model": {"tags": {"a": "1", "b": None}}}
    assert deep_merge({"model": {"tags": {"b": "x"}}}, both) == {"model": {"tags": {"a": "1"}}}


def test_passing_cases_exit_0_with_tap(tmp_path, capsys):
    f = cases_file(tmp_path, PASSING)
    assert run(["policy", "test", str(f)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("TAP version 14\n1..2\n")
    assert "ok 1 - default :: good model is approved" in out
    assert "ok 2 - default :: no owner blocks" in out
    assert "# 2 passed, 0 failed" in out


def test_failing_case_exits_1_with_a_readable_diff(tmp_path, capsys):
    f = cases_file(tmp_path, PASSING + FAILING)
    assert run(["policy", "test", str(f)]) == 1
    out = capsys.readouterr().out
    assert "not ok 3 - default :: wrong verdict and controls" in out
    block = yaml.safe_load(out.split("  ---\n")[1].split("  ...")[0])
    assert block["expected"] == {"decision": "APPROVE", "tier": "low", "failing": []}
    assert block["actual"]["decision"] == "BLOCK" and block["actual"]["tier"] == "high"
    assert "- decision: expected APPROVE, got BLOCK" in block["diff"]
    assert "tier: expected low, got high" in block["diff"]
    assert ("failed unexpectedly: MRM-GOV-001 (FAIL: validator 'alice' is the model owner"
            in block["diff"])


def test_junit_output_is_valid_against_the_junit_schema(tmp_path, capsys):
    xmlschema = pytest.importorskip("xmlschema")
    f = cases_file(tmp_path, PASSING + FAILING)
    out = tmp_path / "junit.xml"
    assert run(["policy", "test", str(f), "--format", "junit", "-o", str(out)]) == 1
    assert "2 passed, 1 failed" in capsys.readouterr().err
    schema = xmlschema.XMLSchema(str(ROOT / "tests" / "output" / "schemas" / "junit-10.xsd"))
    schema.validate(str(out))
    root = ET.parse(out).getroot()
    assert root.get("tests") == "3" and root.get("failures") == "1"
    failures = root.findall(".//failure")
    assert len(failures) == 1
    assert failures[0].get("message") == "decision: expected APPROVE, got BLOCK"


def test_json_output_and_selection(tmp_path, capsys):
    f = cases_file(tmp_path, PASSING + FAILING)
    assert run(["policy", "test", str(f), "--format", "json", "-k", "owner"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["case"] for r in data["results"]] == ["no owner blocks"]


@pytest.mark.parametrize(("cases", "problem"), [
    ("- name: x\n  expect: {decision: BLOCK, failing: [MRM-GOV-001]}\n",
     "expected to fail but did not: MRM-GOV-001 (did not run"),
    ("- name: x\n  expect: {decision: APPROVE, passing: [MRM-DOC-001, MRM-PERF-001]}\n",
     "expected to pass: MRM-PERF-001 (did not run"),
    ("- name: x\n  patch: {model: {tags: {owner: ''}}}\n"
     "  expect: {decision: BLOCK, waived: [MRM-DOC-001]}\n",
     "expected waived but was not: MRM-DOC-001 (FAIL: missing: tag owner)"),
])
def test_each_kind_of_mismatch_is_named(tmp_path, cases, problem):
    suite = run_tests([cases_file(tmp_path, cases)])
    assert not suite.ok
    assert any(problem in p for p in suite.results[0].problems), suite.results[0].problems


def test_inline_evidence_and_unreadable_evidence(tmp_path):
    cases = """\
    - name: inline evidence
      evidence:
        model:
          name: m
          description: an inline model with a long enough description for the control
          tags: {owner: o, mrm.purpose: internal, mrm.exposure: "1000"}
      expect: {decision: APPROVE, tier: low}
    - name: invalid inline evidence blocks, fail closed
      evidence: {model: {name: m, colour: blue}}
      expect: {decision: BLOCK, failing: [MRM-GATE-EVIDENCE]}
    """
    suite = run_tests([cases_file(tmp_path, cases)])
    assert suite.ok, [r.problems for r in suite.results]


def test_cases_can_be_limited_to_some_policies(tmp_path):
    f = write(tmp_path / "t.yaml", f"""\
        apiVersion: mrm-gate/v1
        kind: PolicyTests
        policies: [{ROOT}/policies/default.yaml, {ROOT}/policies/sr26-2.yaml]
        defaults: {{evidence: {GOOD}, now: 2026-06-01}}
        cases:
          - name: everywhere
            expect: {{decision: APPROVE}}
          - name: only sr26-2
            policies: [{ROOT}/policies/sr26-2.yaml]
            patch: {{model: {{tags: {{mrm.inventory_id: null}}}}}}
            expect: {{decision: BLOCK, failing: [SR-INV-001]}}
        """)
    suite = run_tests([f])
    assert [r.title for r in suite.results] == [
        "default :: everywhere", "sr26-2 :: everywhere", "sr26-2 :: only sr26-2"]
    assert suite.ok


@pytest.mark.parametrize(("content", "message"), [
    ("kind: Policy\n", "not a policy test file"),
    ("apiVersion: mrm-gate/v1\nkind: PolicyTests\ncases: [{name: x, expect: {decision: "
     "APPROVE}}]\n", "name the policy under test"),
    ("apiVersion: mrm-gate/v1\nkind: PolicyTests\npolicy: nope.yaml\ncases: [{name: x, "
     "expect: {decision: APPROVE}}]\n", "policy 'nope.yaml' not found"),
    ("apiVersion: mrm-gate/v1\nkind: PolicyTests\npolicy: nope.yaml\ncases: [{name: x, "
     "expect: {decision: MAYBE}}]\n", "decision"),
    ("apiVersion: mrm-gate/v1\nkind: PolicyTests\npolicy: nope.yaml\ncases: [{name: x, "
     "expectt: {decision: APPROVE}}]\n", ":4:"),
])
def test_bad_test_files_are_user_errors_with_location(tmp_path, content, message):
    f = write(tmp_path / "bad.yaml", content)
    with pytest.raises(UserError, match=message):
        run_tests([f])


def test_missing_path_and_empty_folder(tmp_path, capsys):
    assert run(["policy", "test", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert run(["policy", "test", str(tmp_path)]) == 2
    assert "no policy test files" in capsys.readouterr().err


def test_coverage_gaps_fail_only_when_required(tmp_path, capsys):
    f = cases_file(tmp_path, PASSING)
    assert run(["policy", "test", str(f)]) == 0
    out = capsys.readouterr().out
    assert "# coverage: default.yaml MRM-GOV-001 has no passing and failing case" in out
    assert "# coverage: default.yaml MRM-DOC-001 has" not in out
    assert run(["policy", "test", str(f), "--require-coverage"]) == 1
