"""Fixtures of the validation-suite tests: German credit splits, a real MLflow model, evidence.

Everything is real: the model is a scikit-learn pipeline saved with `mlflow.sklearn`, evidence
folders are read by the local evidence loader, checks come from the entry-point registry.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CREDIT_CSV = ROOT / "examples" / "german_credit" / "data" / "german_credit.csv"
TARGET = "risk"
CATEGORICAL = ["sex", "housing", "saving_accounts", "checking_account", "purpose"]
NUMERIC = ["job", "credit_amount", "duration", "age"]
FEATURES = [c for c in NUMERIC + CATEGORICAL if c != "sex"]


@pytest.fixture(scope="session")
def credit() -> pd.DataFrame:
    return pd.read_csv(CREDIT_CSV).sample(frac=1.0, random_state=0).reset_index(drop=True)


def _fit(credit: pd.DataFrame, estimator):
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    cats = [c for c in FEATURES if c in CATEGORICAL]
    prep = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), cats)],
        remainder="passthrough", verbose_feature_names_out=False)
    model = Pipeline([("prep", prep), ("model", estimator)])
    train = credit.iloc[:600]
    return model.fit(train[FEATURES], train[TARGET])


def _save(model, path: Path, example: pd.DataFrame) -> Path:
    import warnings

    import mlflow.sklearn

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.sklearn.save_model(model, str(path), input_example=example.head(3),
                                 skops_trusted_types=["sklearn.tree._tree.Tree"])
    return path


@pytest.fixture(scope="session")
def gbm(credit):
    """A gradient-boosting credit pipeline (one-hot encoding + trees)."""
    from sklearn.ensemble import GradientBoostingClassifier

    return _fit(credit, GradientBoostingClassifier(n_estimators=40, max_depth=2, random_state=0))


@pytest.fixture(scope="session")
def gbm_dir(credit, gbm, tmp_path_factory) -> Path:
    """The GBM pipeline saved as an MLflow model directory."""
    return _save(gbm, tmp_path_factory.mktemp("gbm") / "model", credit[FEATURES])


@pytest.fixture(scope="session")
def logreg_dir(credit, tmp_path_factory) -> Path:
    from sklearn.linear_model import LogisticRegression

    model = _fit(credit, LogisticRegression(max_iter=500))
    return _save(model, tmp_path_factory.mktemp("lr") / "model", credit[FEATURES])


@pytest.fixture(scope="session")
def splits(credit, gbm):
    """reference / validation / current frames with score and prediction columns."""
    model = gbm
    out = {}
    for role, part in (("reference", credit.iloc[:600]), ("validation", credit.iloc[600:800]),
                       ("current", credit.iloc[800:])):
        df = part.reset_index(drop=True).copy()
        df["score"] = model.predict_proba(df[FEATURES])[:, 1]
        df["prediction"] = (df["score"] >= 0.5).astype(int)
        out[role] = df
    return out


ROLES = {"target": TARGET, "prediction": "prediction", "score": "score",
         "sensitive": ["sex", "age"]}


@pytest.fixture
def make_evidence(tmp_path: Path):
    """Write an evidence folder: datasets {role: frame or (frame, spec overrides)}; returns the
    loaded Evidence (files are read lazily by the checks, as in production)."""
    counter = [0]

    def make(datasets: dict, *, fmt: str = "csv", model: Path | None = None,
             extra_files: dict[str, bytes] | None = None, **top):
        from mrm_gate.evidence.local import load_local_evidence

        counter[0] += 1
        folder = tmp_path / f"evidence{counter[0]}"
        (folder / "data").mkdir(parents=True)
        specs = {}
        for role, item in datasets.items():
            frame, overrides = item if isinstance(item, tuple) else (item, {})
            if frame is None:  # a spec only (e.g. a path given in overrides)
                specs[role] = overrides
                continue
            name = f"data/{role}.{fmt}"
            if fmt == "parquet":
                frame.to_parquet(folder / name, index=False)
            else:
                frame.to_csv(folder / name, index=False)
            spec = {"path": name, **{k: v for k, v in ROLES.items() if k != "target" or
                                     TARGET in frame.columns}}
            spec.update(overrides)
            specs[role] = {k: v for k, v in spec.items() if v is not None}
        for name, data in (extra_files or {}).items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
        doc = {"model": {"name": "credit-pd", "version": "1"}, "datasets": specs, **top}
        if model is not None:
            shutil.copytree(model, folder / "model")
            doc["model_artifact"] = "model"
        (folder / "evidence.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        return load_local_evidence(folder)

    return make


@pytest.fixture
def run():
    from suite_helpers import run_check

    return run_check


def shifted(df: pd.DataFrame, column: str, factor: float) -> pd.DataFrame:
    out = df.copy()
    out[column] = out[column] * factor
    return out


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)
