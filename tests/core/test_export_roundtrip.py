"""Export round trip (issue 10, item 5): evaluating an exported evidence folder gives the same
verdict, the same status per control and the same evidence hash as evaluating the MLflow version,
for every built-in check type.

One module-scoped sqlite tracking store holds:

* the demo's two models (examples/german_credit/demo.py, smaller): A (gradient boosting) and B
  (a depth-2 tree), logged with `mlflow.sklearn.log_model(name=...)`, i.e. MLflow 3 logged
  models whose registered source is `models:/m-...` and which leave no model in the run;
  declared datasets with score and prediction columns, model card, backtest; A holds @champion;
* a model "with every suite": the model as a run artifact (`model_artifact`), datasets without
  prediction columns (the model is run), a dataset named by a logged input (`mlflow-input:`) and
  one found by its logged context, a Parquet file, the model card found among the run's
  artifacts, a Great Expectations suite in the run, gate-written `mrm.*` tags, and hostile
  dataset paths that must neither be exported nor escape the export folder.

Both evaluations go through `mrm_gate.gate.run_gate`; the export through the CLI with the
policy (`mrm-gate evidence export ... --policy --target`). The folder is evaluated from another
working directory, so a suite the policy names relative to the working directory must be in the
bundle.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from contextlib import contextmanager
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import yaml
from core_helpers import write
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mrm_gate.cli import run
from mrm_gate.controls.context import EvaluationOptions
from mrm_gate.evidence.source import SourceSettings
from mrm_gate.gate import GateRequest, run_gate

needs_suites = pytest.mark.suites  # the round trip trains and explains real models

ROOT = Path(__file__).resolve().parents[2]
CREDIT_CSV = ROOT / "examples" / "german_credit" / "data" / "german_credit.csv"
BACKTEST = ROOT / "examples" / "backtests" / "retail_mortgages.csv"
TARGET = "risk"
CATEGORICAL = ["sex", "housing", "saving_accounts", "checking_account", "purpose"]
NUMERIC = ["job", "credit_amount", "duration", "age"]
FEATURES_A = [c for c in NUMERIC + CATEGORICAL if c != "sex"]
FEATURES_B = NUMERIC + CATEGORICAL
NAME = "german-credit-pd"
NOW = dt.datetime(2026, 11, 29, tzinfo=dt.timezone.utc)
CARD = """# Model card: german-credit-pd

## Intended use
Scores retail loan applications to support credit officers.

## Training data
UCI Statlog German Credit.

## Performance
ROC AUC on the validation split.

