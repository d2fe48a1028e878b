"""data_quality.expectations: GE suites (file / inline), native GE semantics, bad input."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

from mrm_gate.decision import Status

pytestmark = pytest.mark.suites


def E(type_: str, **kwargs) -> dict:
    return {"type": type_, "kwargs": kwargs}


CREDIT_SUITE = [
    E("expect_table_row_count_to_be_between", min_value=100, max_value=100000),
    E("expect_table_columns_to_match_set",
      column_set=["risk", "sex", "job", "housing", "saving_accounts", "checking_account",
                  "credit_amount", "duration", "purpose", "age"], exact_match=False),
    E("expect_column_values_to_not_be_null", column="age"),
    E("expect_column_values_to_be_between", column="age", min_value=18, max_value=100),
    E("expect_column_values_to_be_in_set", column="sex", value_set=["male", "female"]),
    E("expect_column_values_to_be_in_set", column="risk", value_set=[0, 1]),
    E("expect_column_mean_to_be_between", column="credit_amount", min_value=1000,
      max_value=10000),
]


def _ev(make_evidence, frame, **top):
    return make_evidence({"validation": (frame, {"prediction": None, "score": None,
                                                 "sensitive": []})}, **top)


def test_credit_suite_passes(make_evidence, run, credit):
    res = run("data_quality.expectations", {"expectations": CREDIT_SUITE},
              _ev(make_evidence, credit))
    assert res.status == Status.PASS, res.message
    assert res.measured == {"success_share": 1.0, "failed": 0, "evaluated": 7}
    assert "7 expectation(s) evaluated natively" in res.notes[0]


def test_failures_name_counts_and_examples(make_evidence, run, credit):
    params = {"expectations": [E("expect_column_values_to_be_between", column="age",
                                 min_value=18, max_value=70)]}
    res = run("data_quality.expectations", params, _ev(make_evidence, credit))
    assert res.status == Status.FAIL
    over = int((credit["age"] > 70).sum())
    assert f"{over} unexpected" in res.message and "e.g. [" in res.message
    item = res.details["expectations"][0]
    assert item["unexpected"] == over and all(v > 70 for v in item["examples"])


def test_min_success_share(make_evidence, run, credit):
    params = {"expectations": [*CREDIT_SUITE, E("expect_column_values_to_be_unique",
                                                column="age")], "min_success_share": 0.85}
    res = run("data_quality.expectations", params, _ev(make_evidence, credit))
    assert res.status == Status.PASS and res.measured["failed"] == 1
    assert "tolerated" in res.message


@pytest.mark.parametrize("legacy", [False, True])
def test_suite_file_in_the_evidence(make_evidence, run, credit, legacy):
    items = [{("expectation_type" if legacy else "type"): e["type"], "kwargs": e["kwargs"],
              "meta": {}} for e in CREDIT_SUITE]
    key = "expectation_suite_name" if legacy else "name"
    suite = json.dumps({key: "credit", "expectations": items}).encode()
    ev = _ev(make_evidence, credit, extra_files={"suites/credit.json": suite})
    res = run("data_quality.expectations", {"suite": "suites/credit.json"}, ev)
    assert res.status == Status.PASS, res.message
    assert res.details["suite_file"].endswith("credit.json")


def test_great_expectations_engine_writes_nothing(make_evidence, run, credit, tmp_path,
                                                  monkeypatch):
    pytest.importorskip("great_expectations")
    ev = _ev(make_evidence, credit)
    work = tmp_path / "project"
    work.mkdir()
    monkeypatch.chdir(work)
    params = {"expectations": [*CREDIT_SUITE,
                               E("expect_column_value_lengths_to_be_between", column="sex",
                                 min_value=4, max_value=6)]}
    res = run("data_quality.expectations", params, ev)
    assert res.status == Status.PASS, res.message
    assert res.details["engines"] == ["great_expectations", "native"]
    forced = run("data_quality.expectations", {**params, "engine": "great_expectations"}, ev)
    assert forced.status == Status.PASS and forced.details["engines"] == ["great_expectations"]
    assert list(work.iterdir()) == []
    assert os.environ.get("GX_ANALYTICS_ENABLED") == "false"


@pytest.mark.parametrize(("params", "fragment"), [
    ({"expectations": [E("expect_column_values_to_not_be_null", column="nope")]},
     'column "nope" does not exist'),
    ({"expectations": [E("expect_column_values_to_not_be_null", column="nope")],
      "engine": "great_expectations"}, "nope"),
    ({"expectations": [E("expect_everything_to_be_fine", column="age")]},
     "not a valid GE expectation"),
    ({"suite": "suites/missing.json"}, "not found"),
])
def test_bad_input_is_a_clear_error(make_evidence, run, credit, params, fragment):
    res = run("data_quality.expectations", params, _ev(make_evidence, credit))
    assert res.status == Status.ERROR
    assert fragment in res.message


def test_params_need_expectations():
    from pydantic import ValidationError

    from mrm_gate.controls.data_quality import DataQualityParams

    with pytest.raises(ValidationError):
        DataQualityParams.model_validate({"dataset": "validation"})


# ------------------------------------------------ native evaluation == GE's, case by case


def _dq_frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 300
    f = pd.DataFrame({
        "num": rng.normal(50, 10, n),
        "int": rng.integers(0, 10, n),
        "cat": rng.choice(["a", "b", "c", None], n, p=[0.5, 0.3, 0.15, 0.05]),
        "code": rng.choice(["AB-12", "CD-34", "x"], n),
        "empty": np.full(n, np.nan),
    })
    f.loc[rng.choice(n, 20, replace=False), "num"] = np.nan
    f.loc[:5, "int"] = 3
    return f


NATIVE_CASES = [
    E("expect_column_to_exist", column="num"),
    E("expect_column_to_exist", column="missing"),
    E("expect_column_values_to_not_be_null", column="num"),
    E("expect_column_values_to_not_be_null", column="num", mostly=0.9),
    E("expect_column_values_to_not_be_null", column="empty", mostly=0.5),
    E("expect_column_values_to_be_null", column="empty"),
    E("expect_column_values_to_be_null", column="num", mostly=0.05),
    E("expect_column_values_to_be_between", column="num", min_value=30, max_value=70),
    E("expect_column_values_to_be_between", column="num", min_value=30, max_value=70,
      mostly=0.9),
    E("expect_column_values_to_be_between", column="int", min_value=3, strict_min=True),
    E("expect_column_values_to_be_between", column="int", max_value=5, strict_max=True),
    E("expect_column_values_to_be_between", column="empty", min_value=0),
    E("expect_column_values_to_be_in_set", column="cat", value_set=["a", "b"]),
    E("expect_column_values_to_be_in_set", column="int", value_set=[0, 1, 2, 3.0]),
    E("expect_column_values_to_not_be_in_set", column="cat", value_set=["c"], mostly=0.8),
    E("expect_column_values_to_be_unique", column="int"),
    E("expect_column_values_to_be_unique", column="num"),
    E("expect_column_values_to_match_regex", column="code", regex=r"^[A-Z]{2}-\d+$"),
    E("expect_column_values_to_not_match_regex", column="code", regex="x", mostly=0.5),
    E("expect_column_mean_to_be_between", column="num", min_value=45, max_value=55),
    E("expect_column_median_to_be_between", column="int", min_value=4, max_value=4.5),
    E("expect_column_min_to_be_between", column="num", min_value=0),
    E("expect_column_max_to_be_between", column="num", max_value=70, strict_max=True),
    E("expect_column_sum_to_be_between", column="int", min_value=0, max_value=1000),
    E("expect_column_stdev_to_be_between", column="num", min_value=9, max_value=11),
    E("expect_column_unique_value_count_to_be_between", column="cat", min_value=3,
      max_value=3),
    E("expect_column_proportion_of_unique_values_to_be_between", column="int", max_value=0.1),
    E("expect_table_row_count_to_be_between", min_value=100, max_value=300),
    E("expect_table_row_count_to_equal", value=299),
    E("expect_table_column_count_to_equal", value=5),
    E("expect_table_column_count_to_be_between", min_value=6),
    E("expect_table_columns_to_match_set", column_set=["num", "int", "cat", "code", "empty"]),
    E("expect_table_columns_to_match_set", column_set=["num", "int"], exact_match=False),
    E("expect_table_columns_to_match_ordered_list", column_list=["int", "num", "cat", "code",
                                                                 "empty"]),
    E("expect_column_distinct_values_to_be_in_set", column="cat", value_set=["a", "b", "c"]),
    E("expect_column_distinct_values_to_contain_set", column="int", value_set=[0, 11]),
    E("expect_column_distinct_values_to_equal_set", column="cat", value_set=["a", "b", "c"]),
]


@pytest.fixture(scope="module")
def ge_outcomes():
    pytest.importorskip("great_expectations")
    from mrm_gate.controls.data_quality import Expectation, run_with_great_expectations

    items = [Expectation.model_validate(e) for e in NATIVE_CASES]
    return run_with_great_expectations(items, _dq_frame())


@pytest.mark.parametrize("i", range(len(NATIVE_CASES)),
                         ids=[f"{e['type'][7:]}-{i}" for i, e in enumerate(NATIVE_CASES)])
def test_native_evaluation_equals_great_expectations(ge_outcomes, i):
    from mrm_gate.stats._expectations import evaluate_native

    case = NATIVE_CASES[i]
    ours = evaluate_native(case["type"], case["kwargs"], _dq_frame())
    theirs = ge_outcomes[i]
    assert ours is not None, "expected a native evaluation"
    assert theirs.type == case["type"]
    assert ours.success == theirs.success
    if "column_values" in case["type"]:  # map expectations: the same unexpected rows
        assert ours.unexpected_count == theirs.unexpected_count
        assert ours.unexpected_percent == pytest.approx(theirs.unexpected_percent)
    if isinstance(theirs.observed_value, float):
        assert ours.observed_value == pytest.approx(theirs.observed_value, rel=1e-12)
    elif theirs.observed_value is not None and not isinstance(theirs.observed_value, str):
        assert ours.observed_value == theirs.observed_value


@pytest.mark.parametrize("case", [
    E("expect_column_values_to_be_between", column="num", min_value=0,
      row_condition='int>3', condition_parser="pandas"),
    E("expect_column_value_lengths_to_equal", column="code", value=5),
    E("expect_column_values_to_be_between", column="cat", min_value="a"),
    E("expect_column_mean_to_be_between", column="empty", min_value=0),
])
def test_unsupported_cases_go_to_great_expectations(case):
    from mrm_gate.stats._expectations import evaluate_native

    assert evaluate_native(case["type"], case["kwargs"], _dq_frame()) is None
