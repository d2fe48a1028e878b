"""A backtest: one row per period of expected loss, margin, realised loss (+ exposure, factors).

`read_backtest(path)` reads CSV or Parquet; `backtest_from_frame(df)` validates a DataFrame.
Validation is strict because every estimator downstream assumes equally spaced, complete
periods: duplicated periods, missing periods in a numeric or dated sequence, and missing values
are errors naming the periods; rows out of order are sorted (with a note).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._gaps import DEFAULT_SCALING, check_scaling
from ._gaps import denominators as _denominators
from ._gaps import gaps as _gaps
from ._gaps import margin_ratios as _margin_ratios
from ._validation import FloatArray, RiskInputError, as_series, same_length

if TYPE_CHECKING:
    import pandas as pd

REQUIRED_COLUMNS = ("period", "expected_loss", "realised_loss")
OPTIONAL_COLUMNS = ("margin", "exposure")
FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


@dataclass(frozen=True, eq=False)  # holds arrays: identity, not value, equality
class Backtest:
    """A validated backtest, as arrays aligned on `periods` (oldest first).

    `scaling` says what the gap with margin is relative to: "margin" (the paper's
    EL + margin, default) or "expected_loss" (EL before margin); see `_gaps`.
    """

    periods: tuple[Any, ...]
    expected_loss: FloatArray
    margin: FloatArray
    realised_loss: FloatArray
    exposure: FloatArray | None = None
    factors: dict[str, FloatArray] = field(default_factory=dict)
    name: str = "model"
    source: str | None = None
    notes: tuple[str, ...] = ()
    scaling: str = DEFAULT_SCALING

    @classmethod
    def from_arrays(
        cls,
        *,
        expected_loss: Sequence[float] | FloatArray,
        realised_loss: Sequence[float] | FloatArray,
        margin: Sequence[float] | FloatArray | float = 0.0,
        periods: Sequence[Any] | None = None,
        exposure: Sequence[float] | FloatArray | None = None,
        factors: Mapping[str, Sequence[float] | FloatArray] | None = None,
        name: str = "model",
        scaling: str = DEFAULT_SCALING,
    ) -> Backtest:
        """Validated construction from plain sequences (periods default to 1..n)."""
        check_scaling(scaling)
        labels = tuple(periods) if periods is not None else None
        el = as_series("expected_loss", expected_loss, labels=labels)
        n = el.size
        if n == 0:
            raise RiskInputError("the backtest has no periods")
        labels = labels if labels is not None else tuple(range(1, n + 1))
        rl = as_series("realised_loss", realised_loss, labels=labels)
        mg = as_series("margin", margin, labels=labels)
        if mg.size == 1 and n > 1:
            mg = np.full(n, mg[0])
        ex = None if exposure is None else as_series("exposure", exposure, labels=labels)
        fac = {
            str(k): as_series(f"factor {k!r}", v, labels=labels) for k, v in (factors or {}).items()
        }
        same_length(
            periods=np.empty(len(labels)),
            expected_loss=el,
            realised_loss=rl,
            margin=mg,
            exposure=ex,
            **{f"factor {k!r}": v for k, v in fac.items()},
        )
        _gaps(el, rl, margin=mg, labels=labels)  # validates EL > 0 and margin >= 0
        return cls(
            periods=labels,
            expected_loss=el,
            margin=mg,
            realised_loss=rl,
            exposure=ex,
            factors=fac,
            name=name,
            scaling=scaling,
        )

    def with_scaling(self, scaling: str | None) -> Backtest:
        """The same backtest with another gap scaling (itself when None or unchanged)."""
        if scaling is None or scaling == self.scaling:
            return self
        return replace(self, scaling=check_scaling(scaling))

    @property
    def n(self) -> int:
        return int(self.expected_loss.size)

    def gaps(self, *, with_margin: bool = True) -> FloatArray:
        """D^M (default) or the margin-free D."""
        margin = self.margin if with_margin else None
        return _gaps(
            self.expected_loss, self.realised_loss, margin=margin, labels=self.periods,
            scaling=self.scaling,
        )  # fmt: skip

    def margin_ratios(self) -> FloatArray:
        """M^_k = margin_k / (EL_k + margin_k) (paper) or margin_k / EL_k, per period."""
        return _margin_ratios(
            self.expected_loss, self.margin, labels=self.periods, scaling=self.scaling
        )

    def denominators(self) -> FloatArray:
        """What D^M is relative to, per period: EL + margin (paper) or EL."""
        return _denominators(self.expected_loss, self.margin, scaling=self.scaling)

    @property
    def declared_margin_ratio(self) -> float:
        """Mean of the per-period margin ratios: the mean D^M of an unbiased model."""
        return float(self.margin_ratios().mean())

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "periods": self.n,
            "first_period": str(self.periods[0]),
            "last_period": str(self.periods[-1]),
            "total_expected_loss": float(self.expected_loss.sum()),
            "total_margin": float(self.margin.sum()),
            "total_realised_loss": float(self.realised_loss.sum()),
            "latest_exposure": None if self.exposure is None else float(self.exposure[-1]),
            "factors": sorted(self.factors),
            "scaling": self.scaling,
            "notes": list(self.notes),
        }


def _period_order(values: pd.Series) -> tuple[pd.Series, str]:
    """Sortable keys for the period column and its kind: numeric, date, or label."""
    import pandas as pd

    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().all():
        return numeric.astype(float), "numeric"
    try:
        dates = pd.to_datetime(values.astype(str), errors="raise", format="mixed")
        return dates, "date"
    except (ValueError, TypeError):
        pass
    try:
        periods = pd.PeriodIndex(values.astype(str))
        return pd.Series(periods.to_timestamp(), index=values.index), "date"
    except (ValueError, TypeError):
        return pd.Series(np.arange(len(values)), index=values.index), "label"


def _check_spacing(keys: pd.Series, kind: str, labels: list[Any]) -> None:
    import pandas as pd

    if kind == "numeric" and len(keys) > 2:
        steps = np.diff(keys.to_numpy())
        step = float(np.min(steps))
        irregular = np.flatnonzero(~np.isclose(steps, step))
        if irregular.size:
            i = int(irregular[0])
            raise RiskInputError(
                f"periods are not equally spaced: step {step:g} elsewhere but "
                f"{labels[i]} -> {labels[i + 1]}; a period is missing (add the row, even if its "
                "losses are small) or the periods are mislabelled"
            )
    if kind == "date" and len(keys) > 2:
        idx = pd.DatetimeIndex(keys)
        if pd.infer_freq(idx) is None:
            gaps_days = np.diff(idx.asi8) / 86_400e9
            typical = float(np.median(gaps_days))
            bad = np.flatnonzero(gaps_days > 1.5 * typical)
            where = (
                f"; the gap after {labels[int(bad[0])]} is {gaps_days[bad[0]]:.0f} days against "
                f"{typical:.0f}"
                if bad.size
                else ""
            )
            raise RiskInputError(
                "period dates are not equally spaced (no regular frequency)"
                + where
                + "; add the missing periods"
            )


def backtest_from_frame(
    frame: pd.DataFrame,
    *,
    name: str = "model",
    factors: Sequence[str] | None = None,
    source: str | None = None,
    scaling: str = DEFAULT_SCALING,
) -> Backtest:
    """Validate a backtest table. `factors`: the external-factor columns (default: every other
    numeric column)."""
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        hints = []
        for c in missing:
            close = difflib.get_close_matches(c, [str(x) for x in frame.columns], n=1)
            hints.append(f"{c!r}" + (f" (found {close[0]!r}?)" if close else ""))
        raise RiskInputError(
            f"backtest{' ' + source if source else ''} lacks column(s) {', '.join(hints)}; "
            f"it has {list(map(str, frame.columns))}. Required: {list(REQUIRED_COLUMNS)}, "
            f"optional: {list(OPTIONAL_COLUMNS)} and external-factor columns"
        )
    notes: list[str] = []
    if frame.empty:
        raise RiskInputError(f"backtest{' ' + source if source else ''} has no rows")
    if frame["period"].isna().any():
        rows = [int(i) + 2 for i in np.flatnonzero(frame["period"].isna())][:5]
        raise RiskInputError(f"period is empty on row(s) {rows} of the backtest (header = row 1)")
    dup = frame["period"][frame["period"].duplicated()].tolist()
    if dup:
        raise RiskInputError(f"duplicated period(s) {dup[:5]}: one row per period")
    keys, kind = _period_order(frame["period"])
    if kind != "label" and not keys.is_monotonic_increasing:
        frame = frame.iloc[np.argsort(keys.to_numpy(), kind="stable")].reset_index(drop=True)
        keys = keys.sort_values().reset_index(drop=True)
        notes.append("rows were not in period order and have been sorted")
    if kind == "label":
        notes.append("period labels are neither numbers nor dates: rows are taken in file order")
    labels = frame["period"].tolist()
    _check_spacing(keys, kind, labels)
    if factors is None:
        reserved = set(REQUIRED_COLUMNS) | set(OPTIONAL_COLUMNS)
        others = [c for c in frame.columns if c not in reserved]
        factors = [c for c in others if np.issubdtype(frame[c].dtype, np.number)]
        skipped = [c for c in others if c not in factors]
        if skipped:
            notes.append(f"non-numeric column(s) {skipped} ignored")
    else:
        unknown = [c for c in factors if c not in frame.columns]
        if unknown:
            raise RiskInputError(f"factor column(s) {unknown} not in the backtest")
    margin: Any = frame["margin"] if "margin" in frame.columns else 0.0
    if "margin" not in frame.columns:
        notes.append("no margin column: margin taken as 0")
    bt = Backtest.from_arrays(
        periods=labels,
        expected_loss=frame["expected_loss"].to_numpy(dtype=float, na_value=np.nan),
        realised_loss=frame["realised_loss"].to_numpy(dtype=float, na_value=np.nan),
        margin=margin if np.isscalar(margin) else margin.to_numpy(dtype=float, na_value=np.nan),
        exposure=(
            frame["exposure"].to_numpy(dtype=float, na_value=np.nan)
            if "exposure" in frame.columns
            else None
        ),
        factors={c: frame[c].to_numpy(dtype=float, na_value=np.nan) for c in factors},
        name=name,
        scaling=scaling,
    )
    return replace(bt, source=source, notes=tuple(notes))


def read_backtest(
    path: str | Path,
    *,
    name: str | None = None,
    format: str | None = None,
    factors: Sequence[str] | None = None,
    scaling: str = DEFAULT_SCALING,
) -> Backtest:
    """Read and validate a CSV or Parquet backtest (format from the suffix unless given)."""
    import pandas as pd

    p = Path(path)
    fmt = format or FORMATS.get(p.suffix.lower())
    if fmt not in ("csv", "parquet"):
        raise RiskInputError(
            f"cannot tell the format of backtest {str(p)!r}; name it .csv or .parquet "
            "(or give the format)"
        )
    if not p.is_file():
        raise RiskInputError(f"backtest file {str(p)!r} does not exist")
    try:
        frame = pd.read_csv(p) if fmt == "csv" else pd.read_parquet(p)
    except ImportError as exc:
        raise RiskInputError(
            f"reading Parquet needs pyarrow ({exc}); `pip install mrm-gate[suites]`"
        ) from exc
    except Exception as exc:  # parser errors of any kind: name the file
        raise RiskInputError(f"cannot read backtest {str(p)!r} as {fmt}: {exc}") from exc
    return backtest_from_frame(
        frame, name=name or p.stem, factors=factors, source=str(p), scaling=scaling
    )
