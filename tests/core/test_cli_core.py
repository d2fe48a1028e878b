"""The CLI: exit codes, reports, no tracebacks, nothing overwritten, light imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from core_helpers import GOOD

from mrm_gate.cli import run

MRM_GATE = str(Path(sys.executable).with_name("mrm-gate"))


def evaluate(*args: str) -> int:
    return run(["evaluate", *args])


def test_approve_block_conditional_exit_codes(policy_file, make_evidence, capsys) -> None:
    good = make_evidence(GOOD)
    assert evaluate("--evidence", str(good), "--policy", str(policy_file)) == 0
    bad = make_evidence({**GOOD, "run": {"metrics": {"auc": 0.5, "ks": 0.4, "brier": 0.01}}})
    assert evaluate("--evidence", str(bad), "--policy", str(policy_file)) == 1
    warn = make_evidence({**GOOD, "run": {"metrics": {"auc": 0.8, "ks": 0.1, "brier": 0.01}}})
    assert evaluate("--evidence", str(warn), "--policy", str(policy_file)) == 0
    assert evaluate("--evidence", str(warn), "--policy", str(policy_file),
                    "--fail-on", "conditional") == 1
    out = capsys.readouterr().out
    assert "APPROVE" in out and "BLOCK" in out and "CONDITIONAL" in out


def test_reports_in_every_format_and_never_overwritten(policy_file, make_evidence,
                                                       tmp_path) -> None:
    ev = make_evidence(GOOD)
    out = tmp_path / "reports"
    args = ["--evidence", str(ev), "--policy", str(policy_file), "--format",
            "text,json,markdown,html", "--output", str(out), "--target", "champion"]
    assert evaluate(*args) == 0
    assert evaluate(*args) == 0
    files = sorted(p.suffix for p in out.iterdir())
    assert files == [".html", ".html", ".json", ".json", ".md", ".md", ".txt", ".txt"]
    report = json.loads(next(out.glob("*.json")).read_text())
    assert report["schema_version"] == "1.0" and report["verdict"] == "APPROVE"
    assert report["tier"]["tier"] == "high" and report["policy"]["sha256"]
    html = next(out.glob("*.html")).read_text()
    assert "Approved" in html and "MRM-PERF-001" in html and "<style>" in html


def test_json_to_stdout_without_output_dir(policy_file, make_evidence, capsys) -> None:
    ev = make_evidence(GOOD)
    assert evaluate("--evidence", str(ev), "--policy", str(policy_file), "--format",
                    "json") == 0
    assert json.loads(capsys.readouterr().out)["verdict"] == "APPROVE"


USAGE_ERRORS = {
    "unknown format": (["--format", "pdf"], "unknown output format"),
    "both sources": (["models:/m/1", "--evidence", "{ev}"], "exactly one"),
    "no source": ([], "exactly one"),
    "missing policy": (["--evidence", "{ev}", "--policy", "/nope.yaml"], "not found"),
    "unknown tier in policy": (["--evidence", "{ev}", "--policy", "{bad_policy}"],
                               "does not exist"),
}


@pytest.mark.parametrize("extra,fragment", USAGE_ERRORS.values(), ids=USAGE_ERRORS.keys())
def test_usage_errors_exit_2_without_traceback(policy_file, make_evidence, tmp_path, extra,
                                               fragment, capsys) -> None:
    ev = make_evidence(GOOD)
    bad = tmp_path / "bad.yaml"
    bad.write_text(policy_file.read_text().replace("default: high", "default: hgh"))
    args = [a.format(ev=ev, bad_policy=bad) for a in extra]
    if "--policy" not in args:
        args += ["--policy", str(policy_file)]
    if "--evidence" not in args and "models:/m/1" not in args and extra and \
            extra[0] == "--format":
        args += ["--evidence", str(ev)]
    out_dir = tmp_path / "out"
    assert evaluate(*args, "--output", str(out_dir)) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err
    assert not out_dir.exists(), "no partial output on a usage error"


BAD_EVIDENCE = {
    "folder missing": (None, "does not exist"),
    "no evidence.yaml": ({}, "has no evidence.yaml"),
    "not a mapping": ("- a\n- b\n", "at least a 'model' key"),
    "unknown key": ({"model": {"name": "m"}, "modle": {}}, "unknown"),
    # a metric that is not a number loads (its controls error, see
    # test_evidence_hardening.py); metrics that are not a mapping do not
    "wrong type": ({"model": {"name": "m"}, "run": {"metrics": ["auc", 0.9]}},
                   "run.metrics"),
}


@pytest.mark.parametrize("content,fragment", BAD_EVIDENCE.values(), ids=BAD_EVIDENCE.keys())
def test_bad_evidence_blocks_with_a_reason(policy_file, tmp_path, content, fragment,
                                           capsys) -> None:
    folder = tmp_path / "ev"
    if content is not None:
        folder.mkdir()
        if content:
            text = content if isinstance(content, str) else yaml.safe_dump(content)
            (folder / "evidence.yaml").write_text(text)
    log = tmp_path / "log.jsonl"
    rc = evaluate("--evidence", str(folder), "--policy", str(policy_file), "--format",
                  "json", "--decision-log", str(log))
    captured = capsys.readouterr()
    assert rc == 1
    decision = json.loads(captured.out)
    assert decision["verdict"] == "BLOCK"
    assert decision["outcomes"][0]["control_id"] == "MRM-GATE-EVIDENCE"
    assert fragment in decision["outcomes"][0]["result"]["message"]
    assert "Traceback" not in captured.err
    assert log.exists()


def test_an_engine_failure_blocks_fail_closed(policy_file, make_evidence, monkeypatch,
                                              capsys) -> None:
    import mrm_gate.engine as engine

    def explode(*a, **k):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(engine, "evaluate", explode)
    ev = make_evidence(GOOD)
    rc = run(["evaluate", "--evidence", str(ev), "--policy", str(policy_file), "--format",
              "json"])
    captured = capsys.readouterr()
    assert rc == 1
    decision = json.loads(captured.out)
    assert decision["verdict"] == "BLOCK"
    assert "evaluation failed: RuntimeError: kaboom" in decision["reasons"][0]
    assert "Traceback" not in captured.err


def test_internal_error_is_exit_3_and_traceback_only_with_debug(policy_file, make_evidence,
                                                                monkeypatch, capsys) -> None:
    import mrm_gate.output.text as text

    def explode(*a, **k):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(text, "renderables", explode)
    ev = make_evidence(GOOD)
    args = ["evaluate", "--evidence", str(ev), "--policy", str(policy_file)]
    assert run(args) == 3
    err = capsys.readouterr().err
    assert "internal error" in err and "kaboom" in err and "Traceback" not in err
    assert run(args, debug=True) == 3
    assert "Traceback" in capsys.readouterr().err


def test_help_is_fast_and_imports_nothing_heavy(policy_file) -> None:
    probe = (
        "import sys, runpy\n"
        "sys.argv = ['mrm-gate'] + sys.argv[1:]\n"
        "try:\n"
        "    from mrm_gate.cli import main; main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('mlflow', 'shap', 'great_expectations', 'evidently', 'fairlearn',"
        " 'sklearn', 'matplotlib') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    for args in (["--help"], ["policy", "validate", str(policy_file)], ["checks", "list"]):
        out = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True,
                             text=True, timeout=60).stdout
        assert "HEAVY=\n" in out, (args, out[-300:])


def test_checks_list_shows_the_catalogue(capsys) -> None:
    assert run(["checks", "list", "--format", "json"]) == 0
    cat = {c["check"]: c for c in json.loads(capsys.readouterr().out)}
    assert {"metadata.required", "performance.threshold", "governance.approvals"} <= set(cat)
    params = {p["name"]: p for p in cat["performance.threshold"]["params"]}
    assert params["metric"]["required"] and not params["min"]["required"]


def test_console_script_is_installed() -> None:
    res = subprocess.run([MRM_GATE, "--version"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "mrm-gate" in res.stdout
