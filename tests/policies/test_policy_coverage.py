"""`mrm-gate policy coverage`: every clause, the controls serving it, and the gaps."""

from __future__ import annotations

import json

import pytest
from policy_helpers import POLICIES, write

from mrm_gate.cli import run
from mrm_gate.errors import UserError
from mrm_gate.output import render
from mrm_gate.policy import load_policy
from mrm_gate.policy.coverage import coverage, tier_span

POLICY = """\
apiVersion: mrm-gate/v1
kind: Policy
metadata: {name: cov}
tiering: {default: low}
tiers:
  low:
    controls:
      - id: MRM-DOC-001
        check: metadata.required
        params: {tags: [owner]}
        refs: ["eu-ai-act:art-10.2.f", "sr26-2:validation"]
  high:
    extends: low
    controls:
      - id: MRM-DOC-002
        check: metadata.required
        params: {tags: [validator]}
        refs: ["eu-ai-act:art-11"]
"""


@pytest.fixture
def policy(tmp_path):
    return load_policy(write(tmp_path / "p.yaml", POLICY))


def test_statuses_direct_through_children_and_none(policy):
    report = coverage(policy, "eu-ai-act")
    by_id = {c.id: c for c in report.clauses}
    assert [s.id for s in by_id["art-10.2.f"].controls] == ["MRM-DOC-001"]
    assert by_id["art-10.2.f"].controls[0].tiers == ["low", "high"]
    assert by_id["art-10.2.f"].status == "served"
    assert by_id["art-10"].status == "partly" and by_id["art-10"].via_children == [
        "art-10.2.f"]
    assert by_id["art-10.2.g"].status == "none"
    assert by_id["art-11"].controls[0].tiers == ["high"]
    assert len(report.clauses) == len(report.framework.clauses)  # every clause is listed


def test_tier_filter(policy):
    low = {c.id: c.status for c in coverage(policy, "eu-ai-act", tier="low").clauses}
    assert low["art-10.2.f"] == "served" and low["art-11"] == "none"
    with pytest.raises(UserError, match="tier 'hihg' does not exist"):
        coverage(policy, "eu-ai-act", tier="hihg")


def test_superseded_framework_is_served_through_its_successor(policy):
    report = coverage(policy, "sr11-7")
    served = {c.id: c.controls for c in report.clauses if c.controls}
    assert "sec-5" in served
    assert served["sec-5"][0].via == "sr26-2:validation"
    assert "via sr26-2:validation" in render(report, "text")


def test_summary_counts_leaf_clauses(policy):
    report = coverage(policy, "eu-ai-act")
    s = report.summary()
    # art-10.2.f and art-11 (no sub-clauses in the catalogue) are served leaves;
    # art-10 and art-10.2 are served only through art-10.2.f
    assert (s["leaf_served"], s["served"], s["partly"]) == (2, 2, 2)
    assert s["unserved"] == len(report.clauses) - 4
    assert s["leaf_share"] == round(2 / s["leaf_clauses"], 4)


@pytest.mark.parametrize(("tiers", "text"), [
    (["low", "medium", "high", "critical"], "low+"), (["high", "critical"], "high+"),
    (["critical"], "critical"), (["low", "high"], "low, high"), ([], "no tier"),
])
def test_tier_span(tiers, text):
    assert tier_span(tiers, ["low", "medium", "high", "critical"]) == text


def test_markdown_lists_every_clause_and_marks_gaps(policy):
    text = render(coverage(policy, "nist-ai-rmf"), "markdown")
    assert text.count("\n| ") == 1 + len(coverage(policy, "nist-ai-rmf").clauses)
    assert "**not served**" in text


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_cli_formats(fmt, capsys):
    args = ["policy", "coverage", str(POLICIES / "eu-ai-act-high-risk.yaml"), "--framework",
            "eu-ai-act", "--format", fmt]
    assert run(args) == 0
    out = capsys.readouterr().out
    if fmt == "json":
        data = json.loads(out)
        clauses = {c["id"]: c for c in data["clauses"]}
        assert {c["id"] for c in clauses["art-11"]["controls"]} >= {"MRM-DOC-002", "EU-DOC-001"}
        assert data["summary"]["leaf_clauses"] > 30
    else:
        assert "art-11" in out and "EU-DOC-001" in out


def test_cli_unknown_framework_is_a_usage_error(capsys):
    assert run(["policy", "coverage", str(POLICIES / "default.yaml"), "--framework",
                "eu-aiact"]) == 2
    assert "did you mean 'eu-ai-act'?" in capsys.readouterr().err
