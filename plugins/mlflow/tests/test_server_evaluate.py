"""A real `mlflow server --app-name mrm-gate` in `evaluate` mode: the server runs the policy.

One server for the module (sqlite store and artifacts in a temp dir, loopback, random port).
"""

from __future__ import annotations

import json
import shutil
import threading

import pytest
import requests
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mrm_gate.audit import verify

from .conftest import DATA, gate_config, make_version, rest_prompt_with_version

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def srv(server_factory):
    s = server_factory("evaluate")
    shutil.copy(DATA / "policy.yaml", s.root / "policy.yaml")
    s.write_config(gate_config(s.root, policy=str(s.root / "policy.yaml")))
    return s.start()


@pytest.fixture(scope="module")
def client(srv):
    return MlflowClient(tracking_uri=srv.url, registry_uri=srv.url)


def records(srv, kind=None):
    path = srv.root / "log" / "decisions.jsonl"
    if not path.exists():
        return []
    out = [json.loads(line) for line in path.read_text().splitlines()]
    return [r for r in out if kind is None or r["kind"] == kind]


def test_failing_version_cannot_become_champion(srv, client):
    v = make_version(client, "credit-fail", auc=0.55)
    with pytest.raises(MlflowException) as info:
        client.set_registered_model_alias("credit-fail", "champion", v)
    text = str(info.value)
    assert "PERMISSION_DENIED" in text
    assert "MRM-PERF-001" in text and "auc 0.55 < min 0.7" in text
    assert "Report: runs:/" in text
    assert "champion" not in client.get_registered_model("credit-fail").aliases
    # the report is where the message says, and the version is tagged with the verdict
    mv = client.get_model_version("credit-fail", v)
    assert mv.tags["mrm.decision"] == "BLOCK"
    report_dir = text.split("Report: runs:/")[1].split()[0].rsplit("/", 1)[0]
    run_id, folder = report_dir.split("/", 1)
    names = {f.path.rsplit("/", 1)[-1] for f in client.list_artifacts(run_id, folder)}
    assert names == {"report.json", "report.html"}
    last = records(srv, "decision")[-1]
    assert last["decision"]["verdict"] == "BLOCK"
    assert last["decision"]["model"] == {**last["decision"]["model"], "name": "credit-fail",
                                         "version": v}


def test_ui_ajax_path_gets_the_same_refusal(srv, client):
    v = make_version(client, "credit-ui", auc=0.5)
    resp = requests.post(f"{srv.url}/ajax-api/2.0/mlflow/registered-models/alias",
                         json={"name": "credit-ui", "alias": "champion", "version": v},
                         timeout=30)
    assert resp.status_code == 403
    body = resp.json()
    assert body["error_code"] == "PERMISSION_DENIED"
    assert "MRM-PERF-001" in body["message"]
    assert "champion" not in client.get_registered_model("credit-ui").aliases


@pytest.mark.parametrize("path", [
    "/api/2.0/mlflow//registered-models/alias",
    "//api/2.0/mlflow/registered-models/alias",
    "/api/2.0/mlflow/registered-models/alias/",
    "/api/2.0/mlflow/registered-models/%61lias",
])
def test_path_variants_do_not_get_around_the_gate(srv, client, path):
    v = make_version(client, "credit-paths", auc=0.5)
    resp = requests.post(srv.url + path, timeout=30,
                         json={"name": "credit-paths", "alias": "champion", "version": v})
    assert resp.status_code != 200 or "error_code" in resp.text
    assert "champion" not in client.get_registered_model("credit-paths").aliases


@pytest.mark.parametrize("auc,verdict", [(0.9, "APPROVE"), (0.75, "CONDITIONAL")])
def test_passing_version_is_promoted_and_tagged(srv, client, auc, verdict):
    name = f"credit-pass-{verdict.lower()}"
    v = make_version(client, name, auc=auc)
    client.set_registered_model_alias(name, "champion", v)
    assert client.get_registered_model(name).aliases["champion"] == v
    tags = client.get_model_version(name, v).tags
    assert tags["mrm.decision"] == verdict
    assert tags["mrm.tier"] == "medium"
    assert tags["mrm.decision_target"] == "champion"
    for key in ("mrm.decision_id", "mrm.policy_sha256", "mrm.evaluated_at", "mrm.report"):
        assert tags[key]
    run_id = client.get_model_version(name, v).run_id
    listed = client.list_artifacts(run_id, f"mrm/decisions/{tags['mrm.decision_id']}")
    assert len(listed) == 2
    rec = next(r for r in records(srv, "decision")
               if r["decision"]["id"] == tags["mrm.decision_id"])
    assert rec["decision"]["verdict"] == verdict
    assert rec["decision"]["policy"]["sha256"] == tags["mrm.policy_sha256"]


