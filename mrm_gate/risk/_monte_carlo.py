"""Monte Carlo of the gap process over a horizon: the distribution of the cumulative uncovered loss.

The closed forms of sections 4-6 give the *expected* uncovered loss of one period,
`EL_RM(2) = MRE x LGMR2 x MR2 = MRE x E[max(-D^M, 0)]`. A fund or a limit is set against the
loss over several periods, and against its tail, not only its mean: this module simulates the
gap D^M_1..D^M_Q of the next Q periods and the cumulative uncovered loss

    L_Q = MRE x sum_{k=1..Q} max(-D^M_k, 0)

(the uncovered loss in money when MRE is the expected loss incl. margin the gap is relative to),
and reports its mean with the Monte Carlo standard error, its 95% and 99% quantiles with
distribution-free (order-statistic) intervals, and the probability of at least one uncovered
period, each next to its closed form where one exists:

- mean: `MRE x sum_k (s_k phi(m_k/s_k) - m_k N(-m_k/s_k))` (D^M_k ~ N(m_k, s_k^2)); exact for
  every process here;
- standard deviation (i.i.d. processes): `sqrt(Q Var(max(-D, 0)))` with
  `E[max(-D, 0)^2] = (m^2 + s^2) N(-m/s) - m s phi(m/s)`;
- quantiles: closed form only for one period, `MRE x max(0, -(m + s q_{1-p}))`;
- P(at least one uncovered period): `1 - (1 - MR2)^Q` (i.i.d.); for OU, `1 - P(all D^M_k > 0)`,
  a Gaussian orthant probability of the path's exact joint law (scipy's multivariate normal
  CDF, Genz's algorithm, for up to 40 periods).

Processes:

- ``iid`` (variants ``normal``, ``paper``, and ``systemic`` with the factors held at their
  latest or scenario values over the horizon): D^M_k ~ N(mean, sigma^2) independently;
- ``ou``: the fitted Ornstein-Uhlenbeck process started at the last observed gap, drawn from its
  exact transition (`D_{k+1} = mu + b (D_k - mu) + s xi`, `b = e^{-lambda dt}`,
  `s^2 = sigma^2 (1 - b^2)/(2 lambda)`), so there is no discretisation error.

The parameters are the fitted ones (no parameter uncertainty: the bootstrap intervals of the
one-period measures carry that). Vectorised over paths with numpy's PCG64 generator, seeded.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import special, stats

from . import _constants as C
from ._validation import FloatArray, RiskInputError, finite_number, positive, probability_level

MIN_PATHS = 1000
DEFAULT_PATHS = 100_000
QUANTILES = (0.95, 0.99)
MAX_ORTHANT_DIM = 40  # scipy's multivariate normal CDF is slow and loose beyond this
PROCESSES = ("iid", "ou")


@dataclass(frozen=True)
class QuantileEstimate:
    """A Monte Carlo quantile with its order-statistic interval and standard error."""

    level: float
    value: float
    low: float
    high: float
    se: float
    closed_form: float | None = None


@dataclass(frozen=True)
class MonteCarloResult:
    """The simulated cumulative uncovered loss over `periods` periods, next to its closed forms."""

    variant: str
    process: str
    n_paths: int
    periods: int
    period_length: float
    seed: int | None
    mre: float
    confidence: float
    mean: float
    se: float  # Monte Carlo standard error of `mean`
    closed_form_mean: float
    std: float
    closed_form_std: float | None
    quantiles: dict[str, QuantileEstimate]
    p_any_uncovered: float
    p_any_uncovered_se: float
    p_any_uncovered_closed_form: float | None
    per_period: list[dict[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["quantiles"] = {k: asdict(v) for k, v in self.quantiles.items()}
        return out

    def summary(self) -> str:
        """One line for a report: paths, mean with its MC standard error, closed form, tails."""
        q = "; ".join(
            f"{k} {v.value:.4g} [{v.low:.4g}, {v.high:.4g}]" for k, v in self.quantiles.items()
        )
        return (
            f"Monte Carlo ({self.variant}, {self.process}, {self.n_paths} paths, seed "
            f"{self.seed}): cumulative uncovered loss over {self.periods} period(s) mean "
            f"{self.mean:.4g} (MC se {self.se:.2g}; closed form {self.closed_form_mean:.4g}); "
            f"{q}; P(any uncovered) {self.p_any_uncovered:.2%}"
            + (
                ""
                if self.p_any_uncovered_closed_form is None
                else f" (closed form {self.p_any_uncovered_closed_form:.2%})"
            )
        )


def _check_paths(n_paths: int) -> int:
    if not isinstance(n_paths, (int, np.integer)) or isinstance(n_paths, bool) or (
        n_paths < MIN_PATHS
    ):
        raise RiskInputError(C.BAD_PATHS.format(value=n_paths, min=MIN_PATHS))
    return int(n_paths)


def _check_periods(periods: int) -> int:
    if not isinstance(periods, (int, np.integer)) or isinstance(periods, bool) or periods < 1:
        raise RiskInputError(C.BAD_MC_PERIODS.format(value=periods))
    return int(periods)


def horizon_periods(horizon: float, period_length: float) -> int:
    """The whole number of periods in `horizon` (both in the same time unit), or an error."""
    t = positive("horizon", horizon, C.BAD_HORIZON)
    dt = positive("period_length", period_length, C.BAD_PERIOD_LENGTH)
    q = round(t / dt)
    if q < 1 or not math.isclose(q * dt, t, rel_tol=1e-9, abs_tol=1e-12):
        raise RiskInputError(C.HORIZON_NOT_WHOLE.format(horizon=horizon, period_length=dt))
    return int(q)


def _ou_step(lam: float, sigma: float, dt: float) -> tuple[float, float]:
    """AR(1) coefficient and innovation sd of the exact OU transition over dt."""
    if lam <= 0:
        raise RiskInputError(C.NO_MEAN_REVERSION.format(b=math.exp(-lam * dt), lam=lam))
    b = math.exp(-lam * dt)
    return b, sigma * math.sqrt(-math.expm1(-2.0 * lam * dt) / (2.0 * lam))


def gap_paths(
    *,
    periods: int,
    n_paths: int = DEFAULT_PATHS,
    seed: int | None = 0,
    mean: float | None = None,
    sigma: float | None = None,
    ou: tuple[float, float, float] | None = None,
    last: float | None = None,
    period_length: float = 1.0,
) -> FloatArray:
    """Simulated gaps D^M of the next `periods` periods, shape (n_paths, periods).

    i.i.d. normal with `mean`, `sigma`; or, with `ou=(lam, mu, sigma)` and `last`, the OU process
    from the last observed gap, sampled exactly every `period_length`.
    """
    q = _check_periods(periods)
    n = _check_paths(n_paths)
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, q))
    if ou is None:
        m = finite_number("mean", mean)  # type: ignore[arg-type]
        s = finite_number("sigma", sigma)  # type: ignore[arg-type]
        if s < 0:
            raise RiskInputError(C.NEGATIVE_SIGMA.format(sigma=sigma))
        z *= s
        z += m
        return z
    lam, mu, sd = (finite_number(k, v) for k, v in zip(("lam", "mu", "sigma"), ou, strict=True))
    b, s = _ou_step(lam, sd, positive("period_length", period_length, C.BAD_PERIOD_LENGTH))
    x = np.full(n, finite_number("last", last) - mu)  # type: ignore[arg-type]
    for k in range(q):  # Q steps, each vectorised over the paths
        x *= b
        x += s * z[:, k]
        z[:, k] = x
    z += mu
    return z


def _censored_moments(m: FloatArray, s: FloatArray) -> tuple[FloatArray, FloatArray]:
    """E[max(-X, 0)] and E[max(-X, 0)^2] for X ~ N(m, s^2), s > 0."""
    a = m / s
    pdf = np.exp(-0.5 * a * a) / math.sqrt(2.0 * math.pi)
    tail = special.ndtr(-a)
    first = s * pdf - m * tail
    second = (m * m + s * s) * tail - m * s * pdf
    return first, second


def _order_interval(sorted_x: FloatArray, p: float, z: float) -> tuple[float, float]:
    """Distribution-free interval of the p-quantile from the order statistics (binomial)."""
    n = sorted_x.size
    half = z * math.sqrt(n * p * (1.0 - p))
    lo = max(math.floor(n * p - half), 0)
    hi = min(math.ceil(n * p + half), n - 1)
    return float(sorted_x[lo]), float(sorted_x[hi])


def _ou_orthant(means: FloatArray, lam: float, sigma: float, dt: float) -> float | None:
    """P(all D_k > 0) for the OU path's exact Gaussian law (None beyond MAX_ORTHANT_DIM)."""
    q = means.size
    if q > MAX_ORTHANT_DIM:
        return None
    if q == 1:
        return None  # the caller uses the one-period closed form
    k = np.arange(1, q + 1)
    var = sigma**2 / (2.0 * lam) * -np.expm1(-2.0 * lam * k * dt)
    j, i = np.meshgrid(k, k)
    lower = np.minimum(i, j) - 1
    cov = np.exp(-lam * dt * np.abs(i - j)) * var[lower]
    # Genz's randomised quasi-Monte Carlo integration, to an absolute error of about 1e-5,
    # with a fixed generator so that a decision is reproducible
    kw: dict[str, Any] = {"mean": -means, "cov": cov, "abseps": 1e-5, "releps": 1e-5}
    try:
        p = stats.multivariate_normal.cdf(np.zeros(q), rng=np.random.default_rng(0), **kw)
    except TypeError:  # scipy without `rng` (< 1.15): its randomisation is not seedable here
        p = stats.multivariate_normal.cdf(np.zeros(q), **kw)
    return float(p)


