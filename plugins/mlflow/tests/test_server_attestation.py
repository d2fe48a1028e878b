"""A real gated server in `attestation` mode behind MLflow's basic-auth, with break-glass.

CI (here: the test, as user `ci`) evaluates and signs; the server verifies the record against
the version it is asked to promote. basic-auth runs first, so the gate records who asked.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import os
import secrets

import pytest
import requests
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mrm_gate import attestation as att
from mrm_gate.audit import verify

from .conftest import DATA, gate_config, make_version, rest_prompt_with_version

pytestmark = pytest.mark.server

KEY_ENV = "MRM_GATE_TEST_HMAC"
SECRET = secrets.token_hex(32)
PASSWORDS = {"admin": "admin-" + secrets.token_hex(8), "ci": "ci-" + secrets.token_hex(8),
             "alice": "alice-" + secrets.token_hex(8), "bob": "bob-" + secrets.token_hex(8)}


@contextlib.contextmanager
def as_user(user: str | None, **extra_env):
    """MLflow clients read credentials from the environment at request time."""
    keys = {"MLFLOW_TRACKING_USERNAME": user, "MLFLOW_TRACKING_PASSWORD": PASSWORDS.get(user),
            KEY_ENV: SECRET, **extra_env}
    saved = {k: os.environ.get(k) for k in keys}
    for k, v in keys.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="module")
def srv(server_factory):
    s = server_factory("attest")
    (s.root / "basic_auth.ini").write_text(
        "[mlflow]\ndefault_permission = MANAGE\n"
        f"database_uri = sqlite:///{s.root}/basic_auth.db\nadmin_username = admin\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        "auth_cache_ttl_seconds = 60\n")
    s.env_extra.update({"MLFLOW_AUTH_CONFIG_PATH": str(s.root / "basic_auth.ini"),
                        "MLFLOW_AUTH_ADMIN_PASSWORD": PASSWORDS["admin"],
                        "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16),
                        KEY_ENV: SECRET})
    s.write_config(gate_config(
        s.root, mode="attestation", identity="basic-auth",
        attestation={"keys": [f"env:{KEY_ENV}"], "max_age": "1h"},
        break_glass={"users": ["alice"], "min_reason_chars": 10}, gate_prompts=False))
    s.start()
    from mlflow.server import get_app_client

    with as_user("admin"):
        auth = get_app_client("basic-auth", tracking_uri=s.url)
        for user in ("ci", "alice", "bob"):
            auth.create_user(user, PASSWORDS[user])
    return s


@pytest.fixture(scope="module")
def client(srv):
    return MlflowClient(tracking_uri=srv.url, registry_uri=srv.url)


def log_records(srv, kind):
    lines = (srv.root / "log" / "decisions.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


def evaluate_and_sign(srv, name, version, target="champion", **record_changes):
    """What CI does: evaluate the version over HTTP, sign the decision, attach the record."""
    from mrm_gate.engine import evaluate
    from mrm_gate.evidence import load_evidence_with_baseline
    from mrm_gate.policy import load_policy

    ev, baseline = load_evidence_with_baseline(f"models:/{name}/{version}",
                                               tracking_uri=srv.url)
    decision = evaluate(load_policy(DATA / "policy.yaml"), ev, target=target,
                        baseline=baseline, actor="ci")
    record = {**att.record_for(decision), **record_changes}
    return att.dumps(att.sign(record, att.load_key(f"env:{KEY_ENV}")))


def attach(client, name, version, envelope):
    client.set_model_version_tag(name, version, att.ATTESTATION_TAG, envelope)


def test_authentication_runs_before_the_gate(srv):
    resp = requests.post(f"{srv.url}/api/2.0/mlflow/registered-models/alias",
                         json={"name": "x", "alias": "champion", "version": "1"}, timeout=30)
    assert resp.status_code == 401


def test_valid_attestation_is_accepted_and_records_the_user(srv, client):
    with as_user("ci"):
        v = make_version(client, "att-ok", auc=0.9)
        attach(client, "att-ok", v, evaluate_and_sign(srv, "att-ok", v))
    with as_user("bob"):
        client.set_registered_model_alias("att-ok", "champion", v)
        tags = client.get_model_version("att-ok", v).tags
    assert tags["mrm.decision"] == "APPROVE" and tags["mrm.gate.mode"] == "attestation"
    rec = log_records(srv, "attestation")[-1]["decision"]
    assert rec["actor"] == "bob" and rec["verified"] is True
    assert rec["attestation"]["decision_id"] == tags["mrm.decision_id"]


def test_promote_helper_attests_then_promotes(srv, client):
    from mrm_gate.mlflow import promote

    with as_user("ci"):
        v = make_version(client, "att-helper", auc=0.95)
        result = promote("att-helper", v, alias="champion", policy=DATA / "policy.yaml",
                         tracking_uri=srv.url, attest_key=f"env:{KEY_ENV}")
        assert client.get_registered_model("att-helper").aliases["champion"] == v
        run_id = client.get_model_version("att-helper", v).run_id
        stored = client.list_artifacts(run_id, f"mrm/decisions/{result.decision.id}")
    assert result.decision.verdict.value == "APPROVE" and not result.notes
    assert sorted(f.path.rsplit("/", 1)[-1] for f in stored) == ["report.html", "report.json"]


def test_evaluate_cli_writes_an_attestation_the_server_accepts(srv, client, tmp_path):
    from mrm_gate.cli import run

    with as_user("ci"):
        v = make_version(client, "att-cli", auc=0.9)
        code = run(["evaluate", f"models:/att-cli/{v}", "--policy", str(DATA / "policy.yaml"),
                    "--target", "champion", "--tracking-uri", srv.url, "--format", "json",
                    "--output", str(tmp_path), "--attest", f"env:{KEY_ENV}", "--quiet"])
        assert code == 0
        (path,) = tmp_path.glob("*.attestation.json")
        attach(client, "att-cli", v, path.read_text())
        client.set_registered_model_alias("att-cli", "champion", v)


def _tampered(envelope: str) -> str:
    env = json.loads(envelope)
    payload = json.loads(base64.b64decode(env["payload"]))
    payload["verdict"] = "APPROVE"
    env["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    return json.dumps(env)


STALE = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=3)).isoformat()
CASES = {
    "missing": (None, "has no attestation"),
    "tampered": ("tampered", "signature is invalid"),
    "stale": ({"decided_at": STALE}, "stale"),
    "other version": ("other", "not version"),
    "blocked verdict": ("bad-auc", "attested verdict is BLOCK"),
    "other target": ({"target": "production"}, "target 'production'"),
    "other policy": ({"policy": {"name": "x", "version": "1", "sha256": "0" * 64}},
                     "policy sha256"),
    "evidence changed": ("edit", "evidence changed"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_invalid_attestations_are_refused(srv, client, case):
    how, message = CASES[case]
    name = f"att-bad-{case.replace(' ', '-')}"
    with as_user("ci"):
        v = make_version(client, name, auc=0.5 if how == "bad-auc" else 0.9)
        if how == "other":
            other = make_version(client, name, auc=0.9)
            attach(client, name, v, evaluate_and_sign(srv, name, other))
        elif how == "tampered":
            attach(client, name, v, _tampered(evaluate_and_sign(srv, name, v)))
        elif isinstance(how, dict):
            attach(client, name, v, evaluate_and_sign(srv, name, v, **how))
        elif how in ("bad-auc", "edit"):
            attach(client, name, v, evaluate_and_sign(srv, name, v))
            if how == "edit":
                client.update_model_version(name, v, description="Changed after CI signed.")
        with pytest.raises(MlflowException) as info:
            client.set_registered_model_alias(name, "champion", v)
        assert "champion" not in client.get_registered_model(name).aliases
    assert "PERMISSION_DENIED" in str(info.value) and message in str(info.value)
    assert log_records(srv, "attestation_refused")[-1]["decision"]["reason"]


def test_break_glass_by_an_allowed_user_is_logged_and_tagged(srv, client):
    reason = "INC-4711 scoring outage, roll back to last known good"
    with as_user("ci"):
        v = make_version(client, "att-bg", auc=0.4)
    with as_user("alice", MRM_GATE_BREAK_GLASS_REASON=reason):
        client.set_registered_model_alias("att-bg", "champion", v)
    with as_user("alice"):
        tags = client.get_model_version("att-bg", v).tags
        assert client.get_registered_model("att-bg").aliases["champion"] == v
    assert tags["mrm.break_glass"] == "true" and tags["mrm.break_glass_by"] == "alice"
    assert tags["mrm.break_glass_reason"] == reason
    entry = log_records(srv, "break_glass")[-1]["decision"]
    assert entry["break_glass"] == {"user": "alice", "reason": reason}
    assert entry["verified"] is False and "no attestation" in entry["reason"]


@pytest.mark.parametrize("user,reason,message", [
    ("bob", "INC-4711 scoring outage, roll back", "'bob' may not use break-glass"),
    ("alice", "because", "at least 10 characters"),
])
def test_break_glass_refusals(srv, client, user, reason, message):
    with as_user("ci"):
        v = make_version(client, f"att-bg-no-{user}", auc=0.4)
    with as_user(user, MRM_GATE_BREAK_GLASS_REASON=reason), \
            pytest.raises(MlflowException, match=message):
        client.set_registered_model_alias(f"att-bg-no-{user}", "champion", v)
    refused = log_records(srv, "break_glass_refused")[-1]["decision"]
    assert refused["actor"] == user and message in refused["refused"]


def test_ungated_prompts_cannot_be_used_to_skip_the_gate(srv, client):
    with as_user("ci"):
        prompt = rest_prompt_with_version(srv.url, client, "att-prompt",
                                          auth=("ci", PASSWORDS["ci"]))
        resp = requests.post(f"{srv.url}/api/2.0/mlflow/registered-models/alias", timeout=30,
                             json={"name": "att-prompt", "alias": "champion", "version": prompt},
                             auth=("ci", PASSWORDS["ci"]))
        assert resp.status_code == 200, resp.text  # prompts are not gated on this server
        make_version(client, "att-model", auc=0.4)
    base, auth = f"{srv.url}/api/2.0/mlflow/registered-models", ("ci", PASSWORDS["ci"])
    for method, path, body in [
        ("POST", "set-tag", {"name": "att-model", "key": "mlflow.prompt.is_prompt",
                             "value": "true"}),
        ("DELETE", "delete-tag", {"name": "att-prompt", "key": "mlflow.prompt.is_prompt"}),
    ]:
        resp = requests.request(method, f"{base}/{path}", json=body, auth=auth, timeout=30)
        assert resp.status_code == 403 and "fixed when it is created" in resp.json()["message"]


def test_log_verifies(srv):
    result = verify(srv.root / "log" / "decisions.jsonl")
    assert result.ok and result.records >= 10, result.problems