def test_server_and_ci_compute_the_same_evidence_hash(srv, client, tmp_path):
    """The server reads evidence in-process (and mrm/evidence.yaml through itself); CI reads
    it over HTTP. Attestation mode depends on both hashing the same evidence identically."""
    from mrm_gate.evidence import load_evidence

    v = make_version(client, "credit-hash", auc=0.9, tags={"mrm.risk_tier": "medium"})
    (tmp_path / "evidence.yaml").write_text("model_card: {intended use: retail credit scoring}\n")
    client.log_artifact(client.get_model_version("credit-hash", v).run_id,
                        str(tmp_path / "evidence.yaml"), "mrm")
    ci_hash = load_evidence(f"models:/credit-hash/{v}", tracking_uri=srv.url).content_sha256()
    client.set_registered_model_alias("credit-hash", "champion", v)
    decision_id = client.get_model_version("credit-hash", v).tags["mrm.decision_id"]
    rec = next(r for r in records(srv, "decision") if r["decision"]["id"] == decision_id)
    assert rec["decision"]["evidence_sha256"] == ci_hash


def test_recording_a_decision_does_not_change_the_evidence_hash(srv, client):
    from mrm_gate.evidence import load_evidence

    v = make_version(client, "credit-hash-2", auc=0.9)
    before = load_evidence(f"models:/credit-hash-2/{v}", tracking_uri=srv.url).content_sha256()
    client.set_registered_model_alias("credit-hash-2", "champion", v)  # tags + report + alias
    after = load_evidence(f"models:/credit-hash-2/{v}", tracking_uri=srv.url).content_sha256()
    assert after == before


def test_unprotected_alias_is_not_gated(client):
    v = make_version(client, "credit-challenger", auc=0.1)
    client.set_registered_model_alias("credit-challenger", "challenger", v)
    assert "mrm.decision" not in client.get_model_version("credit-challenger", v).tags


def test_prompts_are_gated_by_default(srv, client):
    v = rest_prompt_with_version(srv.url, client, "credit-prompt")
    resp = requests.post(f"{srv.url}/api/2.0/mlflow/registered-models/alias", timeout=30,
                         json={"name": "credit-prompt", "alias": "champion", "version": v})
    assert resp.status_code == 403 and "MRM-PERF-001" in resp.json()["message"]


def test_stage_transition_to_protected_stage_is_gated(client):
    v = make_version(client, "credit-stage", auc=0.5)
    client.transition_model_version_stage("credit-stage", v, "Staging")
    with pytest.raises(MlflowException, match="MRM-PERF-001"):
        client.transition_model_version_stage("credit-stage", v, "Production")
    assert client.get_model_version("credit-stage", v).current_stage == "Staging"


FORGERIES = {
    "set version tag": lambda c, v: c.set_model_version_tag("credit-forge", v, "mrm.decision",
                                                            "APPROVE"),
    "delete version tag": lambda c, v: c.delete_model_version_tag("credit-forge", v,
                                                                  "mrm.decision"),
    "set model tag": lambda c, v: c.set_registered_model_tag("credit-forge", "mrm.tier", "low"),
    "delete model tag": lambda c, v: c.delete_registered_model_tag("credit-forge",
                                                                   "mrm.policy_sha256"),
    "new version with tag": lambda c, v: c.create_model_version(
        "credit-forge", source="mlflow-artifacts:/x", tags={"mrm.decision_id": "forged"}),
    "new model with tag": lambda c, v: c.create_registered_model(
        "credit-forge-2", tags={"mrm.break_glass": "true"}),
}


@pytest.fixture(scope="module")
def forge_version(client):
    v = make_version(client, "credit-forge", auc=0.5)
    with pytest.raises(MlflowException):
        client.set_registered_model_alias("credit-forge", "champion", v)  # tags it BLOCK
    return v


@pytest.mark.parametrize("op", sorted(FORGERIES))
def test_reserved_tags_cannot_be_forged(client, forge_version, op):
    with pytest.raises(MlflowException) as info:
        FORGERIES[op](client, forge_version)
    assert "PERMISSION_DENIED" in str(info.value) and "reserved" in str(info.value)
    assert client.get_model_version("credit-forge", forge_version).tags["mrm.decision"] \
        == "BLOCK"


def test_owner_declared_tags_stay_writable(client, forge_version):
    client.set_model_version_tag("credit-forge", forge_version, "mrm.risk_tier", "low")
    client.set_registered_model_tag("credit-forge", "mrm.exposure", "500000")
    client.delete_registered_model_tag("credit-forge", "mrm.exposure")
    assert client.get_model_version("credit-forge", forge_version).tags["mrm.risk_tier"] == "low"


def test_deleting_a_protected_alias_is_logged(srv, client):
    v = make_version(client, "credit-del", auc=0.9)
    client.set_registered_model_alias("credit-del", "champion", v)
    client.set_registered_model_alias("credit-del", "challenger", v)
    before = len(records(srv, "protected_alias_removed"))
    client.delete_registered_model_alias("credit-del", "challenger")  # not protected
    client.delete_registered_model_alias("credit-del", "champion")
    removed = records(srv, "protected_alias_removed")
    assert len(removed) == before + 1
    entry = removed[-1]["decision"]
    assert entry["model"] == {"name": "credit-del", "version": v}
    assert entry["alias"] == "champion" and entry["how"] == "alias deleted"


