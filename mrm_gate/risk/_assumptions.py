"""Tests of the assumptions the paper makes, and the variant they point to.

The paper's closed forms assume gaps that are normal and independent from one period to the
next (section 4), or normal innovations of a mean-reverting process (section 5.2). With a
handful of periods none of this can be taken for granted, so we test it:

- normality: Shapiro-Wilk (the decision test: the most powerful common test in small samples)
  and Jarque-Bera (reported; its chi-square reference is asymptotic and lenient below ~50
  periods);
- independence: Ljung-Box Q on h = max(1, min(10, n // 5)) lags, and the AR(1) coefficient of
  D_{k+1} on D_k with its OLS t-test;
- mean reversion: the Dickey-Fuller test (regression with a constant, no lagged differences) of
  a unit root, t = (b - 1) / se(b), against MacKinnon's (2010) finite-sample critical values.
  OLS pulls b below 1 even for a random walk, so "0 < b < 1" alone is no evidence of mean
  reversion.

Recommendation: external factors that explain the gaps (F-test) and leave independent residuals
-> "systemic"; otherwise independent gaps -> "normal" (i.i.d.), or "empirical" when normality is
rejected; serially dependent gaps whose unit root is rejected (0 < b < 1) -> "ou"; serially
dependent gaps without evidence of mean reversion -> "empirical", with a warning that no
stationary model fits (a trend or a structural break in the model's errors).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from . import _constants as C
from ._ou import ar1_batch
from ._systemic import _factor_matrix, design_matrix
from ._validation import (
    FloatArray,
    RiskInputError,
    as_series,
    need_periods,
    probability_level,
    same_length,
    sample_sigma,
)

VARIANTS = ("normal", "paper", "empirical", "systemic", "ou")


@dataclass(frozen=True)
class TestResult:
    """One hypothesis test: H0 is the assumption; `rejected` is None when it could not run."""

    __test__ = False  # not a pytest test class

    name: str
    statistic: float | None
    p_value: float | None
    rejected: bool | None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _skipped(name: str, note: str) -> TestResult:
    return TestResult(name=name, statistic=None, p_value=None, rejected=None, note=note)


def _decide(name: str, stat: float, p: float, level: float, note: str = "") -> TestResult:
    return TestResult(
        name=name, statistic=float(stat), p_value=float(p), rejected=bool(p < level), note=note
    )


def shapiro_wilk(x: FloatArray, *, level: float) -> TestResult:
    if x.size < C.MIN_PERIODS_SHAPIRO:
        return _skipped("shapiro_wilk", f"needs {C.MIN_PERIODS_SHAPIRO} values, got {x.size}")
    res = stats.shapiro(x)
    return _decide("shapiro_wilk", res.statistic, res.pvalue, level)


def jarque_bera(x: FloatArray, *, level: float) -> TestResult:
    if x.size < C.MIN_PERIODS_SHAPIRO:
        return _skipped("jarque_bera", f"needs {C.MIN_PERIODS_SHAPIRO} values, got {x.size}")
    res = stats.jarque_bera(x)
    note = "asymptotic chi-square reference; lenient below ~50 periods" if x.size < 50 else ""
    return _decide("jarque_bera", res.statistic, res.pvalue, level, note)


def default_lags(n: int) -> int:
    return max(1, min(10, n // 5))


def autocorrelations(x: FloatArray, lags: int) -> FloatArray:
    """Sample autocorrelations r_1..r_lags (biased estimator, as in Ljung-Box)."""
    xc = x - x.mean()
    denom = float(xc @ xc)
    return np.array([float(xc[k:] @ xc[:-k]) / denom for k in range(1, lags + 1)])


def ljung_box(x: FloatArray, *, lags: int | None, level: float) -> TestResult:
    """Q = n (n + 2) sum_{k=1}^{h} r_k^2 / (n - k), chi-square with h degrees of freedom."""
    n = x.size
    if n < C.MIN_PERIODS_LJUNG_BOX:
        return _skipped("ljung_box", f"needs {C.MIN_PERIODS_LJUNG_BOX} values, got {n}")
    h = default_lags(n) if lags is None else int(lags)
    if not 1 <= h < n - 1:
        raise RiskInputError(f"ljung_box lags must be between 1 and {n - 2}, got {h}")
    if float(np.ptp(x)) == 0.0:
        return _skipped("ljung_box", "constant series")
    r = autocorrelations(x, h)
    q = n * (n + 2) * float(np.sum(r**2 / (n - np.arange(1, h + 1))))
    return _decide("ljung_box", q, stats.chi2.sf(q, h), level, f"{h} lag(s)")


def ar1_test(x: FloatArray, *, level: float) -> tuple[TestResult, float | None]:
    """t-test of the AR(1) slope b = 0 (two-sided); returns the result and b."""
    if x.size < C.MIN_PERIODS_OU:
        return _skipped("ar1", f"needs {C.MIN_PERIODS_OU} values, got {x.size}"), None
    _a, b, rss, sxx = ar1_batch(x[None, :])
    if sxx[0] == 0.0:
        return _skipped("ar1", "constant series"), None
    dof = x.size - 3
    se = float(np.sqrt(rss[0] / dof / sxx[0]))
    bv = float(b[0])
    if se == 0.0:
        return TestResult("ar1", bv, 0.0, True, "perfect AR(1) fit"), bv
    t = bv / se
    res = _decide("ar1", t, 2 * stats.t.sf(abs(t), dof), level, f"b = {bv:.4g} (se {se:.3g})")
    return res, bv


# MacKinnon (2010), Table 2, one variable, constant and no trend: critical value at a level is
# b_inf + b1 / n + b2 / n^2 + b3 / n^3.
_DF_CRIT = {
    0.01: (-3.43035, -6.5393, -16.786, -79.433),
    0.05: (-2.86154, -2.8903, -4.234, -40.040),
    0.10: (-2.56677, -1.5384, -2.809, 0.0),
}


def dickey_fuller_critical(n: int, level: float) -> tuple[float, float]:
    """Critical value of the DF t-statistic for `n` observations at the tabulated level nearest
    to `level` (1%, 5% or 10%); returns (critical value, level used)."""
    used = min(_DF_CRIT, key=lambda lv: abs(lv - level))
    b0, b1, b2, b3 = _DF_CRIT[used]
    return b0 + b1 / n + b2 / n**2 + b3 / n**3, used


def dickey_fuller(x: FloatArray, *, level: float) -> TestResult:
    """H0: unit root (no mean reversion). Rejected when t = (b - 1)/se(b) < critical value."""
    if x.size < C.MIN_PERIODS_OU:
        return _skipped("dickey_fuller", f"needs {C.MIN_PERIODS_OU} values, got {x.size}")
    _a, b, rss, sxx = ar1_batch(x[None, :])
    if sxx[0] == 0.0:
        return _skipped("dickey_fuller", "constant series")
    se = float(np.sqrt(rss[0] / (x.size - 3) / sxx[0]))
    if se == 0.0:
        return _skipped("dickey_fuller", "perfect AR(1) fit")
    t = (float(b[0]) - 1.0) / se
    crit, used = dickey_fuller_critical(x.size - 1, level)
    return TestResult(
        name="dickey_fuller",
        statistic=t,
        p_value=None,
        rejected=bool(t < crit),
        note=f"critical value {crit:.3f} at {used:.0%} (MacKinnon 2010)",
    )


@dataclass(frozen=True)
class AssumptionReport:
    """Every test run, the variant the data points to, and why."""

    level: float
    n: int
    tests: dict[str, dict[str, TestResult]]  # subject ("gaps", "ou_residuals", ...) -> tests
    ar1_coefficient: float | None
    recommended: str
    reasons: list[str] = field(default_factory=list)

    def rejected(self, subject: str, test: str) -> bool:
        res = self.tests.get(subject, {}).get(test)
        return bool(res and res.rejected)

    def violations(self, variant: str) -> list[str]:
        """The assumptions of `variant` that the data reject (empty: none rejected)."""
        if variant not in VARIANTS:
            raise RiskInputError(C.UNKNOWN_VARIANT.format(variant=variant, choices=VARIANTS))
        out: list[str] = []
        subject = {"ou": "ou_residuals", "systemic": "systemic_residuals"}.get(variant, "gaps")
        if variant == "systemic" and subject not in self.tests:
            out.append("no external factors to test the systemic variant's residuals")
            return out
        if variant != "empirical" and self.rejected(subject, "shapiro_wilk"):
            p = self.tests[subject]["shapiro_wilk"].p_value
            out.append(
                f"normality of the {subject.replace('_', ' ')} rejected (Shapiro-Wilk p = {p:.3g})"
            )
        if self.rejected(subject, "ljung_box"):
            p = self.tests[subject]["ljung_box"].p_value
            out.append(
                f"independence of the {subject.replace('_', ' ')} rejected (Ljung-Box p = {p:.3g})"
            )
        if variant != "ou" and subject == "gaps" and self.rejected("gaps", "ar1"):
            out.append(f"gaps are autocorrelated (AR(1) b = {self.ar1_coefficient:.3g})")
        if variant == "systemic" and self.tests[subject]["f_test"].rejected is False:
            p = self.tests[subject]["f_test"].p_value
            out.append(f"the external factors do not explain the gaps (F-test p = {p:.3g})")
        if variant == "ou":
            b = self.ar1_coefficient
            if b is None or not 0.0 < b < 1.0:
                out.append(f"no mean reversion (AR(1) b = {b}); the OU variant needs 0 < b < 1")
            elif self.tests["gaps"]["dickey_fuller"].rejected is False:
                out.append(
                    f"mean reversion not established: a unit root is not rejected (Dickey-Fuller "
                    f"t = {self.tests['gaps']['dickey_fuller'].statistic:.3g})"
                )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "n": self.n,
            "tests": {s: {k: v.to_dict() for k, v in t.items()} for s, t in self.tests.items()},
            "ar1_coefficient": self.ar1_coefficient,
            "recommended": self.recommended,
            "reasons": list(self.reasons),
            "violations": {v: self.violations(v) for v in VARIANTS},
        }


def f_test(y: FloatArray, resid: FloatArray, p: int, *, level: float) -> TestResult:
    """F-test of the regression with intercept: H0 = no factor moves the gap. Here *rejected*
    means the factors matter (what the systemic variant needs), unlike the other tests."""
    dof = y.size - p - 1
    rss = float(resid @ resid)
    tss = float(((y - y.mean()) ** 2).sum())
    if rss <= 0 or dof <= 0:
        return _skipped("f_test", "perfect fit or no residual degree of freedom")
    f = (tss - rss) / p / (rss / dof)
    return _decide("f_test", f, stats.f.sf(f, p, dof), level, f"{p} factor(s), {dof} dof")


def _battery(x: FloatArray, *, level: float, lags: int | None) -> dict[str, TestResult]:
    return {
        "shapiro_wilk": shapiro_wilk(x, level=level),
        "jarque_bera": jarque_bera(x, level=level),
        "ljung_box": ljung_box(x, lags=lags, level=level),
    }


def check_assumptions(
    gaps: ArrayLike,
    *,
    level: float = 0.05,
    lags: int | None = None,
    factors: Mapping[str, ArrayLike] | None = None,
) -> AssumptionReport:
    """Test normality and independence of the gaps (and of the OU / systemic residuals).

    Needs at least MIN_PERIODS_NORMAL periods and a non-constant series.
    """
    d = as_series("gaps", gaps)
    need_periods(d.size, C.MIN_PERIODS_NORMAL, "the assumption tests")
    lvl = probability_level("level", level)
    sample_sigma(d)
    tests: dict[str, dict[str, TestResult]] = {"gaps": _battery(d, level=lvl, lags=lags)}
    ar1, b = ar1_test(d, level=lvl)
    tests["gaps"]["ar1"] = ar1
    tests["gaps"]["dickey_fuller"] = dickey_fuller(d, level=lvl)
    if b is not None and d.size >= C.MIN_PERIODS_OU:
        a_, b_, _, _ = ar1_batch(d[None, :])
        resid = d[1:] - (a_[0] + b_[0] * d[:-1])
        tests["ou_residuals"] = _battery(resid, level=lvl, lags=lags)
    if factors:
        _names, e = _factor_matrix(factors, None)
        same_length(gaps=d, factors=e)
        if d.size - 1 > e.shape[1] + 2:
            x = design_matrix(e[:-1], intercept=True)
            beta, *_ = np.linalg.lstsq(x, d[1:], rcond=None)
            resid = d[1:] - x @ beta
            tests["systemic_residuals"] = _battery(resid, level=lvl, lags=lags)
            tests["systemic_residuals"]["f_test"] = f_test(d[1:], resid, e.shape[1], level=lvl)

    reasons: list[str] = []
    dependent = bool(ar1.rejected) or bool(tests["gaps"]["ljung_box"].rejected)
    non_normal = bool(tests["gaps"]["shapiro_wilk"].rejected)
    mean_reverting = bool(tests["gaps"]["dickey_fuller"].rejected)
    systemic = tests.get("systemic_residuals", {})
    explained = (
        bool(systemic)
        and bool(systemic["f_test"].rejected)
        and systemic["ljung_box"].rejected is not True
    )
    if explained:
        recommended = "systemic"
        reasons.append(
            f"the external factors explain the gaps (F-test p = {systemic['f_test'].p_value:.3g}) "
            "and leave independent residuals: use the systemic variant"
            + (
                " (gaps alone are serially dependent: the dependence comes from the factors)"
                if dependent
                else ""
            )
        )
        if systemic["shapiro_wilk"].rejected:
            reasons.append(
                "but its residuals are not normal (Shapiro-Wilk): read the systemic "
                "probabilities with the empirical frequencies beside them"
            )
    elif dependent and b is not None and 0.0 < b < 1.0 and mean_reverting:
        recommended = "ou"
        reasons.append(
            f"gaps are serially dependent (AR(1) b = {b:.3g}, p = {ar1.p_value:.3g}; Ljung-Box "
            f"p = {tests['gaps']['ljung_box'].p_value}) and mean-reverting: use the "
            "Ornstein-Uhlenbeck variant"
        )
        if (
            tests.get("ou_residuals", {}).get("shapiro_wilk")
            and tests["ou_residuals"]["shapiro_wilk"].rejected
        ):
            reasons.append(
                "but the OU innovations are not normal: read the OU probabilities "
                "with the empirical frequencies beside them"
            )
    elif dependent:
        recommended = "empirical"
        reasons.append(
            f"gaps are serially dependent without evidence of mean reversion (AR(1) b = "
            f"{b if b is None else round(b, 3)}, unit root not rejected by Dickey-Fuller): no "
            "stationary model fits; look for a trend or a structural break in the model's errors, "
            "and rely on the empirical frequencies"
        )
    elif non_normal:
        recommended = "empirical"
        reasons.append(
            "gaps look independent but not normal (Shapiro-Wilk p = "
            f"{tests['gaps']['shapiro_wilk'].p_value:.3g}): prefer the empirical frequencies"
        )
    else:
        recommended = "normal"
        reasons.append(
            "neither normality nor independence is rejected at level "
            f"{lvl}: the i.i.d. normal variant of the paper applies"
        )
    if d.size < 20:
        reasons.append(f"only {d.size} periods: the tests have little power; read the intervals")
    return AssumptionReport(
        level=lvl,
        n=int(d.size),
        tests=tests,
        ar1_coefficient=b,
        recommended=recommended,
        reasons=reasons,
    )
