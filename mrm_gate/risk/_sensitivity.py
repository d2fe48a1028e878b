"""Global sensitivity of a model's output to its inputs: Morris elementary effects (native numpy).

Morris' screening design (Morris 1991; Campolongo, Cariboni & Saltelli 2007 for mu*): `r`
trajectories on a `p`-level grid of the unit cube [0, 1]^k, each moving one input at a time by
`delta = p / (2 (p - 1))`; the elementary effect of input i on a step is

    EE_i = (f(x + delta e_i) - f(x)) / delta        (in unit-cube coordinates)

and the indices over the r trajectories are `mu*_i = mean |EE_i|` (overall influence),
`mu_i = mean EE_i` (direction) and `sigma_i = sd EE_i` (non-linearity or interactions). The
unit cube is mapped onto each input's *empirical* distribution (inverse empirical CDF of a data
sample), so a step is a move of `delta` in quantile: the indices are comparable across inputs
measured in different units, and inputs stay in the range the model was validated on.
Categorical inputs are moved along their empirical distribution with the levels in a fixed order.

`share_i = mu*_i / sum_j mu*_j` is the normalised index a policy can bound ("no single input
drives more than 60% of the output"). Intervals: percentile bootstrap over trajectories (the
trajectories are i.i.d.), seeded.

For a linear model `f(x) = sum a_i x_i` with x_i uniform on [l_i, u_i], every elementary effect
of input i is `a_i (u_i - l_i)`, so mu*_i = |a_i| (u_i - l_i) and sigma_i = 0 exactly: the test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._validation import FloatArray, RiskInputError, probability_level

MIN_TRAJECTORIES = 4


@dataclass(frozen=True)
class MorrisIndices:
    """Morris indices per input, with bootstrap intervals on mu* and on the share."""

    names: tuple[str, ...]
    mu_star: FloatArray
    mu: FloatArray
    sigma: FloatArray
    share: FloatArray
    mu_star_interval: FloatArray  # (k, 2)
    share_interval: FloatArray  # (k, 2)
    trajectories: int
    levels: int
    evaluations: int
    seed: int | None
    confidence: float
    n_boot: int
    notes: list[str] = field(default_factory=list)

    def ranking(self) -> list[dict[str, Any]]:
        order = np.argsort(-self.mu_star, kind="stable")
        return [
            {
                "feature": self.names[i],
                "rank": r + 1,
                "mu_star": float(self.mu_star[i]),
                "mu_star_interval": [float(v) for v in self.mu_star_interval[i]],
                "share": float(self.share[i]),
                "share_interval": [float(v) for v in self.share_interval[i]],
                "mu": float(self.mu[i]),
                "sigma": float(self.sigma[i]),
            }
            for r, i in enumerate(order)
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": "morris",
            "ranking": self.ranking(),
            "trajectories": self.trajectories,
            "levels": self.levels,
            "evaluations": self.evaluations,
            "seed": self.seed,
            "confidence": self.confidence,
            "n_boot": self.n_boot,
            "notes": list(self.notes),
        }


def morris_design(
    k: int, *, trajectories: int, levels: int = 4, seed: int | None = 0
) -> tuple[FloatArray, np.ndarray]:
    """Points (r, k + 1, k) in [0, 1]^k and, per step, the input moved (r, k).

    Each trajectory starts on the grid {0, 1/(p-1), ..., 1} at a point from which +delta stays
    inside, and moves every input once, in random order and direction (+delta or -delta).
    """
    if levels < 2 or levels % 2:
        raise RiskInputError(f"Morris levels must be an even number >= 2, got {levels}")
    if trajectories < MIN_TRAJECTORIES:
        raise RiskInputError(
            f"Morris needs at least {MIN_TRAJECTORIES} trajectories, got {trajectories}"
        )
    if k < 1:
        raise RiskInputError("Morris needs at least one input")
    rng = np.random.default_rng(seed)
    p = levels
    delta = p / (2.0 * (p - 1))
    # start levels in {0, ..., p/2 - 1}: x and x + delta both on the grid
    base = rng.integers(0, p // 2, size=(trajectories, k)) / (p - 1)
    up = rng.random((trajectories, k)) < 0.5
    start = np.where(up, base, base + delta)  # moving down from base + delta lands on base
    order = np.argsort(rng.random((trajectories, k)), axis=1)
    points = np.empty((trajectories, k + 1, k))
    points[:, 0] = start
    rows = np.arange(trajectories)
    for step in range(k):
        nxt = points[:, step].copy()
        j = order[:, step]
        nxt[rows, j] += np.where(up[rows, j], delta, -delta)
        points[:, step + 1] = nxt
    return points, order


def morris_indices(
    f: Callable[[FloatArray], FloatArray],
    names: list[str] | tuple[str, ...],
    *,
    trajectories: int = 50,
    levels: int = 4,
    seed: int | None = 0,
    n_boot: int = 1000,
    confidence: float = 0.95,
) -> MorrisIndices:
    """Morris indices of `f`, a function of an (n, k) array of unit-cube points returning n
    finite outputs (map the cube onto the inputs inside `f`, e.g. with `empirical_inverse`).

    Raises RiskInputError when the design is invalid, `f` returns the wrong shape or
    non-finite values, or the output never moves (all mu* = 0: no share can be computed).
    """
    level = probability_level("confidence", confidence)
    k = len(names)
    points, order = morris_design(k, trajectories=trajectories, levels=levels, seed=seed)
    r = points.shape[0]
    flat = points.reshape(-1, k)
    y = np.asarray(f(flat), dtype=float)
    if y.shape != (flat.shape[0],):
        y = y.reshape(-1) if y.size == flat.shape[0] else y
    if y.shape != (flat.shape[0],):
        raise RiskInputError(
            f"the model returned shape {tuple(np.shape(y))} for {flat.shape[0]} points; "
            "expected one output per point"
        )
    if not np.isfinite(y).all():
        raise RiskInputError("the model returned non-finite outputs on the Morris design")
    y = y.reshape(r, k + 1)
    delta = levels / (2.0 * (levels - 1))
    moved = points[:, 1:] - points[:, :-1]  # (r, k, k), one nonzero per step
    sign = np.sign(moved[np.arange(r)[:, None], np.arange(k)[None, :], order])
    ee_steps = (y[:, 1:] - y[:, :-1]) * sign / delta  # (r, k) in step order
    ee = np.empty((r, k))
    ee[np.arange(r)[:, None], order] = ee_steps  # back to input order
    mu_star = np.abs(ee).mean(axis=0)
    total = mu_star.sum()
    if not total > 0:
        raise RiskInputError(
            "the model's output does not move on any input over the design (every elementary "
            "effect is 0): no sensitivity index can be normalised; check the output used"
        )
    rng = np.random.default_rng(None if seed is None else seed + 1)
    idx = rng.integers(0, r, size=(n_boot, r)) if n_boot else None
    tail = (1.0 - level) / 2.0 * 100.0
    if idx is not None:
        boot = np.abs(ee)[idx].mean(axis=1)  # (n_boot, k)
        sums = boot.sum(axis=1, keepdims=True)
        shares = np.divide(boot, sums, out=np.zeros_like(boot), where=sums > 0)
        mu_iv = np.percentile(boot, [tail, 100 - tail], axis=0).T
        share_iv = np.percentile(shares, [tail, 100 - tail], axis=0).T
    else:
        mu_iv = np.column_stack([mu_star, mu_star])
        share_iv = np.column_stack([mu_star / total, mu_star / total])
    return MorrisIndices(
        names=tuple(names),
        mu_star=mu_star,
        mu=ee.mean(axis=0),
        sigma=ee.std(axis=0, ddof=1),
        share=mu_star / total,
        mu_star_interval=mu_iv,
        share_interval=share_iv,
        trajectories=r,
        levels=levels,
        evaluations=int(flat.shape[0]),
        seed=seed,
        confidence=level,
        n_boot=int(n_boot),
    )


def empirical_inverse(sample: np.ndarray, u: FloatArray) -> np.ndarray:
    """Values of a data column at unit-cube coordinates `u`: its empirical quantiles (numeric
    columns, interpolated) or its levels by cumulative frequency (any other column)."""
    col = np.asarray(sample)
    if col.dtype.kind in "biuf":
        values = col.astype(float)
        values = values[np.isfinite(values)]
        if values.size == 0:
            raise RiskInputError("a numeric input has no finite values in the data sample")
        return np.quantile(values, np.clip(u, 0.0, 1.0))
    present = col[[v is not None and v == v for v in col]]  # drop None / NaN
    if present.size == 0:
        raise RiskInputError("a categorical input has no values in the data sample")
    levels, counts = np.unique(present.astype(str), return_counts=True)
    cdf = np.cumsum(counts) / counts.sum()
    pick = np.searchsorted(cdf, np.clip(u, 0.0, 1.0), side="left")
    originals = {str(v): v for v in present}
    return np.array([originals[levels[min(i, levels.size - 1)]] for i in pick], dtype=object)
