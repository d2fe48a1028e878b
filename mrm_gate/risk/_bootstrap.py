"""Uncertainty intervals on every probability: a backtest has few periods, so say how few.

- normal variant (paper and fitted mean): nonparametric i.i.d. bootstrap of the gap series
  (the same assumption the variant makes); each replicate re-estimates sigma (and the mean for
  the fitted variant) and recomputes MR1-3 and LGMR2;
- systemic variant: pairs bootstrap of (D^M_k, E_{k-1}) rows, refitting the regression;
- OU variant: parametric bootstrap: paths of the fitted process with the backtest's length and
  spacing, started at the first observed gap, refitted by the same AR(1) regression; the
  probabilities are recomputed conditional on the *observed* last gap. Replicates whose AR(1)
  coefficient leaves (0, 1) have no OU fit and are counted in `n_failed`.

Intervals are percentile intervals at `confidence`, from a seeded generator (reproducible).
Empirical frequencies get exact Clopper-Pearson intervals instead (see _empirical.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from . import _constants as C
from ._normal import lower_tail_mean_array, probabilities_array
from ._ou import OUFit, ar1_batch, ou_parameters_from_ar1, simulate_ou
from ._systemic import SystemicFit, design_matrix
from ._validation import FloatArray, RiskInputError, as_series, probability_level

DEFAULT_N_BOOT = 2000


@dataclass(frozen=True)
class BootstrapIntervals:
    """Percentile intervals keyed by quantity name ("mr1", "mr2", "mr3", "sigma", ...)."""

    intervals: dict[str, tuple[float, float]]
    n_boot: int
    n_failed: int
    confidence: float
    method: str
    seed: int | None
    notes: list[str] = field(default_factory=list)

    def get(self, key: str) -> tuple[float, float] | None:
        return self.intervals.get(key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "intervals": {k: [lo, hi] for k, (lo, hi) in self.intervals.items()},
            "n_boot": self.n_boot,
            "n_failed": self.n_failed,
            "confidence": self.confidence,
            "method": self.method,
            "seed": self.seed,
            "notes": list(self.notes),
        }


def _check_n_boot(n_boot: int) -> int:
    if not isinstance(n_boot, (int, np.integer)) or isinstance(n_boot, bool) or n_boot < 100:
        raise RiskInputError(C.BAD_BOOTSTRAP.format(value=n_boot))
    return int(n_boot)


def _percentiles(
    samples: dict[str, FloatArray], confidence: float
) -> dict[str, tuple[float, float]]:
    tail = (1.0 - confidence) / 2.0 * 100.0
    out = {}
    for key, vals in samples.items():
        lo, hi = np.percentile(vals, [tail, 100.0 - tail])
        out[key] = (float(lo), float(hi))
    return out


def _probability_samples(
    prefix: str,
    mean: FloatArray,
    sigma: FloatArray,
    m: float,
    ybar: float | None,
    mre: float | None = None,
) -> dict[str, FloatArray]:
    mr1, mr2, mr3 = probabilities_array(mean, sigma, m, ybar)
    out = {f"{prefix}mr1": mr1, f"{prefix}mr2": mr2}
    if mr3 is not None:
        out[f"{prefix}mr3"] = mr3
    lgmr2 = np.abs(lower_tail_mean_array(mean, sigma))
    out[f"{prefix}lgmr2"] = lgmr2
    if mre is not None:
        out[f"{prefix}el_rm2"] = mre * lgmr2 * mr2
    return out


def bootstrap_normal(
    gaps: ArrayLike,
    *,
    margin_ratio: float,
    ybar: float | None = None,
    mre: float | None = None,
    n_boot: int = DEFAULT_N_BOOT,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> BootstrapIntervals:
    """i.i.d. bootstrap of the normal variant: keys `paper.mr1..`, `fitted.mr1..`, `mean`,
    `sigma`, `paper.lgmr2` / `fitted.lgmr2`, and with `mre` `paper.el_rm2` / `fitted.el_rm2`."""
    d = as_series("gaps", gaps)
    b = _check_n_boot(n_boot)
    level = probability_level("confidence", confidence)
    rng = np.random.default_rng(seed)
    samples = d[rng.integers(0, d.size, size=(b, d.size))]
    mean = samples.mean(axis=1)
    sigma = samples.std(axis=1, ddof=1)
    ok = sigma > 0  # a replicate drawing one value n times has no spread
    mean, sigma = mean[ok], sigma[ok]
    out: dict[str, FloatArray] = {"mean": mean, "sigma": sigma}
    paper_mean = np.full_like(sigma, margin_ratio)
    out.update(_probability_samples("paper.", paper_mean, sigma, margin_ratio, ybar, mre))
    out.update(_probability_samples("fitted.", mean, sigma, margin_ratio, ybar, mre))
    return BootstrapIntervals(
        intervals=_percentiles(out, level),
        n_boot=b,
        n_failed=int((~ok).sum()),
        confidence=level,
        method="iid bootstrap of the gaps",
        seed=seed,
    )


def bootstrap_systemic(
    gaps: ArrayLike,
    factors: ArrayLike,
    *,
    fit: SystemicFit,
    scenario: FloatArray,
    ybar: float | None = None,
    mre: float | None = None,
    n_boot: int = DEFAULT_N_BOOT,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> BootstrapIntervals:
    """Pairs bootstrap of the systemic regression; keys `mr1..`, `lgmr2`, `mean`, `sigma`,
    and `phi.<factor>` for each coefficient."""
    d = as_series("gaps", gaps)
    e = np.asarray(factors, dtype=float).reshape(d.size, -1)
    b = _check_n_boot(n_boot)
    level = probability_level("confidence", confidence)
    rng = np.random.default_rng(seed)
    x_all = design_matrix(e[:-1], intercept=fit.has_intercept)
    y_all = d[1:] if fit.has_intercept else d[1:] - fit.margin_ratio
    n_obs, k = x_all.shape
    x0 = np.concatenate([[1.0], scenario]) if fit.has_intercept else scenario
    base = 0.0 if fit.has_intercept else fit.margin_ratio
    means, sigmas, coefs = [], [], []
    failed = 0
    for _ in range(b):
        idx = rng.integers(0, n_obs, size=n_obs)
        x, y = x_all[idx], y_all[idx]
        if np.linalg.matrix_rank(x) < k:
            failed += 1
            continue
        beta, *_ = np.linalg.lstsq(x, y, rcond=None)
        resid = y - x @ beta
        s = float(np.sqrt(resid @ resid / (n_obs - k)))
        if s <= 0:
            failed += 1
            continue
        means.append(base + float(x0 @ beta))
        sigmas.append(s)
        coefs.append(beta[1:] if fit.has_intercept else beta)
    notes = []
    if not means:
        raise RiskInputError("every bootstrap replicate of the systemic regression was singular")
    if failed:
        notes.append(f"{failed} of {b} replicates had a singular regression and were dropped")
    mean, sigma, coef = np.array(means), np.array(sigmas), np.array(coefs)
    out: dict[str, FloatArray] = {"mean": mean, "sigma": sigma}
    out.update(_probability_samples("", mean, sigma, fit.margin_ratio, ybar, mre))
    for j, name in enumerate(fit.names):
        out[f"phi.{name}"] = coef[:, j]
    return BootstrapIntervals(
        intervals=_percentiles(out, level),
        n_boot=b,
        n_failed=failed,
        confidence=level,
        method="pairs bootstrap of the regression",
        seed=seed,
        notes=notes,
    )


def bootstrap_ou(
    fit: OUFit,
    *,
    first: float,
    last: float,
    horizon: float,
    margin_ratio: float,
    ybar: float | None = None,
    mre: float | None = None,
    n_boot: int = DEFAULT_N_BOOT,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> BootstrapIntervals:
    """Parametric bootstrap of the OU fit; keys `mr1..`, `lgmr2`, `lam`, `mu`, `sigma`,
    `mean` (conditional mean at the horizon) and `sd` (conditional sd)."""
    b = _check_n_boot(n_boot)
    level = probability_level("confidence", confidence)
    paths = simulate_ou(
        x0=first,
        lam=fit.lam,
        mu=fit.mu,
        sigma=fit.sigma,
        horizon=fit.period_length * (fit.n - 1),
        n_paths=b,
        n_steps=fit.n - 1,
        seed=seed,
        scheme="exact",
        return_paths=True,
    )
    a, bb, rss, _ = ar1_batch(paths)
    ok = np.isfinite(bb) & (bb > 0) & (bb < 1) & (rss > 0)
    transitions = fit.n - 1
    s2 = rss[ok] / (transitions if fit.method == "mle" else transitions - 2)
    lam, mu, sigma = ou_parameters_from_ar1(a[ok], bb[ok], s2, fit.period_length)
    decay = np.exp(-lam * horizon)
    mean = decay * last + mu * (1.0 - decay)
    sd = np.sqrt(sigma**2 / (2.0 * lam) * -np.expm1(-2.0 * lam * horizon))
    failed = int((~ok).sum())
    notes = []
    if failed:
        notes.append(
            f"{failed} of {b} simulated backtests had no OU fit (AR(1) coefficient outside "
            "(0, 1)) and were dropped; the interval is conditional on mean reversion"
        )
    if failed > b // 2:
        notes.append("more than half the replicates lack mean reversion: the OU fit is fragile")
    out: dict[str, FloatArray] = {"lam": lam, "mu": mu, "sigma": sigma, "mean": mean, "sd": sd}
    out.update(_probability_samples("", mean, sd, margin_ratio, ybar, mre))
    if not ok.any():
        raise RiskInputError("no simulated backtest had an OU fit; the OU variant is not usable")
    return BootstrapIntervals(
        intervals=_percentiles(out, level),
        n_boot=b,
        n_failed=failed,
        confidence=level,
        method="parametric bootstrap of the OU fit",
        seed=seed,
        notes=notes,
    )
