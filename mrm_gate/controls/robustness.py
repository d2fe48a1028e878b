"""Robustness: seeded input perturbations, the metric decay and the prediction flips they cause.

Each perturbation (relative noise x(1 +/- delta), additive Gaussian noise N(0, k sigma),
missing-value injection, category swaps to a neighbouring or an unseen level) is applied to
every applicable feature at once and to each feature alone. The rows each perturbed copy
changed are stacked, for all the copies of one perturbation, into one frame scored by one
batched call of the model's own predict_proba (unchanged rows keep their unperturbed score: a
model scores each row on its own), so a 10k x 20 validation set costs a few calls, not
10k x 20 rows one by one. Draws are reproducible: the perturbation of feature j by the i-th
perturbation uses `numpy.random.default_rng([seed, i, j])`, first a uniform per row (is the
row perturbed: `u < rate`), then the perturbation's own draw for every row; the all-features
copy is the union of the per-feature copies.

The model runs, so only with trusted model code (`--trust-model-code`); scoring helpers are
shared with `stress.scenario`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from ..decision import CheckResult, Figure, Status
from ..errors import CheckError
from ._util import Params, fmt
from .context import CheckContext
from .registry import check

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from ..evidence.datasets import Dataset, LoadedModel

Metric = Literal["roc_auc", "accuracy", "brier"]
HIGHER_IS_BETTER = {"roc_auc": True, "accuracy": True, "brier": False}
ALL = "(all features)"
UNSEEN = "__unseen__"


class Perturbation(Params):
    """One perturbation: `kind` and its size."""

    kind: Literal["relative", "gaussian", "missing", "swap"] = Field(
        description="relative: x(1 +/- delta); gaussian: + N(0, k sigma); missing: set to "
        "NaN; swap: category to a neighbouring or unseen level")
    delta: float | None = Field(default=None, gt=0, le=1, description="relative: the size")
    k: float | None = Field(default=None, gt=0, description="gaussian: sigma multiple")
    rate: float | None = Field(default=None, gt=0, le=1, description="share of rows "
                               "perturbed (default 1 for noise, 0.1 for missing and swap)")
    to: Literal["neighbour", "unseen"] = Field(default="neighbour",
                                               description="swap: the new level")

    @model_validator(mode="after")
    def _sized(self) -> Perturbation:
        if self.kind == "relative" and self.delta is None:
            raise ValueError("a relative perturbation needs delta (e.g. 0.05 for x(1 +/- 5%))")
        if self.kind == "gaussian" and self.k is None:
            raise ValueError("a gaussian perturbation needs k (noise sigma = k x the "
                             "feature's standard deviation)")
        if self.kind != "relative" and self.delta is not None:
            raise ValueError(f"delta applies to relative perturbations, not {self.kind}")
        if self.kind != "gaussian" and self.k is not None:
            raise ValueError(f"k applies to gaussian perturbations, not {self.kind}")
        if self.kind != "swap" and "to" in self.model_fields_set:
            raise ValueError(f"to applies to swap perturbations, not {self.kind}")
        return self

    @property
    def share(self) -> float:
        if self.rate is not None:
            return self.rate
        return 1.0 if self.kind in ("relative", "gaussian") else 0.1

    @property
    def label(self) -> str:
        if self.kind == "relative":
            text = f"relative x(1 +/- {self.delta:g})"
        elif self.kind == "gaussian":
            text = f"gaussian + N(0, {self.k:g} sigma)"
        elif self.kind == "missing":
            text = "missing values"
        else:
            text = f"swap to {'a neighbouring' if self.to == 'neighbour' else 'an unseen'} level"
        return text + ("" if self.share == 1.0 else f", {self.share:.0%} of rows")

    def applies_to(self, numeric: bool) -> bool:
        if self.kind == "missing":
            return True
        return numeric if self.kind in ("relative", "gaussian") else not numeric


DEFAULT_PERTURBATIONS = [
    {"kind": "relative", "delta": 0.05},
    {"kind": "gaussian", "k": 0.1},
    {"kind": "missing", "rate": 0.05},
    {"kind": "swap", "to": "neighbour", "rate": 0.05},
    {"kind": "swap", "to": "unseen", "rate": 0.05},
]


class RobustnessParams(Params):
    dataset: str = Field(default="validation", description="dataset role perturbed")
    perturbations: list[Perturbation] = Field(
        default_factory=lambda: [Perturbation(**p) for p in DEFAULT_PERTURBATIONS],
        min_length=1, description="what is applied, each to all features and to each alone")
    features: list[str] | None = Field(default=None, description="features perturbed "
                                       "(default: every model input)")
    categorical: list[str] = Field(default_factory=list, description="numeric inputs to "
                                   "treat as categories (swapped, not noised)")
    metrics: list[Metric] = Field(default_factory=lambda: ["roc_auc", "accuracy"],
                                  description="metrics whose decay is reported (need labels)")
    max_flip_rate: float | None = Field(default=0.05, ge=0, le=1, description="largest "
                                        "share of decisions changed by any perturbation")
    max_decay: dict[Metric, float] = Field(default_factory=lambda: {"roc_auc": 0.02},
                                           description="largest drop of each metric "
                                           "(rise for brier)")
    decision_threshold: float = Field(default=0.5, description="a decision is positive when "
                                      "the score is at least this")
    sample_size: int | None = Field(default=10000, ge=10, description="rows used (sampled "
                                    "with the seed; null: all)")
    seed: int | None = Field(default=None, description="default: the evaluation's seed")
    worst: int = Field(default=5, ge=1, description="features named as the worst")
    batch_rows: int = Field(default=1_000_000, ge=1000, description="most rows scored in "
                            "one model call (copies of one perturbation are stacked)")

    @model_validator(mode="after")
    def _decay_bounds(self) -> RobustnessParams:
        for name, v in self.max_decay.items():
            if v < 0:
                raise ValueError(f"max_decay.{name} must be >= 0")
        return self


# ----------------------------------------------------------------------------- scoring


@dataclass
class Scorer:
    """The trusted model as a function frame -> finite scores (positive class)."""

    loaded: LoadedModel
    positive_label: Any
    how: str = ""
    _index: int | None = field(default=None, repr=False)

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        import numpy as np

        from ..evidence.datasets import _quiet

        raw = self.loaded.raw
        with _quiet():
            if raw is not None and hasattr(raw, "predict_proba"):
                proba = np.asarray(raw.predict_proba(frame))
                if proba.ndim != 2:
                    raise ValueError(f"predict_proba returned shape {proba.shape}")
                classes = list(getattr(raw, "classes_", range(proba.shape[1])))
                idx = (classes.index(self.positive_label) if self.positive_label in classes
                       else proba.shape[1] - 1)
                self.how = "predict_proba (positive class)"
                out = proba[:, idx]
            else:
                model = raw if raw is not None and hasattr(raw, "predict") else \
                    self.loaded.pyfunc
                out = np.asarray(model.predict(frame))
                self.how = "predict (the model has no predict_proba)"
                if out.ndim == 2 and out.shape[1] == 1:
                    out = out[:, 0]
        try:
            out = np.asarray(out, dtype=float)
        except (TypeError, ValueError):
            raise CheckError(f"the model {self.loaded.uri} returned non-numeric output; "
                             "a score is needed") from None
        if out.shape != (len(frame),):
            raise CheckError(f"the model {self.loaded.uri} returned shape {out.shape} for "
                             f"{len(frame)} rows; expected one score per row")
        return out


def require_finite(scores: np.ndarray, uri: str, what: str) -> None:
    import numpy as np

    bad = ~np.isfinite(scores)
    if bad.any():
        raise CheckError(f"the model {uri} returned {int(bad.sum())} non-finite score(s) on "
                         f"{what}; a robustness or stress measure needs finite scores")


def model_inputs(ctx: CheckContext, ds: Dataset, why: str) -> tuple[LoadedModel, list[str]]:
    from ..evidence.datasets import load_model

    loaded = load_model(ctx, why=why)
    cols = loaded.input_columns(ds)
    ds.require(*cols, why="(an input of the model's signature)")
    return loaded, cols


def sample_rows(ds: Dataset, size: int | None, seed: int) -> tuple[np.ndarray | None, str | None]:
    import numpy as np

    if size is None or ds.n_rows <= size:
        return None, None
    rows = np.sort(np.random.default_rng(seed).choice(ds.n_rows, size=size, replace=False))
    return rows, f"a {size}-row sample of the {ds.n_rows} rows (seed {seed})"


def is_numeric(series: pd.Series) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(series.dtype)) and not \
        pd.api.types.is_bool_dtype(series.dtype)


def stacked_frame(base: dict[str, np.ndarray], cols: list[str],
                  blocks: list[dict[str, np.ndarray]]) -> pd.DataFrame:
    """len(blocks) copies of the base columns one under the other, block b's columns replaced
    by blocks[b] (a column keeps its dtype unless a replacement needs a wider one)."""
    import numpy as np
    import pandas as pd

    n = len(next(iter(base.values())))
    data = {}
    for c in cols:
        changed = [b for b, blk in enumerate(blocks) if c in blk]
        if not changed:
            data[c] = np.tile(base[c], len(blocks))
            continue
        dtypes = [base[c].dtype, *(blocks[b][c].dtype for b in changed)]
        dtype = np.dtype(object) if any(d.kind == "O" for d in dtypes) else \
            np.result_type(*dtypes)
        col = np.tile(base[c].astype(dtype, copy=False), len(blocks))
        for b in changed:
            col[b * n:(b + 1) * n] = blocks[b][c]
        data[c] = col
    return pd.DataFrame(data, columns=cols)


# ----------------------------------------------------------------------------- perturbing


def perturb(values: np.ndarray, p: Perturbation, rng: np.random.Generator, *,
            numeric: bool, sigma: float, levels: np.ndarray | None) -> np.ndarray:
    """A perturbed copy of one column (the recipe in the module docstring)."""
    import numpy as np
    import pandas as pd

    n = len(values)
    mask = rng.random(n) < p.share
    if p.kind == "relative":
        out = values.astype(float)
        sign = np.where(rng.random(n) < 0.5, -1.0, 1.0)
        with np.errstate(over="ignore", invalid="ignore"):
            out[mask] *= 1.0 + p.delta * sign[mask]
        return out
    if p.kind == "gaussian":
        out = values.astype(float)
        with np.errstate(over="ignore", invalid="ignore"):
            out[mask] += rng.normal(0.0, p.k * sigma, size=n)[mask]
        return out
    if p.kind == "missing":
        out = values.astype(float) if numeric else values.astype(object)
        out[mask] = np.nan
        return out
    assert levels is not None
    if p.to == "unseen":
        new: Any = UNSEEN
        if numeric:
            new = levels.max() + 1
        else:
            while new in set(levels.tolist()):
                new = "_" + new
        out = values.astype(object) if not numeric else values.copy()
        out[mask & ~pd.isna(values)] = new
        return out
    codes = pd.Index(levels).get_indexer(values)
    step = np.where(rng.random(n) < 0.5, -1, 1)
    moved = codes + step
    moved = np.where(moved < 0, 1, np.where(moved >= len(levels), len(levels) - 2, moved))
    out = values.copy()
    ok = mask & (codes >= 0)
    out[ok] = levels[moved[ok]]
    return out


def _levels(values: np.ndarray) -> np.ndarray:
    import numpy as np
    import pandas as pd

    present = pd.unique(values[~pd.isna(values)])
    try:
        return np.asarray(sorted(present), dtype=values.dtype)
    except TypeError:  # mixed types: by text
        return np.asarray(sorted(present, key=str), dtype=object)


# ----------------------------------------------------------------------------- metrics


def metric_values(metric: str, scores: np.ndarray, decisions: np.ndarray,
                  y: np.ndarray) -> np.ndarray:
    """The metric of each row of (blocks, n) scores / decisions against labels y (n,)."""
    from scipy.stats import rankdata

    if metric == "accuracy":
        return (decisions == y).mean(axis=1)
    if metric == "brier":
        return ((scores - y) ** 2).mean(axis=1)
    n1 = int(y.sum())
    n0 = y.size - n1
    ranks = rankdata(scores, axis=1)
    return (ranks[:, y].sum(axis=1) - n1 * (n1 + 1) / 2.0) / (n1 * n0)


def _decay(metric: str, base: float, value: float) -> float:
    return base - value if HIGHER_IS_BETTER[metric] else value - base


@dataclass
class _Row:
    perturbation: str
    feature: str
    rows: int
    flip_rate: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    decay: dict[str, float] = field(default_factory=dict)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"perturbation": self.perturbation, "feature": self.feature,
                               "rows changed": self.rows, "flip rate": self.flip_rate}
        for m, v in self.metrics.items():
            out[m] = v
            out[f"{m} decay"] = self.decay[m]
        if self.error:
            out["error"] = self.error
        return out


@check("robustness.perturbation", params=RobustnessParams,
       summary="Seeded input perturbations (noise, missing values, category swaps): metric "
       "decay and prediction flip rate per perturbation and per feature within limits")
def perturbation(params: RobustnessParams, ctx: CheckContext) -> CheckResult:
    """Fails when a perturbation flips more than `max_flip_rate` of the decisions or costs
    more than `max_decay` of a metric, on all features at once or on any feature alone.

    Each perturbation in `perturbations` is applied, seeded, to the validation inputs: relative
    noise x(1 +/- delta), additive noise N(0, k sigma) with sigma the feature's standard
    deviation, missing values in a share of rows, categories swapped to a neighbouring level
    (the next or previous in sorted order) or to a level the model never saw. The model scores
    every perturbed copy (one batched call per perturbation); the flip rate is the share of rows
    whose decision (score >= `decision_threshold`) differs from the unperturbed one, the decay
    the drop of ROC AUC / accuracy (rise of the Brier score). A perturbation the model cannot
    score at all (e.g. it refuses missing values) fails, naming the error. The report ranks the
    features by their worst flip rate, with a chart.

    Rationale: a credit decision that changes when an income is mis-keyed by 5% or a field is
    left blank is not robust (SR 26-2 performance testing, EU AI Act Art. 15(4) resilience to
    errors and inconsistencies).

    Passing: `{max_flip_rate: 0.05, max_decay: {roc_auc: 0.02}}` with at most 1.8% of decisions
    flipped and an AUC 0.004 lower under 5% relative noise.
    Failing: the same where 12% missing incomes flip 7% of the decisions (worst feature:
    income).
    """
    import numpy as np

    from ..evidence.datasets import load_dataset, task_progress

    ds = load_dataset(ctx, params.dataset)
    loaded, inputs = model_inputs(ctx, ds, "robustness.perturbation perturbs the model's "
                                  "inputs and scores them with the model")
    features = inputs if params.features is None else list(params.features)
    unknown = [f for f in features + params.categorical if f not in inputs]
    if unknown:
        raise CheckError(f"robustness.perturbation: {unknown} are not inputs of the model "
                         f"{loaded.uri} (its inputs: {', '.join(inputs)})")
    seed = ctx.options.seed if params.seed is None else params.seed
    rows, sample_note = sample_rows(ds, params.sample_size, seed)
    frame = ds.frame if rows is None else ds.frame.iloc[rows]
    base = {c: frame[c].to_numpy() for c in inputs}
    n = len(frame)
    metrics = list(dict.fromkeys([*params.metrics, *params.max_decay]))
    y = None
    if metrics:
        if not ds.spec.target:
            raise CheckError(f"{ds.describe()} declares no target, needed for {metrics}; "
                             "declare `target:` or set `metrics: []` and `max_decay: {}`")
        target = frame[ds.spec.target]
        if target.isna().any():
            raise CheckError(f"the target {ds.spec.target!r} of {ds.describe()} has "
                             f"{int(target.isna().sum())} missing value(s)")
        y = ds.positive(ds.spec.target) if rows is None else ds.positive(ds.spec.target)[rows]
        if "roc_auc" in metrics and (y.all() or not y.any()):
            raise CheckError(f"the target {ds.spec.target!r} of {ds.describe()} has one "
                             "class only; ROC AUC needs both")
    scorer = Scorer(loaded, ds.spec.positive_label)
    try:
        base_scores = scorer(frame[inputs])
    except CheckError:
        raise
    except Exception as exc:
        raise CheckError(f"the model {loaded.uri} failed to score {ds.describe()}: "
                         f"{type(exc).__name__}: {str(exc)[:300]}") from None
    require_finite(base_scores, loaded.uri, f"the unperturbed {ds.describe()}")
    base_dec = base_scores >= params.decision_threshold
    base_metrics = {m: float(metric_values(m, base_scores[None], base_dec[None], y)[0])
                    for m in metrics}

    numeric = {c: is_numeric(frame[c]) and c not in params.categorical for c in features}
    with np.errstate(over="ignore", invalid="ignore"):
        sigma = {c: float(np.nanstd(base[c].astype(float))) for c in features if numeric[c]}
    levels = {c: _levels(base[c]) for c in features if not numeric[c]}
    notes = [loaded.note, f"seed {seed}; scores from the model's {{how}}; decisions: score >= "
             f"{params.decision_threshold:g}"]
    if sample_note:
        notes.append(f"perturbed {sample_note}")
    table: list[_Row] = []
    with task_progress(ctx, "perturbations", len(params.perturbations)) as advance:
        for i, p in enumerate(params.perturbations):
            cols = [c for c in features if p.applies_to(numeric[c])
                    and not (p.kind == "swap" and p.to == "neighbour" and len(levels[c]) < 2)
                    and not (p.kind == "swap" and p.to == "unseen" and len(levels[c]) < 1)]
            skipped = [c for c in features if p.applies_to(numeric[c]) and c not in cols]
            if skipped:
                notes.append(f"{p.label}: skipped {skipped} (fewer than two levels)")
            if not cols:
                notes.append(f"{p.label}: no applicable feature")
                advance()
                continue
            copies, changed = {}, {}
            for c in cols:
                if p.kind == "gaussian" and not np.isfinite(sigma[c]):
                    raise CheckError(f"{p.label}: the standard deviation of feature {c!r} in "
                                     f"{ds.describe()} is not finite (values near the float "
                                     "limit)")
                rng = np.random.default_rng([seed, i, features.index(c)])
                copies[c] = perturb(base[c], p, rng, numeric=numeric[c],
                                    sigma=sigma.get(c, 0.0), levels=levels.get(c))
                changed[c] = changed_mask(base[c], copies[c])
                if numeric[c] and p.kind in ("relative", "gaussian"):
                    overflow = np.isfinite(base[c].astype(float)) & ~np.isfinite(copies[c])
                    if overflow.any():
                        raise CheckError(f"{p.label} on feature {c!r} gives "
                                         f"{int(overflow.sum())} non-finite value(s) "
                                         f"(overflow) in {ds.describe()}")
            blocks = [dict(copies)] + [{c: copies[c]} for c in cols]
            names = [ALL, *cols]
            rows_of = [np.flatnonzero(np.logical_or.reduce([changed[c] for c in cols]))] + \
                [np.flatnonzero(changed[c]) for c in cols]
            try:
                scores = rescore(scorer, base, base_scores, inputs, blocks, rows_of,
                                 params.batch_rows)
            except CheckError:
                raise
            except Exception as exc:
                table.append(_Row(p.label, ALL, n, error=_error_text(exc)))
                advance()
                continue
            require_finite(scores, loaded.uri, f"the {p.label} copies of {ds.describe()}")
            dec = scores >= params.decision_threshold
            flips = (dec != base_dec[None]).mean(axis=1)
            values = {m: metric_values(m, scores, dec, y) for m in metrics}
            for b, name in enumerate(names):
                row = _Row(p.label, name, len(rows_of[b]), float(flips[b]))
                for m in metrics:
                    row.metrics[m] = float(values[m][b])
                    row.decay[m] = _decay(m, base_metrics[m], float(values[m][b]))
                table.append(row)
            advance()
    notes[1] = notes[1].format(how=scorer.how or "predict_proba")
    return _result(params, ds, table, base_metrics, notes, n)


def _error_text(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:200]}" if text else \
        type(exc).__name__


def changed_mask(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Rows whose value differs (missing = missing is no change)."""
    import pandas as pd

    b, a = pd.Series(before), pd.Series(after)
    return (~((b == a) | (b.isna() & a.isna()))).to_numpy()


