"""A real gated server attacked the way a hostile or careless client would (issue 11).

Each test fails open (or 500s) on the gate as it was before the one-pipeline rewrite: a
recording failure left an APPROVE tag, a registry read error skipped non-regression, a swapped
policy of the same size was enforced from cache, malformed bodies gave 500, owners could not
set the tags the policy asks them for.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sqlite3
import time

import pytest
import requests
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from .conftest import DATA, gate_config, make_version

pytestmark = pytest.mark.server

POLICY = DATA / "hardening-policy.yaml"
ALIAS_PATH = "/api/2.0/mlflow/registered-models/alias"


@pytest.fixture(scope="module")
def srv(server_factory):
    s = server_factory("hardening")
    shutil.copy(POLICY, s.root / "policy.yaml")
    s.write_config(gate_config(s.root, policy=str(s.root / "policy.yaml")))
    return s.start()


@pytest.fixture(scope="module")
def client(srv):
    return MlflowClient(tracking_uri=srv.url, registry_uri=srv.url)


def records(srv, kind=None) -> list[dict]:
    path = srv.root / "log" / "decisions.jsonl"
    if not path.exists():
        return []
    out = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in out if kind is None or r["kind"] == kind]


def alias_holder(srv, name: str, alias: str = "champion") -> str | None:
    """Read from the registry database itself (the REST read of a registered model loads every
    version, which a test may have made unreadable on purpose)."""
    with sqlite3.connect(srv.root / "mlflow.db") as con:
        row = con.execute("SELECT version FROM registered_model_aliases WHERE name = ? AND "
                          "alias = ?", (name, alias)).fetchone()
    return str(row[0]) if row else None


# ---- recording: the decision log before the tags --------------------------------------------


@pytest.mark.parametrize("broken", ["not-a-log", "directory"])
def test_a_decision_the_log_cannot_hold_leaves_no_approval(srv, client, broken):
    """The log append fails after the gate decided APPROVE: the promotion is refused and no tag
    claims an approval that no log holds."""
    warm = make_version(client, f"hard-log-warm-{broken}", auc=0.9)
    client.set_registered_model_alias(f"hard-log-warm-{broken}", "champion", warm)
    name = f"hard-log-{broken}"
    v = make_version(client, name, auc=0.9)
    log = srv.root / "log" / "decisions.jsonl"
    saved = log.with_name("decisions.saved")
    log.rename(saved)
    try:
        if broken == "directory":
            log.mkdir()
        else:
            log.write_text("this line is not a decision record\n")
        with pytest.raises(MlflowException) as info:
            client.set_registered_model_alias(name, "champion", v)
    finally:
        if log.is_dir():
            log.rmdir()
        else:
            log.unlink()
        saved.rename(log)
    text = str(info.value)
    assert "PERMISSION_DENIED" in text and "record" in text and "fail closed" in text
    tags = client.get_model_version(name, v).tags
    assert tags.get("mrm.decision") != "APPROVE"
    assert "mrm.decision_id" not in tags
    assert alias_holder(srv, name) is None
    # the log itself is intact and holds no decision about this version
    assert not [r for r in records(srv, "decision")
                if r["decision"]["model"]["name"] == name]
    from mrm_gate.audit import verify

    assert verify(log).ok


# ---- fail-open baseline ---------------------------------------------------------------------


def test_a_registry_read_error_on_the_baseline_blocks(srv, client):
    """The champion's registry row cannot be read (its text is not valid UTF-8, as after a
    bad migration or disk corruption): no-regression is ERROR and blocks, it is not "no
    champion" (which this policy would skip)."""
    name = "hard-registry"
    champion = make_version(client, name, auc=0.9)
    client.set_registered_model_alias(name, "champion", champion)  # first model: skipped
    candidate = make_version(client, name, auc=0.88)
    with sqlite3.connect(srv.root / "mlflow.db") as con:
        con.execute("UPDATE model_versions SET description = CAST(X'C328FFFE' AS TEXT) "
                    "WHERE name = ? AND version = ?", (name, int(champion)))
    # the plain client reads the registered model first (which now fails): ask over REST
    resp = requests.post(srv.url + ALIAS_PATH, timeout=60,
                         json={"name": name, "alias": "champion", "version": candidate})
    assert resp.status_code == 403, resp.text[:500]
    text = resp.json()["message"]
    assert "MRM-PERF-003 (block) ERROR" in text and "baseline" in text
    assert alias_holder(srv, name) == champion
    last = [r for r in records(srv, "decision")
            if r["decision"]["model"]["name"] == name][-1]["decision"]
    assert last["verdict"] == "BLOCK"
    outcome = next(o for o in last["outcomes"] if o["control_id"] == "MRM-PERF-003")
    assert outcome["status"] == "ERROR"


