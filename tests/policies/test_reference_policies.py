"""The reference policy library: valid, proportionate, mapped, and fully tested."""

from __future__ import annotations

import pytest
from policy_helpers import POLICIES, REFERENCE, TESTS_DIR

from mrm_gate.cli import run
from mrm_gate.policy import load_policy
from mrm_gate.policy.coverage import coverage
from mrm_gate.policy.diff import diff_policies
from mrm_gate.policy.refs import split_ref
from mrm_gate.policy_tests import run_tests

FRAMEWORK_OF = {"sr26-2.yaml": "sr26-2", "eu-ai-act-high-risk.yaml": "eu-ai-act",
                "nist-ai-rmf.yaml": "nist-ai-rmf", "iso-42001.yaml": "iso-42001"}


@pytest.fixture(scope="module")
def policies():
    return {name: load_policy(POLICIES / name) for name in REFERENCE}


@pytest.fixture(scope="module")
def suite():
    return run_tests([TESTS_DIR])


def test_reference_and_example_policies_validate(capsys):
    files = [str(POLICIES / n) for n in (*REFERENCE, "example-credit.yaml")]
    assert run(["policy", "validate", *files]) == 0
    assert capsys.readouterr().out.count("ok: ") == len(files)


def test_tiers_add_controls_proportionately(policies):
    for name, p in policies.items():
        assert p.tier_names == ["low", "medium", "high", "critical"], name
        for lower, higher in zip(p.tier_names, p.tier_names[1:], strict=False):
            low_ids = {rc.id for rc in p.effective[lower]}
            high_ids = {rc.id for rc in p.effective[higher]}
            assert low_ids < high_ids, f"{name}: {higher} must add to {lower}"


def test_default_tiers_follow_the_issue(policies):
    p = policies["default.yaml"]
    checks = {t: {rc.control.check for rc in p.effective[t]} for t in p.tier_names}
    assert checks["low"] == {"metadata.required"}
    assert {"performance.threshold", "performance.no_regression"} <= checks["medium"]
    assert "governance.independent_validation" in checks["high"] - checks["medium"]
    assert "governance.approvals" in checks["critical"] - checks["high"]
    age = {t: rc.params.max_age_days for t in ("high", "critical") for rc in p.effective[t]
           if rc.control.check == "governance.review_age"}
    assert age["critical"] < age["high"]
    assert p.tiering.default == "high" and p.tiering.precedence == "highest"


@pytest.mark.parametrize("name", list(FRAMEWORK_OF))
def test_framework_policies_only_add_to_default(policies, name):
    d = diff_policies(policies["default.yaml"], policies[name])
    assert not d.loosens, [c.what for c in d.changes if c.kind in ("removed", "loosened")]
    assert d.counts()["added"] >= 2


@pytest.mark.parametrize("name", REFERENCE)
def test_every_control_cites_the_clauses_it_serves(policies, name):
    p = policies[name]
    own_framework = FRAMEWORK_OF.get(name)
    for tier in p.tier_names:
        for rc in p.effective[tier]:
            assert rc.control.refs, f"{name}: {rc.id} has no refs"
            assert rc.control.description and rc.control.remediation, rc.id
            if own_framework and not rc.id.startswith("MRM-"):
                frameworks = {split_ref(r)[0] for r in rc.control.refs}
                assert own_framework in frameworks, f"{rc.id} cites no {own_framework} clause"


def test_eu_policy_serves_articles_9_to_15_and_annex_iv(policies):
    report = coverage(policies["eu-ai-act-high-risk.yaml"], "eu-ai-act", tier="high")
    status = {c.id: c.status for c in report.clauses}
    for clause in ("art-9", "art-10", "art-11", "art-12", "art-13", "art-14", "art-15",
                   "annex-iv"):
        assert status[clause] != "none", clause


@pytest.mark.parametrize(("name", "framework", "minimum"), [
    ("sr26-2.yaml", "sr26-2", 0.5), ("eu-ai-act-high-risk.yaml", "eu-ai-act", 0.4),
    ("nist-ai-rmf.yaml", "nist-ai-rmf", 0.3), ("iso-42001.yaml", "iso-42001", 0.4),
])
def test_framework_policies_cover_a_fair_share_of_their_framework(policies, name, framework,
                                                                   minimum):
    assert coverage(policies[name], framework).summary()["leaf_share"] >= minimum


def test_reference_policy_tests_pass(suite):
    failed = [(r.title, r.problems) for r in suite.results if not r.ok]
    assert not failed
    reference = {"default", "sr26-2", "eu-ai-act-high-risk", "nist-ai-rmf", "iso-42001"}
    tested = {r.policy_name for r in suite.results}
    assert reference <= tested
    # other policies under test are fixtures of the test library (e.g. for a check no reference
    # policy uses yet), never files elsewhere
    fixtures = (TESTS_DIR / "fixtures").resolve()
    for r in suite.results:
        if r.policy_name not in reference:
            assert fixtures in (TESTS_DIR / r.policy).resolve().parents, r.policy


def test_every_control_of_every_reference_policy_has_a_passing_and_a_failing_case(
        suite, policies):
    covered = {path for path in suite.coverage}
    for name in REFERENCE:
        assert str((POLICIES / name).resolve()) in covered, name
    gaps = [(c.policy.rsplit("/", 1)[-1], c.control,
             "passing" if not c.passing_cases else "failing") for c in suite.coverage_gaps()]
    assert not gaps
    total = sum(len(p.control_ids()) for p in policies.values())
    reference = {str((POLICIES / name).resolve()) for name in REFERENCE}
    assert sum(len(c) for path, c in suite.coverage.items() if path in reference) == total


def test_policy_test_cli_over_the_library(capsys):
    # the whole library runs once, in the `suite` fixture; here one policy's cases via the CLI
    assert run(["policy", "test", str(TESTS_DIR), "-k", "iso-42001 ::"]) == 0
    out = capsys.readouterr().out
    assert "not ok" not in out and "ok 1 - iso-42001 :: " in out
