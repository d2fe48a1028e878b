"""One pipeline, six channels: the same evidence gives the same Decision everywhere.

A gated `mlflow server` (evaluate mode) holds model `parity`: version 1 is the champion, version 2
regresses against it. Version 2 is then evaluated for @champion through every channel:

* the gated server (a refused `set_registered_model_alias`; the decision is in its log),
* `mrm-gate evaluate models:/parity/2`,
* the client helper `promote()` (refused; the decision travels with the exception),
* the webhook receiver (`on_alias_created`; the decision is in its log),
* `ci github` on the version's exported evidence folder,
* `policy test` with that folder as a case's evidence,

and each gives the same verdict, tier and status per control; all but `policy test` (whose
result has no hash) also the same evidence and policy hashes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from .conftest import gate_config, make_version

pytestmark = pytest.mark.server

POLICY = """
apiVersion: mrm-gate/v1
kind: Policy
metadata: {name: parity, version: "1"}
tiering: {tag: mrm.risk_tier, default: medium}
tiers:
  medium:
    controls:
      - id: MRM-DOC-001
        check: metadata.required
        params: {tags: [owner], min_description_chars: 10}
      - id: MRM-PERF-001
        check: performance.threshold
        params: {metric: auc, min: 0.70}
      - id: MRM-PERF-002
        check: performance.threshold
        severity: warn
        params: {metric: auc, min: 0.80}
      - id: MRM-PERF-003
        check: performance.no_regression
        params: {metric: auc, baseline_alias: champion, tolerance: 0.01}
"""
NAME = "parity"


@pytest.fixture(scope="module")
def world(server_factory, tmp_path_factory):
    srv = server_factory("parity")
    policy = srv.root / "policy.yaml"
    policy.write_text(POLICY)
    srv.write_config(gate_config(srv.root, policy=str(policy)))
    srv.start()
    client = MlflowClient(tracking_uri=srv.url, registry_uri=srv.url)
    v1 = make_version(client, NAME, auc=0.90)
    client.set_registered_model_alias(NAME, "champion", v1)  # approved by the gate
    v2 = make_version(client, NAME, auc=0.75)
    return srv, client, policy, v2, tmp_path_factory.mktemp("channels")


def _records(path: Path, kind: str) -> list[dict]:
    lines = path.read_text().splitlines() if path.exists() else []
    return [r for r in map(json.loads, lines) if r.get("kind") == kind]


def _summary(d: dict) -> dict:
    return {"verdict": d["verdict"], "tier": d["tier"]["tier"],
            "statuses": {o["control_id"]: o["status"] for o in d["outcomes"]},
            "evidence_sha256": d["evidence_sha256"], "policy_sha256": d["policy"]["sha256"]}


def _server(world) -> dict:
    srv, client, _policy, v2, _tmp = world
    with pytest.raises(MlflowException, match="PERMISSION_DENIED"):
        client.set_registered_model_alias(NAME, "champion", v2)
    rec = _records(srv.root / "log" / "decisions.jsonl", "decision")[-1]
    assert rec["decision"]["model"]["version"] == v2
    return rec["decision"]


def _cli(world, capsys) -> dict:
    from mrm_gate.cli import run

    srv, _client, policy, v2, _tmp = world
    capsys.readouterr()
    rc = run(["evaluate", f"models:/{NAME}/{v2}", "--policy", str(policy), "--target",
              "champion", "--tracking-uri", srv.url, "--format", "json"])
    assert rc == 1
    return json.loads(capsys.readouterr().out)


def _promote(world) -> dict:
    from mrm_gate.mlflow import PromotionRefused, promote

    srv, _client, policy, v2, _tmp = world
    with pytest.raises(PromotionRefused) as info:
        promote(NAME, v2, "champion", policy=policy, tracking_uri=srv.url)
    return info.value.decision.model_dump(mode="json")


def _webhook(world) -> dict:
    from mrm_gate_mlflow.webhook import build_receiver

    srv, _client, policy, v2, tmp = world
    root = tmp / "receiver"
    root.mkdir()
    (root / "secret.txt").write_text("parity-webhook-secret-0123456789")
    cfg = root / "gate.yaml"
    cfg.write_text(yaml.safe_dump(gate_config(
        root, policy=str(policy),
        webhook={"secret": "secret.txt", "tracking_uri": srv.url, "revert": "restore"})))
    receiver = build_receiver(str(cfg), None)
    # On a gated server the receiver's tag write is refused after its log append: the
    # decision is in the log either way (the log is written before any tag).
    receiver.on_alias_created(NAME, "champion", v2)
    (rec,) = _records(root / "log" / "decisions.jsonl", "webhook_alias")
    return rec["decision"]


def _export(world) -> Path:
    from mrm_gate.cli import run

    srv, _client, policy, v2, tmp = world
    out = tmp / "repo" / "models" / "parity"
    assert run(["evidence", "export", f"models:/{NAME}/{v2}", "--out", str(out), "--policy",
                str(policy), "--target", "champion", "--tracking-uri", srv.url]) == 0
    return out


def _ci(world, folder: Path) -> dict:
    from mrm_gate.cli.ci import GithubRun, run_github

    _srv, _client, policy, _v2, tmp = world
    repo = tmp / "repo"
    cfg = GithubRun(policy=str(policy), evidence=["models/*"], target="champion",
                    comment=False, report_dir="reports", env={"GITHUB_WORKSPACE": str(repo)})
    assert run_github(cfg) == 1
    (report,) = [p for p in (repo / "reports").rglob("*.json")
                 if p.name not in ("decisions.json",) and not p.name.endswith(".sarif")
                 and "attestation" not in p.name]
    return json.loads(report.read_text())


def _policy_test(world, folder: Path, expected: dict) -> dict:
    from mrm_gate.policy_tests import run_tests

    _srv, _client, policy, _v2, tmp = world
    failing = sorted(c for c, s in expected["statuses"].items() if s in ("FAIL", "ERROR"))
    tests = tmp / "parity.tests.yaml"
    tests.write_text(yaml.safe_dump({
        "apiVersion": "mrm-gate/v1", "kind": "PolicyTests", "policy": str(policy),
        "cases": [{"name": "v2 for champion", "evidence": str(folder), "target": "champion",
                   "expect": {"decision": expected["verdict"], "failing": failing}}]}))
    suite = run_tests([tests])
    (result,) = suite.results
    assert result.ok, result.problems
    return {"verdict": result.actual["decision"], "tier": result.actual["tier"],
            "statuses": {k: v.value for k, v in result.statuses.items()}}


def test_every_channel_gives_the_same_decision(world, capsys) -> None:
    decisions = {"server": _server(world), "evaluate": _cli(world, capsys),
                 "promote": _promote(world), "webhook": _webhook(world)}
    folder = _export(world)
    decisions["ci github"] = _ci(world, folder)
    summaries = {k: _summary(d) for k, d in decisions.items()}
    reference = summaries["server"]
    assert reference["verdict"] == "BLOCK"
    assert reference["statuses"] == {"MRM-DOC-001": "PASS", "MRM-PERF-001": "PASS",
                                     "MRM-PERF-002": "FAIL", "MRM-PERF-003": "FAIL"}
    for channel, summary in summaries.items():
        assert summary == reference, channel
    policy_test = _policy_test(world, folder, reference)
    assert policy_test == {k: reference[k] for k in ("verdict", "tier", "statuses")}