# ---- the policy is re-read when its content changes -----------------------------------------


def test_a_swapped_policy_of_the_same_size_and_mtime_is_enforced(srv, client):
    policy = srv.root / "policy.yaml"
    good = policy.read_text()
    strict = good.replace("min: 0.70", "min: 0.95", 1)
    assert strict != good and len(strict) == len(good)
    warm = make_version(client, "hard-swap-warm", auc=0.9)
    client.set_registered_model_alias("hard-swap-warm", "champion", warm)  # policy cached
    v = make_version(client, "hard-swap", auc=0.9)
    st = policy.stat()
    try:
        policy.write_text(strict)
        os.utime(policy, ns=(st.st_atime_ns, st.st_mtime_ns))
        now = policy.stat()
        assert (now.st_size, now.st_mtime_ns) == (st.st_size, st.st_mtime_ns)
        with pytest.raises(MlflowException) as info:
            client.set_registered_model_alias("hard-swap", "champion", v)
        assert "MRM-PERF-001" in str(info.value) and "min 0.95" in str(info.value)
    finally:
        policy.write_text(good)
    client.set_registered_model_alias("hard-swap", "champion", v)
    assert alias_holder(srv, "hard-swap") == v


# ---- malformed requests: MLflow's own 400, never a 500 --------------------------------------

BODY = {"name": "hard-malformed", "alias": "champion", "version": "1"}
JSON = "application/json"
MALFORMED = {
    "text/plain": (ALIAS_PATH, "POST", json.dumps(BODY), "text/plain"),
    "form": (ALIAS_PATH, "POST", "name=hard-malformed&alias=champion&version=1",
             "application/x-www-form-urlencoded"),
    "no content type": (ALIAS_PATH, "POST", json.dumps(BODY), None),
    "json string": (ALIAS_PATH, "POST", '"champion"', JSON),
    "json array": (ALIAS_PATH, "POST", json.dumps(list(BODY.values())), JSON),
    "json number": (ALIAS_PATH, "POST", "3", JSON),
    "json true": (ALIAS_PATH, "POST", "true", JSON),
    "json null": (ALIAS_PATH, "POST", "null", JSON),
    "invalid utf-8": (ALIAS_PATH, "POST",
                      b'{"name": "hard-\xff\xfe", "alias": "champion", "version": "1"}', JSON),
    "not json": (ALIAS_PATH, "POST", '{"name": "hard-malformed", alias', JSON),
    "empty body": (ALIAS_PATH, "POST", "", JSON),
    "missing name": (ALIAS_PATH, "POST", json.dumps({**BODY, "name": None}), JSON),
    "missing alias": (ALIAS_PATH, "POST", json.dumps({k: v for k, v in BODY.items()
                                                      if k != "alias"}), JSON),
    "missing version": (ALIAS_PATH, "POST", json.dumps({k: v for k, v in BODY.items()
                                                        if k != "version"}), JSON),
    "name is a list": (ALIAS_PATH, "POST", json.dumps({**BODY, "name": ["a"]}), JSON),
    "name is a number": (ALIAS_PATH, "POST", json.dumps({**BODY, "name": 5}), JSON),
    "alias is an object": (ALIAS_PATH, "POST", json.dumps({**BODY, "alias": {"a": 1}}), JSON),
    "version is a list": (ALIAS_PATH, "POST", json.dumps({**BODY, "version": [1]}), JSON),
    "version is a word": (ALIAS_PATH, "POST", json.dumps({**BODY, "version": "one"}), JSON),
    "version 5000 digits": (ALIAS_PATH, "POST", json.dumps({**BODY, "version": "9" * 5000}),
                            JSON),
    "name 100k chars": (ALIAS_PATH, "POST", json.dumps({**BODY, "name": "m" * 100_000}), JSON),
    "alias 100k chars": (ALIAS_PATH, "POST", json.dumps({**BODY, "alias": "c" * 100_000}),
                         JSON),
    "delete alias, array": (ALIAS_PATH, "DELETE", "[]", JSON),
    "stage, string": ("/api/2.0/mlflow/model-versions/transition-stage", "POST", '"x"', JSON),
    "stage, missing stage": ("/api/2.0/mlflow/model-versions/transition-stage", "POST",
                             json.dumps({"name": "hard-malformed", "version": "1"}), JSON),
    "version tag, array": ("/api/2.0/mlflow/model-versions/set-tag", "POST", "[1]", JSON),
    "model tag, number": ("/api/2.0/mlflow/registered-models/set-tag", "POST", "7", JSON),
    "ui path, string": ("/ajax-api/2.0/mlflow/registered-models/alias", "POST", '"x"', JSON),
}


