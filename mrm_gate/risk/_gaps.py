"""The relative gap series of the paper's section 3.

    D_k   = (EL_k - RL_k) / EL_k                                  (no margin)
    D^M_k = (EL^M_k - RL_k) / EL^M_k,  EL^M_k = EL_k + margin_k   (with margin; the default)
    M^_k  = margin_k / EL^M_k                                     (E(D^M) of an unbiased model)

This is the paper's definition (section 3.2): the gap with margin is relative to the expected
loss *including* the margin, so `E(D^M) = M^ = M_amount / EL^Margin` and, for an unbiased model,
`D^M ~ N(M^, sigma_{D^M}^2)`. With a constant margin ratio m = margin/EL,
`D^M = (m + D)/(1 + m)`: MR1 and MR2 (which depend only on M^/sigma and on the sign of D^M)
are the same as with any other positive denominator, but the level of the gaps, M^, MR3 (ybar
is a level on the D^M scale) and LGMR2 are not.

`scaling="expected_loss"` keeps the earlier convention, `D^M_k = (EL_k + margin_k - RL_k)/EL_k
= D_k + margin_k/EL_k` with margin ratio `margin_k/EL_k`: a margin then shifts the gap by exactly
its ratio (a pure location shift), which is what a comparison with reports made under that
convention needs. A negative D^M is a realised loss above the expected loss plus margin in
both: the uncovered case (situation 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from . import _constants as C
from ._validation import FloatArray, RiskInputError, _where, as_series, same_length

SCALINGS = ("margin", "expected_loss")
DEFAULT_SCALING = "margin"


def check_scaling(scaling: str) -> str:
    """The scaling name, or a RiskInputError naming the choices."""
    if scaling not in SCALINGS:
        raise RiskInputError(
            C.UNKNOWN_METHOD.format(what="gap scaling", value=scaling, choices=list(SCALINGS))
        )
    return scaling


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
    scaling: str = DEFAULT_SCALING,
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
    scaling
        "margin" (the paper's, default): D^M relative to EL + margin; "expected_loss": relative
        to EL before margin. Without a margin both give D.

    Raises
    ------
    RiskInputError
        Non-finite values, mismatched lengths, expected loss <= 0, negative margin, unknown
        scaling.
    """
    check_scaling(scaling)
    el, rl, mg = _inputs(expected_loss, realised_loss, margin, labels)
    covered = el if mg is None else el + mg
    return (covered - rl) / (covered if scaling == "margin" else el)


def margin_ratios(
    expected_loss: ArrayLike,
    margin: ArrayLike,
    *,
    labels: Sequence[Any] | None = None,
    scaling: str = DEFAULT_SCALING,
) -> FloatArray:
    """Margin ratio per period, the mean of D^M for an unbiased model: the paper's
    `M^_k = margin_k / (EL_k + margin_k)` (default), or `margin_k / EL_k` with
    `scaling="expected_loss"`."""
    check_scaling(scaling)
    el = as_series("expected_loss", expected_loss, labels=labels)
    _, _, mg = _inputs(el, el, margin, labels)
    assert mg is not None
    return mg / (el + mg if scaling == "margin" else el)


def denominators(
    expected_loss: ArrayLike, margin: ArrayLike, *, scaling: str = DEFAULT_SCALING
) -> FloatArray:
    """What D^M is relative to, per period: EL + margin (paper) or EL. A gap times its
    denominator is an amount: `-D^M_k x denominator_k` is the uncovered loss of period k."""
    check_scaling(scaling)
    el = as_series("expected_loss", expected_loss)
    _, _, mg = _inputs(el, el, margin, None)
    assert mg is not None
    return el + mg if scaling == "margin" else el
