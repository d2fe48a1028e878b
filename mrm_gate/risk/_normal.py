"""Closed forms under normal gaps (paper sections 4 and 6) and their estimation from a series.

With `D^M ~ N(mu, sigma^2)`, `mu = m + shift` (m: margin ratio, shift: 0 in the paper's base
case, `sum_j phi_j E_{t-1,j}` in the systemic variant, the OU drift in the past-value variant):

    MR1 = P(0 <= D^M <= m) = N((m - mu)/sigma) - N(-mu/sigma)   (= N(m/sigma) - 1/2 if shift = 0)
    MR2 = P(D^M <= 0)      = N(-mu/sigma)                       (= 1 - N(m/sigma)   if shift = 0)
    MR3 = P(D^M > ybar)    = 1 - N((ybar - mu)/sigma)

and the loss given model risk of situation 2 is the mean of a normal truncated above at 0:

    LGMR2 = |E[D^M | D^M <= 0]| = |mu - sigma * phi(mu/sigma) / N(-mu/sigma)|

The ratio phi/N is computed in log space (`log_ndtr`) so it stays exact when N(-mu/sigma)
underflows (a large margin), where the naive formula returns nan.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import special, stats

from . import _constants as C
from ._validation import (
    FloatArray,
    RiskInputError,
    as_series,
    finite_number,
    need_periods,
    sample_sigma,
)


@dataclass(frozen=True)
class ModelRiskProbabilities:
    """MR1, MR2, MR3 under `D^M ~ N(mean, sigma^2)` with margin ratio `margin_ratio`.

    `mr3` is None when no overestimation limit `ybar` was given. `degenerate` is True when
    sigma = 0: the distribution is then a point mass at `mean` and each probability is 0 or 1
    (MR2 = [mean < 0], MR1 = [0 <= mean <= m], MR3 = [mean > ybar]), the same convention as the
    empirical frequencies.
    """

    mr1: float
    mr2: float
    mr3: float | None
    mean: float
    sigma: float
    margin_ratio: float
    ybar: float | None
    degenerate: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_ybar(ybar: float | None, margin_ratio: float) -> float | None:
    if ybar is None:
        return None
    y = finite_number("ybar", ybar)
    if y <= margin_ratio:
        raise RiskInputError(C.BAD_YBAR.format(ybar=ybar, margin_ratio=margin_ratio))
    return y


def probabilities_array(
    mean: ArrayLike, sigma: ArrayLike, margin_ratio: ArrayLike, ybar: float | None
) -> tuple[FloatArray, FloatArray, FloatArray | None]:
    """Vectorised MR1, MR2, MR3 (used by the bootstrap); sigma must be > 0 elementwise."""
    mu = np.asarray(mean, dtype=float)
    sd = np.asarray(sigma, dtype=float)
    m = np.asarray(margin_ratio, dtype=float)
    mr2 = special.ndtr(-mu / sd)
    mr1 = special.ndtr((m - mu) / sd) - mr2
    mr3 = None if ybar is None else special.ndtr((mu - ybar) / sd)
    return mr1, mr2, mr3


def model_risk_probabilities(
    margin_ratio: float,
    sigma: float,
    *,
    ybar: float | None = None,
    shift: float = 0.0,
) -> ModelRiskProbabilities:
    """Probabilities of the three model-risk situations under `D^M ~ N(m + shift, sigma^2)`.

    With `margin_ratio = q_{1-alpha} * sigma` and no shift, MR1 = 1/2 - alpha and MR2 = alpha.

    Parameters
    ----------
    margin_ratio
        The margin of conservatism as a share of the expected loss (m).
    sigma
        Standard deviation of the gap; 0 gives the documented point-mass result.
    ybar
        Limit beyond which overestimation is excessive (situation 3); must exceed m.
    shift
        Shift of the mean away from m (systemic or past-value variant).
    """
    m = finite_number("margin_ratio", margin_ratio)
    sd = finite_number("sigma", sigma)
    sh = finite_number("shift", shift)
    if sd < 0:
        raise RiskInputError(C.NEGATIVE_SIGMA.format(sigma=sigma))
    y = _check_ybar(ybar, m)
    mu = m + sh
    if sd == 0.0:
        return ModelRiskProbabilities(
            mr1=float(0.0 <= mu <= m),
            mr2=float(mu < 0.0),
            mr3=None if y is None else float(mu > y),
            mean=mu,
            sigma=0.0,
            margin_ratio=m,
            ybar=y,
            degenerate=True,
        )
    mr1, mr2, mr3 = probabilities_array(mu, sd, m, y)
    return ModelRiskProbabilities(
        mr1=float(mr1),
        mr2=float(mr2),
        mr3=None if mr3 is None else float(mr3),
        mean=mu,
        sigma=sd,
        margin_ratio=m,
        ybar=y,
    )


def required_margin_ratio(sigma: float, *, alpha: float) -> float:
    """Margin ratio whose uncovered-loss probability MR2 is exactly alpha: `q_{1-alpha} sigma`.

    This is the paper's calibration of the margin: with it, MR1 = 1/2 - alpha and MR2 = alpha.
    """
    sd = finite_number("sigma", sigma)
    if sd < 0:
        raise RiskInputError(C.NEGATIVE_SIGMA.format(sigma=sigma))
    a = finite_number("alpha", alpha)
    if not 0.0 < a < 0.5:
        raise RiskInputError(C.BAD_ALPHA.format(alpha=alpha))
    return float(stats.norm.ppf(1.0 - a) * sd)


def lower_tail_mean_array(mean: ArrayLike, sigma: ArrayLike) -> FloatArray:
    """Vectorised `E[X | X <= 0]` for X ~ N(mean, sigma^2), sigma > 0 (inverse Mills ratio)."""
    mu = np.asarray(mean, dtype=float)
    sd = np.asarray(sigma, dtype=float)
    a = mu / sd
    # phi(a) / N(-a), in log space: exact even when N(-a) underflows.
    mills = np.exp(-0.5 * a * a - 0.5 * math.log(2.0 * math.pi) - special.log_ndtr(-a))
    return mu - sd * mills


def loss_given_model_risk(*, mean: float, sigma: float) -> float:
    """LGMR2 = |E[D | D <= 0]| for D ~ N(mean, sigma^2): the average size of an uncovered gap.

    With sigma = 0 the gap is the constant `mean`: LGMR2 is |mean| when mean <= 0 and 0
    otherwise (the conditioning event is empty; MR2 is then 0, so EL_RM(2) is 0 either way).
    """
    mu = finite_number("mean", mean)
    sd = finite_number("sigma", sigma)
    if sd < 0:
        raise RiskInputError(C.NEGATIVE_SIGMA.format(sigma=sigma))
    if sd == 0.0:
        return abs(mu) if mu <= 0 else 0.0
    return float(abs(lower_tail_mean_array(mu, sd)))


@dataclass(frozen=True)
class NormalFit:
    """Mean and spread of a gap series, with the bias against the declared margin ratio.

    `bias = mean - margin_ratio`: positive when the model (before margin) overestimates
    losses on average, negative when it underestimates them. It is the mean of the margin-free
    gap D under the `expected_loss` scaling and, with a constant margin ratio m = margin/EL,
    mean(D)/(1 + m) under the paper's.
    `se_mean` is the standard error of the mean under independence.
    """

    n: int
    mean: float
    sigma: float
    margin_ratio: float
    bias: float
    se_mean: float

    @property
    def bias_t(self) -> float:
        return self.bias / self.se_mean

    def probabilities(
        self, *, variant: str = "fitted", ybar: float | None = None
    ) -> ModelRiskProbabilities:
        """`paper`: mean = declared margin ratio (the model is assumed unbiased);
        `fitted`: mean = observed mean of D^M (the bias is kept)."""
        if variant == "paper":
            return model_risk_probabilities(self.margin_ratio, self.sigma, ybar=ybar)
        if variant == "fitted":
            return model_risk_probabilities(
                self.margin_ratio, self.sigma, ybar=ybar, shift=self.bias
            )
        raise RiskInputError(C.UNKNOWN_VARIANT.format(variant=variant, choices=["paper", "fitted"]))

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "bias_t": self.bias_t}


def fit_normal(gaps: ArrayLike, *, margin_ratio: float) -> NormalFit:
    """Estimate mean and sigma (ddof=1) of a D^M series; `margin_ratio` is the declared one.

    Raises RiskInputError for fewer than MIN_PERIODS_NORMAL periods or a constant series.
    """
    d = as_series("gaps", gaps)
    need_periods(d.size, C.MIN_PERIODS_NORMAL, "the normal variant")
    m = finite_number("margin_ratio", margin_ratio)
    sigma = sample_sigma(d)
    mean = float(d.mean())
    return NormalFit(
        n=int(d.size),
        mean=mean,
        sigma=sigma,
        margin_ratio=m,
        bias=mean - m,
        se_mean=sigma / math.sqrt(d.size),
    )
