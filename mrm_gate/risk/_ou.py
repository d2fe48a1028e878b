"""Past-value variant (paper section 5.2): an Ornstein-Uhlenbeck (Vasicek) process for the gaps.

    dD_t = lambda (mu - D_t) dt + sigma dW_t

Observed every `period_length` time units (dt), its exact discretisation is an AR(1):

    D_{k+1} = a + b D_k + eps_k,  b = exp(-lambda dt),  a = mu (1 - b),
    eps_k ~ N(0, s^2),  s^2 = sigma^2 (1 - b^2) / (2 lambda)

so the fit is a regression of D_{k+1} on D_k: `lambda = -ln(b)/dt`, `mu = a/(1-b)`,
`sigma = s sqrt(2 lambda / (1 - b^2))`. Conditional on the last gap d, at horizon t:

    E[D_t | D_0 = d]  = exp(-lambda t) d + mu (1 - exp(-lambda t))
    SD[D_t | D_0 = d] = sqrt(sigma^2 / (2 lambda) * (1 - exp(-2 lambda t)))

The paper prints the probabilities with the *variance* sigma^2/(2 lambda)(1 - e^{-2 lambda t}) in
the denominator of the standardised gap; that is a typo: a normal variable is standardised by its
standard deviation (tests/risk/test_ou.py shows the Monte Carlo agreeing with the standard
deviation and not with the variance).

Conditional least squares and the exact Gaussian likelihood conditional on the first
observation give the same a and b; they differ only in the residual variance, RSS/(N-2) ("ols")
versus RSS/N ("mle"), N being the number of transitions.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from . import _constants as C
from ._normal import ModelRiskProbabilities, model_risk_probabilities
from ._validation import (
    FloatArray,
    RiskInputError,
    as_series,
    finite_number,
    need_periods,
    positive,
    sample_sigma,
)

OU_METHODS = ("mle", "ols")


@dataclass(frozen=True)
class OUFit:
    """Fitted OU parameters, the AR(1) regression behind them, and its standard errors."""

    lam: float  # mean-reversion speed per time unit
    mu: float  # long-term mean of the gap
    sigma: float  # diffusion coefficient
    b: float  # AR(1) coefficient exp(-lambda dt)
    a: float  # AR(1) intercept
    se_b: float
    se_a: float
    residual_sd: float  # s, sd of the one-period innovation
    period_length: float
    n: int  # periods in the series (transitions = n - 1)
    method: str

    @property
    def half_life(self) -> float:
        """Time for the expected distance to mu to halve: ln 2 / lambda."""
        return math.log(2.0) / self.lam

    @property
    def stationary_sd(self) -> float:
        return self.sigma / math.sqrt(2.0 * self.lam)

    def conditional(self, *, last: float, horizon: float) -> tuple[float, float]:
        """Mean and standard deviation of D_{t} given D_0 = last, t = horizon."""
        return ou_conditional(
            last=last, horizon=horizon, lam=self.lam, mu=self.mu, sigma=self.sigma
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "half_life": self.half_life, "stationary_sd": self.stationary_sd}


def ar1_batch(paths: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Row-wise OLS of x_{k+1} on x_k for a (B, n) array: intercepts, slopes, RSS, Sxx."""
    x = paths[:, :-1]
    y = paths[:, 1:]
    xm = x.mean(axis=1, keepdims=True)
    ym = y.mean(axis=1, keepdims=True)
    sxx = ((x - xm) ** 2).sum(axis=1)
    sxy = ((x - xm) * (y - ym)).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        b = sxy / sxx
    a = ym[:, 0] - b * xm[:, 0]
    resid = y - (a[:, None] + b[:, None] * x)
    rss = (resid**2).sum(axis=1)
    return a, b, rss, sxx


