"""Numeric columns as sorted, NaN-free arrays: the one preparation every drift statistic shares.

Sorting once per column and evaluation is what makes the native statistics fast: quantile edges,
bin counts (searchsorted of a few edges), KS and Wasserstein all read the same sorted arrays, so
no statistic re-sorts or concatenates the raw columns the way the libraries do per call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SortedSample:
    """A numeric sample: sorted finite values plus how many values were missing (NaN)."""

    values: np.ndarray  # sorted float64, no NaN
    n_missing: int

    @property
    def n(self) -> int:
        """Number of non-missing values."""
        return int(self.values.size)

    @property
    def n_total(self) -> int:
        return self.n + self.n_missing

    def n_unique(self) -> int:
        v = self.values
        if v.size == 0:
            return 0
        return int(np.count_nonzero(v[1:] != v[:-1])) + 1


def sorted_sample(x: np.ndarray) -> SortedSample:
    """Sort a numeric array once, dropping NaN (counted as missing)."""
    arr = np.asarray(x, dtype=np.float64)
    s = np.sort(arr)  # NaN sort last
    n_nan = 0
    if s.size and np.isnan(s[-1]):  # searchsorted treats NaN as the largest value
        n_nan = int(s.size - np.searchsorted(s, np.nan, side="left"))
        s = s[: s.size - n_nan]
    return SortedSample(values=s, n_missing=n_nan)


def right_counts_self(s: np.ndarray) -> np.ndarray:
    """For sorted `s`, #{s <= s[i]} for each i (ties resolved like searchsorted side='right').

    O(n) without a binary search: every element of a run of equal values gets the index of the
    run's last element plus one.
    """
    if s.size == 0:
        return np.zeros(0, dtype=np.int64)
    last = np.empty(s.size, dtype=bool)
    last[:-1] = s[1:] != s[:-1]
    last[-1] = True
    ends = np.flatnonzero(last)
    run_id = np.zeros(s.size, dtype=np.int64)
    run_id[1:] = np.cumsum(last[:-1])
    return ends[run_id] + 1


def quantile_edges(sample: SortedSample, bins: int) -> np.ndarray:
    """Inner bin edges at the reference quantiles 1/bins .. (bins-1)/bins, duplicates removed.

    Same interpolation as `np.quantile(..., method="linear")`, read from the sorted array.
    A column with few distinct values gets fewer bins (duplicate edges collapse).
    """
    v = sample.values
    if v.size == 0:
        return np.zeros(0)
    q = np.linspace(0.0, 1.0, bins + 1)[1:-1]
    pos = q * (v.size - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, v.size - 1)
    frac = pos - lo
    edges = v[lo] + (v[hi] - v[lo]) * frac
    return np.unique(edges)


def counts_right_closed(sample: SortedSample, edges: np.ndarray) -> np.ndarray:
    """Counts in bins (-inf, e1], (e1, e2], ..., (ek, inf) of the non-missing values."""
    idx = np.searchsorted(sample.values, edges, side="right")
    return np.diff(np.concatenate(([0], idx, [sample.n]))).astype(np.int64)


def counts_left_closed(sample: SortedSample, edges: np.ndarray) -> np.ndarray:
    """Counts in bins [e0, e1), ..., [ek-1, ek] (last closed): `np.histogram` semantics."""
    idx = np.searchsorted(sample.values, edges, side="left")
    idx[-1] = np.searchsorted(sample.values, edges[-1], side="right")
    return np.diff(idx).astype(np.int64)
