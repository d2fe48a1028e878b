"""Native, vectorised statistics behind the validation-suite checks (numpy / scipy only).

Private modules behind this curated API, like Fairlearn's metrics package. Every number that has
a library definition (Evidently's stat tests, Fairlearn's group metrics) is computed the same
way here and asserted equal to the library's in tests/suites/test_stats_equivalence.py; the
speed comes from preparing each column once (sort, category codes, group codes) and reusing it.
"""

from ._categorical import CategoryCounts, category_counts, codes_and_uniques
from ._drift import (
    DriftStat,
    chisquare_categorical,
    fill_zero_shares,
    jensenshannon_categorical,
    jensenshannon_numeric,
    ks_sorted,
    psi_categorical,
    psi_from_counts,
    psi_numeric,
    wasserstein_norm_sorted,
)
from ._fairness import (
    DERIVED_METRICS,
    RATE_METRICS,
    Groups,
    aggregate,
    combine_groups,
    confusion_counts,
    derived,
    rate,
)
from ._sorted import SortedSample, quantile_edges, sorted_sample

__all__ = [
    "DERIVED_METRICS",
    "RATE_METRICS",
    "CategoryCounts",
    "DriftStat",
    "Groups",
    "SortedSample",
    "aggregate",
    "category_counts",
    "chisquare_categorical",
    "codes_and_uniques",
    "combine_groups",
    "confusion_counts",
    "derived",
    "fill_zero_shares",
    "jensenshannon_categorical",
    "jensenshannon_numeric",
    "ks_sorted",
    "psi_categorical",
    "psi_from_counts",
    "psi_numeric",
    "quantile_edges",
    "rate",
    "sorted_sample",
    "wasserstein_norm_sorted",
]
