"""Signed checkpoints of the decision log in the MLflow registry (issue 11, "Decision log you
can trust").

* The gated server (one real server for the module): every promotion appends a record and
  anchors it in a registered model only the gate writes; no client request can touch that
  model; `mrm-gate gate-log verify` names a truncated or rewritten log; a truncated log stops
  the gate (a promotion is refused rather than anchored backwards).
* The webhook receiver (a real sqlite registry, no server): its log is anchored through the
  MLflow client, and no approval in a log that no longer holds its anchored head is trusted.
* The configuration lists every checkpoint problem at start-up.

Each test fails on the plugin before checkpoints (the `decision_log_checkpoint` key did not
exist, the anchor model was writable, approvals were trusted from a truncated log).
"""

from __future__ import annotations

import json
import secrets
import shutil
from pathlib import Path

import pytest
import requests
import yaml
from mlflow import MlflowClient

from mrm_gate.audit import record_hash
from mrm_gate.cli import run

from .conftest import DATA, gate_config, make_version

KEY_VAR = "MRM_TEST_CHECKPOINT_KEY"
KEY = secrets.token_hex(32)
ANCHOR = "mrm-gate-decision-log"
API = "/api/2.0/mlflow"


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def write_lines(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, sort_keys=True, separators=(",", ":")) + "\n"
                            for r in records))


def truncate_tail(path: Path) -> None:
    """Remove the newest record: the shorter log is still a valid chain."""
    write_lines(path, lines(path)[:-1])


def rewrite_tail(path: Path) -> None:
    """Edit the newest record and recompute its hash: still a valid chain."""
    recs = lines(path)
    recs[-1]["recorded_at"] = "2020-01-01T00:00:00+00:00"
    recs[-1]["sha256"] = record_hash(recs[-1])
    write_lines(path, recs)


def anchor_heads(tags: dict) -> dict[str, int]:
    """tag -> anchored seq, read from the (unverified) envelopes."""
    import base64

    out = {}
    for k, v in tags.items():
        if k.startswith("mrm.checkpoint."):
            out[k] = json.loads(base64.b64decode(json.loads(v)["payload"]))["seq"]
    return out


# ---- the gated server ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def srv(server_factory):
    s = server_factory("checkpoints", env={KEY_VAR: KEY})
    s.write_config(gate_config(s.root, decision_log_checkpoint={
        "key": f"env:{KEY_VAR}", "store": "registry", "history": 4}))
    return s.start()


@pytest.fixture(scope="module")
def client(srv):
    return MlflowClient(tracking_uri=srv.url, registry_uri=srv.url)


@pytest.fixture(scope="module")
def promoted(srv, client):
    """Five protected promotions (decisions), so the ring of 4 has wrapped."""
    name = f"cp-{secrets.token_hex(3)}"
    for _ in range(5):
        client.set_registered_model_alias(name, "champion", make_version(client, name, auc=0.9))
    return name


def log_path(srv) -> Path:
    return srv.root / "log" / "decisions.jsonl"


def gate_log_verify(srv, capsys, monkeypatch, *extra) -> tuple[int, str]:
    monkeypatch.setenv(KEY_VAR, KEY)
    capsys.readouterr()
    code = run(["gate-log", "verify", "--config", str(srv.config_path), "--tracking-uri",
                srv.url, *extra])
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.server
def test_every_promotion_is_anchored_in_the_registry(srv, client, promoted):
    recs = lines(log_path(srv))
    tags = client.get_registered_model(ANCHOR).tags
    heads = anchor_heads(tags)
    assert heads["mrm.checkpoint.latest"] == recs[-1]["seq"] == len(recs) - 1
    # the ring holds the last 4 heads, one tag each
    ring = sorted(v for k, v in heads.items() if k != "mrm.checkpoint.latest")
    assert ring == list(range(len(recs) - 4, len(recs)))
    import os

    from mrm_gate.attestation import load_key
    from mrm_gate.audit import Checkpoint

    os.environ[KEY_VAR] = KEY
    cp = Checkpoint.verify(tags["mrm.checkpoint.latest"], [load_key(f"env:{KEY_VAR}")])
    assert cp.head_sha256 == recs[-1]["sha256"] and cp.log_id == recs[0]["sha256"]


