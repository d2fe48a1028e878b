"""Explainability: SHAP global importance, forbidden features, concentration and stability.

TreeExplainer (exact, fast) for tree models, also inside a scikit-learn Pipeline: the
preprocessing is applied first and the SHAP values of encoded columns (e.g. one-hot
`cat__sex_female`) are summed back to the input column they came from (SHAP values are
additive). Other models get SHAP's model-agnostic permutation explainer within a time budget.
The model is loaded with mlflow.pyfunc, so only with trusted model code; the report says so,
and gives the sample size and seed.
"""

from __future__ import annotations

import time
import warnings
from typing import Any, Literal

import numpy as np
from pydantic import Field

from ..decision import CheckResult, Figure, Status
from ..errors import CheckError
from ._util import Params, fmt
from .context import CheckContext
from .registry import check


class ShapParams(Params):
    dataset: str = Field(default="validation", description="dataset role to explain")
    sample_size: int = Field(default=1000, ge=10, description="rows explained")
    seed: int | None = Field(default=None, description="sampling seed (default: the "
                             "evaluation's seed)")
    explainer: Literal["auto", "tree", "permutation"] = "auto"
    time_budget_s: float = Field(default=60.0, gt=0,
                                 description="budget of the model-agnostic explainer")
    background_size: int = Field(default=100, ge=10)
    top_k: int = Field(default=5, ge=1)
    forbidden: list[str] | None = Field(default=None, description="features that must not be "
                                        "in the top k (default: the sensitive attributes)")
    proxies: list[str] = Field(default_factory=list, description="named proxies, also "
                               "forbidden in the top k")
    min_top_k_share: float | None = Field(default=None, ge=0, le=1)
    min_rank_stability: float | None = Field(default=None, ge=-1, le=1, description="Spearman "
                                             "rank correlation of importance between two "
                                             "bootstrap samples")


def _positive_index(model: Any, positive_label: Any, n_outputs: int) -> int:
    classes = list(getattr(model, "classes_", []))
    if positive_label in classes:
        return classes.index(positive_label)
    return n_outputs - 1


def _class_slice(values: np.ndarray, model: Any, positive_label: Any) -> np.ndarray:
    """SHAP values of the positive class: (n, p) from (n, p) or (n, p, classes)."""
    values = np.asarray(values)
    if values.ndim == 3:
        return values[:, :, _positive_index(model, positive_label, values.shape[2])]
    return values


def map_encoded_names(encoded: list[str], inputs: list[str]) -> list[str] | None:
    """Input column of each encoded feature name (ColumnTransformer `prefix__`, one-hot
    `column_category`); None if any name cannot be attributed unambiguously."""
    out = []
    by_length = sorted(inputs, key=len, reverse=True)
    for name in encoded:
        bare = name.split("__", 1)[1] if "__" in name else name
        if bare in inputs:
            out.append(bare)
            continue
        match = next((c for c in by_length if bare.startswith(c + "_")), None)
        if match is None:
            return None
        out.append(match)
    return out


def _tree_values(model: Any, X, cols: list[str], positive_label: Any) -> tuple[np.ndarray, str]:
    """(n, len(cols)) SHAP values via TreeExplainer, through a Pipeline if needed."""
    import shap

    final, data, names = model, X, cols
    steps = getattr(model, "steps", None)
    if steps:
        final = steps[-1][1]
        pre = model[:-1]
        data = pre.transform(X)
        if hasattr(data, "toarray"):
            data = data.toarray()
        try:
            encoded = [str(n) for n in pre.get_feature_names_out()]
        except Exception:
            encoded = None
        if encoded is None or len(encoded) != np.shape(data)[1]:
            raise ValueError("the pipeline's preprocessing does not name its output features")
        names = map_encoded_names(encoded, cols)
        if names is None:
            raise ValueError("encoded features cannot be traced back to the input columns")
    explainer = shap.TreeExplainer(final)
    values = explainer.shap_values(np.asarray(data, dtype=float) if steps else data)
    if isinstance(values, list):  # older shap: one array per class
        values = np.stack(values, axis=-1)
    values = _class_slice(values, final, positive_label)
    if names == cols:
        return values, "TreeExplainer"
    summed = np.zeros((values.shape[0], len(cols)))
    index = {c: i for i, c in enumerate(cols)}
    for j, n in enumerate(names):
        summed[:, index[n]] += values[:, j]
    return summed, "TreeExplainer (pipeline; encoded columns summed per input column)"


