"""mrm-gate demo: two credit-scoring models on the German credit data, gated by policy.

1. trains a documented, independently validated gradient-boosting model (candidate A) and a
   quick challenger (candidate B) on the UCI Statlog German Credit data (data/german_credit.csv);
2. logs both to a local MLflow tracking store in a file (examples/german_credit/mlflow.db, with
   artifacts in examples/german_credit/mlartifacts) and registers them as two versions of
   `german-credit-pd` with the tags a model owner sets;
3. runs `mrm-gate evaluate` on both against policies/example-credit.yaml for the `champion`
   alias: A is approved (and then promoted), B is blocked, with the reasons printed;
4. writes the reports (text, JSON, Markdown, HTML) and a hash-chained decision log to
   examples/german_credit/reports/ and verifies the log.

Run it with `make demo` from the repository root (it creates .venv and installs everything).
Re-running adds new versions to the same store; nothing is deleted.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DATA = HERE / "data" / "german_credit.csv"
POLICY = ROOT / "policies" / "example-credit.yaml"
REPORTS = HERE / "reports"
TRACKING_URI = f"sqlite:///{HERE / 'mlflow.db'}"
ARTIFACTS = (HERE / "mlartifacts").as_uri()
MODEL_NAME = "german-credit-pd"
TARGET = "risk"  # 1 = good credit risk, 0 = bad
CATEGORICAL = ["sex", "housing", "saving_accounts", "checking_account", "purpose"]
NUMERIC = ["job", "credit_amount", "duration", "age"]
SEED = 42

CARD_A = """# Model card: german-credit-pd (gradient boosting)

## Intended use
Scores retail loan applications (probability of good repayment) to support, not replace, credit
officers' decisions. Not for use on business loans or outside the applicant population below.

## Training data
UCI Statlog German Credit (1,000 applicants, 1994), 60% training / 20% validation / 20% held
out as a stand-in for recent applications. `sex` is excluded from the features.

## Performance
ROC AUC, accuracy and Brier score on the validation split are logged with the run.

## Limitations
Small, old sample from one country; 30% bad-risk share does not match today's portfolio; age is
a feature and must be monitored for disparate impact.

## Fairness considerations
Disparities by sex and age group are measured on the validation split.
"""

CARD_B = """# Model card: german-credit-pd (challenger)

## Intended use
Quick challenger built for comparison.

## Training data
UCI Statlog German Credit, all attributes.

