"""Native drift statistics on pre-sorted numeric samples and category counts.

Definitions follow Evidently 0.7's legacy stat tests (`evidently.legacy.calculations.stattests`)
so a number here equals Evidently's on the same data (asserted in tests/suites), except PSI on
numeric columns: we bin by the *reference quantiles* (the credit-risk KRI convention, stable
under outliers in the current data) where Evidently uses Sturges bins on the combined range.
Quantile PSI equals Evidently's PSI applied to the same binned values as categories.

Missing values (NaN) are not a category for KS / Wasserstein / chi-square / Jensen-Shannon
(they are dropped, as Evidently does); PSI gives them a bin of their own when either sample has
any, because a rising missing share is drift a validator wants to see.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._sorted import (
    SortedSample,
    counts_left_closed,
    counts_right_closed,
    quantile_edges,
    right_counts_self,
)

KS_EXACT_MAX_N = 10_000  # scipy's ks_2samp 'auto' switches from exact to asymptotic above this


@dataclass
class DriftStat:
    """One statistic on one column: the value compared with the thresholds, plus context."""

    method: str
    value: float
    extra: dict[str, Any] = field(default_factory=dict)


def fill_zero_shares(p: np.ndarray) -> np.ndarray:
    """Evidently's `feel_zeroes`: empty bins get a small share so log ratios stay finite."""
    p = p.astype(np.float64, copy=True)
    nonzero = p[p != 0]
    if nonzero.size == 0:
        return p
    smallest = float(nonzero.min())
    p[p == 0] = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return p


def psi_from_counts(ref_counts: np.ndarray, cur_counts: np.ndarray, n_ref: int,
                    n_cur: int) -> float:
    """PSI = sum((r - c) * ln(r / c)) over bins, shares of the sample sizes given."""
    r = fill_zero_shares(np.asarray(ref_counts, dtype=np.float64) / n_ref)
    c = fill_zero_shares(np.asarray(cur_counts, dtype=np.float64) / n_cur)
    return float(np.sum((r - c) * np.log(r / c)))


def _with_missing(counts: np.ndarray, n_missing: int, add: bool) -> np.ndarray:
    return np.append(counts, n_missing) if add else counts


def psi_numeric(ref: SortedSample, cur: SortedSample, *, bins: int = 10) -> DriftStat:
    """PSI on bins at the reference quantiles (right-closed), plus a missing bin if any NaN."""
    edges = quantile_edges(ref, bins)
    add_missing = bool(ref.n_missing or cur.n_missing)
    rc = _with_missing(counts_right_closed(ref, edges), ref.n_missing, add_missing)
    cc = _with_missing(counts_right_closed(cur, edges), cur.n_missing, add_missing)
    value = psi_from_counts(rc, cc, ref.n_total, cur.n_total)
    return DriftStat("psi", value, {"edges": edges.tolist(), "reference_counts": rc.tolist(),
                                    "current_counts": cc.tolist()})


def psi_categorical(ref_counts: np.ndarray, cur_counts: np.ndarray, ref_missing: int,
                    cur_missing: int) -> DriftStat:
    """PSI over the union of categories (plus a missing category if any value is missing)."""
    add_missing = bool(ref_missing or cur_missing)
    rc = _with_missing(np.asarray(ref_counts), ref_missing, add_missing)
    cc = _with_missing(np.asarray(cur_counts), cur_missing, add_missing)
    value = psi_from_counts(rc, cc, int(rc.sum()), int(cc.sum()))
    return DriftStat("psi", value, {"reference_counts": rc.tolist(),
                                    "current_counts": cc.tolist()})


def ks_sorted(ref: SortedSample, cur: SortedSample) -> DriftStat:
    """Two-sided two-sample KS with scipy's `ks_2samp` (method='auto') statistic and p-value.

    The statistic is evaluated at every sample point like scipy, but from the sorted samples:
    each sample's own ECDF at its points comes from runs of ties (O(n)), the other sample's from
    one binary search of sorted keys, instead of scipy's two searches of the concatenation.
    """
    a, b = ref.values, cur.values
    n1, n2 = a.size, b.size
    if n1 == 0 or n2 == 0:
        raise ValueError("KS needs at least one non-missing value in each sample")
    if max(n1, n2) <= KS_EXACT_MAX_N:
        from scipy.stats import ks_2samp

        res = ks_2samp(a, b)
        return DriftStat("ks", float(res.pvalue), {"statistic": float(res.statistic)})
    # ECDF differences at the points of a, then at the points of b
    d_a = right_counts_self(a) / n1 - np.searchsorted(b, a, side="right") / n2
    d_b = np.searchsorted(a, b, side="right") / n1 - right_counts_self(b) / n2
    max_s = max(float(d_a.max()), float(d_b.max()))
    min_s = min(max(-float(d_a.min()), 0.0), 1.0)
    min_s = max(min_s, min(max(-float(d_b.min()), 0.0), 1.0))
    d = min_s if min_s > max_s else max_s
    from scipy.stats import distributions

    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = m * n / (m + n)
    p = float(np.clip(distributions.kstwo.sf(d, np.round(en)), 0, 1))
    return DriftStat("ks", p, {"statistic": float(d)})


