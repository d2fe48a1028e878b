"""fairness.disparity: rules, binning, intersections, small groups, and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mrm_gate.decision import Status

pytestmark = pytest.mark.suites

DPR = {"metric": "demographic_parity_ratio", "min": 0.8}


def _frame(rates: dict[str, float], n_per_group: int = 200, seed: int = 0) -> pd.DataFrame:
    """Exact selection rates per group; labels random but two-class."""
    rng = np.random.default_rng(seed)
    parts = []
    for g, r in rates.items():
        k = round(r * n_per_group)
        pred = np.r_[np.ones(k, int), np.zeros(n_per_group - k, int)]
        parts.append(pd.DataFrame({"group": g, "prediction": pred,
                                   "risk": rng.integers(0, 2, n_per_group),
                                   "age": rng.integers(18, 80, n_per_group),
                                   "x": rng.normal(size=n_per_group)}))
    return pd.concat(parts, ignore_index=True)


def _ev(make_evidence, frame, **spec):
    spec = {"sensitive": ["group"], "score": None, **spec}
    return make_evidence({"validation": (frame, spec)})


@pytest.mark.parametrize(("rates", "status", "value"), [
    ({"a": 0.62, "b": 0.55}, Status.PASS, 0.55 / 0.62),
    ({"a": 0.62, "b": 0.45}, Status.FAIL, 0.45 / 0.62),
    ({"a": 0.5, "b": 0.5, "c": 0.35}, Status.FAIL, 0.7),
])
def test_four_fifths_rule(make_evidence, run, rates, status, value):
    res = run("fairness.disparity", {"rules": [DPR]}, _ev(make_evidence, _frame(rates)))
    assert res.status == status, res.message
    assert res.measured["group: demographic_parity_ratio"] == pytest.approx(value, abs=1e-3)
    assert {row["group"] for row in res.details["groups"]} == set(rates)
    assert res.figures and res.figures[0].data.startswith("<svg")


def test_measured_values_equal_fairlearn_on_german_credit(make_evidence, run, splits):
    fm = pytest.importorskip("fairlearn.metrics")
    val = splits["validation"]
    rules = [{"metric": "demographic_parity_ratio", "min": 0},
             {"metric": "equalized_odds_difference", "max": 1},
             {"metric": "true_positive_rate", "aggregate": "difference", "method": "to_overall",
              "max": 1}]
    res = run("fairness.disparity", {"sensitive": ["sex"], "rules": rules,
                                     "min_group_size": 1},
              make_evidence({"validation": val}))
    assert res.status == Status.PASS, res.message
    kw = {"y_true": val["risk"], "y_pred": val["prediction"], "sensitive_features": val["sex"]}
    assert res.measured["sex: demographic_parity_ratio"] == pytest.approx(
        fm.demographic_parity_ratio(**kw), abs=1e-12)
    assert res.measured["sex: equalized_odds_difference"] == pytest.approx(
        fm.equalized_odds_difference(**kw), abs=1e-12)
    mf = fm.MetricFrame(metrics=fm.true_positive_rate, **kw)
    assert res.measured["sex: true_positive_rate_difference (to overall)"] == pytest.approx(
        mf.difference(method="to_overall"), abs=1e-12)


def test_continuous_attribute_binned_by_declared_edges_and_intersections(make_evidence, run,
                                                                        splits):
    params = {"rules": [{"metric": "demographic_parity_ratio", "min": 0.0}],
              "bins": {"age": [25, 40, 60]}, "intersections": True, "min_group_size": 5,
              "small_groups": "include"}
    res = run("fairness.disparity", params, make_evidence({"validation": splits["validation"]}))
    assert res.status == Status.PASS, res.message
    groups = {(r["attribute"], r["group"]) for r in res.details["groups"]}
    assert {("age", "< 25"), ("age", "[25, 40)"), ("age", "[40, 60)"), ("age", ">= 60")} <= \
        groups
    assert ("sex x age", "female & < 25") in groups
    assert set(res.measured) == {"sex: demographic_parity_ratio", "age: demographic_parity_ratio",
                                 "sex x age: demographic_parity_ratio"}


@pytest.mark.parametrize(("policy", "status", "flag"), [
    ("fail", Status.FAIL, "small: n < min_group_size"),
    ("include", Status.PASS, "small: n < min_group_size"),
    ("exclude", Status.PASS, "excluded: n < min_group_size"),
])
def test_small_groups_are_reported_and_policy_decides(make_evidence, run, policy, status, flag):
    frame = pd.concat([_frame({"a": 0.6, "b": 0.58}), _frame({"c": 0.1}, n_per_group=12)],
                      ignore_index=True)
    params = {"rules": [DPR], "min_group_size": 30, "small_groups": policy}
    res = run("fairness.disparity", params, _ev(make_evidence, frame))
    row = next(r for r in res.details["groups"] if r["group"] == "c")
    assert row["n"] == 12 and row["flag"] == flag
    if policy == "include":  # c's 0.1 selection rate counts: the ratio fails
        assert res.status == Status.FAIL
        return
    assert res.status == status, res.message
    if policy == "fail":
        assert "group=c (n=12)" in res.message
    if policy == "exclude":
        assert any("excluded" in n for n in res.notes)


def test_missing_sensitive_values_are_a_reported_group(make_evidence, run):
    frame = _frame({"a": 0.6, "b": 0.58})
    frame.loc[:49, "group"] = None
    res = run("fairness.disparity", {"rules": [DPR]}, _ev(make_evidence, frame))
    assert any(r["group"] == "(missing)" and r["n"] == 50 for r in res.details["groups"])


@pytest.mark.parametrize(("mutate", "params", "fragment"), [
    (lambda f: f.assign(group="a"), {}, "single group"),
    (lambda f: f.assign(risk=1), {}, "one class"),
    (lambda f: f, {"bins": {"age": [20, 30, 200]}}, "empty group"),
    (lambda f: f, {"sensitive": ["age"]}, "declare bin edges"),
    (lambda f: f, {"groups": {"group": ["a", "b", "z"]}}, "empty group"),
    (lambda f: f, {"sensitive": ["nationality"]}, "no column 'nationality'"),
    (lambda f: f, {"bins": {"group": [1, 2]}}, "not numeric"),
    (lambda f: f.assign(prediction=f["x"]), {}, "distinct values, not two classes"),
])
def test_bad_input_is_a_clear_error(make_evidence, run, mutate, params, fragment):
    frame = mutate(_frame({"a": 0.6, "b": 0.5}))
    rules = [{"metric": "equalized_odds_difference", "max": 0.2}]
    if "bins" in params and "age" in params["bins"]:
        params = {**params, "sensitive": ["age"]}
    res = run("fairness.disparity", {"rules": rules, **params}, _ev(make_evidence, frame))
    assert res.status == Status.ERROR
    assert fragment in res.message


def test_predictions_from_score_threshold(make_evidence, run):
    frame = _frame({"a": 0.6, "b": 0.5})
    frame["score"] = frame["prediction"] * 0.5 + 0.25
    ev = _ev(make_evidence, frame.drop(columns=["prediction"]), prediction=None, score="score")
    res = run("fairness.disparity", {"rules": [DPR], "score_threshold": 0.5}, ev)
    assert res.measured["group: demographic_parity_ratio"] == pytest.approx(0.5 / 0.6)


def test_predictions_need_trusted_model_without_prediction_column(make_evidence, run, splits,
                                                                  gbm_dir):
    val = splits["validation"].drop(columns=["prediction"])
    ev = make_evidence({"validation": (val, {"prediction": None, "features": None})},
                       model=gbm_dir)
    params = {"sensitive": ["sex"], "rules": [{"metric": "demographic_parity_ratio", "min": 0}]}
    untrusted = run("fairness.disparity", params, ev)
    assert untrusted.status == Status.ERROR and "trust" in untrusted.message
    trusted = run("fairness.disparity", params, ev, trust=True)
    assert trusted.status == Status.PASS
    assert any("loaded with mlflow.pyfunc" in n for n in trusted.notes)
    expected = run("fairness.disparity", params, make_evidence({"validation": splits[
        "validation"]}))
    assert trusted.measured == pytest.approx(expected.measured)


@pytest.mark.parametrize("bad", [
    {"rules": [{"metric": "selection_rate", "min": 0.8}]},  # group metric without aggregate
    {"rules": [{"metric": "demographic_parity", "min": 0.8}]},
    {"rules": [{"metric": "demographic_parity_ratio"}]},
    {"rules": []},
    {"rules": [DPR], "bins": {"age": [40, 25]}},
    {"rules": [DPR], "small_groups": "drop"},
])
def test_invalid_params_are_rejected_at_policy_load(bad):
    from pydantic import ValidationError

    from mrm_gate.controls.fairness import FairnessParams

    with pytest.raises(ValidationError):
        FairnessParams.model_validate(bad)
