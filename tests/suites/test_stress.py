"""stress.scenario: shocks on the model's inputs and on the backtest's factors, checked against
independent computations (a linear model's analytic shift, a row-by-row loop, an OLS fitted
here with numpy and the normal distribution from scipy)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from scipy import stats

from mrm_gate.controls.stress import Shock, StressParams
from mrm_gate.decision import Status

pytestmark = pytest.mark.suites

NUMERIC = ["job", "credit_amount", "duration", "age"]
INPUTS = ["job", "credit_amount", "duration", "age", "housing", "saving_accounts",
          "checking_account", "purpose"]
NO_COLUMNS = {"prediction": None, "score": None}


@pytest.fixture(scope="module")
def linear(credit, tmp_path_factory):
    """A linear 'PD' on four numeric inputs, saved as an MLflow model."""
    import mlflow.sklearn
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit(credit[NUMERIC].iloc[:600], credit["risk"].iloc[:600])
    path = tmp_path_factory.mktemp("linear") / "model"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.sklearn.save_model(model, str(path), input_example=credit[NUMERIC].head(3),
                                 pip_requirements=["scikit-learn"])
    return model, path


@pytest.fixture(scope="module")
def small(splits):
    return splits["validation"].head(60).reset_index(drop=True)


def test_linear_model_mean_shift_is_known_analytically(make_evidence, run, linear, small):
    model, path = linear
    ev = make_evidence({"validation": (small, NO_COLUMNS)}, model=path)
    coef = dict(zip(NUMERIC, model.coef_, strict=True))
    res = run("stress.scenario", {"scenarios": {
        "recession": {"inputs": {"duration": "+6", "credit_amount": "x0.9"}},
        "older": {"inputs": {"age": "=30"}},
        "mapping form": {"inputs": {"duration": {"add": -3}, "job": {"multiply": 2}}},
    }}, ev, trust=True)
    assert res.status == Status.PASS, res.message
    out = res.details["model outputs"]
    mean = small[NUMERIC].mean()
    assert out["recession"]["mean score shift"] == pytest.approx(
        6 * coef["duration"] - 0.1 * coef["credit_amount"] * mean["credit_amount"], rel=1e-9)
    assert out["older"]["mean score shift"] == pytest.approx(
        coef["age"] * (30 - mean["age"]), rel=1e-9)
    assert out["mapping form"]["mean score shift"] == pytest.approx(
        -3 * coef["duration"] + coef["job"] * mean["job"], rel=1e-9)
    assert out["recession"]["mean score"] == pytest.approx(
        model.predict(small[NUMERIC]).mean(), rel=1e-12)
    assert res.details["scenarios"]["recession"]["inputs"] == {"duration": "+6",
                                                               "credit_amount": "x0.9"}


def test_flip_rate_equals_a_row_by_row_loop(make_evidence, run, gbm, gbm_dir, small):
    ev = make_evidence({"validation": (small, NO_COLUMNS)}, model=gbm_dir)
    shocks = {"duration": "+12", "checking_account": "=little", "credit_amount": "x1.5"}
    res = run("stress.scenario", {"scenarios": {"tight": {"inputs": shocks}},
                                  "decision_threshold": 0.4}, ev, trust=True)
    assert res.status == Status.PASS, res.message
    flips, shift = 0, 0.0
    for r in range(len(small)):
        row = small.iloc[[r]][INPUTS]
        stressed = row.copy()
        stressed["duration"] = stressed["duration"] + 12
        stressed["checking_account"] = "little"
        stressed["credit_amount"] = stressed["credit_amount"] * 1.5
        a = gbm.predict_proba(row)[0, 1]
        b = gbm.predict_proba(stressed)[0, 1]
        flips += int(a >= 0.4) != int(b >= 0.4)
        shift += (b - a) / len(small)
    got = res.details["model outputs"]["tight"]
    assert got["flip rate"] == pytest.approx(flips / len(small), abs=1e-12)
    assert got["mean score shift"] == pytest.approx(shift, abs=1e-12)
    assert 0 < flips < len(small)
    failing = run("stress.scenario", {"scenarios": {"tight": {"inputs": shocks}},
                                      "decision_threshold": 0.4, "max_flip_rate": 0.0,
                                      "max_mean_shift": abs(shift) / 2}, ev, trust=True)
    assert failing.status == Status.FAIL
    assert "tight: mean score shift" in failing.message and "decisions flipped" in failing.message
    assert [f.title for f in failing.figures] == ["Stress: decisions flipped"]
    assert failing.figures[0].data.startswith("<svg") and "tight" in failing.figures[0].data


def _backtest(seed: int = 7, n: int = 24) -> pd.DataFrame:
    """Quarterly losses whose coverage worsens with last quarter's unemployment."""
    rng = np.random.default_rng(seed)
    unemployment = 5 + np.cumsum(rng.normal(0, 0.4, n))
    gdp = rng.normal(2, 1, n)
    el = 10.0 * (1 + 0.01 * np.arange(n))
    shock = np.r_[0.0, 0.03 * (unemployment[:-1] - 5)] + rng.normal(0, 0.02, n)
    return pd.DataFrame({"period": [f"p{i:02d}" for i in range(n)], "expected_loss": el,
                         "margin": 0.03 * el, "realised_loss": el * (1 + shock),
                         "exposure": 2000.0, "unemployment": unemployment, "gdp": gdp})