## Limitations
Small, old sample from one country.
"""

NATIVE = [  # expectations mrm-gate evaluates natively (no Great Expectations import)
    {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 100}},
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "age"}},
    {"type": "expect_column_values_to_be_between",
     "kwargs": {"column": "duration", "min_value": 1, "max_value": 120}},
    {"type": "expect_column_values_to_be_in_set",
     "kwargs": {"column": "housing", "value_set": ["own", "rent", "free"]}},
]
CWD_SUITE = {"name": "credit", "expectations": NATIVE}  # next to the policy (working dir)
RUN_SUITE = {"name": "credit-run", "expectations": [  # in the every-suite run: one fails
    *NATIVE, {"type": "expect_column_values_to_be_between",
              "kwargs": {"column": "age", "min_value": 18, "max_value": 60}}]}

GAP = {"period_length": 0.25, "n_boot": 0, "plots": False, "seed": 0}
POLICY = {
    "apiVersion": "mrm-gate/v1", "kind": "Policy",
    "metadata": {"name": "roundtrip", "version": "1"},
    "tiering": {"tag": "mrm.risk_tier", "default": "high", "rules": [
        {"tier": "high", "any": [{"tag": "mrm.purpose", "in": ["credit_decision"]}]},
        {"tier": "low", "all": [{"tag": "mrm.purpose", "in": ["internal"]}]}]},
    "tiers": {
        "low": {"controls": [
            {"id": "MRM-DOC-001", "check": "metadata.required",
             "params": {"tags": ["owner"], "min_description_chars": 20}}]},
        "high": {"extends": "low", "controls": [
            {"id": "MRM-DOC-002", "check": "metadata.required",
             "params": {"card_sections": ["intended use", "training data", "limitations"]}},
            {"id": "MRM-PERF-001", "check": "performance.threshold",
             "params": {"metric": "auc", "min": 0.72}},
            {"id": "MRM-PERF-002", "check": "performance.no_regression",
             "params": {"metric": "auc", "baseline_alias": "champion", "tolerance": 0.01}},
            {"id": "MRM-PERF-003", "check": "performance.no_regression",
             "params": {"metric": "accuracy", "baseline_version": "1", "tolerance": 0.5}},
            {"id": "MRM-PERF-004", "check": "performance.no_regression",
             "params": {"metric": "auc", "baseline_alias": "production"}},
            {"id": "MRM-GOV-001", "check": "governance.independent_validation"},
            {"id": "MRM-GOV-002", "check": "governance.review_age",
             "params": {"max_age_days": 365}},
            {"id": "MRM-GOV-003", "check": "governance.approvals",
             "params": {"min_approvers": 2}},
            {"id": "MRM-DQ-001", "check": "data_quality.expectations",
             "params": {"dataset": "validation", "expectations": NATIVE}},
            {"id": "MRM-DQ-002", "check": "data_quality.expectations",
             "params": {"dataset": "validation", "suite": "suites/credit.json"}},
            {"id": "MRM-FAIR-001", "check": "fairness.disparity",
             "params": {"dataset": "validation", "sensitive": ["sex", "age"],
                        "bins": {"age": [25, 40]}, "min_group_size": 20,
                        "small_groups": "exclude",
                        "rules": [{"metric": "demographic_parity_ratio", "min": 0.8}]}},
            {"id": "MRM-XAI-001", "check": "explainability.shap",
             "params": {"dataset": "validation", "sample_size": 20, "background_size": 10,
                        "top_k": 3, "forbidden": ["sex"], "explainer": "tree"}},
            {"id": "MRM-DRIFT-001", "check": "drift.features",
             "params": {"reference": "reference", "current": "current", "fail_on": "red"}},
            {"id": "MRM-DRIFT-002", "check": "drift.prediction",
             "params": {"reference": "validation", "current": "current", "fail_on": "red"}},
            {"id": "MRM-GAP-001", "check": "gap_risk.probability",
             "params": {"situation": 2, "max": 0.5, **GAP}},
            {"id": "MRM-GAP-002", "check": "gap_risk.expected_loss",
             "params": {"max": 1e9, **GAP}},
            {"id": "MRM-GAP-003", "check": "gap_risk.assumptions", "params": GAP},
            {"id": "MRM-ROB-001", "check": "robustness.perturbation",
             "params": {"dataset": "validation", "sample_size": 60, "seed": 0,
                        "perturbations": [{"kind": "relative", "delta": 0.05}],
                        "max_flip_rate": 1.0, "max_decay": {"roc_auc": 1.0}}},
            {"id": "MRM-STRESS-001", "check": "stress.scenario",
             "params": {"dataset": "validation", "seed": 0,
                        "scenarios": {"longer": {"inputs": {"duration": "x1.1"}}},
                        "max_mean_shift": 1.0, "max_flip_rate": 1.0}},
            {"id": "MRM-SENS-001", "check": "sensitivity.global",
             "params": {"dataset": "validation", "trajectories": 4, "sample_size": 40,
                        "n_boot": 100, "seed": 0, "max_share": 1.0}},
        ]},
    },
}

P, F, E, S = "PASS", "FAIL", "ERROR", "SKIPPED"
# The outcome of every control, per model: the same from MLflow and from the exported folder,
# and what it is (an ERROR on both sides would prove nothing, so each check type has a real one).
EXPECTED = {
    "demo-a": {"MRM-DOC-001": P, "MRM-DOC-002": P, "MRM-PERF-001": P, "MRM-PERF-002": P,
               "MRM-PERF-003": P, "MRM-PERF-004": S, "MRM-GOV-001": P, "MRM-GOV-002": P,
               "MRM-GOV-003": P, "MRM-DQ-001": P, "MRM-DQ-002": P, "MRM-FAIR-001": P,
               "MRM-XAI-001": P, "MRM-DRIFT-001": P, "MRM-DRIFT-002": P, "MRM-GAP-001": P,
               "MRM-GAP-002": P, "MRM-GAP-003": F, "MRM-ROB-001": P,
               "MRM-STRESS-001": P, "MRM-SENS-001": P},
    "demo-b": {"MRM-DOC-001": P, "MRM-DOC-002": F, "MRM-PERF-001": F, "MRM-PERF-002": F,
               "MRM-PERF-003": P, "MRM-PERF-004": E, "MRM-GOV-001": F, "MRM-GOV-002": F,
               "MRM-GOV-003": F, "MRM-DQ-001": P, "MRM-DQ-002": P, "MRM-FAIR-001": P,
               "MRM-XAI-001": P, "MRM-DRIFT-001": P, "MRM-DRIFT-002": P, "MRM-GAP-001": P,
               "MRM-GAP-002": P, "MRM-GAP-003": F, "MRM-ROB-001": P,
               "MRM-STRESS-001": P, "MRM-SENS-001": P},
    "every-suite": {"MRM-DOC-001": P, "MRM-DOC-002": P, "MRM-PERF-001": P, "MRM-PERF-002": P,
                    "MRM-PERF-003": P, "MRM-PERF-004": E, "MRM-GOV-001": P,
                    "MRM-GOV-002": P, "MRM-GOV-003": P, "MRM-DQ-001": P, "MRM-DQ-002": F,
                    "MRM-FAIR-001": P, "MRM-XAI-001": P, "MRM-DRIFT-001": P,
                    "MRM-DRIFT-002": P, "MRM-GAP-001": F, "MRM-GAP-002": P,
                    "MRM-GAP-003": F, "MRM-ROB-001": P, "MRM-STRESS-001": P,
                    "MRM-SENS-001": P},
}
VERSIONS = {"demo-a": "1", "demo-b": "2", "every-suite": "3"}
HOSTILE = {  # dataset paths of the every-suite evidence that must not be exported
    "abs": "/etc/hostname",
    "dotdot": "../../../outside.csv",
    "uri": "file:///etc/passwd",
}


def builtin_check_types() -> list[str]:
    return sorted(ep.name for ep in entry_points(group="mrm_gate.checks")
                  if ep.value.startswith("mrm_gate."))


@contextmanager
def cwd(path: Path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


# ----------------------------------------------------------------------------- the store


def _splits():
    import pandas as pd

    df = pd.read_csv(CREDIT_CSV).sample(frac=1.0, random_state=42).reset_index(drop=True)
    n = len(df)
    return df.iloc[: int(0.6 * n)], df.iloc[int(0.6 * n): int(0.8 * n)], df.iloc[int(0.8 * n):]


def _train(features, kind, train_df):
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder
    from sklearn.tree import DecisionTreeClassifier

    cats = [c for c in features if c in CATEGORICAL]
    prep = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), cats)],
        remainder="passthrough", verbose_feature_names_out=False)
    est = (GradientBoostingClassifier(n_estimators=40, max_depth=2, random_state=42)
           if kind == "gbm" else DecisionTreeClassifier(max_depth=2, random_state=42))
    return Pipeline([("prep", prep), ("model", est)]).fit(train_df[features], train_df[TARGET])


def _metrics(model, features, df) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, roc_auc_score

    score = model.predict_proba(df[features])[:, 1]
    return {"auc": float(roc_auc_score(df[TARGET], score)),
            "accuracy": float(accuracy_score(df[TARGET], (score >= 0.5).astype(int)))}


def _scored(model, features, df):
    out = df.copy()
    out["score"] = model.predict_proba(df[features])[:, 1]
    out["prediction"] = (out["score"] >= 0.5).astype(int)
    return out


def _model_kwargs(features, df):
    from mlflow.models import infer_signature

    # requirements and signature given: no environment inference (a subprocess), no
    # prediction; cloudpickle, not skops: the format is not under test and skops costs seconds
    return {"pip_requirements": ["scikit-learn"], "serialization_format": "cloudpickle",
            "signature": infer_signature(df[features].head(3))}


def _log_demo(client, label, kind, features, card, tags, description, splits, tmp: Path):
    """One candidate as examples/german_credit/demo.py logs it (smaller model)."""
    import mlflow
    import mlflow.sklearn

    train_df, valid_df, current_df = splits
    model = _train(features, kind, train_df)
    with mlflow.start_run(run_name=label) as r:
        mlflow.log_params({"model_type": kind, "features": ",".join(features)})
        mlflow.log_metrics(_metrics(model, features, valid_df))
        t = tmp / label
        write(t / "model_card.md", card)
        train_df.to_csv(write(t / "data" / "reference.csv", ""), index=False)
        _scored(model, features, valid_df).to_csv(t / "data" / "validation.csv", index=False)
        _scored(model, features, current_df).drop(columns=[TARGET]).to_csv(
            t / "data" / "current.csv", index=False)
        shutil.copy(BACKTEST, t / "backtest.csv")
        roles = {"features": features, "sensitive": ["sex", "age"]}
        evidence = {
            "model_card_file": "model_card.md",
            "datasets": {
                "reference": {"path": "data/reference.csv", "target": TARGET, **roles},
                "validation": {"path": "data/validation.csv", "target": TARGET,
                               "prediction": "prediction", "score": "score", **roles},
                "current": {"path": "data/current.csv", "prediction": "prediction",
                            "score": "score", **roles},
            },
            "backtest": {"path": "backtest.csv"},
        }
        write(t / "mrm" / "evidence.yaml", yaml.safe_dump(evidence, sort_keys=False))
        mlflow.log_artifacts(str(t))
        for name, df in (("training", train_df), ("validation", valid_df)):
            mlflow.log_input(mlflow.data.from_pandas(df, name=f"german-credit-{name}",
                                                     targets=TARGET), context=name)
        info = mlflow.sklearn.log_model(model, name="model",
                                        **_model_kwargs(features, valid_df))
    mv = mlflow.register_model(info.model_uri, NAME)
    for k, v in tags.items():
        client.set_model_version_tag(NAME, mv.version, k, v)
    client.update_model_version(NAME, mv.version, description=description)
    return mv, r.info.run_id


def _log_every_suite(client, exp_id, splits, tmp: Path):
    """A version whose evidence uses every way the gate reads files."""
    import mlflow.sklearn
    from mlflow.entities import Dataset, DatasetInput, InputTag

    train_df, valid_df, current_df = splits
    model = _train(FEATURES_A, "gbm", train_df)
    rid = client.create_run(exp_id, run_name="every-suite").info.run_id
    for k, v in _metrics(model, FEATURES_A, valid_df).items():
        client.log_metric(rid, k, v)
    client.log_param(rid, "model_type", "gbm")
    t = tmp / "every-suite"
    write(t / "model_card.md", CARD)  # found among the run's artifacts (no model_card_file)
    write(t / "suites" / "credit.json", json.dumps(RUN_SUITE))
    valid_df.to_parquet(write(t / "data" / "validation.parquet", ""), index=False)
    train_df.to_csv(t / "data" / "reference.csv", index=False)
    current_df.drop(columns=[TARGET]).to_csv(t / "data" / "current.csv", index=False)
    shutil.copy(BACKTEST.with_name("corporate.csv"), write(t / "risk" / "backtest.csv", ""))
    # another portfolio than the demo's: gap_risk.probability passes for one, fails here
    mlflow.sklearn.save_model(model, str(t / "model"), **_model_kwargs(FEATURES_A, valid_df))
    roles = {"features": FEATURES_A, "sensitive": ["sex", "age"]}
    evidence = {
        "model_artifact": "model",
        "datasets": {  # no prediction / score columns: fairness and drift run the model
            "validation": {"path": "data/validation.parquet", "target": TARGET, **roles},
            "reference": {"path": "mlflow-input:german-credit-reference", "target": TARGET,
                          **roles},
            **{f"hostile-{k}": {"path": v} for k, v in HOSTILE.items()},
        },
        "backtest": {"path": "risk/backtest.csv"},
        "extra": {"ticket": "MRM-42", "reviewed": "2026-01-15", "weights": [0.5, 1.5]},
    }
    write(t / "mrm" / "evidence.yaml", yaml.safe_dump(evidence, sort_keys=False))
    client.log_artifacts(rid, str(t))
    inputs = [  # logged inputs whose source is this run's artifact (current: by context)
        DatasetInput(Dataset(name=f"german-credit-{role}", digest=role[:8], source_type="local",
                             source=json.dumps({"uri": f"runs:/{rid}/data/{role}.csv"})),
                     tags=[InputTag("mlflow.data.context", role)])
        for role in ("reference", "current")]
    client.log_inputs(rid, datasets=inputs)
    client.set_terminated(rid)
    mv = client.create_model_version(NAME, f"runs:/{rid}/model", run_id=rid,
                                     description="Gradient boosting scorecard, every suite.")
    tags = {"owner": "alice@bank.example", "validator": "bob@bank.example",
            "validation_date": "2026-06-01", "mrm.purpose": "credit_decision",
            "approvers": "carol@bank.example, dave@bank.example",
            # written by the gate on an earlier decision: hints, never evidence
            "mrm.decision": "APPROVE", "mrm.decision_id": "forged", "mrm.tier": "low",
            "mrm.evaluated_at": "2030-01-01T00:00:00+00:00"}
    for k, v in tags.items():
        client.set_model_version_tag(NAME, mv.version, k, v)
    return mv, rid


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The tracking store, the policy (with a suite next to it) and every model's decisions
    from MLflow and from its exported folder."""
    import warnings

    import mlflow
    from mlflow.tracking import MlflowClient

    warnings.filterwarnings("ignore")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    root = tmp_path_factory.mktemp("roundtrip")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(uri, uri)
    exp = client.create_experiment("credit", artifact_location=(root / "artifacts").as_uri())
    splits = _splits()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        mlflow.set_experiment(experiment_id=exp)
        client.create_registered_model(NAME, tags={"business_unit": "retail-lending"})
        demo_tags = {"mrm.exposure": "25000000", "mrm.purpose": "credit_decision"}
        _log_demo(client, "candidate-a", "gbm", FEATURES_A, CARD,
                  {"owner": "alice@bank.example", "validator": "bob@bank.example",
                   "validation_date": "2026-06-01",
                   "approvers": "carol@bank.example, dave@bank.example", **demo_tags},
                  "Gradient boosting scorecard for retail loan applications.", splits, root)
        _log_demo(client, "candidate-b", "tree", FEATURES_B, "# Card\n## Intended use\nQuick.\n",
                  {"owner": "erin@bank.example", "validator": "erin@bank.example",
                   **demo_tags},
                  "Quick depth-2 tree challenger using every attribute.", splits, root)
        _log_every_suite(client, exp, splits, root)
        client.set_registered_model_alias(NAME, "champion", "1")
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
    policy_dir = root / "policy"
    policy = write(policy_dir / "policy.yaml", yaml.safe_dump(POLICY, sort_keys=False))
    write(policy_dir / "suites" / "credit.json", json.dumps(CWD_SUITE))
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()

    options = EvaluationOptions(trust_model_code=True, now=NOW)
    online, offline, folders = {}, {}, {}
    for label, version in VERSIONS.items():
        subject = f"models:/{NAME}/{version}"
        with cwd(policy_dir):
            online[label] = run_gate(GateRequest(
                subject=subject, policy=str(policy), target="champion", options=options,
                settings=SourceSettings(tracking_uri=uri)))
            out = root / "exported" / label
            rc = run(["evidence", "export", subject, "--out", str(out), "--tracking-uri", uri,
                      "--policy", str(policy), "--target", "champion"])
            assert rc == 0, label
        folders[label] = out
        with cwd(elsewhere):  # the bundle is self-contained
            offline[label] = run_gate(GateRequest(subject=str(out), policy=str(policy),
                                                  target="champion", options=options,
                                                  source="local"))
    return {"uri": uri, "root": root, "policy": policy, "online": online, "offline": offline,
            "folders": folders, "client": client}


