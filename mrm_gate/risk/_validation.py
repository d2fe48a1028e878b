"""Input checks shared by the estimators: one place that turns bad data into clear errors."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _constants as C


class RiskInputError(ValueError):
    """The data or a parameter given to a gap-risk measure cannot be used; the message says why.

    A `ValueError`, so plain-numpy callers can catch it as such; the checks turn it into an
    ERROR result and the CLI into a user error (exit code 2).
    """


FloatArray = NDArray[np.float64]


def _where(mask: NDArray[np.bool_], labels: Sequence[Any] | None) -> str:
    idx = np.flatnonzero(mask)
    shown = [labels[i] if labels is not None else i for i in idx[:5]]
    text = ", ".join(str(s) for s in shown)
    if idx.size > 5:
        text += f" (+{idx.size - 5} more)"
    return ("periods " if labels is not None else "positions ") + text


def as_series(name: str, values: ArrayLike, *, labels: Sequence[Any] | None = None) -> FloatArray:
    """A finite, one-dimensional float array, or a RiskInputError naming the bad positions."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise RiskInputError(f"{name} must be numeric ({exc})") from exc
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise RiskInputError(C.NOT_ONE_DIMENSIONAL.format(name=name, shape=arr.shape))
    bad = ~np.isfinite(arr)
    if bad.any():
        raise RiskInputError(C.NON_FINITE.format(name=name, where=_where(bad, labels)))
    return arr


def same_length(**arrays: FloatArray | None) -> int:
    given = {k: v for k, v in arrays.items() if v is not None}
    lengths = {k: len(v) for k, v in given.items()}
    if len(set(lengths.values())) > 1:
        raise RiskInputError(C.MISMATCHED_LENGTHS.format(names=", ".join(lengths), lengths=lengths))
    return next(iter(lengths.values()))


def need_periods(n: int, need: int, what: str) -> None:
    if n < need:
        raise RiskInputError(
            C.TOO_FEW_PERIODS.format(
                what=what, need=need, got=n, min_empirical=C.MIN_PERIODS_EMPIRICAL
            )
        )


def finite_number(name: str, value: float) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError) as exc:
        raise RiskInputError(C.NON_FINITE_PARAMETER.format(name=name, value=value)) from exc
    if not math.isfinite(out):
        raise RiskInputError(C.NON_FINITE_PARAMETER.format(name=name, value=value))
    return out


def probability_level(name: str, value: float) -> float:
    out = finite_number(name, value)
    if not 0.0 < out < 1.0:
        raise RiskInputError(C.BAD_LEVEL.format(name=name, value=value))
    return out


def positive(name: str, value: float, message: str) -> float:
    out = finite_number(name, value)
    if out <= 0.0:
        raise RiskInputError(message.format(value=value))
    return out


def sample_sigma(values: FloatArray) -> float:
    """Sample standard deviation (ddof=1), raising CONSTANT_SERIES when it is zero.

    "Zero" is relative to the series' scale, so float noise on a constant series (e.g. 0.1
    stored as 0.1000000000000000055) does not pass for a spread.
    """
    sigma = float(np.std(values, ddof=1))
    scale = max(float(np.max(np.abs(values))), 1.0)
    if sigma <= C.ZERO_SIGMA_RTOL * scale:
        raise RiskInputError(C.CONSTANT_SERIES)
    return sigma