@pytest.fixture(scope="module")
def malformed_version(client):
    return make_version(client, "hard-malformed", auc=0.9)


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_requests_get_mlflows_own_400(srv, malformed_version, case):
    path, method, body, content_type = MALFORMED[case]
    headers = {"Content-Type": content_type} if content_type else {}
    resp = requests.request(method, srv.url + path, data=body, headers=headers, timeout=60)
    assert resp.status_code == 400, (resp.status_code, resp.text[:300])
    assert resp.headers["Content-Type"].startswith("application/json")
    err = resp.json()
    assert err["error_code"] == "INVALID_PARAMETER_VALUE"
    assert len(resp.content) < 5000  # a 100 kB value is not echoed back
    assert alias_holder(srv, "hard-malformed") is None


# ---- non-finite metrics ---------------------------------------------------------------------


def _log_metric_rest(srv, run_id: str, value) -> None:
    resp = requests.post(f"{srv.url}/api/2.0/mlflow/runs/log-metric", timeout=60, json={
        "run_id": run_id, "key": "auc", "value": value,
        "timestamp": int(time.time() * 1000), "step": 0})
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize("how,value", [("client", math.inf), ("client", math.nan),
                                       ("rest", "Infinity"), ("rest", "NaN")])
def test_a_non_finite_metric_cannot_be_promoted(srv, client, how, value):
    name = f"hard-metric-{how}-{str(value).lower()}"
    if how == "client":
        v = make_version(client, name, auc=value)
    else:
        v = make_version(client, name, auc=None)
        _log_metric_rest(srv, client.get_model_version(name, v).run_id, value)
    with pytest.raises(MlflowException) as info:
        client.set_registered_model_alias(name, "champion", v)
    text = str(info.value)
    assert "PERMISSION_DENIED" in text and "MRM-PERF-001" in text
    assert alias_holder(srv, name) is None
    assert client.get_model_version(name, v).tags["mrm.decision"] == "BLOCK"


# ---- evidence containment -------------------------------------------------------------------

SECRET = "TOPSECRET_db_password_hunter2"