@pytest.fixture
def bt_ev(make_evidence):
    frame = _backtest()
    return frame, make_evidence({}, extra_files={"backtest.csv": frame.to_csv(
        index=False).encode()}, backtest={"path": "backtest.csv"})


def test_factor_scenario_matches_an_independent_ols_and_normal_law(bt_ev, run):
    """No model needed (and no trust): the scenario only shocks backtest factors."""
    from mrm_gate.risk import backtest_from_frame

    frame, ev = bt_ev
    res = run("stress.scenario", {"scenarios": {
        "recession": {"factors": {"unemployment": "+3", "gdp": "=-2"}},
        "boom": {"factors": {"unemployment": "x0.8"}}}, "mre": 1000.0}, ev)
    assert res.status == Status.PASS, res.message
    d = backtest_from_frame(frame.drop(columns=["unemployment", "gdp"])).gaps()
    e = frame[["unemployment", "gdp"]].to_numpy()
    x = np.column_stack([np.ones(len(d) - 1), e[:-1]])
    beta, *_ = np.linalg.lstsq(x, d[1:], rcond=None)
    resid = d[1:] - x @ beta
    sigma = np.sqrt(resid @ resid / (len(resid) - x.shape[1]))
    m = float(backtest_from_frame(frame).margin_ratios().mean())
    latest = e[-1]
    rows = res.details["gap risk (systemic variant)"]
    for name, values in (("(latest factors)", latest),
                         ("recession", np.array([latest[0] + 3, -2.0])),
                         ("boom", np.array([latest[0] * 0.8, latest[1]]))):
        mu = beta[0] + values @ beta[1:]
        mr2 = stats.norm.cdf(-mu / sigma)
        mr1 = stats.norm.cdf((m - mu) / sigma) - mr2
        lgmr2 = sigma * stats.norm.pdf(mu / sigma) / mr2 - mu
        el_rm2 = 1000.0 * lgmr2 * mr2  # MRE given: independent of the gap scaling
        row = rows[name]
        assert row["gap mean"] == pytest.approx(mu, rel=1e-9)
        assert row["MR2"] == pytest.approx(mr2, rel=1e-9)
        assert row["MR1"] == pytest.approx(mr1, rel=1e-9)
        assert row["EL_RM(2)"] == pytest.approx(el_rm2, rel=1e-9)
        if name != "(latest factors)":
            assert row["factors"]["unemployment"] == pytest.approx(values[0], rel=1e-12)
    assert rows["recession"]["MR2"] > rows["(latest factors)"]["MR2"] > rows["boom"]["MR2"]
    assert res.measured["recession"]["MR2"] == rows["recession"]["MR2"]
    limit = (rows["recession"]["MR2"] + rows["(latest factors)"]["MR2"]) / 2
    failing = run("stress.scenario", {"scenarios": {"recession": {"factors": {
        "unemployment": "+3", "gdp": "=-2"}}}, "max_mr2": limit}, ev)
    assert failing.status == Status.FAIL and "recession: MR2" in failing.message
    assert [f.title for f in failing.figures] == ["Stress: model risk under the scenarios"]
    el_limit = rows["recession"]["EL_RM(2)"] * 0.99
    failing_el = run("stress.scenario", {"scenarios": {"recession": {"factors": {
        "unemployment": "+3", "gdp": "=-2"}}}, "max_el_rm2": el_limit, "mre": 1000.0}, ev)
    assert failing_el.status == Status.FAIL and "EL_RM(2)" in failing_el.message