@pytest.mark.server
def test_gate_log_verify_passes_on_the_intact_log(srv, promoted, capsys, monkeypatch):
    code, out = gate_log_verify(srv, capsys, monkeypatch)
    assert code == 0, out
    assert "anchored: the log holds every checkpointed head" in out
    assert "registered model 'mrm-gate-decision-log'" in out


TAMPERING = {"tail truncated": (truncate_tail, "tail truncation"),
             "last record rewritten, hash recomputed": (rewrite_tail, "was rewritten at or "
                                                                      "below seq")}


@pytest.mark.server
@pytest.mark.parametrize("case", TAMPERING.values(), ids=TAMPERING)
def test_gate_log_verify_names_truncation_and_rewrite(srv, promoted, capsys, monkeypatch,
                                                      case):
    tamper, named = case
    log = log_path(srv)
    saved = log.read_bytes()
    try:
        tamper(log)
        # the chain alone still verifies: only the registry's checkpoints show it
        from mrm_gate.audit import verify

        assert verify(log).ok
        code, out = gate_log_verify(srv, capsys, monkeypatch)
        assert code == 1, out
        assert "TAMPERED" in out and named in out
    finally:
        log.write_bytes(saved)


@pytest.mark.server
def test_a_truncated_log_stops_the_gate(srv, client, promoted):
    """The gate does not anchor a head below the registry's: the promotion is refused."""
    from mlflow.exceptions import MlflowException

    log = log_path(srv)
    saved = log.read_bytes()
    before = client.get_registered_model(ANCHOR).tags
    v = make_version(client, promoted, auc=0.9)
    try:
        truncate_tail(log)
        truncate_tail(log)
        with pytest.raises(MlflowException) as info:
            client.set_registered_model_alias(promoted, "champion", v)
        assert "could not record it" in str(info.value)
        assert "the log was truncated or rolled back" in str(info.value)
        assert client.get_registered_model(ANCHOR).tags == before  # not anchored backwards
        # the decision is in the log (unanchored), followed by the record that it was refused
        tail = lines(log)[-2:]
        assert [r["kind"] for r in tail] == ["decision", "recording_failed"]
        assert tail[1]["decision"]["promotion"] == "refused"
        assert client.get_registered_model(promoted).aliases["champion"] != v
    finally:
        log.write_bytes(saved)


ANCHOR_REQUESTS = {
    "set a tag": ("POST", "registered-models/set-tag",
                  {"name": ANCHOR, "key": "mrm.checkpoint.latest", "value": "{}"}),
    "set an unrelated tag": ("POST", "registered-models/set-tag",
                             {"name": ANCHOR, "key": "note", "value": "x"}),
    "delete a tag": ("DELETE", "registered-models/delete-tag",
                     {"name": ANCHOR, "key": "mrm.checkpoint.latest"}),
    "delete the model": ("DELETE", "registered-models/delete", {"name": ANCHOR}),
    "rename it away": ("POST", "registered-models/rename",
                       {"name": ANCHOR, "new_name": "elsewhere"}),
    "rename another model onto its name": ("POST", "registered-models/rename",
                                           {"name": "{other}", "new_name": ANCHOR}),
    "rename onto its name in capitals": ("POST", "registered-models/rename",
                                         {"name": "{other}", "new_name": ANCHOR.upper()}),
    "update its description": ("PATCH", "registered-models/update",
                               {"name": ANCHOR, "description": "x"}),
    "create it again": ("POST", "registered-models/create", {"name": ANCHOR}),
    "set an alias on it": ("POST", "registered-models/alias",
                           {"name": ANCHOR, "alias": "x", "version": "1"}),
    "add a version": ("POST", "model-versions/create",
                      {"name": ANCHOR, "source": "/tmp/x"}),
}


@pytest.mark.server
@pytest.mark.parametrize("path_prefix", ["/api/2.0/mlflow", "/ajax-api/2.0/mlflow"])
@pytest.mark.parametrize("req", ANCHOR_REQUESTS.values(), ids=ANCHOR_REQUESTS)
def test_clients_cannot_touch_the_anchor_model(srv, client, promoted, req, path_prefix):
    method, route, body = req
    other = f"cp-other-{secrets.token_hex(3)}"
    client.create_registered_model(other)
    body = {k: (other if v == "{other}" else v) for k, v in body.items()}
    before = client.get_registered_model(ANCHOR)
    resp = requests.request(method, f"{srv.url}{path_prefix}/{route}", json=body, timeout=30)
    assert resp.status_code == 403, resp.text
    assert resp.json()["error_code"] == "PERMISSION_DENIED"
    after = client.get_registered_model(ANCHOR)
    assert (after.name, after.tags, after.description) == (before.name, before.tags,
                                                           before.description)
    assert client.get_registered_model(other).name == other


