"""JUnit renderer: valid against Jenkins' published JUnit XSD, and maps statuses faithfully."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema
from ci_fixtures import ALL, approved, blocked, conditional, hostile

from mrm_gate.output import render
from mrm_gate.output.junit import render_many

XSD = Path(__file__).parent / "schemas" / "junit-10.xsd"


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(XSD)


@pytest.mark.parametrize("name", sorted(ALL))
def test_each_decision_is_valid_junit(schema, name):
    schema.validate(render(ALL[name](), "junit"))


def test_schema_rejects_a_broken_report(schema):
    """The validator is live: a testcase without a name is caught."""
    root = ET.fromstring(render(blocked(), "junit"))
    del root.find("testsuite/testcase").attrib["name"]
    assert not schema.is_valid(ET.tostring(root, encoding="unicode"))


def test_one_testsuite_per_model(schema):
    text = render_many([f() for f in ALL.values()])
    schema.validate(text)
    root = ET.fromstring(text)
    assert [s.get("name") for s in root.findall("testsuite")] == [
        "credit-approve v3", "credit-pd v3", "credit-block v3", "credit-broken v3",
        "credit-mlflow v4", "we|rd, model: 100% v3"]
    assert root.get("tests") == str(sum(len(f().outcomes) for f in ALL.values()))


def _cases(decision):
    suite = ET.fromstring(render(decision, "junit")).find("testsuite")
    return suite, {c.get("name").split()[0]: c for c in suite.findall("testcase")}


def test_failures_errors_and_skips_are_distinct():
    suite, cases = _cases(blocked())
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"),
            suite.get("skipped")) == ("5", "2", "1", "1")
    fail = cases["MRM-PERF-001"].find("failure")
    assert fail.get("message") == "AUC 0.61 is below the minimum 0.75"
    assert fail.get("type") == "FAIL/block"
    assert "measured: 0.61" in fail.text and "threshold: min=0.75" in fail.text
    assert "policy: policies/credit.yaml:12" in fail.text
    assert "evidence: models/credit-block/predictions.csv" in fail.text
    assert cases["MRM-DOC-001"].find("error").get("type") == "ERROR/block"
    assert cases["MRM-DOC-001"].find("failure") is None
    assert cases["MRM-FAIR-001"].find("skipped") is not None
    assert cases["MRM-GOV-001"].find("failure").get("type") == "FAIL/info"
    passed = cases["MRM-EXPL-001"]
    assert [c.tag for c in passed] == ["system-out"]


def test_waived_is_passed_with_the_waiver_in_system_out():
    suite, cases = _cases(conditional())
    waived = cases["MRM-FAIR-001"]
    assert waived.find("failure") is None and waived.find("error") is None
    out = waived.find("system-out").text
    assert out.startswith("WAIVED by W-7: approver cro@example.com, expires 2025-06-30")
    assert "compensating manual review" in out
    assert suite.get("failures") == "1"  # only the unwaived warning
    assert "expired waiver W-OLD" in cases["MRM-PERF-001"].find("system-out").text


def test_suite_properties_carry_the_verdict():
    suite, _ = _cases(approved())
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert props["verdict"] == "APPROVE"
    assert props["policy.sha256"] == "ab" * 32
    assert suite.get("failures") == "0" and suite.get("skipped") == "1"


def test_hostile_text_survives_as_well_formed_xml():
    _, cases = _cases(hostile())
    msg = cases["MRM-PERF-001"].find("failure").get("message")
    assert "\x00" not in msg
    assert 'next | line <tag> & "q" ✓ \U0001F600' in msg
