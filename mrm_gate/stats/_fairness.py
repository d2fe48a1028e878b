"""Group metrics from confusion counts: Fairlearn's definitions, one `bincount` per evaluation.

Fairlearn's `MetricFrame` calls each metric function once per group on sliced arrays (a pandas
groupby-apply with a large constant per element). Every metric Fairlearn offers for binary
classification is a ratio of the four confusion counts, so counting (group, y_true, y_pred)
triples once gives every metric for every group; difference and ratio aggregation then follow
`MetricFrame.difference` / `MetricFrame.ratio`. Equality with Fairlearn's numbers is asserted in
tests/suites/test_stats_equivalence.py.

Zero-denominator rates follow Fairlearn/scikit-learn: a group without positives has a true
positive rate of 0 (`confusion_matrix(normalize="true")` then `nan_to_num`), a group without
predicted positives a precision of 0 (`zero_division` default).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# name -> (numerator counts, denominator counts); counts are tn, fp, fn, tp
_TN, _FP, _FN, _TP = 0, 1, 2, 3
RATE_METRICS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "selection_rate": ((_FP, _TP), (_TN, _FP, _FN, _TP)),
    "true_positive_rate": ((_TP,), (_TP, _FN)),
    "false_positive_rate": ((_FP,), (_FP, _TN)),
    "true_negative_rate": ((_TN,), (_TN, _FP)),
    "false_negative_rate": ((_FN,), (_FN, _TP)),
    "accuracy": ((_TP, _TN), (_TN, _FP, _FN, _TP)),
    "precision": ((_TP,), (_TP, _FP)),
}

# Fairlearn's named fairness metrics: (base metrics, aggregate kind, worst-case combination)
DERIVED_METRICS: dict[str, tuple[tuple[str, ...], str]] = {
    "demographic_parity_difference": (("selection_rate",), "difference"),
    "demographic_parity_ratio": (("selection_rate",), "ratio"),
    "equalized_odds_difference": (("true_positive_rate", "false_positive_rate"), "difference"),
    "equalized_odds_ratio": (("true_positive_rate", "false_positive_rate"), "ratio"),
    "equal_opportunity_difference": (("true_positive_rate",), "difference"),
    "equal_opportunity_ratio": (("true_positive_rate",), "ratio"),
}


@dataclass(frozen=True)
class Groups:
    """Row -> group code, and each group's label (a tuple, one value per attribute)."""

    codes: np.ndarray  # int64, 0..len(labels)-1 for every row
    labels: list[tuple]
    attributes: list[str]


def combine_groups(attributes: Sequence[str], codes: Sequence[np.ndarray],
                   uniques: Sequence[Sequence]) -> Groups:
    """Intersect attributes: one group per *observed* combination (unobserved ones are not
    groups, as Fairlearn's MetricFrame leaves them NaN and skips them in min/max)."""
    if len(codes) == 1:
        return Groups(np.asarray(codes[0], dtype=np.int64), [(u,) for u in uniques[0]],
                      list(attributes))
    sizes = [len(u) for u in uniques]
    combined = np.zeros(len(codes[0]), dtype=np.int64)
    for c, size in zip(codes, sizes, strict=False):
        combined *= size
        combined += c
    total = int(np.prod(sizes))
    present = np.bincount(combined, minlength=total) > 0
    remap = np.cumsum(present) - 1
    labels = []
    for flat in np.flatnonzero(present):
        parts = []
        for size in reversed(sizes):
            parts.append(int(flat % size))
            flat //= size
        idx = list(reversed(parts))
        labels.append(tuple(uniques[j][i] for j, i in enumerate(idx)))
    return Groups(remap[combined], labels, list(attributes))


def confusion_counts(groups: Groups, y_true_pos: np.ndarray, y_pred_pos: np.ndarray) -> np.ndarray:
    """(n_groups, 4) counts [tn, fp, fn, tp] with one bincount over all rows."""
    k = len(groups.labels)
    key = groups.codes * 4 + (y_true_pos.astype(np.int64) * 2 + y_pred_pos.astype(np.int64))
    return np.bincount(key, minlength=k * 4).reshape(k, 4)


def rate(counts: np.ndarray, metric: str) -> np.ndarray:
    """A rate metric per row of `counts` ((k, 4) or (4,)); 0 where the denominator is 0."""
    num_idx, den_idx = RATE_METRICS[metric]
    num = counts[..., list(num_idx)].sum(axis=-1).astype(np.float64)
    den = counts[..., list(den_idx)].sum(axis=-1).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(den > 0, num / np.where(den > 0, den, 1), 0.0)
    return out


def aggregate(by_group: np.ndarray, overall: float, *, kind: str, method: str) -> float:
    """`MetricFrame.difference` / `.ratio` for one metric (NaN groups are skipped)."""
    vals = by_group[~np.isnan(by_group)]
    if vals.size == 0:
        return float("nan")
    if kind == "difference":
        if method == "between_groups":
            return float(vals.max() - vals.min())
        return float(np.max(np.abs(vals - overall)))
    if method == "between_groups":
        hi = vals.max()
        return float(vals.min() / hi) if hi != 0 else float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = vals / overall
        ratios = np.where(ratios > 1, 1 / ratios, ratios)
    ratios = ratios[~np.isnan(ratios)]
    return float(ratios.min()) if ratios.size else float("nan")


def derived(name: str, counts: np.ndarray, *, method: str = "between_groups",
            agg: str = "worst_case") -> float:
    """A Fairlearn fairness metric (e.g. `equalized_odds_difference`) from confusion counts."""
    bases, kind = DERIVED_METRICS[name]
    overall = counts.sum(axis=0)
    values = [aggregate(rate(counts, b), float(rate(overall, b)), kind=kind, method=method)
              for b in bases]
    if agg == "mean":
        return float(np.mean(values))
    return float(max(values) if kind == "difference" else min(values))