def simulate_uncovered_loss(
    *,
    mre: float,
    periods: int,
    n_paths: int = DEFAULT_PATHS,
    seed: int | None = 0,
    confidence: float = 0.95,
    mean: float | None = None,
    sigma: float | None = None,
    ou: tuple[float, float, float] | None = None,
    last: float | None = None,
    period_length: float = 1.0,
    variant: str = "normal",
) -> MonteCarloResult:
    """Distribution of the cumulative uncovered loss `MRE x sum_k max(-D^M_k, 0)` over `periods`.

    Give `mean` and `sigma` for i.i.d. normal gaps (normal, paper, systemic variants), or
    `ou=(lam, mu, sigma)` and `last` for the OU process from the last observed gap.

    Raises RiskInputError for fewer than MIN_PATHS paths, periods < 1, a non-positive MRE or
    sigma, lambda <= 0, or non-finite parameters.
    """
    level = probability_level("confidence", confidence)
    exposure = finite_number("mre", mre)
    if exposure <= 0:
        raise RiskInputError(C.BAD_EXPOSURE.format(value=mre))
    q = _check_periods(periods)
    n = _check_paths(n_paths)
    dt = positive("period_length", period_length, C.BAD_PERIOD_LENGTH)
    if ou is None:
        if mean is None or sigma is None:
            raise RiskInputError("the i.i.d. Monte Carlo needs the mean and sigma of the gap")
        m0, s0 = finite_number("mean", mean), finite_number("sigma", sigma)
        if s0 <= 0:
            raise RiskInputError(C.MC_NEEDS_SPREAD.format(sigma=sigma))
        means, sds = np.full(q, m0), np.full(q, s0)
        process = "iid"
    else:
        if last is None:
            raise RiskInputError("the OU Monte Carlo needs the last observed gap")
        lam, mu, sd = (finite_number(k, v) for k, v in zip(("lam", "mu", "sigma"), ou, strict=True))
        if sd <= 0:
            raise RiskInputError(C.MC_NEEDS_SPREAD.format(sigma=sd))
        _ou_step(lam, sd, dt)  # validates lambda > 0
        t = np.arange(1, q + 1) * dt
        decay = np.exp(-lam * t)
        means = decay * finite_number("last", last) + mu * (1.0 - decay)
        sds = np.sqrt(sd**2 / (2.0 * lam) * -np.expm1(-2.0 * lam * t))
        process = "ou"
    d = gap_paths(periods=q, n_paths=n, seed=seed, mean=mean, sigma=sigma, ou=ou, last=last,
                  period_length=dt)  # fmt: skip
    uncovered = np.maximum(-d, 0.0)  # per path and period, as a share of the denominator
    total = exposure * uncovered.sum(axis=1)
    any_uncovered = (d < 0.0).any(axis=1)

    first, second = _censored_moments(means, sds)
    closed_mean = float(exposure * first.sum())
    closed_std = (
        float(exposure * math.sqrt(q * float(second[0] - first[0] ** 2)))
        if process == "iid"
        else None
    )
    mr2 = special.ndtr(-means / sds)
    if process == "iid" or q == 1:
        p_any_closed: float | None = float(-np.expm1(np.log1p(-mr2).sum()))
    else:
        orthant = _ou_orthant(means, lam, sd, dt)
        p_any_closed = None if orthant is None else 1.0 - orthant

    z = float(stats.norm.ppf(0.5 + level / 2.0))
    ordered = np.sort(total)
    quantiles = {}
    for p in QUANTILES:
        value = float(np.quantile(ordered, p))
        lo, hi = _order_interval(ordered, p, z)
        closed = None
        if q == 1:
            closed = float(exposure * max(0.0, -(means[0] + sds[0] * stats.norm.ppf(1.0 - p))))
        quantiles[f"q{round(p * 100)}"] = QuantileEstimate(
            level=p, value=value, low=lo, high=hi, se=(hi - lo) / (2.0 * z), closed_form=closed
        )
    std = float(total.std(ddof=1))
    p_any = float(any_uncovered.mean())
    per_period = [
        {
            "period": k + 1,
            "mean": float(means[k]),
            "sd": float(sds[k]),
            "mr2": float(mr2[k]),
            "mr2_mc": float((d[:, k] < 0.0).mean()),
            "el_rm2": float(exposure * first[k]),
            "el_rm2_mc": float(exposure * uncovered[:, k].mean()),
        }
        for k in range(q)
    ]
    return MonteCarloResult(
        variant=variant,
        process=process,
        n_paths=n,
        periods=q,
        period_length=dt,
        seed=seed,
        mre=exposure,
        confidence=level,
        mean=float(total.mean()),
        se=std / math.sqrt(n),
        closed_form_mean=closed_mean,
        std=std,
        closed_form_std=closed_std,
        quantiles=quantiles,
        p_any_uncovered=p_any,
        p_any_uncovered_se=math.sqrt(max(p_any * (1.0 - p_any), 0.0) / n),
        p_any_uncovered_closed_form=p_any_closed,
        per_period=per_period,
    )
