"""SARIF renderer: valid against the published SARIF 2.1.0 schema, and says the right things."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ci_fixtures import ALL, POLICY, blocked, conditional, mlflow_blocked, precondition_blocked
from jsonschema import Draft4Validator, FormatChecker

from mrm_gate.decision import Status
from mrm_gate.output import render
from mrm_gate.output.sarif import render_many, repo_path, sarif_log

SCHEMA = Path(__file__).parent / "schemas" / "sarif-schema-2.1.0.json"


@pytest.fixture(scope="module")
def validator() -> Draft4Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    Draft4Validator.check_schema(schema)
    # FormatChecker() rather than Draft 4's own: the schema uses "uri-reference" too.
    return Draft4Validator(schema, format_checker=FormatChecker())


def assert_valid(validator: Draft4Validator, log: dict) -> None:
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


@pytest.mark.parametrize("name", sorted(ALL))
def test_each_decision_is_valid_sarif(validator, name):
    text = render(ALL[name](), "sarif")
    assert_valid(validator, json.loads(text))


def test_several_models_share_one_run_and_stay_valid(validator):
    log = json.loads(render_many([f() for f in ALL.values()]))
    assert_valid(validator, log)
    assert len(log["runs"]) == 1  # code scanning takes one run per tool and category
    ids = [r["id"] for r in log["runs"][0]["tool"]["driver"]["rules"]]
    assert len(ids) == len(set(ids))


def test_schema_rejects_a_broken_log(validator):
    """The validator is live: a result without a message is caught."""
    log = sarif_log([blocked()])
    del log["runs"][0]["results"][0]["message"]
    assert list(validator.iter_errors(log))


def test_one_rule_per_control_with_help_and_refs():
    d = blocked()
    rules = {r["id"]: r for r in sarif_log([d])["runs"][0]["tool"]["driver"]["rules"]}
    assert set(rules) == {o.control_id for o in d.outcomes}
    perf = rules["MRM-PERF-001"]
    assert perf["fullDescription"]["text"] == "Description of MRM-PERF-001"
    assert "Remediation: Do what MRM-PERF-001 asks." in perf["help"]["text"]
    assert "**Remediation:**" in perf["help"]["markdown"]
    assert perf["properties"]["tags"] == ["model-risk", "sr11-7:validation", "eu-ai-act:art-15"]
    assert perf["defaultConfiguration"]["level"] == "error"
    assert rules["MRM-GOV-001"]["defaultConfiguration"]["level"] == "note"


@pytest.mark.parametrize(("factory", "expected"), [
    (blocked, {"MRM-PERF-001": ("error", 12), "MRM-DOC-001": ("error", 20),
               "MRM-GOV-001": ("note", 60)}),
    (conditional, {"MRM-DRIFT-001": ("warning", 41), "MRM-FAIR-001": ("note", 52)}),
])
def test_results_are_the_failing_controls_at_their_policy_line(factory, expected):
    d = factory()
    run = sarif_log([d])["runs"][0]
    got = {}
    for r in run["results"]:
        loc = r["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uri"] == POLICY
        got[r["ruleId"]] = (r["level"], loc["region"]["startLine"])
        assert run["tool"]["driver"]["rules"][r["ruleIndex"]]["id"] == r["ruleId"]
    assert got == expected


def test_result_message_has_model_measured_and_threshold():
    r = sarif_log([blocked()])["runs"][0]["results"][0]
    assert r["ruleId"] == "MRM-PERF-001"
    assert r["message"]["text"] == ("credit-block v3: MRM-PERF-001 FAIL: AUC 0.61 is below the "
                                    "minimum 0.75 (measured 0.61; threshold min=0.75)")
    assert r["properties"]["status"] == "FAIL"
    assert r["properties"]["verdict"] == "BLOCK"


def test_waived_failure_is_an_accepted_suppression():
    results = {r["ruleId"]: r for r in sarif_log([conditional()])["runs"][0]["results"]}
    sup = results["MRM-FAIR-001"]["suppressions"]
    assert sup[0]["kind"] == "external" and sup[0]["status"] == "accepted"
    assert "W-7" in sup[0]["justification"] and "2025-06-30" in sup[0]["justification"]
    assert "suppressions" not in results["MRM-DRIFT-001"]


def test_evidence_file_is_a_related_location_for_folder_evidence_only():
    local = {r["ruleId"]: r for r in sarif_log([blocked()])["runs"][0]["results"]}
    rel = local["MRM-PERF-001"]["relatedLocations"][0]["physicalLocation"]
    assert rel["artifactLocation"]["uri"] == "models/credit-block/predictions.csv"
    assert "relatedLocations" not in local["MRM-DOC-001"]
    remote = sarif_log([mlflow_blocked()])["runs"][0]["results"][0]
    assert "relatedLocations" not in remote
    assert "run artifact model_card.md" in remote["message"]["text"]


def test_precondition_error_points_at_the_policy_file():
    r = sarif_log([precondition_blocked()])["runs"][0]["results"][0]
    loc = r["locations"][0]["physicalLocation"]
    assert (loc["artifactLocation"]["uri"], loc["region"]["startLine"]) == (POLICY, 1)
    assert r["level"] == "error"


def test_absolute_paths_become_relative_to_the_checkout(tmp_path):
    d = blocked()
    for o in d.outcomes:
        o.policy_file = str(tmp_path / "policies" / "credit.yaml")
    d.model.uri = str(tmp_path / "models" / "m 1")
    r = sarif_log([d], root=tmp_path)["runs"][0]["results"][0]
    assert r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == POLICY
    rel = r["relatedLocations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert rel == "models/m%201/predictions.csv"
    # outside the checkout (or with no root) an absolute path stays a file URI
    outside = sarif_log([d])["runs"][0]["results"][0]
    uri = outside["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == (tmp_path / "policies" / "credit.yaml").as_uri()


@pytest.mark.parametrize(("path", "root", "expected"), [
    ("./policies/a.yaml", None, "policies/a.yaml"),
    ("policies/a.yaml", "/repo", "policies/a.yaml"),
    ("/repo/p/a.yaml", "/repo", "p/a.yaml"),
    ("/elsewhere/a.yaml", "/repo", "/elsewhere/a.yaml"),
    (None, "/repo", None),
])
def test_repo_path(path, root, expected):
    assert repo_path(path, root) == expected


def test_fingerprint_is_stable_per_model_and_control():
    def fps(d):
        return {r["ruleId"]: r["partialFingerprints"]["mrmGateModelControl/v1"]
                for r in sarif_log([d])["runs"][0]["results"]}
    first, again = blocked(), blocked()
    again.id = "another-evaluation"
    assert fps(first) == fps(again)
    other = blocked()
    other.model.name = "another-model"
    assert set(fps(first).values()).isdisjoint(fps(other).values())


def test_passing_model_has_rules_but_no_results():
    from ci_fixtures import approved

    run = sarif_log([approved()])["runs"][0]
    assert run["results"] == []
    assert len(run["tool"]["driver"]["rules"]) == 3
    assert {o.status for o in approved().outcomes} == {Status.PASS, Status.SKIPPED}