# ----------------------------------------------------------------------------- the round trip


def _statuses(decision) -> dict[str, str]:
    return {o.control_id: o.status.value for o in decision.outcomes}


def test_the_policy_covers_every_builtin_check_type() -> None:
    used = {c["check"] for tier in POLICY["tiers"].values() for c in tier["controls"]}
    assert used == set(builtin_check_types())


@needs_suites
@pytest.mark.parametrize("label", sorted(VERSIONS))
def test_same_verdict_and_evidence_hash(world, label) -> None:
    online, offline = world["online"][label], world["offline"][label]
    assert offline.verdict == online.verdict
    assert offline.evidence_sha256 == online.evidence_sha256
    assert offline.tier.tier == online.tier.tier == "high"
    assert _statuses(online) == EXPECTED[label], [
        (o.control_id, o.status.value, o.result.message) for o in online.outcomes
        if o.status.value != EXPECTED[label].get(o.control_id)]


@needs_suites
@pytest.mark.parametrize("check_type", builtin_check_types())
def test_same_outcome_per_control_for_every_check_type(world, check_type) -> None:
    seen = []
    for label in VERSIONS:
        online = {o.control_id: o for o in world["online"][label].outcomes
                  if o.check == check_type}
        offline = {o.control_id: o for o in world["offline"][label].outcomes
                   if o.check == check_type}
        assert online, f"no {check_type} control ran for {label}"
        assert set(offline) == set(online)
        for cid, o in online.items():
            assert offline[cid].status == o.status, (
                label, cid, o.result.message, offline[cid].result.message)
            # the same numbers: the folder held the same data, model and baselines
            assert offline[cid].result.measured == o.result.measured, (label, cid)
            assert o.status.value == EXPECTED[label][cid], (label, cid, o.result.message)
            seen.append(o.status.value)
    assert set(seen) - {E}, f"{check_type}: only errors, which would prove nothing"


