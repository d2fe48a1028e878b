"""Category counts of two samples over the union of their categories, from integer codes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CategoryCounts:
    keys: list  # category values, union of both samples (no missing)
    reference: np.ndarray  # counts per key
    current: np.ndarray
    reference_missing: int
    current_missing: int

    @property
    def n_reference(self) -> int:
        return int(self.reference.sum()) + self.reference_missing

    @property
    def n_current(self) -> int:
        return int(self.current.sum()) + self.current_missing


def codes_and_uniques(values) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (-1 for missing) and the distinct values, without copying categoricals."""
    import pandas as pd

    if isinstance(getattr(values, "dtype", None), pd.CategoricalDtype):
        cat = values.array if hasattr(values, "array") else values
        return np.asarray(cat.codes), np.asarray(cat.categories, dtype=object)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return np.asarray(codes), np.asarray(uniques, dtype=object)


def category_counts(reference, current) -> CategoryCounts:
    """Counts of each category in both samples, keyed by the union of observed categories."""
    rc, ru = codes_and_uniques(reference)
    cc, cu = codes_and_uniques(current)
    r_counts = np.bincount(rc[rc >= 0], minlength=len(ru))
    c_counts = np.bincount(cc[cc >= 0], minlength=len(cu))
    keys: list = []
    index: dict = {}
    for k in list(ru) + list(cu):
        if k not in index:
            index[k] = len(keys)
            keys.append(k)
    ref = np.zeros(len(keys), dtype=np.int64)
    cur = np.zeros(len(keys), dtype=np.int64)
    if len(ru):
        ref[np.array([index[k] for k in ru])] = r_counts
    if len(cu):
        cur[np.array([index[k] for k in cu])] = c_counts
    observed = (ref + cur) > 0  # declared but unused categorical levels are not categories
    return CategoryCounts(
        keys=[k for k, o in zip(keys, observed, strict=False) if o],
        reference=ref[observed], current=cur[observed],
        reference_missing=int(np.count_nonzero(rc < 0)),
        current_missing=int(np.count_nonzero(cc < 0)),
    )