@pytest.mark.parametrize("form", ["absolute", "file-uri", "dot-dot", "json-path"])
def test_a_dataset_source_outside_the_run_is_never_read(srv, client, form):
    """A run dataset input naming a server-local file: the gate must not read it (if it did,
    this file would pass the data-quality control) and never quote its contents."""
    from mlflow.entities import Dataset, DatasetInput, InputTag

    secret = srv.root / "server-secret.csv"
    secret.write_text(f"age,{SECRET}\n30,1\n41,2\n")
    location = {"absolute": str(secret), "file-uri": secret.as_uri(),
                "dot-dot": "../../../../../../../../" + str(secret).lstrip("/"),
                "json-path": str(secret)}[form]
    source = (json.dumps({"path": location}) if form == "json-path"
              else json.dumps({"uri": location}))
    name = f"hard-contain-{form}"
    v = make_version(client, name, auc=0.9, tags={"mrm.risk_tier": "high"})
    run_id = client.get_model_version(name, v).run_id
    client.log_inputs(run_id, datasets=[DatasetInput(
        Dataset(name="validation-data", digest="d0", source_type="local", source=source),
        tags=[InputTag("mlflow.data.context", "validation")])])
    with pytest.raises(MlflowException) as info:
        client.set_registered_model_alias(name, "champion", v)
    text = str(info.value)
    assert "PERMISSION_DENIED" in text and "MRM-DQ-001" in text
    assert SECRET not in text and "hunter2" not in text
    assert alias_holder(srv, name) is None
    logged = [r for r in records(srv, "decision") if r["decision"]["model"]["name"] == name]
    assert logged and SECRET not in json.dumps(logged)


# ---- owner-declared tags the policy asks for ------------------------------------------------


def test_tags_the_policy_asks_owners_to_set_are_writable(srv, client):
    v = make_version(client, "hard-owner", auc=0.9)
    client.set_model_version_tag("hard-owner", v, "mrm.monitoring", "grafana: credit/pd")
    client.set_registered_model_tag("hard-owner", "mrm.model_risk_fund", "2500000")
    client.set_model_version_tag("hard-owner", v, "mrm.exposure", "1000000")
    assert client.get_model_version("hard-owner", v).tags["mrm.monitoring"] \
        == "grafana: credit/pd"
    with pytest.raises(MlflowException) as info:
        client.set_model_version_tag("hard-owner", v, "mrm.not_read_by_the_policy", "x")
    text = str(info.value)
    assert "reserved" in text and "owner_tags" in text and "gate.yaml" in text


# ---- what a platform team watches -----------------------------------------------------------


def scrape(srv) -> dict[tuple, float]:
    from prometheus_client.parser import text_string_to_metric_families

    resp = requests.get(f"{srv.url}/mrm-gate/metrics", timeout=30)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(resp.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_each_decision_is_one_log_line_and_is_counted(srv, client):
    good = make_version(client, "hard-observe", auc=0.9)
    bad = make_version(client, "hard-observe", auc=0.5)
    before = scrape(srv)
    client.set_registered_model_alias("hard-observe", "champion", good)
    with pytest.raises(MlflowException):
        client.set_registered_model_alias("hard-observe", "champion", bad)
    requests.post(srv.url + ALIAS_PATH, data='"x"', timeout=30,
                  headers={"Content-Type": JSON})
    after = scrape(srv)

    def delta(name: str, **labels) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("mrm_gate_decisions_total", mode="evaluate", verdict="APPROVE",
                 outcome="allowed") == 1
    assert delta("mrm_gate_decisions_total", mode="evaluate", verdict="BLOCK",
                 outcome="refused") == 1
    assert delta("mrm_gate_refusals_total", reason="verdict") == 1
    assert delta("mrm_gate_refusals_total", reason="malformed_request") == 1
    assert delta("mrm_gate_decision_seconds_count", mode="evaluate") == 2

    lines = []
    for raw in srv.output().splitlines():
        if '"event": "mrm_gate.decision"' in raw:
            line = json.loads(raw[raw.index("{"):])
            if line["model"] == "hard-observe":
                lines.append(line)
    assert [(x["version"], x["verdict"], x["allowed"]) for x in lines] == [
        (good, "APPROVE", True), (bad, "BLOCK", False)]
    for x in lines:
        assert set(x) >= {"model", "version", "target", "verdict", "decision_id",
                          "duration_ms", "mode", "actor"}
        assert x["target"] == "champion" and x["mode"] == "evaluate"
        assert x["duration_ms"] > 0 and len(x["decision_id"]) >= 8
    logged_ids = {r["decision"]["id"] for r in records(srv, "decision")}
    assert {x["decision_id"] for x in lines} <= logged_ids
