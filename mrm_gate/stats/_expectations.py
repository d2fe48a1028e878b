"""Great Expectations semantics for the common expectations, evaluated natively on pandas.

GE 1.x costs ~3.5 s to import and set up before it evaluates anything; the expectations most
suites consist of (nulls, ranges, sets, uniqueness, row counts, column statistics) are one
vectorised pass each. This module evaluates those with GE's exact semantics (null handling,
`mostly` over non-null rows, vacuous truth on empty domains, strict bounds, pandas `isin`,
sample standard deviation); anything else (unknown types, `row_condition`, unusual kwargs,
non-numeric ranges) returns None and is left to GE itself. tests/suites/test_dq_native.py runs
every supported case through both and asserts the same success, counts and observed values.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

EXAMPLES = 5


@dataclass
class ExpectationOutcome:
    """What a report shows of one expectation (from GE or from the native evaluator)."""

    type: str
    kwargs: dict[str, Any]
    success: bool
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    element_count: int | None = None
    observed_value: Any = None
    examples: list[Any] = field(default_factory=list)
    error: str | None = None  # the expectation could not be evaluated (e.g. unknown column)
    engine: str = "native"


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return str(v)


def _examples(values) -> list[Any]:
    return [_jsonable(v) for v in list(values[:EXAMPLES])]


def _map_outcome(etype: str, kwargs: dict, n: int, nonnull: int, unexpected_mask: np.ndarray,
                 values) -> ExpectationOutcome:
    """A column map expectation over the non-null rows (GE's ColumnMapExpectation)."""
    unexpected = int(np.count_nonzero(unexpected_mask))
    mostly = float(kwargs.get("mostly", 1.0))
    # GE: vacuously true on an empty domain
    success = True if n == 0 or nonnull == 0 else (nonnull - unexpected) / nonnull >= mostly
    pct = unexpected / nonnull * 100 if nonnull else None
    return ExpectationOutcome(etype, kwargs, bool(success), unexpected, pct, n,
                              examples=_examples(values[unexpected_mask]))


def _column(frame, kwargs):
    return frame[kwargs["column"]]


def _nulls(expect_null: bool):
    """`..._to_not_be_null` / `..._to_be_null`: the domain is every row, nulls included."""

    def run(etype, frame, kwargs):
        col = _column(frame, kwargs)
        bad_mask = col.notna().to_numpy() if expect_null else col.isna().to_numpy()
        n = len(col)
        bad = int(bad_mask.sum())
        mostly = float(kwargs.get("mostly", 1.0))
        success = True if n == 0 else (n - bad) / n >= mostly
        return ExpectationOutcome(etype, kwargs, bool(success), bad,
                                  bad / n * 100 if n else 0.0, n,
                                  examples=_examples(col.to_numpy()[bad_mask]))

    return run


def _nonnull_values(frame, kwargs):
    col = _column(frame, kwargs)
    values = col.dropna()
    return col, values


def _between_mask(values: np.ndarray, kwargs: dict) -> np.ndarray:
    lo, hi = kwargs.get("min_value"), kwargs.get("max_value")
    ok = np.ones(values.shape[0], dtype=bool)
    if lo is not None:
        ok &= values > lo if kwargs.get("strict_min") else values >= lo
    if hi is not None:
        ok &= values < hi if kwargs.get("strict_max") else values <= hi
    return ~ok


def _values_between(etype, frame, kwargs):
    import pandas as pd

    col, values = _nonnull_values(frame, kwargs)
    if kwargs.get("min_value") is None and kwargs.get("max_value") is None:
        return None
    if not pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype):
        return None
    for b in ("min_value", "max_value"):
        if kwargs.get(b) is not None and not isinstance(kwargs[b], (int, float)):
            return None
    arr = values.to_numpy()
    return _map_outcome(etype, kwargs, len(col), len(values), _between_mask(arr, kwargs), arr)


def _in_set(negate: bool):
    def run(etype, frame, kwargs):
        if kwargs.get("value_set") is None:
            return None
        col, values = _nonnull_values(frame, kwargs)
        inside = values.isin(list(kwargs["value_set"])).to_numpy()
        mask = inside if negate else ~inside
        return _map_outcome(etype, kwargs, len(col), len(values), mask, values.to_numpy())

    return run