## Performance
See run metrics.
"""


def train(features: list[str], kind: str, train_df, valid_df):
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder
    from sklearn.tree import DecisionTreeClassifier

    cats = [c for c in features if c in CATEGORICAL]
    prep = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), cats)],
        remainder="passthrough", verbose_feature_names_out=False,
    )
    if kind == "gbm":
        est = GradientBoostingClassifier(n_estimators=150, max_depth=2, learning_rate=0.05,
                                         random_state=SEED)
    else:
        est = DecisionTreeClassifier(max_depth=2, random_state=SEED)
    model = Pipeline([("prep", prep), ("model", est)])
    model.fit(train_df[features], train_df[TARGET])
    return model


def metrics_for(model, features, df) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, brier_score_loss, roc_auc_score

    score = model.predict_proba(df[features])[:, 1]
    pred = (score >= 0.5).astype(int)
    return {
        "auc": float(roc_auc_score(df[TARGET], score)),
        "accuracy": float(accuracy_score(df[TARGET], pred)),
        "brier": float(brier_score_loss(df[TARGET], score)),
    }


def with_predictions(model, features, df):
    out = df.copy()
    out["score"] = model.predict_proba(df[features])[:, 1]
    out["prediction"] = (out["score"] >= 0.5).astype(int)
    return out


def log_candidate(client, label, kind, features, card, tags, description, splits):
    import mlflow
    import yaml

    train_df, valid_df, current_df = splits
    model = train(features, kind, train_df, valid_df)
    metrics = metrics_for(model, features, valid_df)
    with mlflow.start_run(run_name=f"{MODEL_NAME}-{label}") as run, \
            tempfile.TemporaryDirectory() as tmp:
        mlflow.log_params({"model_type": kind, "features": ",".join(features),
                           "seed": SEED, "n_train": len(train_df)})
        mlflow.log_metrics(metrics)
        t = Path(tmp)
        (t / "data").mkdir()
        train_df.to_csv(t / "data" / "reference.csv", index=False)
        with_predictions(model, features, valid_df).to_csv(t / "data" / "validation.csv",
                                                           index=False)
        with_predictions(model, features, current_df).drop(columns=[TARGET]).to_csv(
            t / "data" / "current.csv", index=False)
        (t / "model_card.md").write_text(card, encoding="utf-8")
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
        }
        backtest = ROOT / "examples" / "backtests" / "retail_mortgages.csv"  # retail portfolio
        shutil.copy(backtest, t / "backtest.csv")  # expected vs realised losses, 10 years
        evidence["backtest"] = {"path": "backtest.csv"}
        (t / "mrm").mkdir()
        (t / "mrm" / "evidence.yaml").write_text(yaml.safe_dump(evidence, sort_keys=False))
        mlflow.log_artifacts(str(t))
        for name, df in (("training", train_df), ("validation", valid_df)):
            mlflow.log_input(mlflow.data.from_pandas(df, name=f"german-credit-{name}",
                                                     targets=TARGET), context=name)
        # skops format (no pickle); the tree node storage is a type we created ourselves
        info = mlflow.sklearn.log_model(model, name="model",
                                        input_example=valid_df[features].head(3),
                                        skops_trusted_types=["sklearn.tree._tree.Tree"])
    mv = mlflow.register_model(info.model_uri, MODEL_NAME)
    for k, v in tags.items():
        client.set_model_version_tag(MODEL_NAME, mv.version, k, v)
    client.update_model_version(MODEL_NAME, mv.version, description=description)
    print(f"  registered {MODEL_NAME} v{mv.version} ({label}: {kind}, "
          f"AUC {metrics['auc']:.3f}) run {run.info.run_id[:8]}")
    return mv.version


# A demo-only HMAC key for the decision log's signed checkpoints (a real deployment keeps its
# key in a secret store, or uses an Ed25519 key so auditors hold only the public half).
DEMO_KEY_VAR = "MRM_GATE_DEMO_CHECKPOINT_KEY"


def gate(version: str, log: Path) -> int:
    exe = Path(sys.executable).with_name("mrm-gate")
    cmd = [str(exe), "evaluate", f"models:/{MODEL_NAME}/{version}", "--policy", str(POLICY),
           "--target", "champion", "--format", "text,json,markdown,html", "--output",
           str(REPORTS), "--decision-log", str(log), "--tracking-uri", TRACKING_URI,
           "--checkpoint", str(log.with_suffix(".checkpoints")), "--checkpoint-key",
           f"env:{DEMO_KEY_VAR}",
           "--trust-model-code"]  # the demo trained these models itself: a trusted source
    print(f"\n$ mrm-gate evaluate models:/{MODEL_NAME}/{version} --policy "
          f"policies/example-credit.yaml --target champion --output {REPORTS.relative_to(ROOT)} "
          "...", flush=True)
    return subprocess.call(cmd)


def main() -> int:
    warnings.filterwarnings("ignore")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault(DEMO_KEY_VAR, "demo-only-checkpoint-key-not-a-secret-0123456789")
    import mlflow
    import pandas as pd
    from mlflow.tracking import MlflowClient

    df = pd.read_csv(DATA)
    shuffled = df.sample(frac=1.0, random_state=SEED).reset_index(drop=True)
    n = len(shuffled)
    splits = (shuffled.iloc[: int(0.6 * n)], shuffled.iloc[int(0.6 * n): int(0.8 * n)],
              shuffled.iloc[int(0.8 * n):])
    print(f"German credit data: {n} applicants ({DATA.relative_to(ROOT)})")
    print(f"MLflow tracking store: {TRACKING_URI}")
    mlflow.set_tracking_uri(TRACKING_URI)
    mlflow.set_registry_uri(TRACKING_URI)
    if mlflow.get_experiment_by_name("german-credit") is None:
        mlflow.create_experiment("german-credit", artifact_location=ARTIFACTS)
    mlflow.set_experiment("german-credit")
    client = MlflowClient(TRACKING_URI, TRACKING_URI)
    try:
        client.get_registered_model(MODEL_NAME)
    except Exception:
        client.create_registered_model(
            MODEL_NAME, tags={"business_unit": "retail-lending"},
            description="Probability that a retail loan applicant repays (German credit).")
    today = dt.date.today()
    version_a = log_candidate(
        client, "candidate-a", "gbm", [c for c in NUMERIC + CATEGORICAL if c != "sex"], CARD_A,
        {"owner": "alice@bank.example", "validator": "bob@bank.example",
         "validation_date": (today - dt.timedelta(days=30)).isoformat(),
         "approvers": "carol@bank.example, dave@bank.example",
         "mrm.exposure": "25000000", "mrm.purpose": "credit_decision"},
        "Gradient boosting scorecard for retail loan applications; sex excluded from features; "
        "validated by the model validation team.", splits)
    version_b = log_candidate(
        client, "candidate-b", "tree", NUMERIC + CATEGORICAL, CARD_B,
        {"owner": "erin@bank.example", "validator": "erin@bank.example",
         "mrm.exposure": "25000000", "mrm.purpose": "credit_decision"},
        "Quick depth-2 tree challenger using every attribute.", splits)

    REPORTS.mkdir(parents=True, exist_ok=True)
    log = REPORTS / "decisions.jsonl"
    rc_a = gate(version_a, log)
    if rc_a == 0:
        client.set_registered_model_alias(MODEL_NAME, "champion", version_a)
        print(f"  approved: set @champion on v{version_a}")
    rc_b = gate(version_b, log)
    subprocess.call([str(Path(sys.executable).with_name("mrm-gate")), "audit", "verify",
                     str(log), "--checkpoint", str(log.with_suffix(".checkpoints")), "--key",
                     f"env:{DEMO_KEY_VAR}"])
    print(f"\nReports: {REPORTS}  (open the .html files in a browser)")
    print(f"Candidate A (v{version_a}): {'APPROVED' if rc_a == 0 else 'BLOCKED'}; "
          f"candidate B (v{version_b}): {'BLOCKED' if rc_b == 1 else 'NOT BLOCKED'}")
    ok = rc_a == 0 and rc_b == 1
    if not ok:
        print("demo: unexpected outcome (expected A approved and B blocked)", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
