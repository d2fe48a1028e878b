"""External-factor (systemic) variant, paper section 5.1.

The gap of period k depends on the external factors of the previous period:

    D^M_k = c + sum_j phi_j E_{k-1,j} + eps_k,   eps_k ~ N(0, sigma^2)

fitted by ordinary least squares on the periods 2..n (the first has no previous factors). The
forecast for the period after the backtest uses the latest factors (or a stress scenario), and
the paper's shift is the distance of that forecast from the declared margin ratio:
`shift = c + sum_j phi_j E_j - m`, so `D^M ~ N(m + shift, sigma^2)` with sigma the residual
standard deviation (ddof = number of coefficients).

With `intercept=False` the fit is the paper's literal form, `D^M_k - m = sum_j phi_j E_{k-1,j}`
(the factors then need to be centred for the model to make sense; the default keeps the
intercept, so that factor levels such as an unemployment rate of 7% do not bias the shift).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from . import _constants as C
from ._normal import ModelRiskProbabilities, model_risk_probabilities
from ._validation import (
    FloatArray,
    RiskInputError,
    as_series,
    finite_number,
    same_length,
)


@dataclass(frozen=True, eq=False)  # holds arrays: identity, not value, equality
class SystemicFit:
    """OLS of the gap on the previous period's factors, with classical standard errors."""

    names: tuple[str, ...]
    coef: FloatArray  # phi_j, in the order of `names`
    se: FloatArray
    intercept: float  # c (0 when fitted without intercept)
    se_intercept: float | None
    sigma: float  # residual standard deviation
    r2: float
    n_obs: int  # regression observations = periods - 1
    margin_ratio: float
    has_intercept: bool
    latest: FloatArray  # factors of the last period: the default conditioning values

    @property
    def t(self) -> FloatArray:
        return self.coef / self.se

    @property
    def dof(self) -> int:
        return self.n_obs - len(self.names) - int(self.has_intercept)

    @property
    def p_values(self) -> FloatArray:
        return 2.0 * stats.t.sf(np.abs(self.t), self.dof)

    def mean_for(self, values: FloatArray) -> float:
        base = self.intercept if self.has_intercept else self.margin_ratio
        return float(base + values @ self.coef)

    def to_dict(self) -> dict[str, Any]:
        return {
            "coefficients": {
                n: {"phi": float(c), "se": float(s), "t": float(t), "p_value": float(p)}
                for n, c, s, t, p in zip(
                    self.names, self.coef, self.se, self.t, self.p_values, strict=True
                )
            },
            "intercept": self.intercept,
            "se_intercept": self.se_intercept,
            "sigma": self.sigma,
            "r2": self.r2,
            "n_obs": self.n_obs,
            "dof": self.dof,
            "margin_ratio": self.margin_ratio,
            "has_intercept": self.has_intercept,
            "latest": dict(zip(self.names, map(float, self.latest), strict=True)),
        }


def _factor_matrix(
    factors: Mapping[str, ArrayLike] | ArrayLike, names: Sequence[str] | None
) -> tuple[tuple[str, ...], FloatArray]:
    if isinstance(factors, Mapping):
        keys = tuple(str(k) for k in factors)
        cols = [as_series(f"factor {k!r}", v) for k, v in factors.items()]
        if not cols:
            raise RiskInputError(C.NO_FACTORS)
        same_length(**{k: c for k, c in zip(keys, cols, strict=True)})
        return keys, np.column_stack(cols)
    arr = np.asarray(factors, dtype=float)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise RiskInputError(C.NO_FACTORS)
    keys = tuple(names) if names is not None else tuple(f"factor_{j}" for j in range(arr.shape[1]))
    if len(keys) != arr.shape[1]:
        raise RiskInputError(
            C.MISMATCHED_LENGTHS.format(
                names="names, factor columns", lengths={"names": len(keys), "factors": arr.shape[1]}
            )
        )
    for k, col in zip(keys, arr.T, strict=True):
        as_series(f"factor {k!r}", col)
    return keys, arr


