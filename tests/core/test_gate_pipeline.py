"""The one gate pipeline: baselines that tell "no champion" from "registry unreadable",
evidence sources as an extension point, and recorders that never claim an unlogged approval.

Runs against a real local MLflow tracking store (sqlite file in tmp).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from core_helpers import write

from mrm_gate.decision import Status, Verdict
from mrm_gate.errors import UserError
from mrm_gate.evidence.mlflow_source import MlflowSource
from mrm_gate.evidence.source import SourceSettings, open_source, source_names
from mrm_gate.gate import (
    DecisionLogRecorder,
    GateRequest,
    Recording,
    RecordingFailed,
    ReportFiles,
    run_gate,
)

POLICY = """
apiVersion: mrm-gate/v1
kind: Policy
metadata: {name: regression-policy, version: "1"}
tiering: {default: high}
tiers:
  high:
    controls:
      - id: MRM-PERF-001
        check: performance.threshold
        params: {metric: auc, min: 0.5}
      - id: MRM-PERF-002
        check: performance.no_regression
        params: {metric: auc, baseline_alias: champion, tolerance: 0.0}
"""


def _store(root: Path, aucs: list[float], aliases: dict[str, str]) -> str:
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(uri, uri)
    exp = client.create_experiment("e", artifact_location=(root / "artifacts").as_uri())
    client.create_registered_model("pd")
    for auc in aucs:
        rid = client.create_run(exp).info.run_id
        client.log_metric(rid, "auc", auc)
        client.set_terminated(rid)
        client.create_model_version("pd", f"runs:/{rid}/model", run_id=rid)
    for alias, version in aliases.items():
        client.set_registered_model_alias("pd", alias, version)
    mlflow.set_tracking_uri(None)
    return uri


def _gate(uri: str, subject: str, target: str | None, tmp: Path, source=None):
    policy = write(tmp / "policy.yaml", POLICY)
    request = GateRequest(subject=subject, policy=policy, target=target,
                          settings=SourceSettings(tracking_uri=uri))
    return run_gate(request, source)


def _outcome(decision, control: str):
    return next(o for o in decision.outcomes if o.control_id == control)


def test_first_model_ever_promoted_skips_the_comparison_and_says_so(tmp_path) -> None:
    uri = _store(tmp_path, [0.8], {})
    d = _gate(uri, "models:/pd/1", "champion", tmp_path)
    o = _outcome(d, "MRM-PERF-002")
    assert o.status == Status.SKIPPED
    assert "first model promoted" in o.result.message
    assert d.verdict == Verdict.APPROVE


def test_a_missing_baseline_while_the_target_is_held_by_another_version_blocks(tmp_path) -> None:
    uri = _store(tmp_path, [0.9, 0.6], {"production": "1"})
    d = _gate(uri, "models:/pd/2", "production", tmp_path)
    o = _outcome(d, "MRM-PERF-002")
    assert o.status == Status.ERROR
    assert "version 1 holds the target @production" in o.result.message
    assert d.verdict == Verdict.BLOCK


def test_the_baseline_version_itself_compares_as_nothing_to_compare(tmp_path) -> None:
    uri = _store(tmp_path, [0.8], {"champion": "1"})
    d = _gate(uri, "models:/pd/1", "champion", tmp_path)
    assert _outcome(d, "MRM-PERF-002").status == Status.PASS


class _RegistryBreaksAfterLoad(MlflowSource):
    """The candidate is read, then the registry becomes unreadable (a real sqlite failure:
    the database file is overwritten), so reading the champion fails."""

    def load(self, subject: str):
        ev = super().load(subject)
        db = Path(self.tracking_uri().removeprefix("sqlite:///"))
        db.write_bytes(b"this is not a database" * 512)
        return ev


def test_a_registry_read_error_is_an_error_of_the_control_not_a_skip(tmp_path) -> None:
    uri = _store(tmp_path, [0.9, 0.95], {"champion": "1"})
    source = _RegistryBreaksAfterLoad(SourceSettings(tracking_uri=uri))
    d = _gate(uri, "models:/pd/2", "champion", tmp_path, source=source)
    o = _outcome(d, "MRM-PERF-002")
    assert o.status == Status.ERROR, o.result.message
    assert "cannot read the baseline (@champion)" in o.result.message
    assert d.verdict == Verdict.BLOCK


def test_evidence_that_cannot_be_read_blocks_and_is_recorded(tmp_path) -> None:
    uri = _store(tmp_path, [0.9], {})
    log = tmp_path / "decisions.jsonl"
    policy = write(tmp_path / "policy.yaml", POLICY)
    request = GateRequest(subject="models:/pd/7", policy=policy, target="champion",
                          settings=SourceSettings(tracking_uri=uri))
    d = run_gate(request, recorders=[DecisionLogRecorder(log)])
    assert d.verdict == Verdict.BLOCK
    assert d.outcomes[0].control_id == "MRM-GATE-EVIDENCE"
    assert d.model.name == "pd" and d.model.version == "7"
    assert d.id in log.read_text()


def test_a_failing_recorder_stops_the_later_ones(tmp_path) -> None:
    """The log first: when it cannot be written, no report claims the decision."""
    uri = _store(tmp_path, [0.9], {})
    policy = write(tmp_path / "policy.yaml", POLICY)
    log = tmp_path / "log.jsonl"
    request = GateRequest(subject="models:/pd/1", policy=policy,
                          settings=SourceSettings(tracking_uri=uri))
    recorders = [DecisionLogRecorder(log), ReportFiles(tmp_path / "reports", ["json"])]
    recorders[0].prepare = lambda: None  # the log turns bad after the start-up check
    log.mkdir()
    recording = Recording()
    with pytest.raises(RecordingFailed) as info:
        run_gate(request, recorders=recorders, recording=recording)
    assert info.value.decision.verdict == Verdict.APPROVE
    assert info.value.recorder == "decision log"
    assert recording.done == [] and not (tmp_path / "reports").exists()


def test_sources_are_chosen_by_entry_point_not_by_prefix() -> None:
    assert {"local", "mlflow"} <= set(source_names())
    assert open_source("models:/pd/1").name == "mlflow"
    assert open_source("some/evidence/folder").name == "local"
    with pytest.raises(UserError, match="unknown evidence source 'nope'"):
        open_source("x", name="nope")
    with pytest.raises(UserError, match="does not accept"):
        open_source("models:/pd/1", name="local")


def test_evaluate_anchors_the_log_with_a_checkpoint_and_truncation_is_caught(
        tmp_path, monkeypatch, capsys) -> None:
    from core_helpers import BASE_POLICY

    from mrm_gate.cli import run

    monkeypatch.setenv("MRM_CP_KEY", "a-long-enough-checkpoint-secret-0123456789")
    policy = write(tmp_path / "p.yaml", BASE_POLICY)
    folder = tmp_path / "ev"
    write(folder / "evidence.yaml", "model: {name: pd, version: '1', tags: {owner: a}}\n"
          "run: {metrics: {auc: 0.8, ks: 0.4, brier: 0.05}}\n")
    log, cp = tmp_path / "log.jsonl", tmp_path / "log.checkpoints"
    args = ["evaluate", "--evidence", str(folder), "--policy", str(policy), "-q",
            "--decision-log", str(log), "--checkpoint", str(cp), "--checkpoint-key",
            "env:MRM_CP_KEY"]
    assert run(args) == 0 and run(args) == 0
    verify = ["audit", "verify", str(log), "--checkpoint", str(cp), "--key", "env:MRM_CP_KEY"]
    assert run(verify) == 0
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:-1]))  # the newest record removed
    capsys.readouterr()
    assert run(verify) == 1
    err = capsys.readouterr().err
    assert "TAMPERED" in err and "the log ends at seq 0" in err
    assert run(args[:-2]) == 2  # --checkpoint without its key


@pytest.mark.parametrize("user_setting", [None, "true"])
def test_mlflow_download_progress_bars_stay_out_of_the_cli_output(tmp_path, user_setting) -> None:
    """MLflow's "Downloading artifacts" bars flood CI logs; the gate turns them off unless the
    user explicitly asked for them."""
    import os
    import subprocess
    import sys

    from mlflow.tracking import MlflowClient

    uri = _store(tmp_path, [0.8], {})
    client = MlflowClient(uri, uri)
    mv = client.get_model_version("pd", "1")
    write(tmp_path / "files" / "card.md", "# Card\n## Limitations\nSmall.\n")
    write(tmp_path / "files" / "mrm" / "evidence.yaml", "model_card_file: card.md\n")
    client.log_artifacts(mv.run_id, str(tmp_path / "files"))
    policy = write(tmp_path / "card.yaml", """