def rescore(scorer: Scorer, base: dict[str, np.ndarray], base_scores: np.ndarray,
            cols: list[str], blocks: list[dict[str, np.ndarray]], rows_of: list[np.ndarray],
            batch_rows: int) -> np.ndarray:
    """(len(blocks), n) scores: the base scores, with the rows each block changed rescored.

    Only changed rows are scored (a model scores each row on its own), stacked over blocks
    into calls of at most `batch_rows` rows: 5% missing values on 20 features cost 20 x 5% of
    the rows, not 20 copies of the dataset.
    """
    import numpy as np
    import pandas as pd

    out = np.tile(base_scores, (len(blocks), 1))
    start = 0
    while start < len(blocks):
        stop, total = start, 0
        while stop < len(blocks) and (stop == start or total + len(rows_of[stop]) <= batch_rows):
            total += len(rows_of[stop])
            stop += 1
        if total:
            data = {c: np.concatenate([(blocks[b].get(c, base[c]))[rows_of[b]]
                                       for b in range(start, stop)]) for c in cols}
            scores = scorer(pd.DataFrame(data, columns=cols))
            offset = 0
            for b in range(start, stop):
                k = len(rows_of[b])
                out[b, rows_of[b]] = scores[offset:offset + k]
                offset += k
        start = stop
    return out


