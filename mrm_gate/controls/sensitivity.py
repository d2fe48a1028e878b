"""Global sensitivity of the model's output to its inputs (Morris elementary effects).

The model is loaded with mlflow.pyfunc (only with trusted model code, like explainability.shap)
and evaluated on a Morris design mapped onto the empirical distribution of a dataset's model
inputs (`mrm_gate.risk._sensitivity`): the indices say how much each input moves the output
over the whole range the data cover, not only near the observed rows, with bootstrap intervals.
numpy/pandas/mlflow are imported inside the check: `policy validate` only needs the params.
"""

from __future__ import annotations

import contextlib
from typing import Any, Literal

from pydantic import Field, model_validator

from ..decision import CheckResult, Figure, Status
from ..errors import CheckError
from ._util import Params, fmt
from .context import CheckContext
from .registry import check


class GlobalSensitivityParams(Params):
    dataset: str = Field(default="validation", description="dataset role whose input "
                         "distribution the design covers")
    output: Literal["score", "prediction"] = Field(
        default="score", description="positive-class probability (predict_proba) or the "
        "pyfunc prediction")
    trajectories: int = Field(default=50, ge=4, le=2000, description="Morris trajectories "
                              "(model evaluations: trajectories x (inputs + 1))")
    levels: int = Field(default=4, ge=2, le=20, description="grid levels (even)")
    sample_size: int = Field(default=5000, ge=20, description="rows whose distribution the "
                             "unit cube is mapped onto")
    n_boot: int = Field(default=1000, ge=100, description="bootstrap replicates over "
                        "trajectories for the intervals")
    confidence: float = Field(default=0.95, gt=0, lt=1)
    seed: int | None = Field(default=None, description="design seed (default: the "
                             "evaluation's seed)")
    max_share: float | None = Field(default=None, gt=0, le=1, description="no single input's "
                                    "normalised index mu*/sum(mu*) above this")
    forbidden: list[str] | None = Field(default=None, description="inputs whose index must "
                                        "stay below max_forbidden_share (default: the "
                                        "dataset's sensitive attributes)")
    max_forbidden_share: float | None = Field(default=None, ge=0, le=1)
    on: Literal["estimate", "upper"] = Field(default="estimate", description="compare the "
                                             "estimate, or the upper bound of its interval")

    @model_validator(mode="after")
    def _valid(self) -> GlobalSensitivityParams:
        if self.levels % 2:
            raise ValueError("levels must be even (the Morris step is levels/(2(levels-1)))")
        if self.max_share is None and self.max_forbidden_share is None:
            raise ValueError("give max_share and/or max_forbidden_share (nothing to compare)")
        return self


def _model_function(loaded: Any, frame: Any, cols: list[str], output: str,
                    positive_label: Any) -> Any:
    """f(unit-cube points) -> model outputs, with each input on its empirical distribution."""
    import numpy as np
    import pandas as pd

    from ..evidence.datasets import _quiet
    from ..risk._sensitivity import empirical_inverse

    samples = {c: frame[c].to_numpy() for c in cols}
    dtypes = frame[cols].dtypes.to_dict()
    raw = loaded.raw

    def f(u: np.ndarray) -> np.ndarray:
        data = {c: empirical_inverse(samples[c], u[:, j]) for j, c in enumerate(cols)}
        X = pd.DataFrame(data)
        for c in cols:
            # an integer column at an interpolated quantile may stay float
            with contextlib.suppress(TypeError, ValueError):
                X[c] = X[c].astype(dtypes[c])
        with _quiet():
            if output == "score":
                if raw is None or not hasattr(raw, "predict_proba"):
                    raise CheckError(f"the model {loaded.uri} has no predict_proba; use "
                                     "output: prediction")
                proba = np.asarray(raw.predict_proba(X))
                if proba.ndim == 2:
                    classes = list(getattr(raw, "classes_", range(proba.shape[1])))
                    i = (classes.index(positive_label) if positive_label in classes
                         else proba.shape[1] - 1)
                    return proba[:, i]
                return proba
            out = np.asarray(loaded.pyfunc.predict(X))
        return out.reshape(len(X), -1)[:, 0].astype(float) if out.size == len(X) else out

    return f


@check("sensitivity.global", params=GlobalSensitivityParams,
       summary="Global sensitivity (Morris mu*): no input dominates the output, forbidden "
       "inputs barely move it")
