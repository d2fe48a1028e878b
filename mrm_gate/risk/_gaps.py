"""The relative gap series of the paper's section 3.

    D_k   = (EL_k - RL_k) / EL_k                 (no margin)
    D^M_k = (EL_k + margin_k - RL_k) / EL_k      (with margin) = D_k + m_k, m_k = margin_k / EL_k

Both divide by the expected loss *before* margin, so that adding a margin ratio m shifts the gap
by exactly m: an unbiased model (D ~ N(0, sigma^2)) with a margin has D^M ~ N(m, sigma^2), which
is the distribution the paper's section 4 works with. A negative D^M is a realised loss above the
expected loss plus margin: the uncovered case (situation 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from . import _constants as C
from ._validation import FloatArray, RiskInputError, _where, as_series, same_length


def _inputs(
    expected_loss: ArrayLike,
    realised_loss: ArrayLike,
    margin: ArrayLike | None,
    labels: Sequence[Any] | None,
) -> tuple[FloatArray, FloatArray, FloatArray | None]:
    el = as_series("expected_loss", expected_loss, labels=labels)
    rl = as_series("realised_loss", realised_loss, labels=labels)
    mg = None if margin is None else as_series("margin", margin, labels=labels)
    if mg is not None and mg.size == 1 and el.size > 1:
        mg = np.full_like(el, mg[0])
    same_length(expected_loss=el, realised_loss=rl, margin=mg)
    if labels is not None and len(labels) != el.size:
        same_length(expected_loss=el, labels=np.asarray(labels, dtype=object))
    bad = el <= 0
    if bad.any():
        raise RiskInputError(
            C.NON_POSITIVE_EL.format(values=el[bad][:5].tolist(), where=_where(bad, labels))
        )
    if mg is not None and (mg < 0).any():
        neg = mg < 0
        raise RiskInputError(
            C.NEGATIVE_MARGIN.format(values=mg[neg][:5].tolist(), where=_where(neg, labels))
        )
    return el, rl, mg


def gaps(
    expected_loss: ArrayLike,
    realised_loss: ArrayLike,
    *,
    margin: ArrayLike | None = None,
    labels: Sequence[Any] | None = None,
) -> FloatArray:
    """Relative gap series: `D` without a margin, `D^M` with one (an amount, scalar or per period).

    Parameters
    ----------
    expected_loss
        Expected loss per period *before* margin; must be > 0 (the gap divides by it).
    realised_loss
        Realised loss per period (may be negative, e.g. net recoveries).
    margin
        Amount of the margin of conservatism per period (>= 0), or None for the raw gap `D`.
    labels
        Period labels, only used to name bad periods in error messages.

    Raises
    ------
    RiskInputError
        Non-finite values, mismatched lengths, expected loss <= 0, negative margin.
    """
    el, rl, mg = _inputs(expected_loss, realised_loss, margin, labels)
    covered = el if mg is None else el + mg
    return (covered - rl) / el


def margin_ratios(
    expected_loss: ArrayLike,
    margin: ArrayLike,
    *,
    labels: Sequence[Any] | None = None,
) -> FloatArray:
    """Margin ratio per period, `m_k = margin_k / EL_k`: the mean of D^M for an unbiased model."""
    el = as_series("expected_loss", expected_loss, labels=labels)
    _, _, mg = _inputs(el, el, margin, labels)
    assert mg is not None
    return mg / el
