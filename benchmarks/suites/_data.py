"""Synthetic benchmark data for the validation suites, the evidence folder and the policy.

20 numeric + 2 categorical features, a 3-group protected attribute, a binary target, and the
score / prediction of a 100-tree gradient-boosting model trained on 20k reference rows;
reference and current sets of N rows each (current shifted on a few features), as Parquet, in a
local evidence folder with the model saved by `mlflow.sklearn`. The same 40 expectations are
used by every variant (the gate's policy, GE called directly, the numpy baseline).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

NUMERIC = [f"x{i:02d}" for i in range(20)]
CATEGORICAL = ["channel", "product"]
FEATURES = NUMERIC + CATEGORICAL
GROUP = "group"
TARGET = "target"
CHANNELS = ["branch", "online", "broker", "phone", "partner"]
PRODUCTS = [f"p{i}" for i in range(8)]
GROUPS = ["g0", "g1", "g2"]


def _frame(n: int, rng: np.random.Generator, shifted: bool) -> pd.DataFrame:
    cols: dict[str, np.ndarray] = {}
    for i, name in enumerate(NUMERIC):
        kind = i % 4
        if kind == 0:
            v = rng.normal(0.0, 1.0, n)
        elif kind == 1:
            v = rng.lognormal(0.0, 0.6, n)
        elif kind == 2:
            v = rng.integers(0, 100, n).astype(float)
        else:
            v = rng.uniform(0.0, 1.0, n)
        cols[name] = v
    if shifted:  # a red, a yellow and a green-but-moved feature
        cols["x00"] = cols["x00"] + 0.6
        cols["x01"] = cols["x01"] * 1.15
        cols["x04"] = cols["x04"] + 0.05
    p_channel = [0.4, 0.3, 0.15, 0.1, 0.05] if not shifted else [0.3, 0.4, 0.15, 0.1, 0.05]
    cols["channel"] = rng.choice(np.array(CHANNELS, dtype=object), n, p=p_channel)
    cols["product"] = rng.choice(np.array(PRODUCTS, dtype=object), n)
    cols[GROUP] = rng.choice(np.array(GROUPS, dtype=object), n, p=[0.5, 0.3, 0.2])
    logit = (0.8 * cols["x00"] - 0.5 * cols["x01"] + 0.02 * (cols["x02"] - 50)
             + 0.6 * (cols["x03"] - 0.5) + 0.3 * (cols[GROUP] == "g1"))
    cols[TARGET] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return pd.DataFrame(cols)


def expectations(n: int) -> list[dict]:
    """40 GE expectations: table shape, nulls, ranges, sets."""
    def e(t: str, **kw) -> dict:
        return {"type": t, "kwargs": kw}

    out = [e("expect_table_row_count_to_be_between", min_value=n // 2, max_value=n * 2),
           e("expect_table_columns_to_match_set",
             column_set=[*FEATURES, GROUP, TARGET, "score", "prediction"], exact_match=False)]
    out += [e("expect_column_values_to_not_be_null", column=c) for c in NUMERIC]
    bounds = {0: (-6, 6), 1: (0, 50), 2: (0, 99), 3: (0, 1)}
    for i, c in enumerate(NUMERIC[:14]):
        lo, hi = bounds[i % 4]
        out.append(e("expect_column_values_to_be_between", column=c, min_value=lo,
                     max_value=hi, mostly=0.99))
    out += [e("expect_column_values_to_be_in_set", column="channel", value_set=CHANNELS),
            e("expect_column_values_to_be_in_set", column="product", value_set=PRODUCTS),
            e("expect_column_values_to_be_in_set", column=GROUP, value_set=GROUPS),
            e("expect_column_values_to_be_in_set", column=TARGET, value_set=[0, 1])]
    assert len(out) == 40
    return out


def policy(n: int) -> dict:
    return {
        "apiVersion": "mrm-gate/v1", "kind": "Policy",
        "metadata": {"name": "suites-benchmark", "version": "1"},
        "tiering": {"default": "high"},
        "tiers": {"high": {"controls": [
            {"id": "MRM-DQ-001", "check": "data_quality.expectations",
             "params": {"dataset": "current", "expectations": expectations(n)}},
            {"id": "MRM-FAIR-001", "check": "fairness.disparity",
             "params": {"dataset": "validation", "rules": [
                 {"metric": "demographic_parity_ratio", "min": 0.8},
                 {"metric": "equalized_odds_difference", "max": 0.1}]}},
            {"id": "MRM-XAI-001", "check": "explainability.shap",
             "params": {"dataset": "validation", "sample_size": 1000, "top_k": 5,
                        "min_rank_stability": 0.5}},
            {"id": "MRM-DRIFT-001", "check": "drift.features",
             "params": {"numeric_methods": ["psi", "ks"],
                        "categorical_methods": ["psi", "chisquare"], "fail_on": "red"}},
            {"id": "MRM-DRIFT-002", "check": "drift.prediction",
             "params": {"column": "score", "fail_on": "red"}},
        ]}},
    }


def build(n: int, folder: Path, seed: int = 0) -> dict:
    """Write the evidence folder (data, model, evidence.yaml) and policy; return metadata."""
    meta_file = folder / "meta.json"
    if meta_file.exists():
        return json.loads(meta_file.read_text())
    import warnings

    import mlflow.sklearn
    from sklearn.ensemble import GradientBoostingClassifier

    rng = np.random.default_rng(seed)
    (folder / "data").mkdir(parents=True, exist_ok=True)
    ref = _frame(n, rng, shifted=False)
    cur = _frame(n, rng, shifted=True)
    train = _frame(20_000, np.random.default_rng(seed + 1), shifted=False)
    model = GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=seed)
    model.fit(train[NUMERIC], train[TARGET])
    for df in (ref, cur):
        df["score"] = model.predict_proba(df[NUMERIC])[:, 1]
        df["prediction"] = (df["score"] >= 0.5).astype(np.int64)
    ref.to_parquet(folder / "data" / "reference.parquet", index=False)
    cur.to_parquet(folder / "data" / "current.parquet", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.sklearn.save_model(model, str(folder / "model"),
                                  input_example=train[NUMERIC].head(3),
                                  skops_trusted_types=["sklearn.tree._tree.Tree"])
    roles = {"target": TARGET, "prediction": "prediction", "score": "score",
             "sensitive": [GROUP], "features": FEATURES}
    evidence = {"model": {"name": "suites-benchmark", "version": "1"},
                "model_artifact": "model",
                "datasets": {"reference": {"path": "data/reference.parquet", **roles},
                             "validation": {"path": "data/reference.parquet", **roles},
                             "current": {"path": "data/current.parquet", **roles}}}
    (folder / "evidence.yaml").write_text(yaml.safe_dump(evidence, sort_keys=False))
    (folder / "policy.yaml").write_text(yaml.safe_dump(policy(n), sort_keys=False))
    size = int(ref.memory_usage(deep=True).sum() + cur.memory_usage(deep=True).sum())
    meta = {"rows": n, "data_bytes_in_memory": size,
            "parquet_bytes": sum(p.stat().st_size for p in (folder / "data").iterdir())}
    meta_file.write_text(json.dumps(meta))
    return meta