apiVersion: mrm-gate/v1
kind: Policy
metadata: {name: card, version: "1"}
tiering: {default: high}
tiers:
  high:
    controls:
      - id: MRM-DOC-001
        check: metadata.required
        params: {card_sections: [Limitations]}
""")
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"}
    if user_setting:
        env["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = user_setting
    cli = str(Path(sys.executable).with_name("mrm-gate"))
    proc = subprocess.run([cli, "evaluate", "models:/pd/1",
                           "--policy", str(policy), "--tracking-uri", uri, "-q"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert ("Downloading artifacts" in proc.stderr) == bool(user_setting)


def test_run_artifacts_with_the_same_name_in_different_folders_stay_apart(tmp_path) -> None:
    from mlflow.tracking import MlflowClient

    uri = _store(tmp_path, [0.8], {})
    client = MlflowClient(uri, uri)
    run_id = client.get_model_version("pd", "1").run_id
    write(tmp_path / "files" / "ref" / "data.csv", "x\n1\n")
    write(tmp_path / "files" / "cur" / "data.csv", "x\n2\n")
    client.log_artifacts(run_id, str(tmp_path / "files"))
    ev = MlflowSource(SourceSettings(tracking_uri=uri)).load("models:/pd/1")
    ref, cur = ev.open_file("ref/data.csv"), ev.open_file("cur/data.csv")
    assert ref != cur
    assert (ref.read_text(), cur.read_text()) == ("x\n1\n", "x\n2\n")
    assert ev.open_file("ref/data.csv").read_text() == "x\n1\n"  # still, after the second


def test_an_mlflow_attestation_names_the_model_by_its_digest(tmp_path, monkeypatch,
                                                             capsys) -> None:
    """`evaluate --attest` on models:/ downloads the version's model and binds its digest, the
    same digest `attest digest DIR` gives for the folder that was logged."""
    import base64
    import json

    from mlflow.tracking import MlflowClient

    from mrm_gate.attestation.digest import model_dir_sha256
    from mrm_gate.cli import run

    monkeypatch.setenv("MRM_ATTEST_KEY", "an-attestation-secret-of-enough-length-42")
    root = tmp_path / "store"
    root.mkdir()
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(uri, uri)
    exp = client.create_experiment("e", artifact_location=(root / "artifacts").as_uri())
    rid = client.create_run(exp).info.run_id
    client.log_metric(rid, "auc", 0.9)
    model = tmp_path / "model"
    write(model / "MLmodel", "flavors: {}\n")
    write(model / "weights.bin", "0123456789")
    client.log_artifacts(rid, str(model), "model")
    client.create_registered_model("pd")
    client.create_model_version("pd", f"runs:/{rid}/model", run_id=rid)
    policy = write(tmp_path / "p.yaml", POLICY.replace(
        "      - id: MRM-PERF-002\n        check: performance.no_regression\n"
        "        params: {metric: auc, baseline_alias: champion, tolerance: 0.0}\n", ""))
    out = tmp_path / "out"
    rc = run(["evaluate", "models:/pd/1", "--policy", str(policy), "--tracking-uri", uri,
              "--attest", "env:MRM_ATTEST_KEY", "--output", str(out), "--format", "json", "-q"])
    assert rc == 0, capsys.readouterr().err
    (envelope_file,) = out.glob("*.attestation.json")
    envelope = json.loads(envelope_file.read_text())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    digests = {s["name"]: s["digest"]["sha256"] for s in statement["subject"]}
    assert digests["models:/pd/1"] == model_dir_sha256(model)