@pytest.mark.parametrize(("params", "trust", "fragment"), [
    ({"scenarios": {"r": {"inputs": {"incme": "x0.9"}}}}, True,
     "scenario 'r' shocks 'incme', which is not an input of the model"),
    ({"scenarios": {"r": {"factors": {"unemploymnt": "+3"}}}}, False,
     "scenario 'r' shocks factor 'unemploymnt', which is not a factor column"),
    ({"scenarios": {"r": {"inputs": {"housing": "+1"}}}}, True,
     "input 'housing' holds categories"),
    ({"scenarios": {"r": {"inputs": {"age": "=old"}}}}, True, "input 'age' is numeric"),
    ({"scenarios": {"r": {"inputs": {"housing": {"set": 3}}}}}, True,
     "input 'housing' holds categories"),
    ({"scenarios": {"r": {"inputs": {"age": "+1"}}}}, False, "--trust-model-code"),
])
def test_bad_scenarios_are_errors_naming_scenario_and_name(make_evidence, run, gbm_dir, small,
                                                           params, trust, fragment):
    frame = _backtest()
    ev = make_evidence({"validation": (small, NO_COLUMNS)}, model=gbm_dir,
                       extra_files={"backtest.csv": frame.to_csv(index=False).encode()},
                       backtest={"path": "backtest.csv"})
    res = run("stress.scenario", params, ev, trust=trust)
    assert res.status == Status.ERROR and fragment in res.message, res.message


def test_factor_shocks_without_a_backtest_are_an_error(make_evidence, run):
    res = run("stress.scenario", {"scenarios": {"r": {"factors": {"u": "+3"}}}},
              make_evidence({}))
    assert res.status == Status.ERROR and "the evidence has no backtest" in res.message


@pytest.mark.parametrize(("text", "expected"), [
    ("+3.0", {"add": 3.0}), ("-0.5", {"add": -0.5}), ("+ 2", {"add": 2.0}),
    ("x0.9", {"multiply": 0.9}), ("×1.1", {"multiply": 1.1}), ("*2e-1", {"multiply": 0.2}),
    ("=7.5", {"set": 7.5}), ("=-1", {"set": -1.0}), ("=north", {"set": "north"}),
    ({"add": 1}, {"add": 1.0}), ({"set": "a b"}, {"set": "a b"}),
])
def test_shock_grammar(text, expected):
    shock = Shock.model_validate(text)
    assert {k: v for k, v in shock.model_dump().items() if v is not None} == expected


@pytest.mark.parametrize("bad", [
    3.0, 3, True, "3", "", "=", "+", "x", "x-1e400", "+1e400", "+nan", "xinf", "++1",
    "x0.9; import os", "__import__('os')", "+1 +1", {"add": 1, "multiply": 2}, {},
    {"add": float("nan")}, {"add": True}, {"divide": 2}, None, [1],
])
def test_malformed_shocks_are_refused(bad):
    with pytest.raises(ValidationError):
        StressParams.model_validate({"scenarios": {"s": {"inputs": {"x": bad}}}})


