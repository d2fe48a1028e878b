"""`mrm-gate risk` and `mrm-gate risk portfolio`, through the real CLI entry (exit codes)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from mrm_gate.cli import run

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "backtests"
CORP = str(EXAMPLES / "corporate.csv")
FAST = ["--n-boot", "200", "--period-length", "0.25"]


def test_text_report(capsys) -> None:
    rc = run(["risk", CORP, "--alpha", "0.05", "--ybar", "0.6", *FAST])
    out = capsys.readouterr().out
    assert rc == 0
    assert out.startswith("Gap-based model risk: corporate")
    for needle in (
        "normal, mean = declared margin (paper)",
        "systemic (external factors)",
        "Ornstein-Uhlenbeck",
        "Margin for MR2 = 5.0%",
        "INSUFFICIENT",
        "recommended variant: systemic",
        "unemployment_rate",
        "half-life",
    ):
        assert needle in out, needle


def test_json_report_is_the_report_dict(capsys) -> None:
    from mrm_gate.risk import analyse, read_backtest

    rc = run(
        [
            "risk",
            "analyse",
            CORP,
            "--format",
            "json",
            "--scenario",
            "unemployment_rate=10",
            "--mre",
            "exposure",
            *FAST,
        ]
    )
    data = json.loads(capsys.readouterr().out)
    assert rc == 0
    ref = analyse(
        read_backtest(CORP),
        period_length=0.25,
        n_boot=200,
        mre="exposure",
        scenario={"unemployment_rate": 10.0},
    )
    assert data["results"]["systemic"]["mr2"] == pytest.approx(ref.results["systemic"].mr2)
    assert data["results"]["systemic"]["mr2"] > 0.5  # a 10% unemployment stress
    assert data["settings"]["mre_source"] == "exposure of 2023Q4"
    assert data["assumptions"]["recommended"] == "systemic"


def test_html_report_with_plots(tmp_path: Path, capsys) -> None:
    out = tmp_path / "r.html"
    rc = run(
        [
            "risk",
            CORP,
            "--ybar",
            "0.6",
            "--variant",
            "ou",
            "--format",
            "html",
            "-o",
            str(out),
            *FAST,
        ]
    )
    assert rc == 0 and "wrote" in capsys.readouterr().err
    html = out.read_text()
    assert html.count("<svg") == 2 and "MR3 beyond ȳ" in html and "OU 95% band" in html
    assert "Ornstein-Uhlenbeck (past values)" in html


def test_evidence_folder_source(tmp_path: Path, capsys) -> None:
    shutil.copy(CORP, tmp_path / "bt.csv")
    (tmp_path / "evidence.yaml").write_text(
        yaml.safe_dump(
            {"model": {"name": "corp-pd", "version": "2"}, "backtest": {"path": "bt.csv"}}
        )
    )
    rc = run(["risk", str(tmp_path), "--variant", "empirical", "--n-boot", "0"])
    out = capsys.readouterr().out
    assert rc == 0 and out.startswith("Gap-based model risk: corp-pd")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["risk", "missing.csv"], "does not exist"),
        (["risk", CORP, "--horizon", "-1"], "horizon must be a positive"),
        (["risk", CORP, "--alpha", "0.7"], "alpha must be strictly between 0 and 1/2"),
        (["risk", CORP, "--ybar", "0.1"], "must be greater than the margin ratio"),
        (["risk", CORP, "--scenario", "unemployment"], "--scenario takes NAME=NUMBER"),
        (["risk", CORP, "--mre", "ead"], "--mre must be expected_loss, exposure or a number"),
        (["risk", CORP, "--variant", "systemic", "--factors", ""], "at least one external"),
        (["risk", CORP, "--n-boot", "10"], "n_boot must be an integer >= 100"),
        (["risk", "portfolio"], "give at least one backtest"),
        (["risk", "portfolio", CORP, CORP], "two backtests are named 'corporate'"),
    ],
)
def test_user_errors_exit_2_without_traceback(args: list[str], message: str, capsys) -> None:
    rc = run(args)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert message in err and "Traceback" not in err


def test_portfolio_files(capsys) -> None:
    files = [str(EXAMPLES / f"{n}.csv") for n in ("corporate", "retail_mortgages", "sme")]
    rc = run(
        [
            "risk",
            "portfolio",
            *files,
            "--allocated-fund",
            "5",
            "--n-boot",
            "200",
            "--format",
            "json",
        ]
    )
    data = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert data["models"] == ["corporate", "retail_mortgages", "sme"]
    assert data["coverage"]["paper"]["covered"] is False
    rc = run(["risk", "portfolio", f"corp={files[0]}", f"sme={files[2]}", "--n-boot", "0"])
    out = capsys.readouterr().out
    assert rc == 0 and "2 model(s)" in out and "corp " in out


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """A sqlite registry: two credit models with backtests, one market model, one without."""
    import mlflow
    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(uri, uri)
    exp = client.create_experiment("e", artifact_location=(root / "artifacts").as_uri())
    specs = [
        ("corporate-pd", "credit", "corporate.csv"),
        ("sme-pd", "credit", "sme.csv"),
        ("var-model", "market", "retail_mortgages.csv"),
        ("no-backtest", "credit", None),
    ]
    for name, risk_type, source in specs:
        client.create_registered_model(name)
        for _version in (1, 2):
            rid = client.create_run(exp).info.run_id
            files = root / f"{name}-{rid}"
            (files / "mrm").mkdir(parents=True)
            if source:
                shutil.copy(EXAMPLES / source, files / "backtest.csv")
                (files / "mrm" / "evidence.yaml").write_text(
                    yaml.safe_dump({"backtest": {"path": "backtest.csv"}})
                )
            client.log_artifacts(rid, str(files))
            mv = client.create_model_version(name, f"runs:/{rid}/model", run_id=rid)
            client.set_model_version_tag(name, mv.version, "risk_type", risk_type)
    client.set_registered_model_alias("corporate-pd", "champion", "1")
    mlflow.set_tracking_uri(None)
    return uri


def test_portfolio_from_registry(registry: str, capsys) -> None:
    rc = run(
        [
            "risk",
            "portfolio",
            "--risk-type",
            "credit",
            "--tracking-uri",
            registry,
            "--n-boot",
            "0",
            "--format",
            "json",
        ]
    )
    data = json.loads(capsys.readouterr().out)
    assert rc == 0, data
    assert data["models"] == ["corporate-pd", "sme-pd"]
    assert "corporate-pd: version 2" in data["notes"]
    assert "models:/no-backtest/2: no backtest in its evidence; skipped" in data["notes"]
    rc = run(
        [
            "risk",
            "portfolio",
            "--risk-type",
            "credit",
            "--alias",
            "champion",
            "--tracking-uri",
            registry,
            "--n-boot",
            "0",
            "--format",
            "json",
        ]
    )
    data = json.loads(capsys.readouterr().out)
    assert data["models"] == ["corporate-pd"] and "corporate-pd: version 1" in data["notes"]
    rc = run(["risk", "portfolio", "--risk-type", "ops", "--tracking-uri", registry])
    assert rc == 2 and "carries risk_type = 'ops'" in capsys.readouterr().err


def test_monte_carlo_flag_reports_paths_and_standard_error(capsys) -> None:
    rc = run(["risk", CORP, "--variant", "paper", "--n-boot", "0", "--period-length", "0.25",
              "--horizon", "2", "--monte-carlo", "2000", "--format", "json"])  # fmt: skip
    data = json.loads(capsys.readouterr().out)
    assert rc == 0
    mc = data["monte_carlo"]["paper"]
    assert mc["n_paths"] == 2000 and mc["periods"] == 8 and mc["se"] > 0
    assert set(mc["quantiles"]) == {"q95", "q99"}
    assert data["settings"]["scaling"] == "margin"
    rc = run(["risk", CORP, "--n-boot", "0", "--monte-carlo", "10"])
    assert rc == 2 and "paths >= 1000" in capsys.readouterr().err


def test_a_registry_name_is_never_part_of_a_filter_string(tmp_path, capsys) -> None:
    """A registered model whose name carries quotes (here one that would rewrite the search) is
    skipped with a note, never pasted into MLflow's filter (before: the filter broke and the
    command died with an internal error)."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri, uri)
    exp = client.create_experiment("e", artifact_location=(tmp_path / "a").as_uri())
    client.create_registered_model("victim")
    rid = client.create_run(exp).info.run_id
    client.create_model_version("victim", f"runs:/{rid}/model", run_id=rid)
    client.create_registered_model("x' OR name != '", tags={"risk_type": "credit"})
    rc = run(["risk", "portfolio", "--risk-type", "credit", "--tracking-uri", uri,
              "--n-boot", "0", "--format", "json"])
    captured = capsys.readouterr()
    assert rc == 2, captured.err  # nothing searchable carries the type: a clean usage error
    assert "victim" not in captured.out + captured.err
    assert "internal error" not in captured.err