def global_sensitivity(params: GlobalSensitivityParams, ctx: CheckContext) -> CheckResult:
    """Fails when one input's normalised Morris index mu*/sum(mu*) exceeds `max_share`, or a
    forbidden input's (protected attribute) exceeds `max_forbidden_share`.

    Morris elementary effects move each model input, one at a time, by a fixed step in quantile
    of its distribution in the dataset, along `trajectories` random paths through the input
    space; mu* is the mean absolute change of the output per step. Unlike SHAP on observed
    rows, this explores the whole range the data cover, including combinations the sample
    lacks. Intervals: bootstrap over trajectories; `on: upper` compares the upper bound.

    Rationale: a model whose output hangs on one input is fragile to that input's errors and
    drift, and a protected attribute that moves the output is a conduct risk even when it is
    not in the SHAP top k (SR 26-2 sensitivity analysis; EU AI Act Art. 15 robustness).

    Passing: `{max_share: 0.8, forbidden: [sex], max_forbidden_share: 0.05}` with income
    carrying 55% of mu* and sex 0%.
    Failing: the same on a model that leans on sex (sex carries 30% of mu*).
    """

    from ..evidence.datasets import model_input_sample, task_progress
    from ..risk import RiskInputError
    from ..risk._sensitivity import morris_indices

    sample = model_input_sample(
        ctx, params.dataset, why="sensitivity.global needs the model to evaluate its output",
        sample_size=params.sample_size, seed=params.seed, what="sensitivity")
    ds, loaded, cols, frame = sample.ds, sample.loaded, sample.cols, sample.frame
    seed, n = sample.seed, len(sample.frame)
    f = _model_function(loaded, frame, cols, params.output, ds.spec.positive_label)
    evaluations = params.trajectories * (len(cols) + 1)
    try:
        with task_progress(ctx, f"Morris design, {evaluations} evaluations", 1) as advance:
            res = morris_indices(f, cols, trajectories=params.trajectories,
                                 levels=params.levels, seed=seed, n_boot=params.n_boot,
                                 confidence=params.confidence)  # fmt: skip
            advance()
    except (CheckError, RiskInputError) as exc:
        raise CheckError(f"sensitivity of the model {loaded.uri}: {exc}") from None
    except Exception as exc:
        raise CheckError(f"the model {loaded.uri} failed on the Morris design: "
                         f"{type(exc).__name__}: {str(exc)[:300]}") from None
    ranking = res.ranking()
    by_name = {r["feature"]: r for r in ranking}
    key = 1 if params.on == "upper" else None

    def share(name: str) -> float:
        r = by_name[name]
        return r["share_interval"][key] if key is not None else r["share"]

    conf = f"{params.confidence:.0%}"
    label = f"upper {conf} bound of the share" if params.on == "upper" else "share"
    problems: list[str] = []
    notes = [loaded.note, f"Morris: {res.trajectories} trajectories x {len(cols) + 1} points = "
             f"{res.evaluations} model evaluations, {res.levels} levels, seed {seed}; inputs on "
             f"their empirical distribution in a {n}-row sample of {ds.describe()}; intervals: "
             f"{params.n_boot} bootstrap replicates over trajectories, {conf}"]
    top = ranking[0]
    if params.max_share is not None and share(top["feature"]) > params.max_share:
        over = [r for r in ranking if share(r["feature"]) > params.max_share]
        problems.append("; ".join(f"{r['feature']} {label} {fmt(share(r['feature']))} > "
                                  f"max_share {fmt(params.max_share)}" for r in over))
    forbidden = list(dict.fromkeys(params.forbidden if params.forbidden is not None
                                   else list(ds.spec.sensitive)))
    checked = [c for c in forbidden if c in by_name]
    missing = [c for c in forbidden if c not in by_name]
    if missing:
        notes.append(f"forbidden input(s) {missing} are not model inputs (index 0)")
    if params.max_forbidden_share is not None:
        if not forbidden:
            raise CheckError("max_forbidden_share needs forbidden inputs (or sensitive "
                             f"attributes declared on {ds.describe()})")
        for c in checked:
            if share(c) > params.max_forbidden_share:
                problems.append(f"forbidden input {c} {label} {fmt(share(c))} > "
                                f"{fmt(params.max_forbidden_share)}")
    measured = {"top input": top["feature"], "top share": top["share"],
                "top share interval": top["share_interval"],
                **{f"share of {c}": by_name[c]["share"] for c in checked}}
    threshold = {k: v for k, v in (("max_share", params.max_share),
                                   ("max_forbidden_share", params.max_forbidden_share),
                                   ("forbidden", forbidden or None), ("on", params.on))
                 if v is not None}
    details = {"method": "morris", **res.to_dict(), "dataset": ds.role, "output": params.output}
    lo, hi = top["share_interval"]
    message = f"largest input share {top['feature']} {fmt(top['share'])} [{fmt(lo)}, {fmt(hi)}]"
    if checked:
        message += "; forbidden " + ", ".join(f"{c} {fmt(by_name[c]['share'])}" for c in checked)
    if problems:
        message = "; ".join(problems)
    return CheckResult(status=Status.FAIL if problems else Status.PASS, message=message,
                       measured=measured, threshold=threshold, details=details,
                       figures=[_figure(ranking, forbidden)], notes=notes,
                       evidence_file=ds.source)


def _figure(ranking: list[dict], forbidden: list[str]) -> Figure:
    from ..stats.plots import PALETTE, bar_chart

    shown = ranking[:15]
    colors = [PALETTE["red"] if r["feature"] in forbidden else PALETTE["bar"] for r in shown]
    svg = bar_chart([r["feature"] for r in shown], [r["share"] for r in shown],
                    title="Morris mu* share per input", colors=colors)
    return Figure(title="Global sensitivity (Morris)", data=svg,
                  caption="share of mu* (mean absolute elementary effect) per input; red: "
                  "forbidden inputs; intervals in the details")