@needs_suites
def test_bundle_holds_what_the_checks_read(world) -> None:
    from mrm_gate.evidence.export import MANIFEST, read_manifest

    out = world["folders"]["every-suite"]
    manifest = read_manifest(out)
    files = manifest["files"]
    for rel in ("data/validation.parquet", "data/reference.csv", "data/current.csv",
                "risk/backtest.csv", "model_card.md", "suites/credit.json", "model/MLmodel"):
        assert rel in files, rel
        assert (out / rel).is_file()
    import hashlib

    for rel, entry in files.items():  # every digest is the file's
        assert hashlib.sha256((out / rel).read_bytes()).hexdigest() == entry["sha256"], rel
    doc = yaml.safe_load((out / "evidence.yaml").read_text())
    assert doc["datasets"]["validation"]["sha256"] == files["data/validation.parquet"]["sha256"]
    assert not any(k.startswith(("mrm.decision", "mrm.tier", "mrm.evaluated_at"))
                   for k in doc["model"]["tags"])  # gate-written tags stay out
    assert doc["model"]["tags"]["owner"] == "alice@bank.example"
    # baselines: the champion, version 1 (no_regression) and who holds the target alias
    assert doc["baselines"]["champion"]["version"] == "1"
    assert doc["baselines"]["version:1"]["version"] == "1"
    assert manifest["baselines"]["production"] is None  # looked up: no version holds it
    ctx = manifest["context"]
    assert ctx["target"] == "champion" and ctx["policy"]["name"] == "roundtrip"
    assert "MRM-XAI-001" in ctx["model_read_by"]
    # hostile paths: not exported, said so, nothing outside the folder
    refused = {item["path"] for item in manifest["not_exported"]}
    assert set(HOSTILE.values()) <= refused
    root = world["root"] / "exported"
    assert sorted(p.name for p in root.iterdir()) == sorted(VERSIONS)
    assert not (world["root"] / "outside.csv").exists()
    for p in out.rglob("*"):
        assert not p.is_symlink() and out.resolve() in p.resolve().parents
    assert MANIFEST in os.listdir(out)