def _result(params: RobustnessParams, ds: Dataset, table: list[_Row],
            base_metrics: dict[str, float], notes: list[str], n: int) -> CheckResult:
    problems: list[str] = []
    for r in table:
        if r.error:
            problems.append(f"the model cannot score {r.perturbation} ({r.error})")
    scored = [r for r in table if r.error is None]
    if not table:
        raise CheckError("no perturbation applies to the features (no numeric feature for "
                         "noise, no categorical feature with two levels for swaps)")
    worst_flip = max((r.flip_rate for r in scored), default=None)
    if params.max_flip_rate is not None:
        over = [r for r in scored if r.flip_rate > params.max_flip_rate]
        if over:
            top = max(over, key=lambda r: r.flip_rate)
            problems.append(f"{len(over)} perturbation/feature pair(s) flip more than "
                            f"{_pct(params.max_flip_rate)} of the decisions; worst: "
                            f"{top.perturbation} on {top.feature}: {_pct(top.flip_rate)}")
    worst_decay: dict[str, float] = {}
    for m in base_metrics:
        worst_decay[m] = max((r.decay[m] for r in scored), default=float("nan"))
        limit = params.max_decay.get(m)
        if limit is None:
            continue
        over = [r for r in scored if r.decay[m] > limit]
        if over:
            top = max(over, key=lambda r: r.decay[m])
            problems.append(f"{m} decays by more than {fmt(limit)} in {len(over)} pair(s); "
                            f"worst: {top.perturbation} on {top.feature}: -{fmt(top.decay[m])} "
                            f"(from {fmt(base_metrics[m])})")
    by_feature: dict[str, dict[str, Any]] = {}
    for r in scored:
        if r.feature == ALL:
            continue
        cur = by_feature.setdefault(r.feature, {"feature": r.feature, "worst flip rate": 0.0,
                                                "worst perturbation": r.perturbation})
        if r.flip_rate > cur["worst flip rate"]:
            cur["worst flip rate"] = r.flip_rate
            cur["worst perturbation"] = r.perturbation
        for m in base_metrics:
            key = f"worst {m} decay"
            cur[key] = max(cur.get(key, float("-inf")), r.decay[m])
    ranking = sorted(by_feature.values(), key=lambda d: -d["worst flip rate"])
    worst = [d["feature"] for d in ranking[:params.worst]]
    measured: dict[str, Any] = {"worst flip rate": worst_flip, "worst features": worst}
    measured.update({f"worst {m} decay": v for m, v in worst_decay.items()})
    threshold: dict[str, Any] = {}
    if params.max_flip_rate is not None:
        threshold["max_flip_rate"] = params.max_flip_rate
    threshold.update({f"max {m} decay": v for m, v in params.max_decay.items()})
    details = {"dataset": ds.role, "rows": n, "baseline": base_metrics,
               "perturbations": [r.as_dict() for r in table], "features": ranking}
    figures = [_figure(ranking, params)] if ranking else []
    if problems:
        status, message = Status.FAIL, "; ".join(problems)
    else:
        status = Status.PASS
        decays = ", ".join(f"{m} -{fmt(v)}" for m, v in worst_decay.items())
        message = (f"worst flip rate {_pct(worst_flip)} over {len(scored)} perturbation/"
                   f"feature pairs{'; worst decay: ' + decays if decays else ''}; most "
                   f"sensitive: {', '.join(worst)}")
    return CheckResult(status=status, message=message, measured=measured, threshold=threshold,
                       details=details, figures=figures, notes=notes, evidence_file=ds.source)


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.2f}%"


def _figure(ranking: list[dict[str, Any]], params: RobustnessParams) -> Figure:
    from ..stats.plots import PALETTE, Line, bar_chart

    shown = ranking[:15]
    limit = params.max_flip_rate
    colors = [PALETTE["red"] if limit is not None and d["worst flip rate"] > limit
              else PALETTE["bar"] for d in shown]
    lines = [Line(limit, PALETTE["red"], "max")] if limit is not None else []
    svg = bar_chart([d["feature"] for d in shown], [d["worst flip rate"] for d in shown],
                    title="Worst decision flip rate per feature", colors=colors, lines=lines,
                    value_label="share of decisions flipped")
    return Figure(title="Robustness: most sensitive features", data=svg,
                  caption="each feature perturbed alone; the bar is its worst perturbation; "
                  "red: above max_flip_rate")
