"""explainability.shap on a real MLflow model: ranking, thresholds, explainers, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from mrm_gate.decision import Status

pytestmark = pytest.mark.suites

FEATURES_NO_SEX = ["job", "credit_amount", "duration", "age", "housing", "saving_accounts",
                   "checking_account", "purpose"]


@pytest.fixture
def ev(make_evidence, splits, gbm_dir):
    return make_evidence({"validation": splits["validation"]}, model=gbm_dir)


def test_tree_model_ranking_with_sample_and_seed_in_notes(ev, run, gbm):
    res = run("explainability.shap", {"sample_size": 150, "top_k": 3,
                                      "min_rank_stability": 0.5}, ev, trust=True, seed=3)
    assert res.status == Status.PASS, res.message
    ranking = res.details["ranking"]
    assert sorted(r["feature"] for r in ranking) == sorted(FEATURES_NO_SEX)
    assert res.details["sample_size"] == 150 and res.details["seed"] == 3
    assert "TreeExplainer (pipeline" in res.details["explainer"]
    assert any("150-row sample" in n and "seed 3" in n for n in res.notes)
    assert any("loaded with mlflow.pyfunc" in n for n in res.notes)
    assert res.measured["top_k"] == [r["feature"] for r in ranking[:3]]
    assert res.figures[0].data.startswith("<svg") and ranking[0]["feature"] in res.figures[0].data


def test_summed_one_hot_shap_equals_shap_on_the_encoded_matrix(ev, run, gbm, splits):
    """Per-input importance is the sum of its encoded columns' SHAP values (additivity)."""
    import shap

    res = run("explainability.shap", {"sample_size": 200}, ev, trust=True)
    X = splits["validation"][FEATURES_NO_SEX]
    Xt = gbm[:-1].transform(X)
    values = shap.TreeExplainer(gbm[-1]).shap_values(Xt)
    names = list(gbm[:-1].get_feature_names_out())
    cols = [i for i, n in enumerate(names) if n.startswith("checking_account_")]
    expected = np.abs(values[:, cols].sum(axis=1)).mean()
    got = next(r for r in res.details["ranking"] if r["feature"] == "checking_account")
    assert got["mean_abs_shap"] == pytest.approx(expected, rel=1e-9)


def test_forbidden_feature_in_top_k_fails(ev, run):
    base = run("explainability.shap", {"sample_size": 100}, ev, trust=True)
    top = base.measured["top_k"][0]
    res = run("explainability.shap", {"sample_size": 100, "proxies": [top]}, ev, trust=True)
    assert res.status == Status.FAIL
    assert f"{top} (rank 1)" in res.message
    assert any("not model inputs" in n for n in res.notes)  # sex, the sensitive default


@pytest.mark.parametrize(("params", "fragment"), [
    ({"min_top_k_share": 0.999, "top_k": 1}, "of the importance"),
    ({"min_rank_stability": 1.0, "sample_size": 10}, "bootstrap rank correlation"),
])
def test_concentration_and_stability_thresholds(ev, run, params, fragment):
    res = run("explainability.shap", params, ev, trust=True)
    assert res.status == Status.FAIL and fragment in res.message


def test_model_agnostic_explainer_for_non_tree_models(make_evidence, run, splits, logreg_dir):
    ev = make_evidence({"validation": splits["validation"]}, model=logreg_dir)
    res = run("explainability.shap", {"sample_size": 10, "background_size": 10, "forbidden": [],
                                      "time_budget_s": 0.5}, ev, trust=True)
    assert res.status == Status.PASS, res.message
    assert res.details["explainer"] == "PermutationExplainer (model-agnostic)"
    assert any("used the model-agnostic explainer" in n for n in res.notes)
    assert any("time budget 0.5 s" in n for n in res.notes) or res.details["sample_size"] == 10
    forced = run("explainability.shap", {"explainer": "tree", "sample_size": 12}, ev, trust=True)
    assert forced.status == Status.ERROR and "TreeExplainer cannot explain" in forced.message


def test_untrusted_model_is_an_error(ev, run):
    res = run("explainability.shap", {}, ev)
    assert res.status == Status.ERROR
    assert "--trust-model-code" in res.message


def test_model_that_cannot_be_loaded_is_an_error(make_evidence, run, splits, gbm_dir, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(gbm_dir, broken)
    for f in broken.iterdir():
        if f.name not in ("MLmodel",):
            f.unlink() if f.is_file() else shutil.rmtree(f)
    ev = make_evidence({"validation": splits["validation"]}, model=broken)
    res = run("explainability.shap", {}, ev, trust=True)
    assert res.status == Status.ERROR and "cannot be loaded" in res.message
