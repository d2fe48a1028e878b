"""Numbers read from evidence: a measurement is a finite real number, or the control errors.

Evidence is hostile and careless at once: YAML reads `.inf`, `1e400` (overflows to inf), `.nan`,
`true` and `"0.9"` happily, and MLflow stores a metric logged as "Infinity" as `float('inf')`.
Compared with a threshold, each of those used to pass (inf >= 0.7; True >= 0.7). Every check
that reads a number from evidence goes through `finite_number`, so none can pass on one.

MLflow's SQL stores cannot hold infinity: they save an infinite metric as the largest float
(±1.7976931348623157e308), which reads back as a finite number and would pass any `min`. That
value is refused as what it stands for.

Evidence *loading* keeps such values as they came (see `MetricValue` in `model.py`): one bad
metric makes the controls that read it ERROR, while every other control still reports.
"""

from __future__ import annotations

import math
import numbers
import sys
from typing import Any

from ..errors import CheckError

# What MLflow's SQL tracking stores write for +-inf (sys.float_info.max).
MLFLOW_INF = sys.float_info.max


def describe_value(value: Any) -> str:
    """What a non-number is, without echoing long or multi-line data back."""
    if value is None:
        return "empty (null)"
    if isinstance(value, bool):
        return f"a boolean ({str(bool(value)).lower()}), and booleans are not numbers"
    if isinstance(value, numbers.Real):
        try:
            f = float(value)
        except OverflowError:
            return "an integer too large for a float"
        if math.isnan(f):
            return "NaN"
        if math.isinf(f):
            return "infinite (inf; 1e400 and larger overflow to inf)" if f > 0 else "-inf"
        if abs(f) >= MLFLOW_INF:
            return (f"{f!r}, the largest float, which is how MLflow's SQL stores record an "
                    "infinite metric")
        return repr(f)
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return "a string, not a number"
        return (f"the string {value[:24]!r}, not a number (write the number without quotes; "
                "YAML also reads an exponent without a dot and a sign, like 1e5, as a string: "
                "write 1.0e+5)")
    return f"a {type(value).__name__}, not a number"


def finite_number(value: Any, what: str, fix: str) -> float:
    """`value` as a float when it is a finite real number; otherwise CheckError.

    Booleans (Python's and numpy's) are refused even though `True >= 0.7` would compare: a flag
    is not a measurement. Strings are refused even when they look numeric: the evidence must
    record the number itself, so what was measured is what is compared.
    """
    # numpy's bool_ is not a numbers.Real, Python's bool is (hence the explicit refusal)
    if not isinstance(value, bool) and isinstance(value, numbers.Real):
        try:
            f = float(value)
        except OverflowError:
            f = math.inf
        if math.isfinite(f) and abs(f) < MLFLOW_INF:
            return f
    raise CheckError(f"{what} is {describe_value(value)}; a measurement must be a finite real "
                     f"number, so the control cannot pass: {fix}")


def first_non_finite(value: Any, path: str = "", depth: int = 0) -> str | None:
    """Where (a dotted path, "" for the value itself) a non-finite float sits in `value`,
    looking into dicts, lists and tuples; None when there is none."""
    if depth > 32:
        return None
    if isinstance(value, dict):
        for k, v in value.items():
            found = first_non_finite(v, f"{path}.{k}" if path else str(k), depth + 1)
            if found is not None:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            found = first_non_finite(v, f"{path}[{i}]", depth + 1)
            if found is not None:
                return found
        return None
    if isinstance(value, numbers.Integral):  # bool included: never non-finite
        return None
    if isinstance(value, numbers.Real):
        try:
            return None if math.isfinite(float(value)) else path
        except (OverflowError, ValueError):
            return path
    return None
