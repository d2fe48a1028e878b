"""robustness.perturbation on real MLflow models: every number recomputed independently.

The flip rates are recomputed with a plain loop over rows (one model call per row), the metric
decay with scikit-learn's roc_auc_score / accuracy_score, the perturbations themselves from the
recipe the check documents (seed sequence [seed, i, j], a uniform per row, then the draw).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from mrm_gate.controls.robustness import Perturbation, RobustnessParams, perturb
from mrm_gate.decision import Status

pytestmark = pytest.mark.suites

INPUTS = ["job", "credit_amount", "duration", "age", "housing", "saving_accounts",
          "checking_account", "purpose"]
NOISE = [{"kind": "relative", "delta": 0.2}, {"kind": "gaussian", "k": 0.5},
         {"kind": "swap", "to": "neighbour", "rate": 0.3}]


@pytest.fixture(scope="module")
def small(splits):
    """50 validation rows with the account NaNs filled (the GBM refuses NaN)."""
    df = splits["validation"].head(50).copy()
    for c in ("saving_accounts", "checking_account"):
        df[c] = df[c].fillna("unknown")
    return df


@pytest.fixture
def ev(make_evidence, small, gbm_dir):
    return make_evidence({"validation": (small, {"prediction": None, "score": None})},
                         model=gbm_dir)


@pytest.fixture(scope="module")
def result_cache():
    return {}


def _perturbed(small: pd.DataFrame, pert: dict, i: int, feature: str, seed: int = 0):
    """The check's recipe, redone here: one column, one perturbation."""
    from mrm_gate.controls.robustness import _levels

    p = Perturbation(**pert)
    values = small[feature].to_numpy()
    numeric = pd.api.types.is_numeric_dtype(small[feature].dtype)
    rng = np.random.default_rng([seed, i, INPUTS.index(feature)])
    return perturb(values, p, rng, numeric=numeric,
                   sigma=float(np.nanstd(values.astype(float))) if numeric else 0.0,
                   levels=None if numeric else _levels(values))