def wasserstein_norm_sorted(ref: SortedSample, cur: SortedSample) -> DriftStat:
    """First Wasserstein distance divided by max(std(reference), 0.001) (Evidently's norm)."""
    a, b = ref.values, cur.values
    if a.size == 0 or b.size == 0:
        raise ValueError("Wasserstein needs at least one non-missing value in each sample")
    # merge the sorted samples: position of each a-value in the merged order
    merged_a_pos = np.searchsorted(b, a, side="left") + np.arange(a.size)
    is_a = np.zeros(a.size + b.size, dtype=np.int8)
    is_a[merged_a_pos] = 1
    merged = np.empty(a.size + b.size)
    merged[merged_a_pos] = a
    merged[is_a == 0] = b
    ca = np.cumsum(is_a, dtype=np.int64)[:-1]
    cb = np.arange(1, merged.size, dtype=np.int64) - ca
    wd = float(np.sum(np.abs(ca / a.size - cb / b.size) * np.diff(merged)))
    norm = max(float(np.std(a)), 0.001)
    return DriftStat("wasserstein", wd / norm, {"distance": wd, "norm": norm})


def _js(p: np.ndarray, q: np.ndarray) -> float:
    from scipy.spatial import distance

    return float(distance.jensenshannon(p, q))


def jensenshannon_numeric(ref: SortedSample, cur: SortedSample) -> DriftStat:
    """Jensen-Shannon distance with Evidently's binning: Sturges bins on the combined range
    when the reference has more than 20 distinct values, else one bin per distinct value."""
    if ref.n == 0 or cur.n == 0:
        raise ValueError("Jensen-Shannon needs at least one non-missing value in each sample")
    if ref.n_unique() > 20:
        lo = min(ref.values[0], cur.values[0])
        hi = max(ref.values[-1], cur.values[-1])
        n_bins = int(np.ceil(np.log2(ref.n + cur.n) + 1))  # np.histogram_bin_edges 'sturges'
        edges = np.linspace(lo, hi, n_bins + 1)
        rc = counts_left_closed(ref, edges)
        cc = counts_left_closed(cur, edges)
    else:
        keys = np.union1d(np.unique(ref.values), np.unique(cur.values))
        rc = _value_counts(ref.values, keys)
        cc = _value_counts(cur.values, keys)
    return DriftStat("jensenshannon", _js(rc / ref.n_total, cc / cur.n_total))


def _value_counts(sorted_values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    return (np.searchsorted(sorted_values, keys, side="right")
            - np.searchsorted(sorted_values, keys, side="left"))


def jensenshannon_categorical(ref_counts: np.ndarray, cur_counts: np.ndarray) -> DriftStat:
    return DriftStat("jensenshannon", _js(np.asarray(ref_counts, float),
                                          np.asarray(cur_counts, float)))


def chisquare_categorical(ref_counts: np.ndarray, cur_counts: np.ndarray, n_ref_total: int,
                          n_cur_total: int) -> DriftStat:
    """Pearson chi-square of current counts against reference shares scaled to the current
    size (Evidently's `chisquare`); a category unseen in the reference gives p = 0."""
    from scipy.stats import chi2

    f_obs = np.asarray(cur_counts, dtype=np.float64)
    f_exp = np.asarray(ref_counts, dtype=np.float64) * (n_cur_total / n_ref_total)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(f_exp > 0, (f_obs - f_exp) ** 2 / np.where(f_exp > 0, f_exp, 1),
                         np.where(f_obs > 0, np.inf, 0.0))
    stat = float(terms.sum())
    dof = max(len(f_obs) - 1, 1)
    p = 0.0 if math.isinf(stat) else float(chi2.sf(stat, dof))
    return DriftStat("chisquare", p, {"statistic": stat, "dof": dof})
