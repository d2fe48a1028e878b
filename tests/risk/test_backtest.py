"""Reading and validating backtest tables (CSV, Parquet)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mrm_gate.risk import Backtest, RiskInputError, backtest_from_frame, read_backtest


def _frame(n: int = 8) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "period": pd.period_range("2015Q1", periods=n, freq="Q").astype(str),
            "expected_loss": rng.uniform(90, 110, n),
            "margin": 10.0,
            "realised_loss": rng.uniform(80, 120, n),
            "exposure": 1000.0,
            "unemployment_rate": rng.uniform(4, 8, n),
            "segment": "corporate",
        }
    )


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_round_trip(tmp_path: Path, suffix: str) -> None:
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    frame = _frame()
    path = tmp_path / f"bt{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    bt = read_backtest(path)
    assert bt.name == "bt" and bt.n == 8 and list(bt.factors) == ["unemployment_rate"]
    assert bt.periods[0] == "2015Q1"
    np.testing.assert_allclose(bt.expected_loss, frame["expected_loss"])
    assert any("segment" in n for n in bt.notes)
    # the paper's M^ = M / (EL + M) (section 3.2)
    el = frame["expected_loss"]
    assert bt.declared_margin_ratio == pytest.approx(float((10.0 / (el + 10.0)).mean()))
    legacy = bt.with_scaling("expected_loss")
    assert legacy.declared_margin_ratio == pytest.approx(float((10.0 / el).mean()))


def test_unsorted_rows_are_sorted_with_a_note() -> None:
    frame = _frame().iloc[::-1]
    bt = backtest_from_frame(frame)
    assert bt.periods[0] == "2015Q1"
    assert any("sorted" in n for n in bt.notes)


def test_explicit_factor_columns_and_no_margin() -> None:
    frame = _frame().drop(columns=["margin"])
    bt = backtest_from_frame(frame, factors=[])
    assert bt.factors == {} and (bt.margin == 0).all()
    assert any("margin taken as 0" in n for n in bt.notes)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.drop(columns=["realised_loss"]), "lacks column.*'realised_loss'"),
        (
            lambda f: f.rename(columns={"expected_loss": "expected_losses"}),
            "found 'expected_losses'",
        ),
        (
            lambda f: f.assign(expected_loss=f["expected_loss"].where(f.index != 3)),
            "periods 2015Q4",
        ),
        (lambda f: f.assign(expected_loss=0.0), "expected_loss must be > 0"),
        (lambda f: f.drop(index=4), "not equally spaced"),
        (lambda f: pd.concat([f, f.iloc[[2]]]), "duplicated period"),
        (lambda f: f.assign(period=range(2000, 2008)).drop(index=5), "2004 -> 2006"),
        (lambda f: f.assign(period=[None, *list(f["period"][1:])]), "period is empty on row"),
        (lambda f: f.iloc[0:0], "has no rows"),
        (lambda f: f.assign(unemployment_rate=np.nan), "factor 'unemployment_rate' has missing"),
    ],
    ids=[
        "missing-column",
        "misspelt",
        "nan-row",
        "zero-el",
        "missing-quarter",
        "duplicate",
        "missing-year",
        "empty-period",
        "empty",
        "nan-factor",
    ],
)
def test_bad_tables(mutate, message: str) -> None:
    with pytest.raises(RiskInputError, match=message):
        backtest_from_frame(mutate(_frame()).reset_index(drop=True))


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(RiskInputError, match="does not exist"):
        read_backtest(tmp_path / "nope.csv")
    (tmp_path / "bt.txt").write_text("x")
    with pytest.raises(RiskInputError, match="cannot tell the format"):
        read_backtest(tmp_path / "bt.txt")
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(RiskInputError, match="cannot read backtest"):
        read_backtest(tmp_path / "bad.parquet")


def test_from_arrays_validates() -> None:
    with pytest.raises(RiskInputError, match="no periods"):
        Backtest.from_arrays(expected_loss=[], realised_loss=[])
    with pytest.raises(RiskInputError, match="same length"):
        Backtest.from_arrays(expected_loss=[1.0, 2.0], realised_loss=[1.0, 2.0], exposure=[1.0])
