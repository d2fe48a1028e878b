"""`ci github` under a simulated runner: text from evidence never becomes a workflow command, and
never becomes Markdown/HTML in the job summary or the PR comment.

The attack class: a model name (or any evidence text that reaches a report, an annotation or an
error) holding a line break followed by `::add-mask::`, `::stop-commands::`, `::set-output`,
`::error`, or the legacy `##[...]` anywhere in a line. The simulated runner (`gh_runner.py`)
reads stdout and stderr the way actions/runner does.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from gh_runner import run_output
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from mrm_gate.cli import run
from mrm_gate.output.github import command, job_summary
from mrm_gate.output.github_log import plain_log

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "plugins" / "github_action" / "tests"))
from gh_sim import Runner, make_repo  # noqa: E402

ALLOWED = {"group", "endgroup", "error", "warning", "notice"}
# each: a name an owner could give the model
INJECTIONS = {
    "add-mask": "credit\n::add-mask::s3cr3t",
    "stop-commands": "credit\r::stop-commands::tok",
    "set-output after whitespace": "credit\r\n   ::set-output name=decision::APPROVE",
    "forged annotation": "::error title=Approved::by the risk committee",
    "legacy mid-line": "credit ##[add-mask]s3cr3t",
    "legacy stop mid-line": "credit\n##[stop-commands]tok",
    "percent smuggling": "credit%0A::add-mask::s3cr3t",
    "group break-out": "credit\n::endgroup::\n::group::fake",
}
MARKDOWN = {
    "image": "<img src=https://evil.example/p.gif>",
    "link": "[Approved by CRO](https://evil.example)",
    "mention": "@acme/risk-committee",
    "table break": "a | b | c",
    "html comment": "<!-- mrm-gate:pr-comment -->",
    "details break-out": "</details></summary><h1>APPROVED</h1>",
    "code fence": "```\n# APPROVED",
}


def _md_html(text: str) -> str:
    return MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(text)


# -- the pieces ----------------------------------------------------------------------------------

@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(list(":#[]%\r\n \tax-")) | st.characters(), max_size=80))
def test_plain_log_never_yields_a_command(text):
    r = run_output(plain_log(text))
    assert r.commands == []


@pytest.mark.parametrize("case", sorted(INJECTIONS))
def test_commands_carry_hostile_text_as_data(case):
    text = INJECTIONS[case]
    line = command("error", text, file=f"models/{text}", line=3, title=f"{text} FAIL")
    r = run_output(line + "\n")
    assert len(r.commands) == 1
    cmd = r.commands[0]
    assert cmd.name == "error" and cmd.data == text  # round-trips: escaped, not mangled
    assert cmd.props == {"file": f"models/{text}", "line": "3", "title": f"{text} FAIL"}


# -- the whole action ----------------------------------------------------------------------------

@pytest.fixture
def hostile_repo(tmp_path):
    repo = make_repo(tmp_path / "repo")
    runner = Runner(tmp=tmp_path, repo=repo)
    runner.env.update(
        GITHUB_ACTIONS="true", CI="true", GITHUB_WORKSPACE=str(repo.path),
        GITHUB_STEP_SUMMARY=str(tmp_path / "step_summary.md"),
        GITHUB_OUTPUT=str(tmp_path / "github_output.txt"),
        GITHUB_REPOSITORY="acme/credit-models", GITHUB_SERVER_URL="https://github.com",
        GITHUB_RUN_ID="4242", GITHUB_API_URL="http://127.0.0.1:9")
    runner.event()
    return runner


def _hostile_model(runner, name: str, *, tags: dict | None = None) -> str:
    folder = runner.repo.path / "models" / "hostile"
    folder.mkdir()
    (folder / "evidence.yaml").write_text(yaml.safe_dump({
        "model": {"name": name, "version": "3", "tags": {"owner": name, **(tags or {})}},
        "run": {"metrics": {"auc": 0.5, "ks": 0.1}},
        "model_card_file": "model_card.md"}, allow_unicode=True))
    (folder / "model_card.md").write_text(f"# {name}\n\n## Limitations\nNone.\n")
    return "models/hostile"


def _gate(runner, monkeypatch, capsys, *args):
    for k, v in runner.env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(runner.tmp)
    code = run(["ci", "github", "--policy", "policies/ci.yaml", *args])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


@pytest.mark.parametrize("case", sorted(INJECTIONS))
def test_no_workflow_command_from_evidence_reaches_the_runner(hostile_repo, monkeypatch,
                                                              capsys, case):
    name = INJECTIONS[case]
    evidence = _hostile_model(hostile_repo, name)
    code, out, err = _gate(hostile_repo, monkeypatch, capsys, "--evidence",
                           f"models/approved,{evidence}")
    assert code == 1
    runner = run_output(out, err)
    assert set(runner.names()) <= ALLOWED, runner.names()
    assert runner.masks == [] and runner.stopped_by is None
    assert runner.names().count("group") == runner.names().count("endgroup") == 2
    # the real annotations still arrive, and carry the name as data
    errors = [c for c in runner.commands if c.name == "error"]
    assert errors and any(name in c.data for c in errors)
    assert hostile_repo.outputs["decision"] == "BLOCK"


@pytest.mark.parametrize("case", sorted(MARKDOWN))
def test_summary_and_comment_render_evidence_as_text(hostile_repo, monkeypatch, capsys, case):
    name = MARKDOWN[case]
    evidence = _hostile_model(hostile_repo, f"m {name}")
    _gate(hostile_repo, monkeypatch, capsys, "--evidence", evidence)
    reports = hostile_repo.repo.path / "mrm-gate-reports"
    for text in (hostile_repo.summary, (reports / "pr-comment.md").read_text()):
        html = _md_html(text)
        assert "<img" not in html and "evil.example\"" not in html
        assert "<h1>" not in html and "</details></summary>" not in html
        assert not re.search(r"(?<![\w\u200b])@acme", re.sub(r"<[^>]+>", "", html))
        assert text.count("<!-- mrm-gate:pr-comment -->") <= 1
        for table in re.findall(r"<table>.*?</table>", html, re.S):
            widths = {len(re.findall(r"<t[dh]", row)) for row in re.findall(r"<tr>.*?</tr>",
                                                                           table, re.S)}
            assert len(widths) == 1, table  # no row gained or lost a cell


def test_error_messages_from_data_are_not_commands(hostile_repo, monkeypatch, capsys):
    """A usage error whose message quotes data (a pattern that matches nothing) is printed as
    an annotation (escaped) and on stderr (neutralised)."""
    code, out, err = _gate(hostile_repo, monkeypatch, capsys, "--evidence",
                           "nothing\n::add-mask::s3cr3t\n##[stop-commands]x")
    assert code == 2
    runner = run_output(out, err)
    assert set(runner.names()) <= ALLOWED and runner.masks == [] and runner.stopped_by is None
    assert [c.name for c in runner.commands] == ["error"]


def test_markdown_job_summary_unit():
    """The renderer alone: a hostile model label stays inside its table cell."""
    from ci_fixtures import blocked

    from mrm_gate.output.github import ModelRun

    d = blocked()
    d = d.model_copy(update={"model": d.model.model_copy(update={
        "name": "x | <img src=y> [a](b) @org/team\n## APPROVED"})})
    text = job_summary([ModelRun(decision=d, source="models/x|y")])
    html = _md_html(text)
    assert "<img" not in html and '<a href="b"' not in html and "<h2>APPROVED" not in html


def test_a_real_process_under_bash_with_pipes(hostile_repo):
    """The same through a real process (stdout/stderr are pipes, as on a runner)."""
    evidence = _hostile_model(hostile_repo, INJECTIONS["add-mask"])
    env = {**os.environ, **hostile_repo.env, "MRM_GATE_POLICY": "policies/ci.yaml",
           "MRM_GATE_EVIDENCE": evidence}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("COLUMNS", None)
    env["PYTHONPATH"] = str(ROOT)  # the tree under test, not whatever is installed
    proc = subprocess.run([sys.executable, "-c", "from mrm_gate.cli import main; main()", "ci",
                           "github"], cwd=hostile_repo.repo.path, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 1, proc.stderr[-2000:]
    runner = run_output(proc.stdout, proc.stderr)
    assert set(runner.names()) <= ALLOWED and runner.masks == [], runner.names()
    assert runner.stopped_by is None
    assert "error" in runner.names()
