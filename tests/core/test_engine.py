"""Engine: tier resolution, control selection, fail-closed errors, waivers, verdict rules."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path

import pytest
from core_helpers import GOOD, write

from mrm_gate.controls.context import EvaluationOptions
from mrm_gate.controls.registry import CheckRegistry, check
from mrm_gate.decision import CheckResult, Status, Verdict
from mrm_gate.engine import evaluate
from mrm_gate.errors import PolicyError
from mrm_gate.evidence import load_evidence
from mrm_gate.policy import load_policy, load_waivers

NOW = dt.datetime(2026, 11, 21, tzinfo=dt.timezone.utc)


def ev_with(make_evidence, **changes):
    data = copy.deepcopy(GOOD)
    for dotted, value in changes.items():
        node = data
        *parents, last = dotted.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return load_evidence(str(make_evidence(data)))


def run(policy_file, evidence, target="champion", waivers=()):
    return evaluate(load_policy(policy_file), evidence, target=target, waivers=waivers,
                    options=EvaluationOptions(now=NOW))


# (evidence changes, expected verdict, expected non-passing controls)
VERDICT_CASES = {
    "all pass": ({}, Verdict.APPROVE, {}),
    "block control fails": ({"run__metrics__auc": 0.6}, Verdict.BLOCK, {"MRM-PERF-001": "FAIL"}),
    "warn control fails": ({"run__metrics__ks": 0.1}, Verdict.CONDITIONAL,
                           {"MRM-PERF-003": "FAIL"}),
    "info control fails": ({"run__metrics__brier": 0.5}, Verdict.APPROVE,
                           {"MRM-INFO-001": "FAIL"}),
    "missing metric errors and blocks": ({"run__metrics__auc": None}, Verdict.BLOCK,
                                         {"MRM-PERF-001": "ERROR"}),
    "NaN metric errors and blocks": ({"run__metrics__auc": float("nan")}, Verdict.BLOCK,
                                     {"MRM-PERF-001": "ERROR"}),
    "missing warn metric is conditional": ({"run__metrics__ks": None}, Verdict.CONDITIONAL,
                                           {"MRM-PERF-003": "ERROR"}),
    "empty owner tag fails": ({"model__tags__owner": "  "}, Verdict.BLOCK,
                              {"MRM-DOC-001": "FAIL"}),
}


@pytest.mark.parametrize("changes,verdict,bad", VERDICT_CASES.values(), ids=VERDICT_CASES.keys())
def test_verdict_rules(policy_file, make_evidence, changes, verdict, bad) -> None:
    d = run(policy_file, ev_with(make_evidence, **changes))
    assert d.verdict == verdict, d.reasons
    got = {o.control_id: o.status.value for o in d.outcomes
           if o.status not in (Status.PASS, Status.SKIPPED)}
    assert got == bad
    assert d.policy.sha256 and d.evidence_sha256 and d.id
    for o in d.outcomes:
        assert o.duration_s >= 0 and o.result.message


TIER_CASES = {
    "no tag, no rule: stated default": ({}, "high", "default"),
    "declared tag": ({"model__tags__mrm.risk_tier": "low", "model__tags__mrm.exposure": "10"},
                     "low", "tag"),
    # leaving out the exposure cannot lower the tier below the stated default
    "declared low, exposure absent": ({"model__tags__mrm.risk_tier": "low"}, "high", "default"),
    "rule": ({"model__tags__mrm.exposure": "250000000"}, "critical", "rule"),
    "highest of tag and rule": ({"model__tags__mrm.risk_tier": "low",
                                 "model__tags__mrm.exposure": "250000000"}, "critical", "rule"),
    # unreadable materiality blocks (MRM-GATE-TIER); the reported tier is the stated default
    "non-numeric exposure blocks": ({"model__tags__mrm.exposure": "lots"}, "high", "invalid"),
}


@pytest.mark.parametrize("changes,tier,source", TIER_CASES.values(), ids=TIER_CASES.keys())
def test_tier_resolution(policy_file, make_evidence, changes, tier, source) -> None:
    d = run(policy_file, ev_with(make_evidence, **changes))
    assert (d.tier.tier, d.tier.source) == (tier, source)
    assert d.tier.explanation


def test_declared_tier_unknown_blocks(policy_file, make_evidence) -> None:
    d = run(policy_file, ev_with(make_evidence, **{"model__tags__mrm.risk_tier": "medium"}))
    assert d.verdict == Verdict.BLOCK
    assert d.outcomes[0].control_id == "MRM-GATE-TIER"
    assert "does not define" in d.outcomes[0].result.message


def test_applies_to_selects_by_target(policy_file, make_evidence) -> None:
    ev = ev_with(make_evidence)
    ids_champion = {o.control_id for o in run(policy_file, ev, target="champion").outcomes}
    ids_staging = {o.control_id for o in run(policy_file, ev, target="staging").outcomes}
    assert ids_champion - ids_staging == {"MRM-PERF-002"}


def test_a_crashing_check_is_an_error_not_a_pass(policy_file, make_evidence) -> None:
    from mrm_gate.controls._util import Params

    @check("test.crash", params=Params, summary="always raises")
    def crash(params, ctx) -> CheckResult:
        raise ZeroDivisionError("boom")

    @check("test.bad_return", params=Params, summary="returns garbage")
    def bad_return(params, ctx):
        return "PASS"

    reg = CheckRegistry({"test.crash": crash, "test.bad_return": bad_return})
    import mrm_gate.controls.registry as registry_mod

    saved = registry_mod._default
    registry_mod._default = reg
    try:
        p = write(policy_file.parent / "crash.yaml", """
            apiVersion: mrm-gate/v1
            kind: Policy
            metadata: {name: crash}
            tiering: {default: t}
            tiers:
              t:
                controls:
                  - {id: MRM-T-001, check: test.crash}
                  - {id: MRM-T-002, check: test.bad_return, severity: warn}
        """)
        d = run(p, ev_with(make_evidence))
    finally:
        registry_mod._default = saved
    assert d.verdict == Verdict.BLOCK
    assert [o.status for o in d.outcomes] == [Status.ERROR, Status.ERROR]
    assert "ZeroDivisionError" in d.outcomes[0].result.message


def _waivers(tmp: Path, expires: str, control="MRM-PERF-001", version="*") -> Path:
    return write(tmp / f"waivers-{expires}-{control}.yaml", f"""
        apiVersion: mrm-gate/v1
        kind: Waivers
        waivers:
          - id: W-2026-007
            control: {control}
            model: credit-pd
            version: "{version}"
            reason: Low-default portfolio; AUC is unstable, accepted until recalibration.
            approver: cro@bank.example
            expires: {expires}
    """)


def test_active_waiver_makes_failure_conditional(policy_file, make_evidence, tmp_path) -> None:
    pol = load_policy(policy_file)
    waivers = load_waivers(_waivers(tmp_path, "2027-01-31"), pol)
    d = run(policy_file, ev_with(make_evidence, run__metrics__auc=0.6), waivers=waivers)
    assert d.verdict == Verdict.CONDITIONAL
    o = next(o for o in d.outcomes if o.control_id == "MRM-PERF-001")
    assert o.status == Status.WAIVED and o.waiver.id == "W-2026-007"


def test_expired_waiver_does_not_apply_and_is_reported(policy_file, make_evidence,
                                                       tmp_path) -> None:
    pol = load_policy(policy_file)
    waivers = load_waivers(_waivers(tmp_path, "2026-11-20"), pol)
    d = run(policy_file, ev_with(make_evidence, run__metrics__auc=0.6), waivers=waivers)
    assert d.verdict == Verdict.BLOCK
    o = next(o for o in d.outcomes if o.control_id == "MRM-PERF-001")
    assert o.status == Status.FAIL and o.waiver is None
    assert [w.id for w in o.expired_waivers] == ["W-2026-007"] and o.expired_waivers[0].expired


def test_waiver_for_other_version_does_not_apply(policy_file, make_evidence, tmp_path) -> None:
    pol = load_policy(policy_file)
    waivers = load_waivers(_waivers(tmp_path, "2027-01-31", version="2"), pol)
    d = run(policy_file, ev_with(make_evidence, run__metrics__auc=0.6), waivers=waivers)
    assert d.verdict == Verdict.BLOCK


def test_dangling_waiver_is_an_error(policy_file, tmp_path) -> None:
    pol = load_policy(policy_file)
    with pytest.raises(PolicyError, match="dangling waiver") as info:
        load_waivers(_waivers(tmp_path, "2027-01-31", control="MRM-PERF-009"), pol)
    assert "did you mean" in str(info.value)


def test_no_regression_against_local_baseline(policy_file, make_evidence) -> None:
    ev = ev_with(make_evidence, baselines={"champion": {"version": "2",
                                                        "metrics": {"auc": 0.85}}})
    d = run(policy_file, ev)
    o = next(o for o in d.outcomes if o.control_id == "MRM-PERF-002")
    assert o.status == Status.FAIL and "worse than @champion (v2)" in o.result.message
    ev = ev_with(make_evidence, baselines={"champion": {"version": "2",
                                                        "metrics": {"auc": 0.815}}})
    o = next(o for o in run(policy_file, ev).outcomes if o.control_id == "MRM-PERF-002")
    assert o.status == Status.PASS
    # no baseline: the policy states what happens (default: skip)
    o = next(o for o in run(policy_file, ev_with(make_evidence)).outcomes
             if o.control_id == "MRM-PERF-002")
    assert o.status == Status.SKIPPED


def test_evidence_hash_ignores_gate_tags_and_aliases(make_evidence) -> None:
    a = ev_with(make_evidence)
    b = ev_with(make_evidence, **{"model__tags__mrm.decision": "APPROVE",
                                  "model__aliases": ["champion"]})
    c = ev_with(make_evidence, run__metrics__auc=0.82)
    assert a.content_sha256() == b.content_sha256() != c.content_sha256()
