"""Every bad input named in the issue is a clear ERROR of that control, and blocks the gate.

Run through the real policy loader and engine: the control errors (fail closed), a blocking
control makes the verdict BLOCK, the message names what was wrong, and no other control is
affected.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import yaml

from mrm_gate.controls.context import EvaluationOptions
from mrm_gate.decision import Status, Verdict

pytestmark = pytest.mark.suites

FAIR = {"check": "fairness.disparity", "params": {
    "sensitive": ["sex"], "rules": [{"metric": "demographic_parity_ratio", "min": 0.5}],
    "min_group_size": 1}}
DRIFT = {"check": "drift.features", "params": {"columns": ["credit_amount", "duration"]}}
DQ = {"check": "data_quality.expectations", "params": {"expectations": [
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "age"}}]}}
SHAP = {"check": "explainability.shap", "params": {"sample_size": 50}}


def _policy(tmp_path, control: dict) -> object:
    from mrm_gate.policy import load_policy

    doc = {"apiVersion": "mrm-gate/v1", "kind": "Policy",
           "metadata": {"name": "suites", "version": "1"},
           "tiering": {"default": "high"},
           "tiers": {"high": {"controls": [
               {"id": "MRM-TEST-001", **control},
               {"id": "MRM-TEST-002", **DQ},  # an unaffected control on the same evidence
           ]}}}
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return load_policy(path)


def _broken_model(src, dst):
    shutil.copytree(src, dst)
    (dst / "model.skops").write_bytes(b"not a model")
    for f in dst.glob("*.pkl"):
        f.write_bytes(b"not a model")
    return dst


CASES = {
    "missing declared column": (FAIR, lambda s: {"validation": (s["validation"].drop(
        columns=["prediction"]), {})}, "no column 'prediction'"),
    "one-class label": (FAIR, lambda s: {"validation": s["validation"].assign(risk=1)},
                        "one class"),
    "single sensitive group": (FAIR, lambda s: {"validation": s["validation"].assign(
        sex="male")}, "single group"),
    "empty sensitive group": ({**FAIR, "params": {**FAIR["params"], "groups": {
        "sex": ["male", "female", "diverse"]}}}, lambda s: {"validation": s["validation"]},
        "empty group(s) ['diverse']"),
    "all-NaN feature": (DRIFT, lambda s: {"reference": s["reference"], "current": s[
        "current"].assign(duration=np.nan)}, "all NaN"),
    "mismatched schemas": (DRIFT, lambda s: {"reference": s["reference"], "current": s[
        "current"].drop(columns=["credit_amount"])}, "mismatched schemas"),
    "parquet that is not parquet": (DQ, lambda s: {"validation": (None, {
        "path": "data/validation.parquet"})}, "not a Parquet file"),
    "model that cannot be loaded": (SHAP, lambda s: {"validation": s["validation"]},
                                    "cannot be loaded"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_blocks_with_a_clear_error(case, tmp_path, make_evidence, splits, gbm_dir):
    from mrm_gate.engine import evaluate

    control, datasets, fragment = CASES[case]
    files = {}
    if case == "parquet that is not parquet":
        files = {"data/validation.parquet": splits["validation"].to_csv().encode()}
    model = _broken_model(gbm_dir, tmp_path / "broken") if case.startswith("model") else None
    ev = make_evidence(datasets(splits), extra_files=files, model=model)
    decision = evaluate(_policy(tmp_path, control), ev,
                        options=EvaluationOptions(trust_model_code=True))
    outcome = {o.control_id: o for o in decision.outcomes}
    assert outcome["MRM-TEST-001"].status == Status.ERROR
    assert fragment in outcome["MRM-TEST-001"].result.message
    assert "Traceback" not in outcome["MRM-TEST-001"].result.message
    assert decision.verdict == Verdict.BLOCK
    if case in ("one-class label", "single sensitive group", "empty sensitive group",
                "model that cannot be loaded"):  # the dataset itself is sound
        assert outcome["MRM-TEST-002"].status == Status.PASS