def test_unreadable_policy_refuses_promotions(srv, client):
    v = make_version(client, "credit-closed", auc=0.9)
    policy = srv.root / "policy.yaml"
    good = policy.read_text()
    policy.write_text(good.replace("check: performance.threshold", "check: performance.nope", 1))
    try:
        with pytest.raises(MlflowException, match="cannot read its policy"):
            client.set_registered_model_alias("credit-closed", "champion", v)
    finally:
        policy.write_text(good)
    client.set_registered_model_alias("credit-closed", "champion", v)


def test_missing_version_is_refused_not_passed(client):
    make_version(client, "credit-missing", auc=0.9)
    with pytest.raises(MlflowException, match="PERMISSION_DENIED"):
        client.set_registered_model_alias("credit-missing", "champion", "99")


def test_concurrent_promotions_leave_a_consistent_registry(srv, client):
    name = "credit-race"
    versions = {make_version(client, name, auc=auc): auc
                for auc in [0.9, 0.5, 0.85, 0.6, 0.95]}
    attempts = [v for v in versions for _ in range(4)]  # 20 attempts
    outcomes: dict[int, str] = {}

    def attempt(i: int, v: str) -> None:
        c = MlflowClient(tracking_uri=srv.url, registry_uri=srv.url)
        try:
            c.set_registered_model_alias(name, "champion", v)
            outcomes[i] = "ok"
        except MlflowException as exc:
            outcomes[i] = "refused: " + str(exc)

    threads = [threading.Thread(target=attempt, args=(i, v)) for i, v in enumerate(attempts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(outcomes) == 20
    for i, v in enumerate(attempts):
        passing = versions[v] >= 0.7
        assert (outcomes[i] == "ok") is passing, outcomes[i]
        if not passing:
            assert "MRM-PERF-001" in outcomes[i]
    holder = client.get_registered_model(name).aliases["champion"]
    assert versions[holder] >= 0.7
    assert client.get_model_version(name, holder).tags["mrm.decision"] == "APPROVE"
    mine = [r for r in records(srv, "decision") if r["decision"]["model"]["name"] == name]
    assert len(mine) == 20
    assert sorted(r["decision"]["verdict"] for r in mine) == sorted(
        "APPROVE" if versions[v] >= 0.7 else "BLOCK" for v in attempts)
    # promotions of one alias are serialized: the last approval logged is the current holder
    approvals = [r for r in mine if r["decision"]["verdict"] == "APPROVE"]
    assert approvals[-1]["decision"]["model"]["version"] == holder
    result = verify(srv.root / "log" / "decisions.jsonl")
    assert result.ok, result.problems


def test_promote_helper_gives_the_server_message(srv):
    from mrm_gate.mlflow import PromotionRefused, promote

    c = MlflowClient(tracking_uri=srv.url, registry_uri=srv.url)
    bad = make_version(c, "credit-helper", auc=0.5)
    good = make_version(c, "credit-helper", auc=0.9)
    with pytest.raises(PromotionRefused) as local:
        promote("credit-helper", bad, alias="champion", policy=DATA / "policy.yaml",
                tracking_uri=srv.url)
    with pytest.raises(MlflowException) as remote:
        c.set_registered_model_alias("credit-helper", "champion", bad)
    first = str(local.value).splitlines()[0].split(": verdict")[0]
    assert first == str(remote.value).splitlines()[0].split(": verdict")[0].removeprefix(
        "PERMISSION_DENIED: ")
    assert str(local.value).splitlines()[1] == str(remote.value).splitlines()[1]
    result = promote("credit-helper", good, alias="champion", policy=DATA / "policy.yaml",
                     tracking_uri=srv.url)
    assert result.decision.verdict.value == "APPROVE"
    assert c.get_registered_model("credit-helper").aliases["champion"] == good


def test_promote_cli_exit_codes(srv, tmp_path):
    from mrm_gate.cli import run

    c = MlflowClient(tracking_uri=srv.url, registry_uri=srv.url)
    bad = make_version(c, "credit-cli", auc=0.5)
    good = make_version(c, "credit-cli", auc=0.9)
    base = ["promote", "--alias", "champion", "--policy", str(DATA / "policy.yaml"),
            "--tracking-uri", srv.url, "--output", str(tmp_path)]
    assert run([base[0], f"models:/credit-cli/{bad}", *base[1:]]) == 1
    assert run([base[0], f"models:/credit-cli/{good}", *base[1:]]) == 0
    assert c.get_registered_model("credit-cli").aliases["champion"] == good
    assert run([base[0], "models:/credit-cli@champion", *base[1:]]) == 2


def test_restart_keeps_the_log(srv, client):
    before = records(srv)
    srv.restart()
    v = make_version(client, "credit-restart", auc=0.9)
    client.set_registered_model_alias("credit-restart", "champion", v)
    after = records(srv)
    assert after[: len(before)] == before
    assert after[-1]["seq"] == before[-1]["seq"] + 1
    assert after[-1]["prev_sha256"] == before[-1]["sha256"]
    assert verify(srv.root / "log" / "decisions.jsonl").ok