@pytest.mark.server
def test_other_models_are_still_renamed_and_described(srv, client):
    name = f"cp-free-{secrets.token_hex(3)}"
    client.create_registered_model(name)
    client.update_registered_model(name, description="fine")
    client.rename_registered_model(name, name + "-renamed")
    assert client.get_registered_model(name + "-renamed").description == "fine"


# ---- the webhook receiver (sqlite registry through the MLflow client) ---------------------


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    import os

    root = tmp_path_factory.mktemp("cp-registry")
    uri = f"sqlite:///{root}/mlflow.db"
    os.environ[KEY_VAR] = KEY
    c = MlflowClient(tracking_uri=uri, registry_uri=uri)
    c.create_experiment("plugin-tests", artifact_location=(root / "artifacts").as_uri())
    yield uri, c
    os.environ.pop(KEY_VAR, None)


@pytest.fixture
def rx(registry, tmp_path):
    from mrm_gate_mlflow.webhook import build_receiver

    uri = registry[0]
    shutil.copy(DATA / "policy.yaml", tmp_path / "policy.yaml")
    (tmp_path / "secret.txt").write_text(secrets.token_hex(24))
    model = f"anchor-{secrets.token_hex(4)}"  # one anchor per receiver log
    cfg = gate_config(tmp_path, policy=str(tmp_path / "policy.yaml"), webhook={
        "secret": "secret.txt", "tracking_uri": uri, "revert": "restore",
        "evaluate_on_create": False},
        decision_log_checkpoint={"key": f"env:{KEY_VAR}", "store": "registry",
                                 "model": model})
    (tmp_path / "gate.yaml").write_text(yaml.safe_dump(cfg))
    return build_receiver(str(tmp_path / "gate.yaml"), None)


def promote(rx, client, name, version):
    client.set_registered_model_alias(name, "champion", version)
    rx.on_alias_created(name, "champion", version)
    return rx.outcomes[-1]


def holder(client, name):
    v = client.get_registered_model(name).aliases.get("champion")
    return None if v is None else str(v)


def _delete_anchor_tags(rx, client):
    model = rx.cfg.decision_log_checkpoint.model
    for k in list(client.get_registered_model(model).tags):
        client.delete_registered_model_tag(model, k)


def _forge_anchor(rx, client):
    """A checkpoint of the truncated log signed with another key."""
    from mrm_gate.attestation import Key
    from mrm_gate.audit import Checkpoint

    recs = lines(rx.cfg.decision_log_path)[:-1]
    write_lines(rx.cfg.decision_log_path, recs)
    env = Checkpoint.now(recs[0]["sha256"], recs[-1]["seq"], recs[-1]["sha256"]).sign(
        Key(alg="HS256", kid="hmac:attacker", secret=b"a" * 32))
    model = rx.cfg.decision_log_checkpoint.model
    for k in client.get_registered_model(model).tags:
        client.set_registered_model_tag(model, k, json.dumps(env))


RX_TAMPERING = {
    "log tail truncated": lambda rx, c: truncate_tail(rx.cfg.decision_log_path),
    "last record rewritten, hash recomputed": lambda rx, c: rewrite_tail(
        rx.cfg.decision_log_path),
    "checkpoints deleted from the registry": _delete_anchor_tags,
    "log truncated and anchor forged without the key": _forge_anchor,
}


def test_receiver_anchors_every_record_and_restores_from_an_intact_log(rx, registry):
    _, c = registry
    name = f"rx-{secrets.token_hex(3)}"
    good = make_version(c, name, auc=0.9)
    promote(rx, c, name, good)
    out = promote(rx, c, name, make_version(c, name, auc=0.4))
    assert out.detail["revert"]["restored_to"] == good
    recs = lines(rx.cfg.decision_log_path)
    tags = c.get_registered_model(rx.cfg.decision_log_checkpoint.model).tags
    assert anchor_heads(tags)["mrm.checkpoint.latest"] == recs[-1]["seq"]


