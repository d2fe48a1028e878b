"""Webhook receiver.

The `server` tests run against a real, ungated MLflow server that sends real, signed webhooks.
MLflow refuses private addresses and plain http for webhook URLs by default; the server here
is started with its documented switches (MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS,
MLFLOW_WEBHOOK_ALLOWED_SCHEMES) so it can call the receiver on loopback.

The others drive the receiver's handlers directly against a real MLflow registry in a sqlite
file (same client code path, no server process): what the receiver trusts when it restores an
alias, how it records, and how it refuses malformed requests.
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

from .conftest import DATA, gate_config, make_version

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
    v = client.get_registered_model(name).aliases.get(alias)
    return None if v is None else str(v)  # the sqlite store gives ints, REST strings


@pytest.mark.server
def test_new_version_is_evaluated_early_and_tagged(setup, client):
    v = make_version(client, "wh-early", auc=0.5)
    t = wait_for(lambda: tags(client, "wh-early", v).get("mrm.decision") and
                 tags(client, "wh-early", v), what="early evaluation tags")
    assert t["mrm.decision"] == "BLOCK" and t["mrm.decision_target"] == ""
    assert t["mrm.gate.mode"] == "webhook" and t["mrm.report"].startswith("runs:/")


@pytest.mark.server
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


@pytest.mark.server
def test_blocked_alias_without_previous_holder_is_removed(setup, client):
    name = "wh-remove"
    bad = make_version(client, name, auc=0.3)
    client.set_registered_model_alias(name, "champion", bad)
    wait_for(lambda: tags(client, name, bad).get("mrm.gate.reverted"), what="revert")
    assert holder(client, name) is None
    assert tags(client, name, bad)["mrm.gate.reverted"] == "@champion: removed"


@pytest.mark.server
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


@pytest.mark.server
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


@pytest.mark.server
def test_replayed_delivery_is_ignored(setup):
    receiver = setup[1]
    headers, body = _delivery(BODY)
    assert receiver.accept(headers, body) == "queued"
    assert receiver.accept(headers, body) == "duplicate"


@pytest.mark.server
def test_receiver_http_endpoint_rejects_bad_signature(setup):
    import requests

    headers, body = _delivery(BODY, secret="wrong")
    resp = requests.post(setup[3], data=body, headers=headers, timeout=10)
    assert resp.status_code == 401 and "signature" in resp.json()["error"]


@pytest.mark.server
def test_decision_log_verifies(setup):
    receiver, root = setup[1], setup[2]
    receiver.queue.join()
    result = verify(root / "log" / "decisions.jsonl")
    assert result.ok and result.records >= 5, result.problems
    kinds = {json.loads(line)["kind"] for line in
             (root / "log" / "decisions.jsonl").read_text().splitlines()}
    assert {"webhook_early", "webhook_alias"} <= kinds


# ---- the receiver on a sqlite registry (no server process) ----------------------------------

HMAC_VAR = "MRM_TEST_WEBHOOK_ATTEST_KEY"
HMAC_KEY = "k" * 40


def _receiver_config(root, **overrides):
    import shutil

    import yaml

    policy = root / "policy.yaml"
    if not policy.exists():
        shutil.copy(DATA / "policy.yaml", policy)
    (root / "secret.txt").write_text(SECRET)
    cfg = gate_config(root, policy=str(policy), webhook={
        "secret": "secret.txt", "tracking_uri": overrides.pop("tracking_uri"),
        "revert": "restore", "evaluate_on_create": False},
        attestation={"keys": [f"env:{HMAC_VAR}"], "max_age": "24h"}, **overrides)
    path = root / "gate.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """A sqlite tracking store whose runs keep their artifacts in the test folder."""
    import os

    root = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{root}/mlflow.db"
    os.environ[HMAC_VAR] = HMAC_KEY
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_experiment("plugin-tests", artifact_location=(root / "artifacts").as_uri())
    yield uri, client
    os.environ.pop(HMAC_VAR, None)


@pytest.fixture
def rx(registry, tmp_path):
    """A receiver with its own log and policy copy, on the shared sqlite registry."""
    return build_receiver(str(_receiver_config(tmp_path, tracking_uri=registry[0])), None)


_names = iter(range(10**6))


def fresh(prefix="m"):
    return f"{prefix}-{next(_names)}-{secrets.token_hex(3)}"


def promote(rx, client, name, version, alias="champion"):
    client.set_registered_model_alias(name, alias, version)
    rx.on_alias_created(name, alias, version)
    return rx.outcomes[-1]


def log_records(rx):
    return [json.loads(line) for line in rx.cfg.decision_log_path.read_text().splitlines()]


# ---- 1. one pipeline ------------------------------------------------------------------------

def test_alias_decision_is_recorded_by_the_gate_pipeline(rx, registry):
    _, client = registry
    name = fresh()
    v = make_version(client, name, auc=0.9)
    promote(rx, client, name, v)
    (rec,) = [r for r in log_records(rx) if r["kind"] == "webhook_alias"]
    t = tags(client, name, v)
    assert rec["decision"]["verdict"] == "APPROVE" == t["mrm.decision"]
    assert rec["decision"]["id"] == t["mrm.decision_id"]
    assert rec["decision"]["actor"] == "mrm-gate-webhook"
    assert rec["extra"]["alias"] == "champion"
    assert rec["extra"]["report"] == t["mrm.report"] and t["mrm.gate.mode"] == "webhook"
    assert holder(client, name) == v


def _break_log(rx):
    rx.cfg.decision_log_path.parent.mkdir(parents=True, exist_ok=True)
    rx.cfg.decision_log_path.write_text("this is not a decision log\n")


def test_approval_that_cannot_be_logged_is_reverted_and_not_tagged(rx, registry):
    """Recording fails after the gate decided APPROVE: no tag claims an approval no log holds,
    and the alias does not stay on a version whose approval is nowhere recorded."""
    _, client = registry
    name = fresh()
    v = make_version(client, name, auc=0.9)
    _break_log(rx)
    promote(rx, client, name, v)
    assert "mrm.decision" not in tags(client, name, v)
    assert holder(client, name) is None
    assert rx.outcomes[-1].kind == "error" and "decision log" in rx.outcomes[-1].detail["error"]


def test_early_decision_that_cannot_be_logged_is_not_tagged(rx, registry):
    from mrm_gate.gate import RecordingFailed

    _, client = registry
    name = fresh()
    v = make_version(client, name, auc=0.9)
    _break_log(rx)
    with pytest.raises(RecordingFailed):
        rx.on_version_created(name, v)
    assert "mrm.decision" not in tags(client, name, v)


def test_unreadable_evidence_blocks_and_reverts(rx, registry):
    _, client = registry
    name = fresh()
    v = make_version(client, name, auc=0.9)
    client.set_registered_model_alias(name, "champion", v)
    client.delete_model_version(name, v)  # the event names a version that is gone
    rx.on_alias_created(name, "champion", v)
    (rec,) = [r for r in log_records(rx) if r["kind"] == "webhook_alias"]
    assert rec["decision"]["verdict"] == "BLOCK"
    assert "has no version" in rec["decision"]["reasons"][0]
    # the tags cannot be written on a version that is gone: recorded as such, after the log
    kinds = [r["kind"] for r in log_records(rx)]
    assert kinds[-2:] == ["webhook_alias", "webhook_error"]


# ---- 2. restore only to a provable approval -------------------------------------------------

def test_restores_to_a_version_its_log_approved(rx, registry):
    _, client = registry
    name = fresh()
    good = make_version(client, name, auc=0.9)
    promote(rx, client, name, good)
    bad = make_version(client, name, auc=0.4)
    out = promote(rx, client, name, bad)
    assert holder(client, name) == good
    assert out.detail["revert"]["restored_to"] == good
    assert "decision log" in out.detail["revert"]["proof"]
    assert tags(client, name, bad)["mrm.gate.reverted"] == f"@champion: restored to version {good}"


FUTURE = "2999-01-01T00:00:00+00:00"
FORGED = {
    "future timestamp": {"mrm.decision": "APPROVE", "mrm.decision_target": "champion",
                         "mrm.evaluated_at": FUTURE},
    "target in another case": {"mrm.decision": "APPROVE", "mrm.decision_target": "Champion",
                               "mrm.evaluated_at": FUTURE},
    "conditional": {"mrm.decision": "CONDITIONAL", "mrm.decision_target": "champion",
                    "mrm.evaluated_at": FUTURE},
    "every gate tag": {"mrm.decision": "APPROVE", "mrm.decision_target": "champion",
                       "mrm.evaluated_at": FUTURE, "mrm.gate.mode": "webhook",
                       "mrm.decision_id": "00000000-0000-0000-0000-000000000000",
                       "mrm.tier": "low"},
}


@pytest.mark.parametrize("forged", FORGED.values(), ids=FORGED)
def test_forged_approval_tags_are_not_proof(rx, registry, forged):
    """On a plain MLflow server any owner can write mrm.* tags on a never-evaluated version."""
    _, client = registry
    name = fresh()
    never = make_version(client, name, auc=0.9)
    for k, v in forged.items():
        client.set_model_version_tag(name, never, k, v)
    bad = make_version(client, name, auc=0.4)
    out = promote(rx, client, name, bad)
    assert holder(client, name) is None, out
    assert out.detail["revert"] == {"action": "removed", "removed": True}


def test_forged_tags_copying_a_real_decision_of_another_version(rx, registry):
    _, client = registry
    name = fresh()
    approved = make_version(client, name, auc=0.9)
    promote(rx, client, name, approved)
    never = make_version(client, name, auc=0.9)
    for k, v in tags(client, name, approved).items():
        if k.startswith("mrm."):
            client.set_model_version_tag(name, never, k, v)
    client.set_model_version_tag(name, never, "mrm.evaluated_at", FUTURE)
    client.delete_model_version(name, approved)  # the real approval is gone
    bad = make_version(client, name, auc=0.4)
    promote(rx, client, name, bad)
    assert holder(client, name) is None


def test_an_approval_for_another_alias_is_not_restored(rx, registry):
    _, client = registry
    name = fresh()
    other = make_version(client, name, auc=0.9)
    promote(rx, client, name, other, alias="production")
    bad = make_version(client, name, auc=0.4)
    promote(rx, client, name, bad)
    assert holder(client, name) is None and holder(client, name, "production") == other


def test_an_approval_later_blocked_is_not_restored(rx, registry):
    _, client = registry
    name = fresh()
    v = make_version(client, name, auc=0.9)
    promote(rx, client, name, v)
    client.delete_model_version_tag(name, v, "owner")
    promote(rx, client, name, v)  # now BLOCK for champion
    client.set_model_version_tag(name, v, "owner", "alice")  # evidence as when it was approved
    bad = make_version(client, name, auc=0.4)
    promote(rx, client, name, bad)
    assert holder(client, name) is None


def test_a_version_changed_since_its_approval_is_not_restored(rx, registry):
    _, client = registry
    name = fresh()
    v = make_version(client, name, auc=0.9)
    promote(rx, client, name, v)
    client.set_model_version_tag(name, v, "mrm.risk_tier", "low")  # owner edits after approval
    bad = make_version(client, name, auc=0.4)
    promote(rx, client, name, bad)
    assert holder(client, name) is None


def test_an_approval_under_another_policy_is_not_restored(rx, registry):
    _, client = registry
    name = fresh()
    v = make_version(client, name, auc=0.9)
    promote(rx, client, name, v)
    policy = rx.cfg.path(rx.cfg.policy)
    policy.write_text(policy.read_text() + "\n# policy revised\n")
    bad = make_version(client, name, auc=0.4)
    promote(rx, client, name, bad)
    assert holder(client, name) is None


def _edit_line(path, index, change):
    lines = path.read_text().splitlines()
    rec = json.loads(lines[index])
    change(rec)
    lines[index] = json.dumps(rec, sort_keys=True, separators=(",", ":"))
    path.write_text("\n".join(lines) + "\n")


def _recompute(rec):
    from mrm_gate.audit import record_hash

    rec["sha256"] = record_hash(rec)


def _approve(rec):
    rec["decision"]["verdict"] = "APPROVE"


TAMPER = {
    "an unrelated record edited": (
        "approved", lambda r: r.__setitem__("recorded_at", "2020-01-01T00:00:00+00:00")),
    "its blocking record turned into an approval": ("blocked", _approve),
    "its blocking record turned into an approval, hash recomputed": (
        "blocked", lambda r: (_approve(r), _recompute(r))),
}


@pytest.mark.parametrize("case", TAMPER.values(), ids=TAMPER)
def test_a_tampered_log_proves_nothing(rx, registry, case):
    """Each tampered record would otherwise prove an approval (same policy, same evidence)."""
    _, client = registry
    scenario, change = case
    other = fresh("other")
    promote(rx, client, other, make_version(client, other, auc=0.9))  # an unrelated record
    name = fresh()
    v = make_version(client, name, auc=0.9)
    if scenario == "blocked":
        client.delete_model_version_tag(name, v, "owner")
    promote(rx, client, name, v)
    promote(rx, client, other, make_version(client, other, auc=0.9))  # a record after it
    records = log_records(rx)
    mine = next(i for i, r in enumerate(records) if r["kind"] == "webhook_alias"
                and r["decision"]["model"]["name"] == name)
    _edit_line(rx.cfg.decision_log_path, 0 if scenario == "approved" else mine, change)
    bad = make_version(client, name, auc=0.4)
    promote(rx, client, name, bad)
    assert holder(client, name) is None


def _attest(registry, name, version, *, key=HMAC_KEY, target="champion", env=None):
    """A real decision for the version, signed and attached as the attestation tag."""
    from mrm_gate.attestation import ATTESTATION_TAG, dumps, load_key, sign_decision
    from mrm_gate.evidence.source import SourceSettings
    from mrm_gate.gate import GateRequest, run_gate

    uri, client = registry
    decision = run_gate(GateRequest(subject=f"models:/{name}/{version}",
                                    policy=str(env / "policy.yaml"), target=target,
                                    settings=SourceSettings(tracking_uri=uri)))
    key_file = env / f"signing-{secrets.token_hex(4)}.key"
    key_file.write_text(key)
    signing = load_key(str(key_file))
    client.set_model_version_tag(name, version, ATTESTATION_TAG,
                                 dumps(sign_decision(decision, signing)))
    return decision


def test_restores_to_a_version_with_a_verified_attestation(rx, registry, tmp_path):
    _, client = registry
    name = fresh()
    attested = make_version(client, name, auc=0.9)
    _attest(registry, name, attested, env=tmp_path)
    bad = make_version(client, name, auc=0.4)
    out = promote(rx, client, name, bad)
    assert holder(client, name) == attested
    assert "attestation" in out.detail["revert"]["proof"]


ATTESTATIONS = {
    "signed with another key": {"key": "w" * 40},
    "for another alias": {"target": "production"},
}


@pytest.mark.parametrize("kwargs", ATTESTATIONS.values(), ids=ATTESTATIONS)
def test_an_attestation_that_does_not_verify_is_not_restored(rx, registry, tmp_path, kwargs):
    _, client = registry
    name = fresh()
    attested = make_version(client, name, auc=0.9)
    _attest(registry, name, attested, env=tmp_path, **kwargs)
    bad = make_version(client, name, auc=0.4)
    promote(rx, client, name, bad)
    assert holder(client, name) is None


def test_an_attestation_copied_to_another_version_is_not_restored(rx, registry, tmp_path):
    from mrm_gate.attestation import ATTESTATION_TAG

    _, client = registry
    name = fresh()
    attested = make_version(client, name, auc=0.9)
    _attest(registry, name, attested, env=tmp_path)
    copy = make_version(client, name, auc=0.9)
    client.set_model_version_tag(name, copy, ATTESTATION_TAG,
                                 tags(client, name, attested)[ATTESTATION_TAG])
    client.delete_model_version(name, attested)
    bad = make_version(client, name, auc=0.4)
    promote(rx, client, name, bad)
    assert holder(client, name) is None


AWKWARD_NAMES = ["it's", 'say "hi"', "back\\slash", "x' OR name = 'y", "50% off_", "naïve ü"]


@pytest.mark.parametrize("prefix", AWKWARD_NAMES)
def test_awkward_model_names_are_reverted_and_restored_exactly(rx, registry, prefix):
    """No filter string is built from a name: quotes cannot end it, and only this model's own
    approvals count."""
    _, client = registry
    name = fresh(prefix)
    decoy = prefix.split("'")[0].strip() or "decoy"
    good = make_version(client, name, auc=0.9)
    promote(rx, client, name, good)
    other = make_version(client, decoy + "-" + secrets.token_hex(2), auc=0.9)
    assert other  # a second model with approvals of its own is not confused with this one
    bad = make_version(client, name, auc=0.4)
    promote(rx, client, name, bad)
    assert holder(client, name) == good


@pytest.mark.parametrize("name,expected", [
    ("plain-name_1.x", "name = 'plain-name_1.x'"),
    ("it's", None), ('a"b', None), ("a\\", None), ("a\nb", None),
])
def test_name_filter_is_exact_or_absent(name, expected):
    from mrm_gate_mlflow.approvals import name_filter

    assert name_filter(name) == expected


# ---- 3. request hardening -------------------------------------------------------------------

@pytest.fixture
def quiet_rx(registry, tmp_path):
    """A receiver whose queued events do nothing (no early evaluation, unprotected alias)."""
    return build_receiver(str(_receiver_config(tmp_path, tracking_uri=registry[0])), None)


def _signed(text: str, *, ts=None, delivery=None):
    ts = str(int(time.time())) if ts is None else ts
    delivery = delivery or secrets.token_hex(8)
    sig = _generate_hmac_signature(SECRET, delivery, ts, text)
    return {"X-MLflow-Signature": sig, "X-MLflow-Timestamp": ts,
            "X-MLflow-Delivery-Id": delivery}, text.encode()


NOW = str(int(time.time()))
ARABIC_NOW = "".join(chr(0x0660 + int(c)) for c in NOW)
TIMESTAMPS = {
    "400 digits": "9" * 400, "5000 digits": "9" * 5000, "12 digits": "9" * 12,
    "negative": "-" + NOW, "plus sign": "+" + NOW, "float": NOW + ".5", "exponent": "1.7e9",
    "not a number": "yesterday", "unicode digits": ARABIC_NOW,
    "fullwidth digits": "".join(chr(0xFF10 + int(c)) for c in NOW),
    "underscores": NOW[:4] + "_" + NOW[4:], "spaces": f" {NOW} ", "hex": hex(int(NOW)),
}


@pytest.mark.parametrize("ts", TIMESTAMPS.values(), ids=TIMESTAMPS)
def test_malformed_timestamps_are_a_400(quiet_rx, ts):
    headers, body = _signed(json.dumps(BODY), ts=ts)
    with pytest.raises(Rejected) as info:
        quiet_rx.accept(headers, body)
    assert info.value.status == 400 and "Unix time" in info.value.message


@pytest.mark.parametrize("delivery", ["../../x", "a" * 500, "id with space", "id\u202e"])
def test_malformed_delivery_ids_are_a_400(quiet_rx, delivery):
    headers, body = _signed(json.dumps(BODY), delivery=delivery)
    with pytest.raises(Rejected) as info:
        quiet_rx.accept(headers, body)
    assert info.value.status == 400


def _alias_event(**data):
    return {"entity": "model_version_alias", "action": "created",
            "data": {"name": "wh-none", "alias": "challenger", "version": "1", **data}}


PAYLOADS = {
    "array": [BODY], "string": "model_version_alias.created", "number": 7, "null": None,
    "entity not a string": {**BODY, "entity": ["model_version_alias"]},
    "missing data": {"entity": "model_version_alias", "action": "created"},
    "data an array": {**BODY, "data": [BODY["data"]]},
    "name a number": _alias_event(name=5), "name null": _alias_event(name=None),
    "name a list": _alias_event(name=["wh-none"]), "name empty": _alias_event(name=""),
    "alias an object": _alias_event(alias={"a": 1}),
    "version text": _alias_event(version="latest"), "version true": _alias_event(version=True),
    "version negative": _alias_event(version="-1"), "version zero": _alias_event(version="0"),
    "version unicode digits": _alias_event(version="\u0663"),
    "version float": _alias_event(version=1.0),
}


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS)
def test_malformed_payloads_are_a_400(quiet_rx, payload):
    headers, body = _signed(json.dumps(payload))
    with pytest.raises(Rejected) as info:
        quiet_rx.accept(headers, body)
    assert info.value.status == 400


def test_deeply_nested_json_is_a_400(quiet_rx):
    headers, body = _signed("[" * 100_000 + "]" * 100_000)
    with pytest.raises(Rejected) as info:
        quiet_rx.accept(headers, body)
    assert info.value.status == 400


def test_events_it_does_not_handle_are_acknowledged(quiet_rx):
    headers, body = _signed(json.dumps({"entity": "registered_model", "action": "created",
                                        "data": {"name": "x"}}))
    assert quiet_rx.accept(headers, body) == "ignored"
    headers, body = _signed(json.dumps(_alias_event(name="it's \"quoted\"", version=3)))
    assert quiet_rx.accept(headers, body) == "queued"


class CountingStream:
    """A request body of `size` bytes produced on demand; counts what the server reads."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.read_bytes = 0

    def read(self, n: int = -1) -> bytes:
        left = self.size - self.read_bytes
        n = left if n is None or n < 0 else min(n, left)
        self.read_bytes += n
        return b" " * n

    def readline(self, limit: int = -1) -> bytes:
        return self.read(limit if limit and limit > 0 else 65536)