@needs_suites
def test_demo_bundle_has_the_mlflow3_model_and_the_cwd_suite(world) -> None:
    from mrm_gate.evidence.export import EXPORTED_MODEL_DIR, read_manifest

    out = world["folders"]["demo-a"]
    manifest = read_manifest(out)
    # an MLflow 3 logged model: not in the run; its registered source is models:/m-...
    assert manifest["model"]["from"].startswith("models:/m-")
    assert manifest["model"]["path"] == EXPORTED_MODEL_DIR
    assert (out / EXPORTED_MODEL_DIR / "MLmodel").is_file()
    assert "model_artifact" not in yaml.safe_load((out / "evidence.yaml").read_text())
    assert json.loads((out / "suites" / "credit.json").read_text()) == CWD_SUITE
    assert manifest["files"]["suites/credit.json"]["read_by"] == "MRM-DQ-002 params.suite"


@needs_suites
def test_include_model_says_when_it_cannot(world, tmp_path, capsys) -> None:
    """A version registered from a run path that holds no model: --include-model is a clear
    usage error, and nothing is written."""
    client = world["client"]
    run_ = client.create_run(client.get_experiment_by_name("credit").experiment_id)
    client.log_metric(run_.info.run_id, "auc", 0.8)
    mv = client.create_model_version(NAME, f"runs:/{run_.info.run_id}/model",
                                     run_id=run_.info.run_id)
    out = tmp_path / "bundle"
    rc = run(["evidence", "export", f"models:/{NAME}/{mv.version}", "--out", str(out),
              "--tracking-uri", world["uri"], "--include-model"])
    err = capsys.readouterr().err
    assert rc == 2 and "cannot be exported" in err and "Traceback" not in err
    assert not out.exists() and not list(tmp_path.iterdir())
    # without --include-model the same version exports (its evidence has no model to read)
    assert run(["evidence", "export", f"models:/{NAME}/{mv.version}", "--out", str(out),
                "--tracking-uri", world["uri"]]) == 0


