"""The gap_risk.* checks on real local evidence folders, directly and through the engine."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from pydantic import ValidationError

from mrm_gate.controls import gap_risk
from mrm_gate.controls.context import CheckContext, EvaluationOptions
from mrm_gate.decision import Status
from mrm_gate.errors import CheckError
from mrm_gate.evidence import load_evidence

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "backtests"
FAST = {"n_boot": 200, "period_length": 0.25, "plots": False}


def _folder(tmp_path: Path, source: str = "corporate.csv", **model) -> Path:
    folder = tmp_path / "evidence"
    folder.mkdir(exist_ok=True)
    shutil.copy(EXAMPLES / source, folder / "backtest.csv")
    tags = {"owner": "risk-team", "risk_type": "credit", **model.pop("tags", {})}
    data = {
        "model": {"name": "corporate-pd", "version": "4", "tags": tags, **model},
        "backtest": {"path": "backtest.csv"},
    }
    (folder / "evidence.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    return folder


def _ctx(folder: Path) -> CheckContext:
    return CheckContext(evidence=load_evidence(str(folder)), options=EvaluationOptions(seed=7))


def _run(chk, params: dict, ctx: CheckContext):
    return chk(chk.params.model_validate(params), ctx)


@pytest.fixture
def ctx(tmp_path: Path) -> CheckContext:
    return _ctx(_folder(tmp_path))


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"situation": 2, "variant": "systemic", "max": 0.25}, Status.PASS),
        ({"situation": 2, "variant": "normal", "max": 0.25}, Status.FAIL),
        ({"situation": 2, "variant": "empirical", "max": 0.4}, Status.PASS),
        ({"situation": 2, "variant": "empirical", "max": 0.4, "on": "upper"}, Status.FAIL),
        ({"situation": 1, "variant": "paper", "max": 0.5}, Status.PASS),
        ({"situation": 3, "variant": "ou", "ybar": 0.45, "max": 0.01}, Status.FAIL),
    ],
)
def test_probability(ctx: CheckContext, params: dict, status: Status) -> None:
    res = _run(gap_risk.probability, {**FAST, **params}, ctx)
    assert res.status == status, res.message
    key = f"MR{params['situation']}"
    report, _ = gap_risk.analysis(
        ctx, gap_risk.probability.params.model_validate({**FAST, **params})
    )
    expected = report.result(params["variant"])
    assert res.measured[key] == pytest.approx(getattr(expected, key.lower()))
    assert res.measured["95% interval"].startswith("[")
    assert res.measured["variant"] == params["variant"]
    assert res.evidence_file == "backtest.csv"
    assert res.figures == []  # plots: false
    json.dumps(res.model_dump(mode="json"))  # details are JSON-able (the JSON report)


def test_message_names_value_interval_and_limit(ctx: CheckContext) -> None:
    res = _run(gap_risk.probability, {**FAST, "variant": "empirical", "max": 0.2}, ctx)
    assert res.message.startswith("MR2 (uncovered loss) 32.50% [")
    assert "> max 20.00% (empirical variant, backtest of 40 periods)" in res.message
    assert "Clopper-Pearson" in " ".join(res.notes)


def test_one_analysis_per_settings(ctx: CheckContext) -> None:
    for situation in (1, 2):
        _run(gap_risk.probability, {**FAST, "situation": situation, "max": 1}, ctx)
    _run(gap_risk.expected_loss, {**FAST, "max": 1e9}, ctx)
    reports = [k for k in ctx.cache if k.startswith("gap_risk:report:")]
    assert len(reports) == 1
    _run(gap_risk.probability, {**FAST, "max": 1, "ybar": 0.6}, ctx)
    assert len([k for k in ctx.cache if k.startswith("gap_risk:report:")]) == 2


@pytest.mark.parametrize(
    ("params", "status", "share_key"),
    [
        ({"max": 100.0}, Status.PASS, None),
        ({"max": 1.0}, Status.FAIL, None),
        ({"relative_to": "exposure", "max": 0.001}, Status.PASS, "share of exposure"),
        ({"relative_to": "fund", "fund": 50.0, "max": 1.0}, Status.PASS, "share of fund"),
        ({"relative_to": "fund", "fund": 1.0, "max": 1.0}, Status.FAIL, "share of fund"),
        (
            {"relative_to": "fund", "fund_tag": "mrm.model_risk_fund", "max": 1.0},
            Status.FAIL,
            "share of fund",
        ),
        (
            {"relative_to": "fund", "fund": 50.0, "max": 1.0, "on": "upper"},
            Status.PASS,
            "share of fund",
        ),
    ],
)
def test_expected_loss(tmp_path: Path, params: dict, status: Status, share_key) -> None:
    ctx = _ctx(_folder(tmp_path, tags={"mrm.model_risk_fund": "2.5"}))
    res = _run(gap_risk.expected_loss, {**FAST, **params}, ctx)
    assert res.status == status, res.message
    m = res.measured
    assert m["EL_RM(2)"] == pytest.approx(m["MRE"] * m["LGMR2"] * m["MR2"])
    if share_key:
        assert share_key in m
    assert "MRE" in res.message


def test_expected_loss_fund_tag_errors(tmp_path: Path) -> None:
    ctx = _ctx(_folder(tmp_path, tags={"mrm.model_risk_fund": "lots"}))
    with pytest.raises(CheckError, match="'lots' is not a number"):
        _run(
            gap_risk.expected_loss,
            {**FAST, "relative_to": "fund", "fund_tag": "mrm.model_risk_fund", "max": 1},
            ctx,
        )
    with pytest.raises(CheckError, match="no tag 'other'"):
        _run(
            gap_risk.expected_loss,
            {**FAST, "relative_to": "fund", "fund_tag": "other", "max": 1},
            ctx,
        )


@pytest.mark.parametrize(
    ("source", "variant", "status"),
    [
        ("corporate.csv", "normal", Status.FAIL),
        ("retail_mortgages.csv", "systemic", Status.PASS),
        ("retail_mortgages.csv", "ou", Status.FAIL),
    ],
)
def test_assumptions(tmp_path: Path, source: str, variant: str, status: Status) -> None:
    res = _run(gap_risk.assumptions, {**FAST, "variant": variant}, _ctx(_folder(tmp_path, source)))
    assert res.status == status, res.message
    assert res.measured["recommended"] == "systemic"
    assert {"subject", "test", "statistic", "p-value", "rejected"} <= set(res.details["tests"][0])
    if status == Status.FAIL:
        assert "the data point to the systemic variant" in res.message


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"situation": 3, "max": 0.1}, "situation 3 needs ybar"),
        ({"max": 0.1, "on": "upper", "n_boot": 0}, "on: upper needs intervals"),
        ({"max": 0.1, "n_boot": 50}, "n_boot must be 0"),
        ({"max": 1.5}, "less than or equal to 1"),
        ({"max": 0.1, "variant": "garch"}, "Input should be 'normal'"),
        ({"max": 0.1, "mre": -3}, "mre must be a positive"),
        ({"max": 0.1, "unknown": 1}, "Extra inputs are not permitted"),
    ],
)
def test_bad_params_are_policy_errors(params: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        gap_risk.ProbabilityParams.model_validate(params)
    with pytest.raises(ValidationError, match="relative_to: fund needs fund"):
        gap_risk.ExpectedLossParams.model_validate({"max": 1, "relative_to": "fund"})


def _write(folder: Path, frame: pd.DataFrame, name: str = "backtest.csv") -> None:
    frame.to_csv(folder / name, index=False)


def test_errors_fail_closed_with_clear_messages(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    frame = pd.read_csv(folder / "backtest.csv")
    data = yaml.safe_load((folder / "evidence.yaml").read_text())

    no_bt = {k: v for k, v in data.items() if k != "backtest"}
    (folder / "evidence.yaml").write_text(yaml.safe_dump(no_bt))
    with pytest.raises(CheckError, match="the evidence has no backtest"):
        _run(gap_risk.probability, {**FAST, "max": 0.1}, _ctx(folder))

    (folder / "evidence.yaml").write_text(yaml.safe_dump(data))
    _write(folder, frame.assign(realised_loss=frame["realised_loss"].where(frame.index != 5)))
    with pytest.raises(
        CheckError, match=r"backtest backtest.csv: realised_loss has missing .* 2015Q2"
    ):
        _run(gap_risk.probability, {**FAST, "max": 0.1}, _ctx(folder))

    _write(folder, frame.head(3))
    with pytest.raises(CheckError, match=r"the ou variant cannot be computed.*at least 4 periods"):
        _run(gap_risk.probability, {**FAST, "variant": "ou", "max": 0.1}, _ctx(folder))

    trend = frame.assign(realised_loss=frame["expected_loss"] * np.linspace(0.5, 1.6, len(frame)))
    _write(folder, trend.drop(columns=["unemployment_rate", "gdp_growth"]))
    with pytest.raises(CheckError, match="no mean reversion"):
        _run(gap_risk.probability, {**FAST, "variant": "ou", "max": 0.1}, _ctx(folder))
    with pytest.raises(CheckError, match="at least one external-factor column"):
        _run(gap_risk.probability, {**FAST, "variant": "systemic", "max": 0.1}, _ctx(folder))

    _write(folder, frame)
    data["backtest"]["sha256"] = "0" * 64
    (folder / "evidence.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(CheckError, match="does not match the sha256"):
        _run(gap_risk.probability, {**FAST, "max": 0.1}, _ctx(folder))


def test_parquet_backtest(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    folder = _folder(tmp_path)
    pd.read_csv(folder / "backtest.csv").to_parquet(folder / "backtest.parquet")
    data = yaml.safe_load((folder / "evidence.yaml").read_text())
    data["backtest"] = {"path": "backtest.parquet"}
    (folder / "evidence.yaml").write_text(yaml.safe_dump(data))
    res = _run(gap_risk.probability, {**FAST, "variant": "systemic", "max": 0.25}, _ctx(folder))
    assert res.status == Status.PASS and res.evidence_file == "backtest.parquet"


POLICY = """
apiVersion: mrm-gate/v1
kind: Policy
metadata: {name: gap-risk-test, version: "1"}
tiering: {tag: mrm.risk_tier, default: high}
tiers:
  high:
    controls:
      - id: MRM-GAP-001
        check: gap_risk.probability
        params: {situation: 2, variant: systemic, max: 0.25, n_boot: 200, period_length: 0.25,
                 ybar: 0.6}
        description: Uncovered-loss probability of the next quarter.
      - id: MRM-GAP-002
        check: gap_risk.expected_loss
        params: {relative_to: fund, fund: 1.0, max: 1.0, n_boot: 200, period_length: 0.25,
                 ybar: 0.6}
      - id: MRM-GAP-003
        check: gap_risk.assumptions
        severity: warn
        params: {variant: normal, n_boot: 200, period_length: 0.25, ybar: 0.6}
