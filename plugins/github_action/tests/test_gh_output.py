"""mrm_gate.output.github on hand-built decisions: escaping, outputs file, summary, comment."""

from __future__ import annotations

import urllib.error

import pytest
from ci_fixtures import approved, blocked, conditional, hostile, mlflow_blocked
from gh_sim import Runner

from mrm_gate.decision import Verdict
from mrm_gate.output import github as gh


@pytest.mark.parametrize(("verdicts", "worst"), [
    ([], None),
    ([Verdict.APPROVE], Verdict.APPROVE),
    ([Verdict.APPROVE, Verdict.CONDITIONAL], Verdict.CONDITIONAL),
    ([Verdict.BLOCK, Verdict.CONDITIONAL, Verdict.APPROVE], Verdict.BLOCK),
])
def test_worst_verdict(verdicts, worst):
    decisions = []
    for v in verdicts:
        d = approved()
        d.verdict = v
        decisions.append(d)
    assert gh.worst_verdict(decisions) == worst


@pytest.mark.parametrize(("verdict", "fail_on", "fails"), [
    (None, "block", False), (Verdict.APPROVE, "conditional", False),
    (Verdict.CONDITIONAL, "block", False), (Verdict.CONDITIONAL, "conditional", True),
    (Verdict.BLOCK, "block", True), (Verdict.BLOCK, "conditional", True),
])
def test_reaches(verdict, fail_on, fails):
    assert gh.reaches(verdict, fail_on) is fails


def test_workflow_command_escaping():
    line = gh.command("error", "50% done\r\nnext", file="a,b:c.yaml", line=3, title="x: y, z")
    assert line == "::error file=a%2Cb%3Ac.yaml,line=3,title=x%3A y%2C z::50%25 done%0D%0Anext"


def test_hostile_text_stays_on_one_command_line():
    lines = gh.annotations([hostile()])
    assert len(lines) == 2  # the policy line and the evidence file
    for line in lines:
        assert "\n" not in line and "\r" not in line
    assert "title=MRM-PERF-001 FAIL (we|rd%2C model%3A 100%25 v3)::" in lines[0]
    assert "file=models/we rd/dir with space/ü.csv," in lines[1]


def test_annotations_for_mlflow_evidence_name_the_artifact_only():
    (line,) = gh.annotations([mlflow_blocked()])
    assert line.startswith("::error file=policies/credit.yaml,line=20,")
    assert "[evidence: run artifact model_card.md]" in line


def test_outputs_file_round_trips_multiline_values(tmp_path):
    out = tmp_path / "out"
    values = {"decision": "BLOCK", "decisions-json": '[{"a":1}]',
              "text": "line one\nghadelimiter_x\nline three"}
    gh.write_outputs(out, values)
    gh.write_outputs(out, {"more": "1"})  # appends, as several steps may
    runner = Runner(tmp=tmp_path, repo=None, env={"GITHUB_OUTPUT": str(out)})
    assert runner.outputs == {**values, "more": "1"}


def test_summary_lists_waivers_with_expiry_and_counts_every_failure():
    runs = [gh.ModelRun(conditional(), "models/credit-pd"), gh.ModelRun(blocked(), "models/b")]
    text = gh.job_summary(runs, fail_on="conditional")
    assert "This check **fails** (it fails on `conditional` or worse)." in text
    assert "| **credit-block v3** | ⛔ BLOCK | `high` | 3 | 0 | `models/b` |" in text
    assert ("| W-7 | `MRM-FAIR-001` | cro@example.com | 2025-06-30 "
            "| applied, expires in 121 days |") in text
    assert "| W-OLD | `MRM-PERF-001` | cro@example.com | 2024-01-01 | expired 425 days ago" in text


def test_summary_with_no_model():
    text = gh.job_summary([], fail_on="block")
    assert text.startswith("## mrm-gate: no model to evaluate")
    assert gh.decisions_json([]) == "[]"


def test_comment_has_the_marker_and_fits_githubs_limit(monkeypatch):
    runs = [gh.ModelRun(approved(), "models/a")]
    assert gh.comment_body(runs).startswith(gh.COMMENT_MARKER + "\n## mrm-gate: ✅ APPROVE")
    monkeypatch.setattr(gh, "COMMENT_LIMIT", 200)
    body = gh.comment_body([gh.ModelRun(blocked(), "models/b")] * 5)
    assert len(body) < 200 + 200
    assert body.rstrip().endswith("(truncated: the job summary and the reports have everything)")


@pytest.mark.parametrize(("error", "expected"), [
    (urllib.error.HTTPError("u", 403, "Forbidden", {}, None), "HTTP 403"),
    (urllib.error.HTTPError("u", 502, "Bad Gateway", {}, None), "HTTP 502 Bad Gateway"),
    (urllib.error.URLError("Name or service not known"), "Name or service not known"),
    (TimeoutError("timed out"), "timed out"),
])
def test_comment_api_failures_only_warn(error, expected):
    """Errors raised by urlopen itself (the driver tests stage a real 403 on a loopback server)."""
    def opener(request, timeout):
        raise error

    res = gh.post_or_update_comment(api_url="https://api.github.com", repository="o/r",
                                    number=1, token="t", body="b", opener=opener)
    assert res.action == "skipped"
    assert expected in res.warning


@pytest.mark.parametrize(("event", "payload", "number"), [
    ("pull_request", {"pull_request": {"number": 5, "base": {"sha": "a"}, "head": {"sha": "b"}}},
     5),
    ("pull_request_target",
     {"pull_request": {"number": 6, "base": {"sha": "a"}, "head": {"sha": "b"}}}, 6),
    ("push", {"ref": "refs/heads/main"}, None),
    ("pull_request", {"unexpected": True}, None),
])
def test_pull_request_from_event(tmp_path, event, payload, number):
    import json

    path = tmp_path / "event.json"
    path.write_text(json.dumps(payload))
    pr = gh.pull_request_from_event(event, str(path))
    assert (pr.number if pr else None) == number