class _Codec:
    """Numeric view of a mixed-type frame for SHAP's maskers (categories as integer codes),
    decoded back to the original values before the model predicts."""

    def __init__(self, frames) -> None:
        import pandas as pd

        both = pd.concat(frames, ignore_index=True)
        self.cols = list(both.columns)
        self.dtypes = both.dtypes.to_dict()
        self.categories = {c: np.asarray(pd.unique(both[c]), dtype=object) for c in self.cols
                           if not pd.api.types.is_numeric_dtype(both[c].dtype)}

    def encode(self, frame) -> np.ndarray:
        out = np.empty((len(frame), len(self.cols)))
        for j, c in enumerate(self.cols):
            if c in self.categories:
                lookup = {v: i for i, v in enumerate(self.categories[c])}
                out[:, j] = [lookup[v] for v in frame[c]]
            else:
                out[:, j] = frame[c].to_numpy(dtype=float)
        return out

    def decode(self, arr: np.ndarray):
        import pandas as pd

        data = {c: (self.categories[c][arr[:, j].astype(int)] if c in self.categories
                    else arr[:, j]) for j, c in enumerate(self.cols)}
        return pd.DataFrame(data).astype(self.dtypes)


def _predict_fn(loaded, codec: _Codec, positive_label: Any):
    raw = loaded.raw

    def f(arr: np.ndarray) -> np.ndarray:
        frame = codec.decode(np.asarray(arr, dtype=float))
        if raw is not None and hasattr(raw, "predict_proba"):
            proba = np.asarray(raw.predict_proba(frame))
            return proba[:, _positive_index(raw, positive_label, proba.shape[1])]
        out = np.asarray(loaded.pyfunc.predict(frame), dtype=float)
        return out.reshape(len(frame), -1)[:, 0]

    return f


def _agnostic_values(loaded, X, background, params: ShapParams, positive_label: Any,
                     notes: list[str]) -> tuple[np.ndarray, str]:
    """Permutation explainer on as many sample rows as fit in the time budget."""
    import shap

    codec = _Codec([X, background])
    f = _predict_fn(loaded, codec, positive_label)
    masker = shap.maskers.Independent(codec.encode(background),
                                      max_samples=params.background_size)
    explainer = shap.PermutationExplainer(f, masker, seed=0)
    data = codec.encode(X)
    probe = min(5, len(data))
    start = time.perf_counter()
    first = explainer(data[:probe], silent=True).values
    per_row = (time.perf_counter() - start) / probe
    remaining = max(0.0, params.time_budget_s - per_row * probe)
    extra = min(len(data) - probe, int(remaining / max(per_row, 1e-6)))
    parts = [first]
    if extra > 0:
        parts.append(explainer(data[probe:probe + extra], silent=True).values)
    values = np.concatenate(parts, axis=0)
    if values.shape[0] < len(data):
        notes.append(f"time budget {params.time_budget_s:g} s: {values.shape[0]} of "
                     f"{len(data)} sampled rows explained")
    return np.asarray(values, dtype=float), "PermutationExplainer (model-agnostic)"


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    return float(spearmanr(a, b).statistic)


@check("explainability.shap", params=ShapParams,
       summary="SHAP importance: no forbidden feature in the top k, concentration, stability")