@needs_suites
def test_export_never_overwrites(world, tmp_path, capsys) -> None:
    out = write(tmp_path / "taken" / "notes.txt", "mine").parent
    rc = run(["evidence", "export", f"models:/{NAME}/1", "--out", str(out), "--tracking-uri",
              world["uri"]])
    assert rc == 2 and "never overwrites" in capsys.readouterr().err
    assert os.listdir(out) == ["notes.txt"]
    file_out = write(tmp_path / "file", "mine")
    assert run(["evidence", "export", f"models:/{NAME}/1", "--out", str(file_out),
                "--tracking-uri", world["uri"]]) == 2
    assert file_out.read_text() == "mine"


# ----------------------------------------------------------------------------- containment
# Export from a local evidence folder (no MLflow): every path from data is hostile.

SECRET = "secret-line-that-must-not-leak\n"
GOOD_CSV = "age,risk\n30,1\n40,0\n"


def _hostile_folder(tmp_path: Path, path: str, *, link: str | None = None) -> Path:
    """An evidence folder whose dataset `evil` has `path`; a secret file sits next to it."""
    write(tmp_path / "secret.csv", SECRET)
    folder = tmp_path / "evidence"
    write(folder / "data" / "validation.csv", GOOD_CSV)
    if link == "file":
        os.symlink(tmp_path / "secret.csv", folder / "data" / "link.csv")
    elif link == "dir":
        os.symlink(tmp_path, folder / "linkdir")
    doc = {"model": {"name": "credit-pd", "version": "3",
                     "tags": {"owner": "alice", "mrm.decision": "APPROVE"}},
           "run": {"metrics": {"auc": 0.8}},
           "datasets": {"validation": {"path": "data/validation.csv", "target": "risk"},
                        "evil": {"path": path}}}
    write(folder / "evidence.yaml", yaml.safe_dump(doc))
    return folder


