"""The same validation hand-written in numpy / scipy (one fresh process): the speed reference.

    python _baseline.py EVIDENCE_FOLDER OUT.json

What a competent engineer writes without a framework: the 40 expectations as pandas/numpy
expressions, fairness from one `bincount` of (group, label, prediction), drift as PSI on 10
reference-quantile bins (`np.quantile` + `np.searchsorted`), `scipy.stats.ks_2samp` for numeric
and `scipy.stats.chisquare` for categorical features, and SHAP `TreeExplainer` on a 1,000-row
sample of the model loaded with mlflow.pyfunc. No policy, no evidence model, no reports.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _data import CATEGORICAL, GROUP, NUMERIC, TARGET, expectations


def _psi(r, c) -> float:
    import numpy as np

    r = np.where(r == 0, 1e-4, r)
    c = np.where(c == 0, 1e-4, c)
    return float(np.sum((r - c) * np.log(r / c)))


def data_quality(cur) -> int:
    import numpy as np

    failed = 0
    for e in expectations(len(cur)):
        kw, t = e["kwargs"], e["type"]
        if t == "expect_table_row_count_to_be_between":
            ok = kw["min_value"] <= len(cur) <= kw["max_value"]
        elif t == "expect_table_columns_to_match_set":
            ok = set(kw["column_set"]) <= set(cur.columns)
        elif t == "expect_column_values_to_not_be_null":
            ok = not cur[kw["column"]].isna().any()
        elif t == "expect_column_values_to_be_between":
            v = cur[kw["column"]].to_numpy()
            v = v[~np.isnan(v)]
            ok = np.mean((v >= kw["min_value"]) & (v <= kw["max_value"])) >= kw["mostly"]
        else:
            ok = cur[kw["column"]].dropna().isin(kw["value_set"]).all()
        failed += not ok
    return failed


def main(folder: Path, out: Path) -> None:
    warnings.filterwarnings("ignore")
    import numpy as np
    import pandas as pd
    from scipy import stats

    ref = pd.read_parquet(folder / "data" / "reference.parquet")
    cur = pd.read_parquet(folder / "data" / "current.parquet")
    result: dict = {"dq_failed": data_quality(cur)}

    codes, groups = pd.factorize(ref[GROUP])
    y, p = ref[TARGET].to_numpy(), ref["prediction"].to_numpy()
    counts = np.bincount(codes * 4 + y * 2 + p, minlength=len(groups) * 4).reshape(-1, 4)
    tn, fp, fn, tp = counts.T
    sel = (fp + tp) / counts.sum(axis=1)
    tpr, fpr = tp / (tp + fn), fp / (fp + tn)
    result["demographic_parity_ratio"] = float(sel.min() / sel.max())
    result["equalized_odds_difference"] = float(max(np.ptp(tpr), np.ptp(fpr)))

    psi, ks = {}, {}
    for col in [*NUMERIC, "score"]:
        a, b = ref[col].to_numpy(), cur[col].to_numpy()
        edges = np.unique(np.quantile(a, np.linspace(0, 1, 11)[1:-1]))
        sa, sb = np.sort(a), np.sort(b)
        ra = np.diff(np.r_[0, np.searchsorted(sa, edges, "right"), len(a)]) / len(a)
        rb = np.diff(np.r_[0, np.searchsorted(sb, edges, "right"), len(b)]) / len(b)
        psi[col] = _psi(ra, rb)
        if col != "score":
            ks[col] = float(stats.ks_2samp(a, b).pvalue)
    chi = {}
    for col in CATEGORICAL:
        keys = sorted(set(ref[col].unique()) | set(cur[col].unique()))
        rc = ref[col].value_counts().reindex(keys, fill_value=0).to_numpy()
        cc = cur[col].value_counts().reindex(keys, fill_value=0).to_numpy()
        psi[col] = _psi(rc / len(ref), cc / len(cur))
        chi[col] = float(stats.chisquare(cc, rc * len(cur) / len(ref)).pvalue)
    result.update(psi=psi, ks=ks, chisquare=chi)

    import mlflow.pyfunc
    import shap

    model = mlflow.pyfunc.load_model(str(folder / "model")).get_raw_model()
    sample = ref[NUMERIC].sample(1000, random_state=0)
    importance = np.abs(shap.TreeExplainer(model).shap_values(sample)).mean(axis=0)
    result["shap_top5"] = [NUMERIC[i] for i in np.argsort(-importance)[:5]]
    out.write_text(json.dumps(result))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
