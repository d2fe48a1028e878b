"""drift.features / drift.prediction: levels, shares, methods, caching, and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mrm_gate.decision import Status

pytestmark = pytest.mark.suites


def _pair(n: int = 4000, shift: dict[str, float] | None = None, seed: int = 0):
    rng = np.random.default_rng(seed)

    def frame(offsets):
        return pd.DataFrame({
            "income": rng.lognormal(10 + offsets.get("income", 0), 0.5, n),
            "age": rng.integers(18, 80, n).astype(float) + offsets.get("age", 0),
            "utilisation": rng.beta(2, 5 + offsets.get("utilisation", 0), n),
            "region": rng.choice(["north", "south", "east"], n,
                                 p=[0.5, 0.3, 0.2] if "region" not in offsets else
                                 [0.2, 0.3, 0.5]),
        })

    return frame({}), frame(shift or {})


def _ev(make_evidence, ref, cur):
    roles = {"target": None, "prediction": None, "score": None, "sensitive": []}
    return make_evidence({"reference": (ref, roles), "current": (cur, roles)})


def test_same_distribution_is_green(make_evidence, run):
    res = run("drift.features", {}, _ev(make_evidence, *_pair()))
    assert res.status == Status.PASS, res.message
    assert res.measured["green"] == 4 and res.measured["drifted_share"] == 0
    assert [r["column"] for r in res.details["columns"]] == ["income", "age", "utilisation",
                                                             "region"]
    assert {f.title for f in res.figures} >= {"Drift per column: psi"}


@pytest.mark.parametrize(("fail_on", "status"), [("red", Status.FAIL), ("yellow", Status.FAIL)])
def test_shifted_feature_is_red(make_evidence, run, fail_on, status):
    ref, cur = _pair(shift={"income": 0.5})
    res = run("drift.features", {"fail_on": fail_on}, _ev(make_evidence, ref, cur))
    assert res.status == status
    row = next(r for r in res.details["columns"] if r["column"] == "income")
    assert row["level"] == "red" and row["psi"] > 0.25 and row["psi level"] == "red"
    assert "income (psi" in res.message
    assert any(f.title == "Distribution of income" for f in res.figures)


def test_yellow_level_warns_only_at_yellow(make_evidence, run):
    ref, cur = _pair(shift={"income": 0.2}, n=20000)
    ev = _ev(make_evidence, ref, cur)
    cache: dict = {}
    red = run("drift.features", {"fail_on": "red"}, ev, cache=cache)
    yellow = run("drift.features", {"fail_on": "yellow"}, ev, cache=cache)
    level = next(r for r in red.details["columns"] if r["column"] == "income")["level"]
    assert level == "yellow"
    assert red.status == Status.PASS and "yellow: income (psi" in red.message
    assert yellow.status == Status.FAIL


def test_statistics_are_computed_once_per_evaluation(make_evidence, run):
    ev = _ev(make_evidence, *_pair())
    cache: dict = {}
    run("drift.features", {"fail_on": "red"}, ev, cache=cache)
    stats_keys = {k for k in cache if k.startswith("drift:")}
    frames = [v for k, v in cache.items() if k.startswith("dataset-frame:")]
    run("drift.features", {"fail_on": "yellow"}, ev, cache=cache)
    assert {k for k in cache if k.startswith("drift:")} == stats_keys
    assert [v for k, v in cache.items() if k.startswith("dataset-frame:")] == frames


def test_max_drifted_share(make_evidence, run):
    ref, cur = _pair(shift={"income": 0.5})
    ev = _ev(make_evidence, ref, cur)
    assert run("drift.features", {"max_drifted_share": 0.3}, ev).status == Status.PASS
    assert run("drift.features", {"max_drifted_share": 0.2}, ev).status == Status.FAIL


def test_methods_thresholds_and_per_column_overrides(make_evidence, run):
    ref, cur = _pair(shift={"region": 1})
    params = {"numeric_methods": ["psi", "ks", "wasserstein", "jensenshannon"],
              "categorical_methods": ["chisquare", "jensenshannon", "psi"],
              "thresholds": {"ks": {"yellow": 0.01, "red": 0.001}},
              "per_column": {"age": {"methods": ["ks"], "red": 1e-9, "yellow": 1e-6}}}
    res = run("drift.features", params, _ev(make_evidence, ref, cur))
    rows = {r["column"]: r for r in res.details["columns"]}
    assert {"psi", "ks", "wasserstein", "jensenshannon", "ks statistic"} <= set(rows["income"])
    assert "psi" not in rows["age"] and "ks" in rows["age"]
    levels = {(lv["method"], tuple(lv["columns"])): lv for lv in res.details["levels"]}
    assert levels[("ks", ("income", "utilisation"))]["yellow"] == 0.01
    assert levels[("ks", ("age",))]["red"] == 1e-9
    assert rows["region"]["level"] == "red" and rows["region"]["chisquare"] < 1e-9
    assert res.status == Status.FAIL


def test_evidently_method_by_name(make_evidence, run):
    pytest.importorskip("evidently")
    ref, cur = _pair(n=800, shift={"age": 10})
    params = {"columns": ["age", "income"], "numeric_methods": ["evidently:anderson"]}
    res = run("drift.features", params, _ev(make_evidence, ref, cur))
    rows = {r["column"]: r for r in res.details["columns"]}
    assert rows["age"]["evidently:anderson level"] == "red"
    assert rows["income"]["evidently:anderson level"] == "green"


def test_prediction_drift_on_score(make_evidence, run, splits):
    ev = make_evidence({"validation": splits["validation"], "current": splits["current"]})
    res = run("drift.prediction", {"reference": "validation"}, ev)
    assert res.status == Status.PASS, res.message
    assert res.details["columns"][0]["column"] == "model score"
    high = splits["current"].assign(score=lambda d: np.clip(d["score"] + 0.3, 0, 1))
    ev2 = make_evidence({"validation": splits["validation"], "current": high})
    assert run("drift.prediction", {"reference": "validation"}, ev2).status == Status.FAIL


def test_prediction_drift_runs_the_trusted_model_when_the_reference_has_no_score(
        make_evidence, run, splits, gbm_dir):
    ref = splits["reference"].drop(columns=["score", "prediction"])
    ev = make_evidence({"reference": (ref, {"score": None, "prediction": None}),
                        "current": splits["current"]}, model=gbm_dir)
    assert run("drift.prediction", {}, ev).status == Status.ERROR
    res = run("drift.prediction", {"column": "score"}, ev, trust=True)
    assert res.status == Status.PASS, res.message
    assert any("mlflow.pyfunc" in n for n in res.notes)


@pytest.mark.parametrize(("mutate", "fragment"), [
    (lambda r, c: (r, c.drop(columns=["age"])), "mismatched schemas"),
    (lambda r, c: (r, c.assign(age=c["age"].astype(str) + "y")), "mismatched schemas"),
    (lambda r, c: (r, c.assign(income=np.nan)), "all NaN"),
    (lambda r, c: (r.assign(income=np.nan), c), "all NaN"),
])
def test_bad_input_is_a_clear_error(make_evidence, run, mutate, fragment):
    ref, cur = mutate(*_pair(n=500))
    res = run("drift.features", {"columns": ["income", "age", "region"]},
              _ev(make_evidence, ref, cur))
    assert res.status == Status.ERROR
    assert fragment in res.message


@pytest.mark.parametrize("bad", [
    {"numeric_methods": ["chisquare"]},
    {"numeric_methods": ["bogus"]},
    {"thresholds": {"psi": {"yellow": 0.3, "red": 0.1}}},
    {"thresholds": {"ks": {"yellow": 0.01, "red": 0.05}}},
    {"fail_on": "amber"},
])
def test_invalid_params_are_rejected(bad):
    from pydantic import ValidationError

    from mrm_gate.controls.drift import DriftParams

    with pytest.raises(ValidationError):
        DriftParams.model_validate(bad)
