"""Webhook receiver against a real, ungated MLflow server that sends real, signed webhooks.

MLflow refuses private addresses and plain http for webhook URLs by default; the server here
is started with its documented switches (MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS,
MLFLOW_WEBHOOK_ALLOWED_SCHEMES) so it can call the receiver on loopback.
"""

from __future__ import annotations

import json
import secrets
import threading
import time

import pytest
from mlflow import MlflowClient
from mlflow.webhooks.delivery import _generate_hmac_signature
from mrm_gate_mlflow.webhook import Rejected, build_receiver, create_receiver_app

from mrm_gate.audit import verify

from .conftest import gate_config, make_version

pytestmark = pytest.mark.server

SECRET = secrets.token_hex(24)


def wait_for(predicate, timeout=45.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def setup(server_factory, tmp_path_factory):
    from cryptography.fernet import Fernet
    from werkzeug.serving import make_server

    srv = server_factory("webhook", app_name=None, env={
        "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
        "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
        "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "MLFLOW_WEBHOOK_CACHE_TTL": "1",
    })
    srv.start()
    root = tmp_path_factory.mktemp("receiver")
    cfg_path = root / "gate.yaml"
    (root / "secret.txt").write_text(SECRET)
    import yaml

    cfg_path.write_text(yaml.safe_dump(gate_config(
        root, webhook={"secret": "secret.txt", "tracking_uri": srv.url, "revert": "restore"})))
    receiver = build_receiver(str(cfg_path), None)
    http = make_server("127.0.0.1", 0, create_receiver_app(receiver), threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{http.server_port}/webhook"
    from mrm_gate.cli import run

    assert run(["webhook", "register", url, "--config", str(cfg_path)]) == 0
    yield srv, receiver, root, url
    http.shutdown()


@pytest.fixture(scope="module")
def client(setup):
    srv = setup[0]
    return MlflowClient(tracking_uri=srv.url, registry_uri=srv.url)


def tags(client, name, v):
    return client.get_model_version(name, v).tags


def holder(client, name, alias="champion"):
    return client.get_registered_model(name).aliases.get(alias)


def test_new_version_is_evaluated_early_and_tagged(setup, client):
    v = make_version(client, "wh-early", auc=0.5)
    t = wait_for(lambda: tags(client, "wh-early", v).get("mrm.decision") and
                 tags(client, "wh-early", v), what="early evaluation tags")
    assert t["mrm.decision"] == "BLOCK" and t["mrm.decision_target"] == ""
    assert t["mrm.gate.mode"] == "webhook" and t["mrm.report"].startswith("runs:/")


def test_blocked_alias_is_restored_to_the_previous_holder(setup, client):
    name = "wh-restore"
    good = make_version(client, name, auc=0.9)
    client.set_registered_model_alias(name, "champion", good)
    wait_for(lambda: tags(client, name, good).get("mrm.decision_target") == "champion",
             what="approval of the good version")
    assert tags(client, name, good)["mrm.decision"] == "APPROVE"
    bad = make_version(client, name, auc=0.4)
    client.set_registered_model_alias(name, "champion", bad)
    wait_for(lambda: tags(client, name, bad).get("mrm.gate.reverted"), what="revert")
    wait_for(lambda: holder(client, name) == good, what="restored champion")
    t = tags(client, name, bad)
    assert t["mrm.decision"] == "BLOCK" and t["mrm.decision_target"] == "champion"
    assert t["mrm.gate.reverted"] == f"@champion: restored to version {good}"


def test_blocked_alias_without_previous_holder_is_removed(setup, client):
    name = "wh-remove"
    bad = make_version(client, name, auc=0.3)
    client.set_registered_model_alias(name, "champion", bad)
    wait_for(lambda: tags(client, name, bad).get("mrm.gate.reverted"), what="revert")
    assert holder(client, name) is None
    assert tags(client, name, bad)["mrm.gate.reverted"] == "@champion: removed"


def test_unprotected_alias_is_left_alone(setup, client):
    name = "wh-free"
    bad = make_version(client, name, auc=0.3)
    wait_for(lambda: tags(client, name, bad).get("mrm.decision"), what="early evaluation")
    client.set_registered_model_alias(name, "challenger", bad)
    time.sleep(1.5)
    setup[1].queue.join()
    assert holder(client, name, "challenger") == bad


def _delivery(body: dict, *, secret=SECRET, ts=None, delivery=None):
    text = json.dumps(body)
    ts = str(int(time.time() if ts is None else ts))
    delivery = delivery or secrets.token_hex(8)
    sig = _generate_hmac_signature(secret, delivery, ts, text)  # MLflow's own signer
    return {"X-MLflow-Signature": sig, "X-MLflow-Timestamp": ts,
            "X-MLflow-Delivery-Id": delivery}, text.encode()


BODY = {"entity": "model_version_alias", "action": "created",
        "data": {"name": "wh-none", "alias": "challenger", "version": "1"}}


@pytest.mark.parametrize("case,status,message", [
    ("wrong secret", 401, "signature does not match"),
    ("altered body", 401, "signature does not match"),
    ("stale", 401, "tolerance"),
    ("future", 401, "tolerance"),
    ("unsigned", 401, "missing"),
])
def test_unverifiable_deliveries_are_rejected(setup, case, status, message):
    receiver = setup[1]
    headers, body = _delivery(BODY, secret="wrong" if case == "wrong secret" else SECRET,
                              ts={"stale": time.time() - 3600,
                                  "future": time.time() + 3600}.get(case))
    if case == "altered body":
        body = body.replace(b"challenger", b"champion")
    if case == "unsigned":
        headers.pop("X-MLflow-Signature")
    with pytest.raises(Rejected) as info:
        receiver.accept(headers, body)
    assert info.value.status == status and message in info.value.message


def test_replayed_delivery_is_ignored(setup):
    receiver = setup[1]
    headers, body = _delivery(BODY)
    assert receiver.accept(headers, body) == "queued"
    assert receiver.accept(headers, body) == "duplicate"


def test_receiver_http_endpoint_rejects_bad_signature(setup):
    import requests

    headers, body = _delivery(BODY, secret="wrong")
    resp = requests.post(setup[3], data=body, headers=headers, timeout=10)
    assert resp.status_code == 401 and "signature" in resp.json()["error"]


def test_decision_log_verifies(setup):
    receiver, root = setup[1], setup[2]
    receiver.queue.join()
    result = verify(root / "log" / "decisions.jsonl")
    assert result.ok and result.records >= 5, result.problems
    kinds = {json.loads(line)["kind"] for line in
             (root / "log" / "decisions.jsonl").read_text().splitlines()}
    assert {"webhook_early", "webhook_alias"} <= kinds