def design_matrix(lagged: FloatArray, *, intercept: bool) -> FloatArray:
    return np.column_stack([np.ones(len(lagged)), lagged]) if intercept else lagged


def fit_systemic(
    gaps: ArrayLike,
    factors: Mapping[str, ArrayLike] | ArrayLike,
    *,
    margin_ratio: float,
    names: Sequence[str] | None = None,
    intercept: bool = True,
) -> SystemicFit:
    """Regress D^M_k on E_{k-1} (mapping name -> series, or an (n, p) array with `names`).

    Raises RiskInputError when lengths differ, values are missing, a factor has no variance
    over the regression periods, factors are collinear, or fewer than
    (p + intercept + MIN_RESIDUAL_DOF_SYSTEMIC + 1) periods are given.
    """
    d = as_series("gaps", gaps)
    keys, e = _factor_matrix(factors, names)
    same_length(gaps=d, factors=e)
    m = finite_number("margin_ratio", margin_ratio)
    p = e.shape[1]
    need = p + int(intercept) + C.MIN_RESIDUAL_DOF_SYSTEMIC + 1
    if d.size < need:
        raise RiskInputError(
            C.TOO_FEW_PERIODS.format(
                what=f"the systemic variant with {p} factor(s)",
                need=need,
                got=d.size,
                min_empirical=C.MIN_PERIODS_EMPIRICAL,
            )
        )
    lagged, y = e[:-1], d[1:]
    for j, k in enumerate(keys):
        col = lagged[:, j]
        if np.ptp(col) <= C.ZERO_SIGMA_RTOL * max(float(np.max(np.abs(col))), 1.0):
            raise RiskInputError(C.FACTOR_NO_VARIANCE.format(name=k))
    x = design_matrix(lagged, intercept=intercept)
    target = y if intercept else y - m
    rank = np.linalg.matrix_rank(x)
    if rank < x.shape[1]:
        raise RiskInputError(
            C.FACTORS_COLLINEAR.format(names=list(keys), rank=rank, cols=x.shape[1])
        )
    beta, *_ = np.linalg.lstsq(x, target, rcond=None)
    resid = target - x @ beta
    dof = y.size - x.shape[1]
    s2 = float(resid @ resid) / dof
    cov = s2 * np.linalg.inv(x.T @ x)
    se = np.sqrt(np.diag(cov))
    tss = float(((target - target.mean()) ** 2).sum()) if intercept else float(target @ target)
    r2 = 1.0 - float(resid @ resid) / tss if tss > 0 else 0.0
    return SystemicFit(
        names=keys,
        coef=beta[1:] if intercept else beta,
        se=se[1:] if intercept else se,
        intercept=float(beta[0]) if intercept else 0.0,
        se_intercept=float(se[0]) if intercept else None,
        sigma=math.sqrt(s2),
        r2=r2,
        n_obs=int(y.size),
        margin_ratio=m,
        has_intercept=intercept,
        latest=e[-1].copy(),
    )


def scenario_vector(fit: SystemicFit, scenario: Mapping[str, float] | None) -> FloatArray:
    """Factor values in the fit's order: the latest period's, overridden by `scenario`."""
    if scenario is None:
        return fit.latest
    unknown = [k for k in scenario if k not in fit.names]
    if unknown:
        raise RiskInputError(C.UNKNOWN_FACTOR.format(name=unknown[0], names=list(fit.names)))
    values = fit.latest.copy()
    for j, k in enumerate(fit.names):
        if k in scenario:
            values[j] = finite_number(f"scenario[{k!r}]", scenario[k])
    return values


def systemic_probabilities(
    fit: SystemicFit,
    *,
    scenario: Mapping[str, float] | None = None,
    ybar: float | None = None,
) -> ModelRiskProbabilities:
    """MR1-3 for the next period given the latest factors, or a stress `scenario` overriding
    some or all of them (e.g. {"unemployment_rate": 10.0})."""
    values = scenario_vector(fit, scenario)
    shift = fit.mean_for(values) - fit.margin_ratio
    return model_risk_probabilities(fit.margin_ratio, fit.sigma, ybar=ybar, shift=shift)
