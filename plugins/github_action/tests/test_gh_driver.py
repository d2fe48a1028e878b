"""`mrm-gate ci github` under a simulated runner: summary, outputs, annotations, exit codes,
changed-only, the PR comment, and the bad inputs of the issue."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import xmlschema
from gh_sim import EXPECTED, REPO_ROOT, WAIVER_EXPIRES, git, policy_line
from jsonschema import Draft4Validator, FormatChecker

from mrm_gate.cli import run

SCHEMAS = REPO_ROOT / "tests" / "output" / "schemas"
ARGS = ["ci", "github", "--policy", "policies/ci.yaml", "--waivers", "waivers.yaml"]


def gate(runner, monkeypatch, capsys, *args: str) -> tuple[int, list[str]]:
    """Run the action's command with the runner's environment; return (exit, workflow cmds)."""
    for k, v in runner.env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(runner.tmp)  # not the checkout: paths must resolve against the workspace
    code = run([*ARGS, *args])
    out = capsys.readouterr().out
    return code, [line for line in out.splitlines() if re.match(r"::(error|warning|notice) ", line)]


def by_model(outputs: dict[str, str]) -> dict[str, str]:
    return {Path(d["source"]).name: d["verdict"] for d in json.loads(outputs["decisions-json"])}


def test_all_models_summary_outputs_annotations(runner, monkeypatch, capsys):
    code, cmds = gate(runner, monkeypatch, capsys, "--evidence", "models/*")
    assert code == 1  # the blocked model blocks
    out = runner.outputs
    assert out["decision"] == "BLOCK"
    assert by_model(out) == EXPECTED
    assert out["report-dir"] == "mrm-gate-reports"
    assert out["sarif-file"] == "mrm-gate-reports/mrm-gate.sarif"

    summary = runner.summary
    assert summary.startswith("## mrm-gate: ⛔ BLOCK (worst of 4 models)")
    assert "This check **fails** (it fails on `block`)." in summary
    assert "| **approved-model v3** | ✅ APPROVE |" in summary
    assert "| **warned-model v3** | ⚠️ CONDITIONAL |" in summary
    # failing controls with measured vs threshold and where the control is defined
    assert (f"| `CI-PERF-001` | block | ❌ FAIL | auc=0.61 | min=0.7 | auc 0.61 < min 0.7 "
            f"| `policies/ci.yaml:{policy_line('CI-PERF-001')}` |") in summary
    assert "| `CI-PERF-002` | warn | ❌ FAIL | ks=0.21 | min=0.3 |" in summary
    # the waiver and its expiry
    assert (f"| W-1 | `CI-PERF-001` | cro@example.com | {WAIVER_EXPIRES} "
            "| applied, expires in 90 days | challenger kept in shadow mode |") in summary
    assert "https://github.com/acme/credit-models/actions/runs/4242" in summary

    assert cmds[0] == (
        f"::error file=policies/ci.yaml,line={policy_line('CI-DOC-001')},"
        "title=CI-DOC-001 FAIL (blocked-model v3)::blocked-model v3: CI-DOC-001 FAIL: missing: "
        "model card section limitations (measured missing=model card section limitations; "
        "threshold required=2)%0ARemediation: Set the owner tag and add a Limitations section "
        "to model_card.md.")
    assert cmds[1].startswith("::error file=models/blocked/model_card.md,"
                              "title=CI-DOC-001 evidence (blocked-model v3)::")
    assert cmds[2].startswith(f"::error file=policies/ci.yaml,line={policy_line('CI-PERF-001')},"
                              "title=CI-PERF-001 FAIL (blocked-model v3)::")
    assert cmds[3].startswith(f"::warning file=policies/ci.yaml,line={policy_line('CI-PERF-002')},"
                              "title=CI-PERF-002 FAIL (warned-model v3)::")
    assert cmds[4].startswith(f"::notice file=policies/ci.yaml,line={policy_line('CI-PERF-001')},"
                              "title=CI-PERF-001 WAIVED (waived-model v3)::")
    assert "[waived by W-1, approver cro@example.com" in cmds[4]
    # no token given: the comment is only written to a file, and that is said
    assert cmds[5].startswith("::notice title=mrm-gate::no token given")
    assert len(cmds) == 6


def test_reports_are_valid_sarif_and_junit(runner, monkeypatch, capsys):
    gate(runner, monkeypatch, capsys, "--evidence", "models/*")
    reports = runner.repo.path / "mrm-gate-reports"
    sarif = json.loads((reports / "mrm-gate.sarif").read_text())
    schema = json.loads((SCHEMAS / "sarif-schema-2.1.0.json").read_text())
    errors = list(Draft4Validator(schema, format_checker=FormatChecker()).iter_errors(sarif))
    assert not errors, errors[0].message
    results = {(r["properties"]["model"], r["ruleId"]) for r in sarif["runs"][0]["results"]}
    assert results == {("blocked-model", "CI-DOC-001"), ("blocked-model", "CI-PERF-001"),
                       ("warned-model", "CI-PERF-002"), ("waived-model", "CI-PERF-001")}
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            for r in sarif["runs"][0]["results"]}
    assert uris == {"policies/ci.yaml"}  # relative to the checkout, as code scanning needs
    junit = (reports / "mrm-gate.junit.xml").read_text()
    xmlschema.XMLSchema(SCHEMAS / "junit-10.xsd").validate(junit)
    assert junit.count("<testsuite ") == 4
    # per-model reports in their own folders
    assert list(reports.glob("models_blocked-*/*.html"))  # folder: slug + hash of the path
    comment = (reports / "pr-comment.md").read_text()
    assert comment.startswith("<!-- mrm-gate:pr-comment -->\n## mrm-gate: ⛔ BLOCK")


@pytest.mark.parametrize(("model", "fail_on", "exit_code", "decision"), [
    ("approved", "block", 0, "APPROVE"),
    ("warned", "block", 0, "CONDITIONAL"),
    ("warned", "conditional", 1, "CONDITIONAL"),
    ("waived", "conditional", 1, "CONDITIONAL"),
    ("blocked", "block", 1, "BLOCK"),
])
def test_exit_code_follows_fail_on(runner, monkeypatch, capsys, model, fail_on, exit_code,
                                   decision):
    code, cmds = gate(runner, monkeypatch, capsys, "--evidence", f"models/{model}",
                      "--fail-on", fail_on)
    assert code == exit_code
    assert runner.outputs["decision"] == decision
    verb = "**fails**" if exit_code else "passes"
    assert f"This check {verb}" in runner.summary
    assert any(c.startswith("::error ") for c in cmds) == (decision == "BLOCK")


def test_changed_only_keeps_the_folders_the_pr_changed(runner, monkeypatch, capsys):
    code, _ = gate(runner, monkeypatch, capsys, "--evidence", "models/*", "--changed-only",
                   "true")
    assert code == 1
    assert by_model(runner.outputs) == {"blocked": "BLOCK"}
    assert "changed-only: 1 of 4 evidence folders changed in #17" in runner.summary


def test_changed_only_with_a_policy_change_evaluates_all(runner, monkeypatch, capsys):
    repo = runner.repo
    policy = repo.path / "policies" / "ci.yaml"
    policy.write_text(policy.read_text().replace("min: 0.7}", "min: 0.70}"))
    git(repo.path, "commit", "-q", "-am", "tighten policy")
    repo.head = git(repo.path, "rev-parse", "HEAD")
    runner.event()
    gate(runner, monkeypatch, capsys, "--evidence", "models/*", "--changed-only", "true")
    assert by_model(runner.outputs) == EXPECTED


@pytest.mark.parametrize("event", ["push", "workflow_dispatch"])
def test_changed_only_outside_a_pull_request_evaluates_all(runner, monkeypatch, capsys, event):
    runner.event(event, {"ref": "refs/heads/main", "after": runner.repo.head})
    code, cmds = gate(runner, monkeypatch, capsys, "--evidence", "models/*", "--changed-only",
                      "true")
    assert code == 1
    assert by_model(runner.outputs) == EXPECTED
    assert any(c.startswith("::notice title=mrm-gate::changed-only: the event "
                            f"'{event}' is not a pull request") for c in cmds)


def test_changed_only_without_the_base_commit_evaluates_all(runner, monkeypatch, capsys):
    """A shallow checkout lacks the base commit: evaluate everything rather than nothing."""
    payload = json.loads(Path(runner.env["GITHUB_EVENT_PATH"]).read_text())
    payload["pull_request"]["base"]["sha"] = "1" * 40
    runner.event("pull_request", payload)
    _, cmds = gate(runner, monkeypatch, capsys, "--evidence", "models/*", "--changed-only",
                   "true")
    assert by_model(runner.outputs) == EXPECTED
    assert any(c.startswith("::warning title=mrm-gate::changed-only: cannot diff 111111111111")
               for c in cmds)


def test_a_folder_without_evidence_yaml_blocks(runner, monkeypatch, capsys):
    (runner.repo.path / "models" / "empty").mkdir()
    code, cmds = gate(runner, monkeypatch, capsys, "--evidence", "models/empty")
    assert code == 1
    assert runner.outputs["decision"] == "BLOCK"
    assert any("MRM-GATE-EVIDENCE ERROR" in c and "has no evidence.yaml" in c for c in cmds)


@pytest.mark.parametrize(("args", "message"), [
    (["--evidence", "modles/*"],
     "evidence 'modles/*' matches no evidence folder"),
    (["--evidence", "models/nope"],
     "evidence 'models/nope' matches no evidence folder"),
    (["--evidence", "models/*", "--policy", "policies/missing.yaml"],
     "policy file policies/missing.yaml does not exist"),
    (["--model-uri", "models:/credit/3"],
     "model-uri needs a tracking server: set the `tracking-uri` input"),
    (["--model-uri", "runs:/abc/model", "--tracking-uri", "http://127.0.0.1:5000"],
     "model-uri 'runs:/abc/model' is not models:/NAME/VERSION"),
    ([], "nothing to evaluate"),
    (["--evidence", "models/*", "--fail-on", "warn"], "fail-on must be block or conditional"),
    (["--evidence", "models/*", "--changed-only", "maybe"],
     "input changed-only must be true or false"),
])
def test_bad_inputs_fail_with_a_clear_annotation(runner, monkeypatch, capsys, args, message):
    code, cmds = gate(runner, monkeypatch, capsys, *args)
    assert code == 2
    assert cmds[0].startswith("::error title=mrm-gate could not run::")
    assert message in cmds[0]
    assert "## mrm-gate could not run" in runner.summary
    assert "decision" not in runner.outputs


def test_comment_is_created_then_updated(runner, monkeypatch, capsys, github_api):
    runner.env["GITHUB_API_URL"] = github_api.url
    for _ in range(2):
        code, _ = gate(runner, monkeypatch, capsys, "--evidence", "models/approved",
                       "--token", "ghs_test")
        assert code == 0
    calls = [(r["method"], r["path"]) for r in github_api.requests]
    issue = "/repos/acme/credit-models/issues/17"
    assert calls == [("GET", f"{issue}/comments?per_page=100&page=1"),
                     ("POST", f"{issue}/comments"),
                     ("GET", f"{issue}/comments?per_page=100&page=1"),
                     ("PATCH", "/repos/acme/credit-models/issues/comments/100")]
    post = github_api.requests[1]
    assert post["headers"]["authorization"] == "Bearer ghs_test"
    assert post["headers"]["x-github-api-version"] == "2022-11-28"
    assert post["body"]["body"].startswith("<!-- mrm-gate:pr-comment -->\n## mrm-gate: ✅ APPROVE")
    assert len(github_api.comments) == 1  # updated, not duplicated


def test_comment_without_permission_only_warns(runner, monkeypatch, capsys, github_api):
    runner.env["GITHUB_API_URL"] = github_api.url
    github_api.refuse = 403
    code, cmds = gate(runner, monkeypatch, capsys, "--evidence", "models/approved",
                      "--token", "ghs_readonly")
    assert code == 0  # the gate's verdict stands
    assert runner.outputs["decision"] == "APPROVE"
    warning = [c for c in cmds if c.startswith("::warning title=mrm-gate::PR comment not posted")]
    assert warning and "HTTP 403" in warning[0] and "pull-requests: write" in warning[0]


def test_no_comment_outside_a_pull_request(runner, monkeypatch, capsys, github_api):
    runner.env["GITHUB_API_URL"] = github_api.url
    runner.event("push", {"ref": "refs/heads/main"})
    code, _ = gate(runner, monkeypatch, capsys, "--evidence", "models/blocked",
                   "--token", "ghs_test")
    assert code == 1
    assert github_api.requests == []


@pytest.mark.parametrize("how", ["input", "env"])
def test_unreachable_tracking_server_blocks(runner, monkeypatch, capsys, how):
    """Fail closed: evidence that cannot be fetched is a BLOCK naming the server, not a pass.
    The tracking URI comes from the input or, failing that, from MLFLOW_TRACKING_URI."""
    args = ["--model-uri", "models:/credit-pd/3", "--timeout", "2"]
    if how == "input":
        args += ["--tracking-uri", "http://127.0.0.1:9"]
    else:
        runner.env["MLFLOW_TRACKING_URI"] = "http://127.0.0.1:9"
    for k, v in runner.env.items():
        monkeypatch.setenv(k, v)
    code = run([*ARGS, *args])
    out = capsys.readouterr().out
    assert code == 1
    assert runner.outputs["decision"] == "BLOCK"
    assert "MRM-GATE-EVIDENCE ERROR" in out and "http://127.0.0.1:9" in out
    assert [d["source"] for d in json.loads(runner.outputs["decisions-json"])] == [
        "models:/credit-pd/3"]


def test_evaluate_combines_sarif_junit_and_markdown(gh_repo, tmp_path):
    """`mrm-gate evaluate --format sarif,junit,markdown` writes the three, all valid."""
    out = tmp_path / "reports"
    code = run(["evaluate", "--evidence", str(gh_repo.path / "models" / "blocked"),
                "--policy", str(gh_repo.path / "policies" / "ci.yaml"),
                "--format", "sarif,junit,markdown", "--output", str(out), "--quiet"])
    assert code == 1
    files = {p.name.split(".", 1)[1]: p for p in out.iterdir()}
    assert set(files) == {"sarif", "junit.xml", "md"}
    schema = json.loads((SCHEMAS / "sarif-schema-2.1.0.json").read_text())
    sarif = json.loads(files["sarif"].read_text())
    assert not list(Draft4Validator(schema, format_checker=FormatChecker()).iter_errors(sarif))
    xmlschema.XMLSchema(SCHEMAS / "junit-10.xsd").validate(str(files["junit.xml"]))


def test_changed_only_with_no_evidence_change_evaluates_nothing(runner, monkeypatch, capsys):
    repo = runner.repo
    repo.base = repo.head
    (repo.path / "README.md").write_text("docs only\n")
    git(repo.path, "commit", "-q", "-am", "docs")
    repo.head = git(repo.path, "rev-parse", "HEAD")
    runner.event()
    code, cmds = gate(runner, monkeypatch, capsys, "--evidence", "models/*", "--changed-only",
                      "true")
    assert code == 0
    assert runner.outputs["decision"] == "NONE"
    assert json.loads(runner.outputs["decisions-json"]) == []
    assert runner.summary.startswith("## mrm-gate: no model to evaluate")
    assert [c for c in cmds if not c.startswith("::notice")] == []
    sarif = json.loads((repo.path / "mrm-gate-reports" / "mrm-gate.sarif").read_text())
    schema = json.loads((SCHEMAS / "sarif-schema-2.1.0.json").read_text())
    assert not list(Draft4Validator(schema, format_checker=FormatChecker()).iter_errors(sarif))


@pytest.fixture(scope="module")
def mlflow_store(tmp_path_factory):
    """A real sqlite tracking store: `pd` v1 (passes, alias champion) and v2 (its model card,
    a run artifact, lacks the limitations section)."""
    import mlflow
    from gh_sim import CARD, CARD_NO_LIMITS
    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(uri, uri)
    exp = client.create_experiment("e", artifact_location=(root / "artifacts").as_uri())
    client.create_registered_model("pd")
    for version, card in ((1, CARD), (2, CARD_NO_LIMITS)):
        rid = client.create_run(exp).info.run_id
        client.log_metric(rid, "auc", 0.82)
        client.log_metric(rid, "ks", 0.41)
        files = root / f"files{version}"
        (files / "mrm").mkdir(parents=True)
        (files / "model_card.md").write_text(card)
        (files / "mrm" / "evidence.yaml").write_text("model_card_file: model_card.md\n")
        client.log_artifacts(rid, str(files))
        client.set_terminated(rid)
        mv = client.create_model_version("pd", f"runs:/{rid}/model", run_id=rid)
        client.set_model_version_tag("pd", mv.version, "owner", "alice")
    client.set_registered_model_alias("pd", "champion", "1")
    mlflow.set_tracking_uri(None)
    return uri


def test_model_uris_from_a_real_mlflow_store(runner, monkeypatch, capsys, mlflow_store):
    code, cmds = gate(runner, monkeypatch, capsys, "--model-uri",
                      "models:/pd@champion\nmodels:/pd/2", "--tracking-uri", mlflow_store)
    assert code == 1
    got = [(d["source"], d["version"], d["verdict"])
           for d in json.loads(runner.outputs["decisions-json"])]
    assert got == [("models:/pd@champion", "1", "APPROVE"), ("models:/pd/2", "2", "BLOCK")]
    # the card is a run artifact, not a repository file: one annotation, naming the artifact
    (error,) = [c for c in cmds if c.startswith("::error")]
    assert error.startswith(f"::error file=policies/ci.yaml,line={policy_line('CI-DOC-001')},")
    assert "[evidence: run artifact model_card.md]" in error