def shap_importance(params: ShapParams, ctx: CheckContext) -> CheckResult:
    """Fails when a forbidden feature (protected attribute or named proxy) is in the top k,
    the top k carry less than `min_top_k_share` of the importance, or the ranking is unstable.

    Rationale: a validator must be able to say what drives the model; a protected attribute
    among the main drivers is a conduct risk, and a ranking that changes between two bootstrap
    samples of the same data is not an explanation.

    Passing: `{top_k: 5, forbidden: [sex], min_rank_stability: 0.8}` with sex ranked 7th and a
    bootstrap rank correlation of 0.95.
    Failing: the same with sex ranked 2nd by mean |SHAP|.
    """
    from ..evidence.datasets import model_input_sample, task_progress

    sample = model_input_sample(
        ctx, params.dataset, why="explainability.shap needs the model to compute SHAP values",
        sample_size=params.sample_size, seed=params.seed, what="SHAP")
    ds, loaded, cols, X = sample.ds, sample.loaded, sample.cols, sample.frame
    rng, seed, n = sample.rng, sample.seed, len(sample.frame)
    notes = [loaded.note]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import shap  # noqa: F401
    except ImportError as exc:
        raise CheckError(f"explainability.shap needs shap (pip install 'mrm-gate[suites]'): "
                         f"{exc}") from None
    values = None
    method = ""
    tree_error = None
    with task_progress(ctx, f"SHAP on {n} rows", 1) as advance, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if params.explainer in ("auto", "tree"):
            try:
                values, method = _tree_values(loaded.raw, X, cols, ds.spec.positive_label)
            except Exception as exc:
                tree_error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}" \
                    if str(exc) else type(exc).__name__
                if params.explainer == "tree":
                    raise CheckError(f"TreeExplainer cannot explain the model {loaded.uri}: "
                                     f"{tree_error}") from None
        if values is None:
            bg_rows = rng.choice(ds.n_rows, size=min(params.background_size, ds.n_rows),
                                 replace=False)
            background = ds.frame.iloc[np.sort(bg_rows)][cols]
            try:
                values, method = _agnostic_values(loaded, X, background, params,
                                                  ds.spec.positive_label, notes)
            except CheckError:
                raise
            except Exception as exc:
                raise CheckError(f"SHAP cannot explain the model {loaded.uri}: "
                                 f"{type(exc).__name__}: {str(exc)[:300]}") from None
            if tree_error and params.explainer == "auto":
                notes.append(f"not a tree model for TreeExplainer ({tree_error}); used the "
                             "model-agnostic explainer")
        advance()
    if values.shape != (values.shape[0], len(cols)) or not np.isfinite(values).all():
        raise CheckError(f"SHAP returned values of shape {values.shape} (or non-finite values) "
                         f"for {len(cols)} model inputs")
    notes.insert(0, f"SHAP {method} on a {values.shape[0]}-row sample of {ds.describe()} "
                    f"(seed {seed})")
    importance = np.abs(values).mean(axis=0)
    order = np.argsort(-importance, kind="stable")
    ranking = [{"feature": cols[i], "mean_abs_shap": float(importance[i]), "rank": r + 1}
               for r, i in enumerate(order)]
    total = float(importance.sum())
    k = min(params.top_k, len(cols))
    top = [cols[i] for i in order[:k]]
    share = min(1.0, float(importance[order[:k]].sum() / total)) if total > 0 else float("nan")
    b1 = rng.integers(0, values.shape[0], values.shape[0])
    b2 = rng.integers(0, values.shape[0], values.shape[0])
    stability = _spearman(np.abs(values[b1]).mean(axis=0), np.abs(values[b2]).mean(axis=0))
    forbidden = list(dict.fromkeys((params.forbidden if params.forbidden is not None else
                                    list(ds.spec.sensitive)) + params.proxies))
    not_inputs = [f for f in forbidden if f not in cols]
    if not_inputs:
        notes.append(f"forbidden feature(s) {not_inputs} are not model inputs")
    in_top = [f for f in forbidden if f in top]
    problems = []
    if in_top:
        ranks = {r["feature"]: r["rank"] for r in ranking}
        problems.append("forbidden feature(s) in the top " + str(k) + ": "
                        + ", ".join(f"{f} (rank {ranks[f]})" for f in in_top))
    if params.min_top_k_share is not None and not share >= params.min_top_k_share:
        problems.append(f"top {k} carry {fmt(share)} of the importance < "
                        f"{fmt(params.min_top_k_share)}")
    if params.min_rank_stability is not None and not stability >= params.min_rank_stability:
        problems.append(f"bootstrap rank correlation {fmt(stability)} < "
                        f"{fmt(params.min_rank_stability)}")
    measured = {"top_k": top, "top_k_share": share, "rank_stability": stability}
    threshold = {"forbidden_in_top_k": forbidden, "top_k": k,
                 **({"min_top_k_share": params.min_top_k_share}
                    if params.min_top_k_share is not None else {}),
                 **({"min_rank_stability": params.min_rank_stability}
                    if params.min_rank_stability is not None else {})}
    details = {"ranking": ranking, "sample_size": int(values.shape[0]), "seed": seed,
               "explainer": method, "dataset": ds.role}
    figures = [_figure(ranking, forbidden, k)]
    status = Status.FAIL if problems else Status.PASS
    message = "; ".join(problems) if problems else (
        f"top {k}: {', '.join(top)} ({fmt(share)} of importance, bootstrap rank correlation "
        f"{fmt(stability)}); no forbidden feature in the top {k}")
    return CheckResult(status=status, message=message, measured=measured, threshold=threshold,
                       details=details, figures=figures, notes=notes, evidence_file=ds.source)


def _figure(ranking: list[dict], forbidden: list[str], k: int) -> Figure:
    from ..stats.plots import PALETTE, bar_chart

    shown = ranking[:15]
    colors = [PALETTE["red"] if r["feature"] in forbidden else
              PALETTE["bar"] if r["rank"] <= k else PALETTE["grey"] for r in shown]
    svg = bar_chart([r["feature"] for r in shown], [r["mean_abs_shap"] for r in shown],
                    title="Global importance (mean |SHAP|)", colors=colors)
    return Figure(title="SHAP importance ranking", data=svg,
                  caption=f"blue: top {k}; red: forbidden features; grey: others")