@pytest.mark.parametrize("tamper", RX_TAMPERING.values(), ids=RX_TAMPERING)
def test_receiver_trusts_no_approval_in_a_log_below_its_checkpoint(rx, registry, tamper):
    """The approval of `good` is still in the log, its chain still verifies; only the
    checkpoints show that records were removed or rewritten, so nothing in it is proof."""
    _, c = registry
    name = f"rx-{secrets.token_hex(3)}"
    good = make_version(c, name, auc=0.9)
    promote(rx, c, name, good)
    other = f"rx-other-{secrets.token_hex(3)}"
    promote(rx, c, other, make_version(c, other, auc=0.9))  # the newest record
    tamper(rx, c)
    bad = make_version(c, name, auc=0.4)
    out = promote(rx, c, name, bad)
    assert holder(c, name) is None, out.detail
    assert out.detail["revert"]["action"] == "removed"


# ---- configuration --------------------------------------------------------------------------


def _config(tmp_path, **cp) -> Path:
    shutil.copy(DATA / "policy.yaml", tmp_path / "policy.yaml")
    cfg = gate_config(tmp_path, policy=str(tmp_path / "policy.yaml"),
                      decision_log_checkpoint=cp)
    path = tmp_path / "gate.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _public_key(tmp_path) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pub = Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "pub.pem").write_bytes(pub)
    return "pub.pem"


BAD_CONFIGS = {
    "unset key variable": ({"key": "env:MRM_TEST_UNSET_VAR", "store": "registry"},
                           "MRM_TEST_UNSET_VAR is not set"),
    "public key": ({"key": "{public}", "store": "registry"}, "is a public key"),
    "bad model name": ({"key": f"env:{KEY_VAR}", "store": "registry", "model": "a/../b"},
                       "model:"),
    "the log itself": ({"key": f"env:{KEY_VAR}", "store": "log/decisions.jsonl"},
                       "is the decision log itself"),
    "a directory": ({"key": f"env:{KEY_VAR}", "store": "."}, "is a directory"),
    "missing store": ({"key": f"env:{KEY_VAR}"}, "store"),
    "unknown key": ({"key": f"env:{KEY_VAR}", "store": "registry", "histroy": 3},
                    "histroy"),
    "negative history": ({"key": f"env:{KEY_VAR}", "store": "registry", "history": -1},
                         "history"),
}


@pytest.mark.parametrize("case", BAD_CONFIGS.values(), ids=BAD_CONFIGS)
def test_checkpoint_config_problems_are_refused_at_start_up(tmp_path, monkeypatch, case):
    from mrm_gate_mlflow.config import load_config

    from mrm_gate.errors import UserError

    monkeypatch.setenv(KEY_VAR, KEY)
    cp, message = case
    cp = {k: (_public_key(tmp_path) if v == "{public}" else v) for k, v in cp.items()}
    with pytest.raises(UserError) as info:
        load_config(_config(tmp_path, **cp))
    text = str(info.value)
    assert message in text and "decision_log_checkpoint" in text


def test_every_problem_is_listed_at_once(tmp_path, monkeypatch):
    from mrm_gate_mlflow.config import load_config

    from mrm_gate.errors import UserError

    monkeypatch.delenv("MRM_TEST_UNSET_VAR", raising=False)
    path = _config(tmp_path, key="env:MRM_TEST_UNSET_VAR", store="registry", model="a/../b")
    data = yaml.safe_load(path.read_text())
    data["policy"] = str(tmp_path / "missing-policy.yaml")
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(UserError) as info:
        load_config(path)
    text = str(info.value)
    assert "MRM_TEST_UNSET_VAR" in text and "model:" in text and "policy" in text


def test_a_valid_checkpoint_config_loads(tmp_path, monkeypatch):
    from mrm_gate_mlflow.config import load_config

    monkeypatch.setenv(KEY_VAR, KEY)
    cfg = load_config(_config(tmp_path, key=f"env:{KEY_VAR}", store="anchors/cp.jsonl"))
    assert cfg.decision_log_checkpoint.model == ANCHOR
    assert cfg.path(cfg.decision_log_checkpoint.store) == tmp_path / "anchors" / "cp.jsonl"