def _post_stream(app, stream, headers, *, declared: bool):
    """POST `stream` as the body, with its Content-Length or chunked (no declared length)."""
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Response

    env = EnvironBuilder(path="/webhook", method="POST", headers=headers).get_environ()
    env["wsgi.input"] = stream
    if declared:
        env["CONTENT_LENGTH"] = str(stream.size)
    else:
        env.pop("CONTENT_LENGTH", None)
        env["wsgi.input_terminated"] = True
    return Response.from_app(app, env)


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_100_mb_body_is_refused_without_reading_it(quiet_rx, declared):
    from mrm_gate_mlflow.webhook import MAX_BODY_BYTES

    headers, _ = _signed(json.dumps(BODY))
    stream = CountingStream(100 * 1024 * 1024)
    resp = _post_stream(create_receiver_app(quiet_rx), stream, headers, declared=declared)
    assert resp.status_code == 413 and "larger than" in json.loads(resp.data)["error"]
    assert stream.read_bytes <= MAX_BODY_BYTES + 65536


def test_unsigned_requests_are_refused_before_the_body_is_read(quiet_rx):
    stream = CountingStream(10 * 1024 * 1024)
    resp = _post_stream(create_receiver_app(quiet_rx), stream, {}, declared=True)
    assert resp.status_code == 401 and stream.read_bytes == 0


def test_a_400_digit_timestamp_over_http_is_a_400(quiet_rx):
    headers, body = _signed(json.dumps(BODY), ts="9" * 400)
    resp = create_receiver_app(quiet_rx).test_client().post("/webhook", data=body,
                                                            headers=headers)
    assert resp.status_code == 400
