"""A third-party evidence source is one module plus one entry point (docs/writing-sources.md).

The source lives in `third_party_source/` with a real distribution record (`*.dist-info` with
`entry_points.txt`), put on `sys.path` the way an installed package is: the gate finds it
through `importlib.metadata`, nothing is registered by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from core_helpers import BASE_POLICY, write

from mrm_gate.cli import run
from mrm_gate.evidence.source import open_source, source_names

PLUGIN_DIR = Path(__file__).parent / "third_party_source"


def _evidence(auc: float, version: str) -> dict:
    return {"model": {"name": "pd", "version": version,
                      "tags": {"owner": "alice", "mrm.risk_tier": "high"}},
            "run": {"metrics": {"auc": auc, "ks": 0.4, "brier": 0.05}}}


@pytest.fixture
def plugin(monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))


@pytest.fixture
def files(tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "pd.json").write_text(json.dumps(_evidence(0.72, "4")))
    (folder / "pd@champion.json").write_text(json.dumps(_evidence(0.80, "3")))
    return folder


def test_the_source_is_found_through_its_entry_point(plugin) -> None:
    assert "jsonfile" in source_names()
    assert open_source("jsonfile:/x/pd.json").name == "jsonfile"
    assert open_source("models:/pd/1").name == "mlflow"  # built-ins unaffected


@pytest.mark.parametrize("explicit", [False, True])
def test_evaluate_reads_evidence_and_baseline_from_the_plugin(plugin, files, tmp_path, capsys,
                                                              explicit) -> None:
    policy = write(tmp_path / "p.yaml", BASE_POLICY)
    args = ["evaluate", f"jsonfile:{files / 'pd.json'}", "--policy", str(policy), "--target",
            "champion", "--format", "json"]
    if explicit:
        args += ["--source", "jsonfile"]
    rc = run(args)
    d = json.loads(capsys.readouterr().out)
    assert rc == 1 and d["verdict"] == "BLOCK"
    assert d["model"]["source_kind"] == "jsonfile"
    reg = next(o for o in d["outcomes"] if o["control_id"] == "MRM-PERF-002")
    assert reg["status"] == "FAIL" and "(v3)" in reg["result"]["message"]


def test_a_plugin_read_failure_blocks_fail_closed(plugin, tmp_path, capsys) -> None:
    policy = write(tmp_path / "p.yaml", BASE_POLICY)
    bad = write(tmp_path / "pd.json", "[1, 2]")
    rc = run(["evaluate", f"jsonfile:{bad}", "--policy", str(policy), "--format", "json"])
    d = json.loads(capsys.readouterr().out)
    assert rc == 1 and d["outcomes"][0]["control_id"] == "MRM-GATE-EVIDENCE"
    assert "must hold a JSON object" in d["reasons"][0]


def test_an_unknown_source_is_a_usage_error(tmp_path, capsys) -> None:
    policy = write(tmp_path / "p.yaml", BASE_POLICY)
    rc = run(["evaluate", "x", "--source", "nope", "--policy", str(policy)])
    assert rc == 2
    assert "unknown evidence source 'nope'" in capsys.readouterr().err