"""


def test_through_the_engine_and_every_report_format(tmp_path: Path) -> None:
    from mrm_gate.engine import evaluate
    from mrm_gate.output import RENDERERS, render
    from mrm_gate.policy import load_policy

    policy_path = tmp_path / "policy.yaml"
    policy_path.write_text(POLICY)
    decision = evaluate(load_policy(policy_path), load_evidence(str(_folder(tmp_path))))
    status = {o.control_id: o.status for o in decision.outcomes}
    assert status == {
        "MRM-GAP-001": Status.PASS,
        "MRM-GAP-002": Status.FAIL,
        "MRM-GAP-003": Status.FAIL,
    }
    assert decision.verdict.value == "BLOCK"
    mr2 = decision.outcomes[0].result.measured["MR2"]
    failed = decision.outcomes[1].result.measured  # failures are in every format, SARIF too
    for fmt in RENDERERS:
        out = render(decision, fmt)
        value = repr(failed["EL_RM(2)"]) if fmt == "json" else f"{failed['EL_RM(2)']:.4g}"
        assert value in out, fmt
        assert failed["95% interval"] in out, fmt
    html = render(decision, "html")
    assert html.count("<svg") == 4 and "MR2 interval" in html  # 2 + 1 + 1
    first = decision.outcomes[0].result.figures
    assert [f.title for f in first] == [
        "Gap distribution and model-risk situations",
        "Gap per period and forecast",
    ]
    assert decision.outcomes[2].result.figures[0].data == first[1].data
    doc = json.loads(render(decision, "json"))
    gap = doc["outcomes"][0]["result"]["details"]["gap_risk"]
    assert gap["results"]["systemic"]["intervals"]["mr2"][0] <= mr2


@pytest.mark.parametrize(
    ("measure", "max_", "status"),
    [("horizon_mean", 1e6, Status.PASS), ("horizon_q99", 1.0, Status.FAIL),
     ("horizon_q95", 1e6, Status.PASS)],
)  # fmt: skip
def test_expected_loss_over_the_horizon_from_the_monte_carlo(
    ctx: CheckContext, measure: str, max_: float, status: Status
) -> None:
    params = {**FAST, "n_boot": 0, "variant": "ou", "horizon": 2.0, "monte_carlo": 2000,
              "measure": measure, "max": max_}  # fmt: skip
    res = _run(gap_risk.expected_loss, params, ctx)
    assert res.status == status, res.message
    report, _ = gap_risk.analysis(ctx, gap_risk.expected_loss.params.model_validate(params))
    mc = report.monte_carlo["ou"]
    assert mc.periods == 8 and res.measured["Monte Carlo paths"] == 2000
    assert "over 8 period(s)" in res.message
    expected = mc.mean if measure == "horizon_mean" else mc.quantiles[measure[8:]].value
    assert next(iter(res.measured.values())) == pytest.approx(expected)
    json.dumps(res.model_dump(mode="json"))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"measure": "horizon_q99"}, "needs monte_carlo"),
        ({"measure": "horizon_q99", "monte_carlo": 2000, "variant": "empirical"},
         "parametric variant"),
        ({"monte_carlo": 10}, "at least 1000 paths"),
        ({"monte_carlo": -1}, "greater than or equal to 0"),
        ({"scaling": "ead"}, "'margin' or 'expected_loss'"),
    ],
)  # fmt: skip
def test_monte_carlo_params_are_validated(params: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        gap_risk.expected_loss.params.model_validate({"max": 1.0, **params})


def test_horizon_not_a_whole_number_of_periods_is_an_error(ctx: CheckContext) -> None:
    params = {**FAST, "horizon": 0.3, "monte_carlo": 2000, "measure": "horizon_mean", "max": 1}
    with pytest.raises(CheckError, match="not a whole number of periods"):
        _run(gap_risk.expected_loss, params, ctx)