def _assert_contained(out: Path) -> None:
    real = out.resolve()
    for p in out.rglob("*"):
        assert not p.is_symlink(), p
        assert real in p.resolve().parents, p
        if p.is_file():
            assert SECRET.strip() not in p.read_text(errors="replace"), p


HOSTILE_PATHS = {
    "absolute": ("/etc/hostname", None),
    "absolute-secret": ("{tmp}/secret.csv", None),
    "dotdot": ("../secret.csv", None),
    "inner-dotdot": ("data/../../secret.csv", None),
    "file-uri": ("file:///etc/passwd", None),
    "backslash": ("..\\secret.csv", None),
    "nul": ("data/a\x00b.csv", None),
    "symlink-file": ("data/link.csv", "file"),
    "symlink-dir": ("linkdir/secret.csv", "dir"),
}


@pytest.mark.parametrize("path,link", HOSTILE_PATHS.values(), ids=HOSTILE_PATHS.keys())
def test_a_path_from_data_is_never_exported_nor_escapes(tmp_path, path, link) -> None:
    from mrm_gate.evidence.export import read_manifest
    from mrm_gate.evidence.local import load_local_evidence

    path = path.format(tmp=tmp_path)
    src = _hostile_folder(tmp_path, path, link=link)
    out = tmp_path / "bundle"
    assert run(["evidence", "export", str(src), "--out", str(out)]) == 0
    _assert_contained(out)
    manifest = read_manifest(out)
    assert [i["path"] for i in manifest["not_exported"]] == [path]
    assert set(manifest["files"]) == {"data/validation.csv"}
    exported = load_local_evidence(out)
    assert exported.content_sha256() == load_local_evidence(src).content_sha256()
    assert "mrm.decision" not in exported.model.tags  # a gate-written tag stays out
    assert exported.datasets["evil"].path == path  # named as written: refused offline too


@pytest.mark.parametrize("reserved", ["evidence.yaml", "mrm-export.json",
                                      "mrm-export/model/MLmodel"])
def test_a_file_named_like_the_exports_own_is_refused(tmp_path, reserved, capsys) -> None:
    src = _hostile_folder(tmp_path, reserved)
    if not (src / reserved).exists():  # (evidence.yaml: the dataset is the evidence file)
        write(src / reserved, "model: {name: other}\n")
    out = tmp_path / "bundle"
    assert run(["evidence", "export", str(src), "--out", str(out)]) == 2
    assert "reserves" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob(".bundle*"))  # nothing left behind


def test_the_older_baseline_resolver_still_works(tmp_path) -> None:
    """`export_evidence(..., baseline=resolver)` (before EvidenceSource) records baselines."""
    from mrm_gate.evidence.export import export_evidence, read_manifest
    from mrm_gate.evidence.local import load_local_evidence
    from mrm_gate.evidence.model import Evidence, ModelInfo, RunInfo

    ev = load_local_evidence(_hostile_folder(tmp_path, "data/validation.csv"))
    champion = Evidence(model=ModelInfo(name="credit-pd", version="2"),
                        run=RunInfo(metrics={"auc": 0.79}))

    def resolver(alias=None, version=None):
        return champion if alias == "champion" else None

    path = export_evidence(ev, tmp_path / "out", baseline=resolver,
                           baseline_aliases=("champion", "production"))
    back = load_local_evidence(path.parent)
    assert back.baselines["champion"].version == "2"
    assert back.baselines["champion"].metrics == {"auc": 0.79}
    assert read_manifest(path.parent)["baselines"] == {"champion": "2", "production": None}