@pytest.mark.parametrize(("params", "fragment"), [
    ({"scenarios": {}}, "at least 1"),
    ({"scenarios": {"s": {}}}, "at least one of inputs or factors"),
    ({"scenarios": {"s": {"inputs": {"x": "+1"}}}, "variables": ["y"]}, "not among variables"),
    ({"scenarios": {"s": {"factors": {"u": "=high"}}}}, "a factor is a number"),
    ({"scenarios": {"s": {"factors": {"u": "+1"}}}, "max_flip_rate": 0.1},
     "need a scenario with inputs"),
    ({"scenarios": {"s": {"factors": {"u": "+1"}}}, "max_mr3": 0.1}, "needs ybar"),
])
def test_inconsistent_params_are_refused(params, fragment):
    with pytest.raises(ValidationError) as info:
        StressParams.model_validate(params)
    assert fragment in str(info.value)


def test_a_bad_shock_is_a_policy_error_with_file_and_line(tmp_path):
    from mrm_gate.errors import PolicyError
    from mrm_gate.policy import load_policy

    policy = {"apiVersion": "mrm-gate/v1", "kind": "Policy",
              "metadata": {"name": "t", "version": "1"}, "tiering": {"default": "low"},
              "tiers": {"low": {"controls": [{
                  "id": "X-STRESS-1", "check": "stress.scenario", "description": "d",
                  "params": {"scenarios": {"recession": {"inputs": {"income": 0.9}}}}}]}}}
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(policy, sort_keys=False))
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    text = str(info.value) + "".join(str(i) for i in getattr(info.value, "items", []))
    assert "p.yaml:" in text and "ambiguous" in text and "recession.inputs.income" in text


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=12), st.text(alphabet="+-x×*=.0123456789eEna ", max_size=10),
                 st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none(),
                 st.dictionaries(st.sampled_from(["add", "multiply", "set", "other"]),
                                 st.one_of(st.floats(), st.text(max_size=5), st.booleans()),
                                 max_size=2)))
def test_any_shock_text_parses_to_one_finite_operation_or_is_refused(value):
    try:
        shock = Shock.model_validate(value)
    except ValidationError:
        return
    given_ops = [v for v in (shock.add, shock.multiply, shock.set) if v is not None]
    assert len(given_ops) == 1
    if not isinstance(given_ops[0], str):
        assert np.isfinite(given_ops[0])


def test_non_finite_stressed_scores_are_an_error(make_evidence, run, tmp_path):
    """2 x 20 x 8e306 overflows to an infinite score; 100 x 8e306 to an infinite input."""
    import mlflow.sklearn
    from sklearn.linear_model import LinearRegression

    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 8e306] * 5})
    model = LinearRegression().fit(frame[["x"]].head(3), 2 * frame["x"].head(3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.sklearn.save_model(model, str(tmp_path / "lin"), input_example=frame.head(2),
                                 pip_requirements=["scikit-learn"])
    ev = make_evidence({"validation": (frame, {**NO_COLUMNS, "sensitive": []})},
                       model=tmp_path / "lin")
    ok = run("stress.scenario", {"scenarios": {"s": {"inputs": {"x": "x2"}}}}, ev, trust=True)
    assert ok.status == Status.PASS, ok.message
    res = run("stress.scenario", {"scenarios": {"s": {"inputs": {"x": "x20"}}}}, ev, trust=True)
    assert res.status == Status.ERROR and "non-finite score" in res.message
    assert "scenario 's'" in res.message
    over = run("stress.scenario", {"scenarios": {"s": {"inputs": {"x": "x100"}}}}, ev,
               trust=True)
    assert over.status == Status.ERROR
    assert "scenario 's': x100 on input 'x' gives 5 non-finite value(s)" in over.message
