"""Robustness benchmark: `robustness.perturbation` on 10k rows x 20 features, 100-tree GBM.

    .venv/bin/python benchmarks/suites/bench_robustness.py [--rows 10000] [--repeat 3]
                                                            [--workdir DIR]

Data: 18 numeric + 2 categorical features, a binary label; the model is a scikit-learn
Pipeline (median imputation + one-hot encoding + GradientBoostingClassifier(n_estimators=100,
max_depth=3)) saved with mlflow.sklearn. The check runs with its default perturbations
(relative x(1 +/- 5%), gaussian 0.1 sigma, 5% missing values, 5% swaps to a neighbouring and to
an unseen level), each on all features at once and on each alone: 65 perturbed copies of the
10k rows, scored in 5 batched model calls (plus the unperturbed one).

Measured, each repeat in a fresh process: the check alone, cold (the model's load and the
imports it needs included, as in a one-off `mrm-gate evaluate`), the same check again in that
process (warm imports, the model loaded again), and the whole process.
A reference figure: the same predictions made one row at a time on 200 rows, extrapolated.
Results: benchmarks/results/robustness.json and the table in benchmarks/results/robustness.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "robustness.json"

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, {tests!r})
from suite_helpers import run_check
from mrm_gate.evidence.local import load_local_evidence
ev = load_local_evidence({folder!r})
t1 = time.perf_counter()
res = run_check("robustness.perturbation", {{"max_flip_rate": None, "max_decay": {{}}}}, ev,
                trust=True)
t2 = time.perf_counter()
assert res.status.value == "PASS", res.message
warm = run_check("robustness.perturbation", {{"max_flip_rate": None, "max_decay": {{}}}}, ev,
                 trust=True)
t3 = time.perf_counter()
assert warm.details["perturbations"] == res.details["perturbations"]
n = res.details["rows"]
print(json.dumps({{"check_s": t2 - t1, "warm_check_s": t3 - t2, "setup_s": t1 - t0,
                   "rows_scored": n + sum(r["rows changed"] for r in res.details["perturbations"]),
                   "pairs": len(res.details["perturbations"]),
                   "worst_flip_rate": res.measured["worst flip rate"],
                   "worst_features": res.measured["worst features"]}}))
"""


def make_data(folder: Path, rows: int) -> None:
    import warnings

    import mlflow.sklearn
    import numpy as np
    import pandas as pd
    import yaml
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(0)
    n = rows * 2
    num = {f"x{j:02d}": rng.normal(0, 1 + j / 10, n) for j in range(18)}
    cats = {"segment": rng.choice(["a", "b", "c", "d", "e"], n),
            "channel": rng.choice(["branch", "online", "broker"], n)}
    frame = pd.DataFrame({**num, **cats})
    logit = (frame[["x00", "x01", "x02"]].sum(axis=1) * 0.8 - 0.5 * frame["x03"]
             + (frame["segment"] == "a") * 0.7)
    frame["label"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    features = [*num, *cats]
    prep = ColumnTransformer([
        ("num", SimpleImputer(strategy="median"), list(num)),
        ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), list(cats))])
    model = Pipeline([("prep", prep), ("gbm", GradientBoostingClassifier(
        n_estimators=100, max_depth=3, random_state=0))])
    model.fit(frame[features].iloc[:rows], frame["label"].iloc[:rows])
    (folder / "data").mkdir(parents=True)
    frame.iloc[rows:].to_parquet(folder / "data" / "validation.parquet", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.sklearn.save_model(model, str(folder / "model"),
                                 input_example=frame[features].head(3),
                                 pip_requirements=["scikit-learn"],
                                 skops_trusted_types=["sklearn.tree._tree.Tree", "numpy.dtype"])
    doc = {"model": {"name": "bench", "version": "1"}, "model_artifact": "model",
           "datasets": {"validation": {"path": "data/validation.parquet", "target": "label",
                                       "features": features}}}
    (folder / "evidence.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


def row_by_row(folder: Path, sample: int = 200) -> float:
    """Seconds per scored row when the model is called once per row (the naive way)."""
    import mlflow.sklearn
    import pandas as pd

    model = mlflow.sklearn.load_model(str(folder / "model"))
    frame = pd.read_parquet(folder / "data" / "validation.parquet").drop(columns="label")
    start = time.perf_counter()
    for r in range(sample):
        model.predict_proba(frame.iloc[[r]])
    return (time.perf_counter() - start) / sample


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-robustness-"))
    folder = work / "evidence"
    if not folder.exists():
        make_data(folder, args.rows)
    code = CHILD.format(tests=str(ROOT / "tests" / "suites"), folder=str(folder))
    runs = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, env={**os.environ, "MRM_GATE_NO_PROGRESS": "1"})
        wall = time.perf_counter() - start
        runs.append({**json.loads(out.stdout.strip().splitlines()[-1]), "process_s": wall})
        print(f"check {runs[-1]['check_s']:.2f} s (warm {runs[-1]['warm_check_s']:.2f} s), "
              f"process {wall:.2f} s", flush=True)
    per_row = row_by_row(folder)
    result = {
        "rows": args.rows, "features": 20, "model": "GradientBoostingClassifier(100 trees, "
        "depth 3) in a Pipeline (imputer + one-hot)", "perturbed_copies": runs[0]["pairs"],
        "rows_in_copies": args.rows * (1 + runs[0]["pairs"]),
        "rows_scored": runs[0]["rows_scored"], "runs": runs,
        "warm_check_s_best": min(r["warm_check_s"] for r in runs),
        "check_s_best": min(r["check_s"] for r in runs),
        "process_s_best": min(r["process_s"] for r in runs),
        "row_by_row_s_per_row": per_row,
        "row_by_row_s_extrapolated": per_row * args.rows * (1 + runs[0]["pairs"]),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))


if __name__ == "__main__":
    main()