@pytest.mark.parametrize("value", [float("inf"), float("nan"), True, "0.9", 10**400])
def test_odd_metrics_round_trip_with_the_same_hash(tmp_path, value) -> None:
    """Metrics the controls refuse still export as they were (the control errors offline as
    online), and the folder hashes the same."""
    from mrm_gate.evidence.export import export_evidence
    from mrm_gate.evidence.local import load_local_evidence

    src = _hostile_folder(tmp_path, "data/validation.csv")
    ev = load_local_evidence(src)
    ev.run.metrics["odd"] = value
    path = export_evidence(ev, tmp_path / "out")
    assert load_local_evidence(path.parent).content_sha256() == ev.content_sha256()


PATH_CHARS = "ab./\\:~%\x00\n "


@given(path=st.text(alphabet=PATH_CHARS, min_size=1, max_size=12))
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_property_no_dataset_path_escapes_the_export(tmp_path_factory, path) -> None:
    from mrm_gate.errors import UserError
    from mrm_gate.evidence.export import export_evidence
    from mrm_gate.evidence.local import load_local_evidence

    tmp = tmp_path_factory.mktemp("prop")
    src = _hostile_folder(tmp, path)
    try:
        ev = load_local_evidence(src)
    except UserError:
        return  # a path YAML cannot carry: nothing to export
    out = tmp / "bundle"
    try:
        export_evidence(ev, out)
    except UserError as exc:  # refused (a reserved name, a file where a folder goes)
        assert not out.exists(), exc
        return
    _assert_contained(out)
    assert load_local_evidence(out).content_sha256() == ev.content_sha256()


SHAP_POLICY = {**POLICY, "tiering": {"default": "high"},
               "tiers": {"high": {"controls": [
                   {"id": "MRM-XAI-001", "check": "explainability.shap"},
                   {"id": "MRM-DQ-002", "check": "data_quality.expectations",
                    "params": {"dataset": "validation", "suite": "/abs/suite.json"}},
                   {"id": "MRM-PERF-002", "check": "performance.no_regression",
                    "params": {"metric": "auc", "baseline_version": "2"}}]}}}


def test_a_model_the_policy_reads_but_the_export_cannot_fetch_is_said(tmp_path, capsys) -> None:
    """With --policy the model is exported when a control loads it; when it cannot be (here:
    the evidence names none), the bundle says why and the control errors offline as online."""
    from mrm_gate.evidence.export import read_manifest

    src = _hostile_folder(tmp_path, "data/validation.csv")
    policy = write(tmp_path / "policy.yaml", yaml.safe_dump(SHAP_POLICY))
    out = tmp_path / "bundle"
    assert run(["evidence", "export", str(src), "--out", str(out), "--policy", str(policy),
                "--target", "champion"]) == 0
    err = capsys.readouterr().err
    manifest = read_manifest(out)
    assert manifest["model"] is None and "names no model" in manifest["model_not_exported"]
    assert "names no model" in err
    ctx = manifest["context"]
    assert ctx["model_read_by"] == ["MRM-XAI-001"]
    assert any("absolute path" in n for n in ctx["notes"])  # the suite is read in place
    assert ctx["reads"]["MRM-PERF-002"] == ["baseline version:2"]
    assert manifest["baselines"] == {"champion": None, "version:2": None}


CLI_ERRORS = {
    "missing evidence": (lambda t: ["evidence", "export", str(t / "nope"), "--out",
                                    str(t / "o")], "does not exist"),
    "bad policy": (lambda t: ["evidence", "export", str(t / "evidence"), "--out", str(t / "o"),
                              "--policy", str(write(t / "p.yaml", "kind: Policy\n"))],
                   "p.yaml"),
    "out is a file": (lambda t: ["evidence", "export", str(t / "evidence"), "--out",
                                 str(write(t / "o", "mine"))], "not an empty folder"),
    "no tracking uri": (lambda t: ["evidence", "export", "models:/m/1", "--out", str(t / "o")],
                        "tracking URI"),
}


@pytest.mark.parametrize("argv,fragment", CLI_ERRORS.values(), ids=CLI_ERRORS.keys())
def test_user_errors_exit_2_with_a_message(tmp_path, argv, fragment, capsys,
                                           monkeypatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    _hostile_folder(tmp_path, "data/validation.csv")
    assert run(argv(tmp_path)) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err
    assert not (tmp_path / "o").is_dir()