def _unique(etype, frame, kwargs):
    col, values = _nonnull_values(frame, kwargs)
    mask = values.duplicated(keep=False).to_numpy()
    return _map_outcome(etype, kwargs, len(col), len(values), mask, values.to_numpy())


def _regex(negate: bool):
    def run(etype, frame, kwargs):
        import pandas as pd

        col, values = _nonnull_values(frame, kwargs)
        if not (pd.api.types.is_object_dtype(col.dtype) or pd.api.types.is_string_dtype(
                col.dtype)) or not isinstance(kwargs.get("regex"), str):
            return None
        if not all(isinstance(v, str) for v in values.head(1000)):
            return None
        matches = values.astype(str).str.contains(kwargs["regex"]).to_numpy(dtype=bool)
        mask = matches if negate else ~matches
        return _map_outcome(etype, kwargs, len(col), len(values), mask, values.to_numpy())

    return run


def _bounded(observed: Any, kwargs: dict) -> bool | None:
    lo, hi = kwargs.get("min_value"), kwargs.get("max_value")
    if lo is None and hi is None:
        return None
    if observed is None or (isinstance(observed, float) and math.isnan(observed)):
        return None  # leave GE's handling of undefined statistics to GE
    ok = True
    if lo is not None:
        ok &= observed > lo if kwargs.get("strict_min") else observed >= lo
    if hi is not None:
        ok &= observed < hi if kwargs.get("strict_max") else observed <= hi
    return bool(ok)


def _aggregate(stat: Callable[[Any], Any], numeric: bool = True):
    def run(etype, frame, kwargs):
        import pandas as pd

        col = _column(frame, kwargs)
        if numeric and (not pd.api.types.is_numeric_dtype(col.dtype)
                        or pd.api.types.is_bool_dtype(col.dtype)):
            return None
        observed = _jsonable(stat(col))
        ok = _bounded(observed, kwargs)
        if ok is None:
            return None
        return ExpectationOutcome(etype, kwargs, ok, observed_value=observed,
                                  element_count=len(col))

    return run


def _table_size(size: Callable[[Any], int], equal_type: str):
    """Row or column count: `..._to_equal` (kwarg `value`) or `..._to_be_between`."""

    def run(etype, frame, kwargs):
        n = size(frame)
        if etype == equal_type:
            if not isinstance(kwargs.get("value"), int):
                return None
            return ExpectationOutcome(etype, kwargs, n == kwargs["value"], observed_value=n)
        ok = _bounded(n, kwargs)
        return None if ok is None else ExpectationOutcome(etype, kwargs, ok, observed_value=n)

    return run


_table_rows = _table_size(len, "expect_table_row_count_to_equal")
_table_column_count = _table_size(lambda f: len(f.columns), "expect_table_column_count_to_equal")


def _column_exists(etype, frame, kwargs):
    if "column_index" in kwargs and kwargs["column_index"] is not None:
        return None
    ok = kwargs["column"] in frame.columns
    return ExpectationOutcome(etype, kwargs, bool(ok))


def _columns_match_set(etype, frame, kwargs):
    if kwargs.get("column_set") is None:
        return None
    actual = [str(c) for c in frame.columns]
    expected = set(kwargs["column_set"])
    exact = kwargs.get("exact_match", True)
    ok = set(actual) == expected if exact else expected.issubset(set(actual))
    return ExpectationOutcome(etype, kwargs, ok, observed_value=actual)


def _columns_match_list(etype, frame, kwargs):
    if kwargs.get("column_list") is None:
        return None
    actual = [str(c) for c in frame.columns]
    return ExpectationOutcome(etype, kwargs, actual == list(kwargs["column_list"]),
                              observed_value=actual)


def _distinct(mode: str):
    def run(etype, frame, kwargs):
        if kwargs.get("value_set") is None:
            return None
        col = _column(frame, kwargs)
        observed = set(col.dropna().unique().tolist())
        expected = set(kwargs["value_set"])
        if mode == "in_set":
            ok = observed.issubset(expected)
        elif mode == "contain":
            ok = expected.issubset(observed)
        else:
            ok = observed == expected
        try:
            shown = sorted(observed)
        except TypeError:
            shown = sorted(observed, key=str)
        return ExpectationOutcome(etype, kwargs, ok, observed_value=[_jsonable(v) for v in
                                                                     shown])

    return run


