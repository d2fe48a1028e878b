"""Datasets by role: read once, content-hash cache, formats, logged inputs, model output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mrm_gate.controls.context import CheckContext, EvaluationOptions
from mrm_gate.errors import CheckError
from mrm_gate.evidence.datasets import file_sha256, load_dataset, model_output

pytestmark = pytest.mark.suites


def _ctx(evidence, trust: bool = False) -> CheckContext:
    return CheckContext(evidence=evidence, options=EvaluationOptions(trust_model_code=trust))


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_each_file_is_read_once_per_evaluation(make_evidence, splits, fmt, monkeypatch):
    import mrm_gate.evidence.datasets as mod

    val = splits["validation"]
    ev = make_evidence({"validation": val, "holdout": (None, {"path": f"data/validation.{fmt}",
                                                              "sensitive": ["sex"]})}, fmt=fmt)
    reads = []
    real = mod._read_frame
    monkeypatch.setattr(mod, "_read_frame", lambda *a: reads.append(a) or real(*a))
    ctx = _ctx(ev)
    a = load_dataset(ctx, "validation")
    assert load_dataset(ctx, "validation") is a
    b = load_dataset(ctx, "holdout")  # another role on the same bytes: same frame
    assert b.frame is a.frame and b.spec.sensitive == ["sex"]
    assert len(reads) == 1
    assert a.sha256 == file_sha256(ev.open_file(f"data/validation.{fmt}"))
    pd.testing.assert_frame_equal(a.frame, val, check_dtype=False)
    assert a.feature_names() == [c for c in val.columns if c not in
                                 ("risk", "prediction", "score", "sex", "age")]


@pytest.mark.parametrize(("setup", "fragment"), [
    (lambda v: ({"validation": (v, {"target": "default_flag"})}, {}),
     "no column 'default_flag'"),
    (lambda v: ({"validation": (v, {"features": ["age", "income"]})}, {}),
     "no column 'income'"),
    (lambda v: ({"validation": (v, {"sha256": "0" * 64})}, {}), "changed after the evidence"),
    (lambda v: ({"current": v}, {}), "no 'validation' dataset"),
    (lambda v: ({"validation": (None, {"path": "data/nope.csv"})}, {}), "not found"),
    (lambda v: ({"validation": (None, {"path": "data/fake.parquet"})},
                {"data/fake.parquet": b"risk,age\n1,30\n"}), "not a Parquet file"),
    (lambda v: ({"validation": (None, {"path": "data/trunc.parquet"})},
                {"data/trunc.parquet": b"PAR1garbagePAR1"}), "cannot be read as Parquet"),
    (lambda v: ({"validation": (None, {"path": "data/v.xlsx"})}, {"data/v.xlsx": b"x"}),
     "cannot tell the format"),
    (lambda v: ({"validation": v.iloc[:0]}, {}), "has no rows"),
])
def test_bad_datasets_are_clear_errors(make_evidence, splits, setup, fragment):
    datasets, files = setup(splits["validation"])
    ev = make_evidence(datasets, extra_files=files)
    with pytest.raises(CheckError, match=fragment.replace("(", r"\(")):
        load_dataset(_ctx(ev), "validation")


def test_logged_mlflow_input_is_mapped_by_context(make_evidence, splits, tmp_path):
    from mrm_gate.evidence.model import DatasetInput

    ev = make_evidence({"validation": splits["validation"],
                        "reference": (None, {"path": "mlflow-input:german-credit-ref",
                                             "target": "risk"})})
    # a logged source is read only from inside the evidence (test_evidence_hardening.py)
    path = Path(ev.uri).resolve() / "data" / "current.parquet"
    splits["current"].to_parquet(path)
    ev.run.datasets = [
        DatasetInput(name="german-credit-current", context="current",
                     source=json.dumps({"uri": str(path)}), source_type="local"),
        DatasetInput(name="german-credit-ref", context="training",
                     source=json.dumps({"uri": path.as_uri()}), source_type="local"),
        DatasetInput(name="remote", context="remote", source=json.dumps({"url": "https://x/y"}),
                     source_type="http"),
    ]
    ctx = _ctx(ev)
    cur = load_dataset(ctx, "current")  # not declared: found by its logged context
    assert cur.n_rows == len(splits["current"]) and cur.source == str(path)
    ref = load_dataset(ctx, "reference")  # declared, pointing at a logged input by name
    assert ref.spec.target == "risk" and ref.frame is cur.frame
    with pytest.raises(CheckError, match="remote"):
        load_dataset(ctx, "remote")


def test_model_output_from_columns_or_trusted_model(make_evidence, splits, gbm_dir, gbm):
    val = splits["validation"]
    ev = make_evidence({"validation": (val.drop(columns=["score", "prediction"]),
                                       {"score": None, "prediction": None})}, model=gbm_dir)
    ds = load_dataset(_ctx(ev), "validation")
    with pytest.raises(CheckError, match="trust"):
        model_output(_ctx(ev), ds, "prediction")
    ctx = _ctx(ev, trust=True)
    ds = load_dataset(ctx, "validation")
    pred = model_output(ctx, ds, "prediction")
    score = model_output(ctx, ds, "score")
    assert "mlflow.pyfunc" in pred.note
    np.testing.assert_array_equal(pred.values, val["prediction"].to_numpy())
    np.testing.assert_allclose(score.values, val["score"].to_numpy())
    assert model_output(ctx, ds, "score") is score  # computed once per evaluation


def test_model_predicting_the_wrong_shape_is_an_error(make_evidence, splits, tmp_path):
    import mlflow.pyfunc

    class Model(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return np.zeros((len(model_input), 2))

    mlflow.pyfunc.save_model(str(tmp_path / "m"), python_model=Model())
    val = splits["validation"].drop(columns=["prediction"])
    ev = make_evidence({"validation": (val, {"prediction": None})}, model=tmp_path / "m")
    ctx = _ctx(ev, trust=True)
    with pytest.raises(CheckError, match=r"returned shape \(200, 2\) for 200 rows"):
        model_output(ctx, load_dataset(ctx, "validation"), "prediction")


def test_progress_bar_only_when_asked_and_no_other_live_display(make_evidence, splits,
                                                                monkeypatch):
    from rich.console import Console
    from rich.progress import Progress

    from mrm_gate.evidence.datasets import task_progress

    started = []
    real_start = Progress.start
    monkeypatch.setattr(Progress, "start", lambda self: started.append(self) or real_start(self))
    ev = make_evidence({"validation": splits["validation"]})
    quiet = CheckContext(evidence=ev, options=EvaluationOptions(progress=False))
    loud = CheckContext(evidence=ev, options=EvaluationOptions(progress=True))
    with task_progress(quiet, "work", 10) as advance:
        advance()
    assert started == []
    with task_progress(loud, "work", 10) as advance:
        advance()
    assert len(started) == 1
    outer = Progress(console=Console(stderr=True, force_terminal=True))
    outer.start()  # e.g. the CLI's bar over the controls
    try:
        with task_progress(loud, "work", 10) as advance:
            advance()
    finally:
        outer.stop()
    assert len(started) == 2  # only the outer one was added