def ou_parameters_from_ar1(
    a: FloatArray, b: FloatArray, s2: FloatArray, period_length: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Map AR(1) (a, b, innovation variance) to OU (lambda, mu, sigma); needs 0 < b < 1."""
    lam = -np.log(b) / period_length
    mu = a / (1.0 - b)
    sigma = np.sqrt(s2 * 2.0 * lam / (1.0 - b * b))
    return lam, mu, sigma


def fit_ou(gaps: ArrayLike, *, period_length: float = 1.0, method: str = "mle") -> OUFit:
    """Fit an OU process to an equally spaced gap series by its exact AR(1) discretisation.

    Raises RiskInputError when there are fewer than MIN_PERIODS_OU periods, the series is
    constant, or the AR(1) coefficient is outside (0, 1): b >= 1 means lambda <= 0 (no mean
    reversion), b <= 0 means no positive persistence (the i.i.d. variant applies).
    """
    d = as_series("gaps", gaps)
    need_periods(d.size, C.MIN_PERIODS_OU, "the Ornstein-Uhlenbeck variant")
    dt = positive("period_length", period_length, C.BAD_PERIOD_LENGTH)
    if method not in OU_METHODS:
        raise RiskInputError(
            C.UNKNOWN_METHOD.format(what="OU estimation method", value=method, choices=OU_METHODS)
        )
    sample_sigma(d)
    sample_sigma(d[:-1])  # the regressor must move too
    a, b, rss, sxx = ar1_batch(d[None, :])
    a0, b0, rss0, sxx0 = float(a[0]), float(b[0]), float(rss[0]), float(sxx[0])
    if b0 >= 1.0:
        lam = -math.log(b0) / dt
        raise RiskInputError(C.NO_MEAN_REVERSION.format(b=b0, lam=lam))
    if b0 <= 0.0:
        raise RiskInputError(C.NEGATIVE_AUTOCORRELATION.format(b=b0))
    transitions = d.size - 1
    dof = transitions - 2
    s2_ols = rss0 / dof
    s2 = rss0 / transitions if method == "mle" else s2_ols
    x = d[:-1]
    se_b = math.sqrt(s2_ols / sxx0)
    se_a = math.sqrt(s2_ols * (1.0 / transitions + x.mean() ** 2 / sxx0))
    lam, mu, sigma = ou_parameters_from_ar1(np.array(a0), np.array(b0), np.array(s2), dt)
    return OUFit(
        lam=float(lam),
        mu=float(mu),
        sigma=float(sigma),
        b=b0,
        a=a0,
        se_b=se_b,
        se_a=se_a,
        residual_sd=math.sqrt(s2),
        period_length=dt,
        n=int(d.size),
        method=method,
    )


def ou_conditional(
    *, last: float, horizon: float, lam: float, mu: float, sigma: float
) -> tuple[float, float]:
    """Mean and standard deviation of an OU process at `horizon` given its value `last` now."""
    t = positive("horizon", horizon, C.BAD_HORIZON)
    lam_ = finite_number("lam", lam)
    if lam_ <= 0:
        raise RiskInputError(C.NO_MEAN_REVERSION.format(b=math.exp(-lam_), lam=lam_))
    decay = math.exp(-lam_ * t)
    mean = decay * finite_number("last", last) + finite_number("mu", mu) * (1.0 - decay)
    sd = math.sqrt(sigma**2 / (2.0 * lam_) * -math.expm1(-2.0 * lam_ * t))
    return mean, sd


def ou_probabilities(
    fit: OUFit,
    *,
    last: float,
    horizon: float,
    margin_ratio: float,
    ybar: float | None = None,
) -> ModelRiskProbabilities:
    """MR1-3 at `horizon` conditional on the last observed gap, under the fitted OU process."""
    mean, sd = fit.conditional(last=last, horizon=horizon)
    return model_risk_probabilities(margin_ratio, sd, ybar=ybar, shift=mean - margin_ratio)


def simulate_ou(
    *,
    x0: float,
    lam: float,
    mu: float,
    sigma: float,
    horizon: float,
    n_paths: int,
    n_steps: int = 100,
    seed: int | None = 0,
    scheme: str = "exact",
    return_paths: bool = False,
) -> FloatArray:
    """Monte Carlo paths of an OU process from x0 over `horizon` in `n_steps` equal steps.

    `scheme="exact"` draws from the exact transition density; `"euler"` uses Euler-Maruyama
    (x += lam (mu - x) dt + sigma sqrt(dt) z), an independent check of the closed forms whose
    bias vanishes as the step shrinks. Returns the terminal values (n_paths,) or, with
    `return_paths`, the whole paths (n_paths, n_steps + 1).
    """
    if scheme not in ("exact", "euler"):
        raise RiskInputError(
            C.UNKNOWN_METHOD.format(what="scheme", value=scheme, choices=["exact", "euler"])
        )
    t = positive("horizon", horizon, C.BAD_HORIZON)
    if lam <= 0:
        raise RiskInputError(C.NO_MEAN_REVERSION.format(b=math.exp(-lam), lam=lam))
    rng = np.random.default_rng(seed)
    dt = t / n_steps
    if scheme == "exact":
        b = math.exp(-lam * dt)
        drift, scale = mu * (1.0 - b), sigma * math.sqrt(-math.expm1(-2.0 * lam * dt) / (2 * lam))
    else:
        b, drift, scale = 1.0 - lam * dt, lam * mu * dt, sigma * math.sqrt(dt)
    x = np.full(n_paths, float(x0))
    paths = np.empty((n_paths, n_steps + 1)) if return_paths else None
    if paths is not None:
        paths[:, 0] = x
    for k in range(n_steps):
        x = drift + b * x + scale * rng.standard_normal(n_paths)
        if paths is not None:
            paths[:, k + 1] = x
    return paths if paths is not None else x
