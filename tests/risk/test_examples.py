"""The shipped example backtests: reproducible from their script, and telling the intended story."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

from mrm_gate.risk import aggregate, analyse, read_backtest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "backtests"
NAMES = ("corporate", "retail_mortgages", "sme")


def test_generator_reproduces_the_committed_csvs(tmp_path: Path) -> None:
    module = runpy.run_path(str(EXAMPLES / "generate.py"))
    written = module["generate"](tmp_path)
    assert [p.name for p in written] == [f"{n}.csv" for n in NAMES]
    for path in written:
        assert path.read_bytes() == (EXAMPLES / path.name).read_bytes(), path.name


@pytest.mark.parametrize("name", NAMES)
def test_recession_story(name: str) -> None:
    bt = read_backtest(EXAMPLES / f"{name}.csv")
    assert bt.n == 40 and bt.periods[0] == "2014Q1" and bt.periods[-1] == "2023Q4"
    d = dict(zip(bt.periods, bt.gaps(), strict=True))
    recession = [d[p] for p in ("2020Q1", "2020Q2", "2020Q3", "2020Q4")]
    assert max(recession) < 0  # the models under-estimate losses in the downturn
    rep = analyse(bt, alpha=0.05, ybar=0.6, period_length=0.25, n_boot=200)
    assert rep.errors == {}
    assert rep.recommended == "systemic"
    assert rep.systemic_fit.coef[0] < 0  # higher unemployment -> lower gap
    assert rep.required_margin["sufficient"] is False  # the declared margin is too thin


def test_portfolio_aggregation() -> None:
    models = {n: read_backtest(EXAMPLES / f"{n}.csv") for n in NAMES}
    p = aggregate(models, allocated_fund=25.0, n_boot=200)
    assert p.total.n == 40 and 0 < p.paper.mr2 < 1
    assert p.to_dict()["coverage"]["paper"]["allocated_fund"] == 25.0