def _std(col):
    return col.std()


# type -> (evaluator, kwargs it understands); other kwargs send the expectation to GE
_COMMON = {"column", "mostly", "result_format", "catch_exceptions", "meta"}
_BOUNDS = {"min_value", "max_value", "strict_min", "strict_max"}
NATIVE: dict[str, tuple[Callable, set[str]]] = {
    "expect_column_to_exist": (_column_exists, {"column", "column_index"}),
    "expect_column_values_to_not_be_null": (_nulls(False), _COMMON),
    "expect_column_values_to_be_null": (_nulls(True), _COMMON),
    "expect_column_values_to_be_between": (_values_between, _COMMON | _BOUNDS),
    "expect_column_values_to_be_in_set": (_in_set(False), _COMMON | {"value_set"}),
    "expect_column_values_to_not_be_in_set": (_in_set(True), _COMMON | {"value_set"}),
    "expect_column_values_to_be_unique": (_unique, _COMMON),
    "expect_column_values_to_match_regex": (_regex(False), _COMMON | {"regex"}),
    "expect_column_values_to_not_match_regex": (_regex(True), _COMMON | {"regex"}),
    "expect_column_mean_to_be_between": (_aggregate(lambda c: c.mean()), {"column"} | _BOUNDS),
    "expect_column_median_to_be_between": (_aggregate(lambda c: c.median()),
                                           {"column"} | _BOUNDS),
    "expect_column_min_to_be_between": (_aggregate(lambda c: c.min()), {"column"} | _BOUNDS),
    "expect_column_max_to_be_between": (_aggregate(lambda c: c.max()), {"column"} | _BOUNDS),
    "expect_column_sum_to_be_between": (_aggregate(lambda c: c.sum()), {"column"} | _BOUNDS),
    "expect_column_stdev_to_be_between": (_aggregate(_std), {"column"} | _BOUNDS),
    "expect_column_unique_value_count_to_be_between": (
        _aggregate(lambda c: int(c.nunique()), numeric=False), {"column"} | _BOUNDS),
    "expect_column_proportion_of_unique_values_to_be_between": (
        _aggregate(lambda c: c.nunique() / c.count() if c.count() else None, numeric=False),
        {"column"} | _BOUNDS),
    "expect_table_row_count_to_be_between": (_table_rows, _BOUNDS - {"strict_min",
                                                                     "strict_max"}),
    "expect_table_row_count_to_equal": (_table_rows, {"value"}),
    "expect_table_column_count_to_be_between": (_table_column_count,
                                                _BOUNDS - {"strict_min", "strict_max"}),
    "expect_table_column_count_to_equal": (_table_column_count, {"value"}),
    "expect_table_columns_to_match_set": (_columns_match_set, {"column_set", "exact_match"}),
    "expect_table_columns_to_match_ordered_list": (_columns_match_list, {"column_list"}),
    "expect_column_distinct_values_to_be_in_set": (_distinct("in_set"), {"column", "value_set"}),
    "expect_column_distinct_values_to_contain_set": (_distinct("contain"),
                                                     {"column", "value_set"}),
    "expect_column_distinct_values_to_equal_set": (_distinct("equal"), {"column", "value_set"}),
}


def evaluate_native(etype: str, kwargs: dict[str, Any], frame) -> ExpectationOutcome | None:
    """The expectation's outcome with GE's semantics, or None when GE must evaluate it."""
    entry = NATIVE.get(etype)
    if entry is None:
        return None
    fn, allowed = entry
    if set(kwargs) - allowed:
        return None
    if "column" in kwargs and etype != "expect_column_to_exist" and (
            kwargs["column"] not in frame.columns):
        return ExpectationOutcome(etype, kwargs, False,
                                  error=f'column "{kwargs["column"]}" does not exist')
    if "mostly" in kwargs and not isinstance(kwargs["mostly"], (int, float)):
        return None
    return fn(etype, frame, kwargs)