def _loop_scores(model, frame: pd.DataFrame) -> np.ndarray:
    """One predict_proba call per row: the slow reference the batched check must equal."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.array([model.predict_proba(frame.iloc[[r]][INPUTS])[0, 1]
                         for r in range(len(frame))])


def test_flip_rate_and_decay_equal_a_row_by_row_loop_and_sklearn(ev, run, gbm, small):
    from sklearn.metrics import accuracy_score, roc_auc_score

    res = run("robustness.perturbation", {"perturbations": NOISE, "max_flip_rate": None,
                                          "max_decay": {}, "metrics": ["roc_auc", "accuracy"]},
              ev, trust=True)
    assert res.status == Status.PASS, res.message
    rows = {(r["perturbation"], r["feature"]): r for r in res.details["perturbations"]}
    y = (small["risk"] == 1).to_numpy()
    base = _loop_scores(gbm, small)
    assert res.details["baseline"]["roc_auc"] == pytest.approx(roc_auc_score(y, base), abs=1e-12)
    checked = 0
    for i, pert in enumerate(NOISE):
        label = Perturbation(**pert).label
        features = ["duration", "age"] if pert["kind"] != "swap" else ["purpose", "housing"]
        for feature in features:
            frame = small.copy()
            frame[feature] = _perturbed(small, pert, i, feature)
            scores = _loop_scores(gbm, frame)
            flips = sum(int(scores[r] >= 0.5) != int(base[r] >= 0.5) for r in range(len(small)))
            row = rows[(label, feature)]
            assert row["flip rate"] == pytest.approx(flips / len(small), abs=1e-12)
            assert row["roc_auc decay"] == pytest.approx(
                roc_auc_score(y, base) - roc_auc_score(y, scores), abs=1e-12)
            assert row["accuracy decay"] == pytest.approx(
                accuracy_score(y, base >= 0.5) - accuracy_score(y, scores >= 0.5), abs=1e-12)
            checked += 1
        # all features at once: the union of the per-feature perturbations
        frame = small.copy()
        applicable = [f for f in INPUTS if (pert["kind"] == "swap") != pd.api.types.
                      is_numeric_dtype(small[f].dtype)]
        for f in applicable:
            frame[f] = _perturbed(small, pert, i, f)
        scores = _loop_scores(gbm, frame)
        all_row = rows[(label, "(all features)")]
        assert all_row["flip rate"] == pytest.approx(
            np.mean((scores >= 0.5) != (base >= 0.5)), abs=1e-12)
        assert all_row["roc_auc"] == pytest.approx(roc_auc_score(y, scores), abs=1e-12)
    assert checked == 6


def test_thresholds_fail_naming_the_worst_feature_with_a_figure(ev, run):
    params = {"perturbations": [{"kind": "relative", "delta": 0.5}], "max_flip_rate": 0.0,
              "max_decay": {"roc_auc": 0.0}}
    res = run("robustness.perturbation", params, ev, trust=True)
    assert res.status == Status.FAIL
    assert "flip more than 0.00% of the decisions" in res.message
    assert "roc_auc decays by more than 0" in res.message
    worst = res.measured["worst features"][0]
    ranking = res.details["features"]
    assert ranking[0]["feature"] == worst
    assert ranking[0]["worst flip rate"] == max(r["worst flip rate"] for r in ranking)
    assert res.figures and res.figures[0].data.startswith("<svg") and worst in res.figures[0].data
    lenient = run("robustness.perturbation", {**params, "max_flip_rate": 1.0,
                                              "max_decay": {"roc_auc": 1.0}}, ev, trust=True)
    assert lenient.status == Status.PASS, lenient.message
    assert lenient.measured["worst flip rate"] == res.measured["worst flip rate"]


def test_same_seed_same_numbers_other_seed_other_draws(ev, run):
    params = {"perturbations": [{"kind": "gaussian", "k": 1.0}], "max_flip_rate": None}
    a = run("robustness.perturbation", params, ev, trust=True, seed=1)
    b = run("robustness.perturbation", params, ev, trust=True, seed=1)
    c = run("robustness.perturbation", params, ev, trust=True, seed=2)
    assert a.details["perturbations"] == b.details["perturbations"]
    assert a.details["perturbations"] != c.details["perturbations"]
    assert any("seed 1" in n for n in a.notes)


def test_a_model_that_cannot_score_missing_values_fails_naming_it(ev, run):
    res = run("robustness.perturbation", {"perturbations": [{"kind": "missing", "rate": 0.2}],
                                          "max_decay": {}}, ev, trust=True)
    assert res.status == Status.FAIL
    assert "cannot score missing values, 20% of rows" in res.message
    assert "NaN" in res.message


def test_untrusted_model_is_an_error(ev, run):
    res = run("robustness.perturbation", {}, ev, trust=False)
    assert res.status == Status.ERROR and "--trust-model-code" in res.message


@pytest.mark.parametrize(("params", "overrides", "fragment"), [
    ({}, {"target": None}, "declares no target"),
    ({"features": ["income"]}, {}, "not inputs of the model"),
    ({"categorical": ["nope"]}, {}, "not inputs of the model"),
])
def test_bad_inputs_are_errors(make_evidence, run, small, gbm_dir, params, overrides, fragment):
    data = small.drop(columns=["risk"]) if "target" in overrides else small
    ev = make_evidence({"validation": (data, {"prediction": None, "score": None, **overrides})},
                       model=gbm_dir)
    res = run("robustness.perturbation", params, ev, trust=True)
    assert res.status == Status.ERROR and fragment in res.message


def test_without_labels_only_flips_are_measured(make_evidence, run, small, gbm_dir):
    ev = make_evidence({"validation": (small.drop(columns=["risk"]),
                                       {"prediction": None, "score": None})}, model=gbm_dir)
    res = run("robustness.perturbation", {"perturbations": NOISE[:1], "metrics": [],
                                          "max_decay": {}, "max_flip_rate": 1.0}, ev, trust=True)
    assert res.status == Status.PASS and "roc_auc" not in res.details["perturbations"][0]


def _save_linear(tmp_path, frame: pd.DataFrame, coef: float):
    import mlflow.sklearn
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit(frame[["x"]], coef * frame["x"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.sklearn.save_model(model, str(tmp_path / "lin"), input_example=frame[["x"]].head(2),
                                 pip_requirements=["scikit-learn"])
    return tmp_path / "lin"


def test_non_finite_scores_are_an_error(make_evidence, run, tmp_path):
    """x near the float maximum: 2x is finite, 2 x 1.05x overflows to inf."""
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0] * 10 + [8.8e307] * 10})
    lin = _save_linear(tmp_path, frame.head(30), 2.0)
    ev = make_evidence({"validation": (frame, {"prediction": None, "score": None,
                                               "sensitive": []})}, model=lin)
    res = run("robustness.perturbation", {"perturbations": [{"kind": "relative",
                                                             "delta": 0.05}],
                                          "metrics": [], "max_decay": {}}, ev, trust=True)
    assert res.status == Status.ERROR and "non-finite score" in res.message


@pytest.mark.parametrize(("pert", "fragment"), [
    ({"kind": "relative"}, "needs delta"),
    ({"kind": "gaussian", "delta": 0.1}, "needs k"),
    ({"kind": "missing", "k": 1}, "k applies to gaussian"),
    ({"kind": "relative", "delta": 0.1, "to": "unseen"}, "to applies to swap"),
    ({"kind": "relative", "delta": 0}, "greater than 0"),
    ({"kind": "missing", "rate": 1.5}, "less than or equal to 1"),
    ({"kind": "relative", "delta": float("nan")}, "finite"),
    ({"kind": "relative", "delta": True}, "boolean"),
    ({"kind": "shuffle"}, "Input should be"),
])
def test_bad_perturbation_params_are_refused(pert, fragment):
    with pytest.raises(ValidationError) as info:
        RobustnessParams.model_validate({"perturbations": [pert]})
    assert fragment in str(info.value)


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=50),
       seed=st.integers(0, 2**32 - 1), rate=st.floats(0.01, 1.0))
def test_swaps_move_to_an_adjacent_level_or_an_unseen_one(values, seed, rate):
    levels = np.array(["a", "b", "c", "d"], dtype=object)
    arr = np.array(values, dtype=object)
    out = perturb(arr, Perturbation(kind="swap", to="neighbour", rate=rate),
                  np.random.default_rng(seed), numeric=False, sigma=0, levels=levels)
    idx = {v: i for i, v in enumerate(levels)}
    for a, b in zip(arr, out, strict=True):
        assert a == b or abs(idx[a] - idx[b]) == 1
    unseen = perturb(arr, Perturbation(kind="swap", to="unseen", rate=rate),
                     np.random.default_rng(seed), numeric=False, sigma=0, levels=levels)
    assert all(b == a or b not in idx for a, b in zip(arr, unseen, strict=True))


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=50),
       seed=st.integers(0, 2**32 - 1), delta=st.floats(0.001, 1.0))
def test_relative_noise_is_exactly_one_plus_or_minus_delta(values, seed, delta):
    arr = np.array(values)
    out = perturb(arr, Perturbation(kind="relative", delta=delta), np.random.default_rng(seed),
                  numeric=True, sigma=0, levels=None)
    ok = np.isclose(out, arr * (1 + delta)) | np.isclose(out, arr * (1 - delta))
    assert ok.all()


@pytest.mark.parametrize(("pert", "fragment"), [
    ({"kind": "relative", "delta": 1.0}, "relative x(1 +/- 1) on feature 'x' gives"),
    ({"kind": "gaussian", "k": 0.1}, "standard deviation of feature 'x'"),
])
def test_a_perturbation_that_overflows_an_input_is_an_error(make_evidence, run, tmp_path,
                                                            pert, fragment):
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0] * 10 + [9.5e307] * 10})
    lin = _save_linear(tmp_path, frame.head(30), 1.0)
    ev = make_evidence({"validation": (frame, {"prediction": None, "score": None,
                                               "sensitive": []})}, model=lin)
    res = run("robustness.perturbation", {"perturbations": [pert], "metrics": [],
                                          "max_decay": {}}, ev, trust=True)
    assert res.status == Status.ERROR and fragment in res.message, res.message
