"""The stdlib MLflow REST client: the same evidence as MlflowClient, without importing mlflow.

Server tests start a real, plain `mlflow server` (sqlite store, proxied artifacts, loopback);
the hostile-answer tests use a real HTTP server on loopback that answers what a compromised or
broken tracking server could.
"""

from __future__ import annotations

import base64
import http.server
import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from mrm_gate.errors import EvidenceError
from mrm_gate.evidence.mlflow_rest import MlflowRestClient, RestError, fallback_reason
from mrm_gate.evidence.mlflow_source import MlflowSource, version_evidence
from mrm_gate.evidence.source import SourceSettings

MLFLOW = str(Path(sys.executable).parent / "mlflow")
NAME = "rest-parity"
CARD = "# Card\n## Intended use\nScoring.\n## Limitations\nSmall sample.\n"
POLICY = """\
apiVersion: mrm-gate/v1
kind: Policy
metadata: {name: rest, version: "1"}
tiering: {default: standard}
tiers:
  standard:
    controls:
      - {id: T-DOC-001, check: metadata.required, params: {tags: [owner], fields: [description]}}
      - {id: T-DOC-002, check: metadata.required, params: {card_sections: [intended use]}}
      - {id: T-PERF-001, check: performance.threshold, params: {metric: auc, min: 0.7}}
      - {id: T-PERF-002, check: performance.no_regression, params: {metric: auc, tolerance: 0.05}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(autouse=True)
def _mlflow_env(monkeypatch, tmp_path):
    """No ambient MLflow settings, proxies or netrc from the machine running the tests."""
    for k in list(os.environ):
        if k.startswith("MLFLOW_TRACKING") or k.lower().endswith("_proxy") or k in (
                "MLFLOW_WORKSPACE", "MRM_GATE_MLFLOW_REST", "NETRC"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


# --- a real mlflow server ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A plain `mlflow server` (no app plugin), one worker, no job execution; always stopped."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING")}
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    log = open(root / "server.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        [MLFLOW, "server", "--backend-store-uri", f"sqlite:///{root}/mlflow.db",
         "--artifacts-destination", str(root / "artifacts"), "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("mlflow server did not start:\n"
                                   + (root / "server.log").read_text(errors="replace")[-3000:])
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.3)
        yield {"url": url, **_populate(url, root)}
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        log.close()


def _populate(url: str, root: Path) -> dict:
    """Versions whose evidence exercises every field the gate reads."""
    from mlflow.entities import Dataset, DatasetInput, InputTag
    from mlflow.tracking import MlflowClient

    client = MlflowClient(url, url)
    exp = client.create_experiment("rest")
    client.create_registered_model(NAME, tags={"owner": "alice", "unicode": "é—✓", "empty": ""},
                                   description="PD model")
    files = root / "files"
    (files / "data" / "sub").mkdir(parents=True)
    (files / "mrm").mkdir()
    (files / "model_card.md").write_text(CARD, encoding="utf-8")
    (files / "data" / "validation.csv").write_text("y,score\n1,0.9\n0,0.2\n", encoding="utf-8")
    (files / "data" / "sub" / "deep.csv").write_text("a\n1\n", encoding="utf-8")
    (files / "data" / "a b é.txt").write_text("x", encoding="utf-8")
    (files / "data" / "pct%41.txt").write_text("x", encoding="utf-8")  # MLflow lists it decoded
    (files / "mrm" / "evidence.yaml").write_text(yaml.safe_dump({
        "model_card_file": "model_card.md",
        "datasets": {"validation": {"path": "data/validation.csv", "target": "y",
                                    "score": "score"}},
        "extra": {"note": "ünïcode"}}), encoding="utf-8")

    def run_with(metrics: dict, *, inputs: bool) -> str:
        rid = client.create_run(exp, tags={"team": "risk", "mlflow.log-model.history": "[]",
                                           "ünï": "cödé"}).info.run_id
        for key, values in metrics.items():
            for step, v in enumerate(values):
                client.log_metric(rid, key, v, step=step)
        client.log_param(rid, "seed", "1")
        client.log_param(rid, "features", "a,b,ç")
        if inputs:
            client.log_inputs(rid, datasets=[
                DatasetInput(Dataset("train", "d1", "code", '{"x": 1}', schema='{"s": 1}',
                                     profile='{"rows": 2}'),
                             tags=[InputTag("mlflow.data.context", "training")]),
                DatasetInput(Dataset("valid", "d2", "local", "file:///v.csv"), tags=[]),
            ])
        client.log_artifacts(rid, str(files))
        client.set_terminated(rid)
        return rid

    metrics = {"auc": [0.5, 0.81], "count": [3], "neg": [-1.5], "big": [1e308],
               "tiny": [5e-324], "nan": [math.nan], "inf": [math.inf], "ninf": [-math.inf]}
    r1 = run_with(metrics, inputs=True)
    r2 = run_with({"auc": [0.79]}, inputs=False)
    # MLflow 3 logged model named like a run folder: `runs:/` listings merge its files in.
    lm = client.create_logged_model(exp, name="data", source_run_id=r2)
    lmfile = root / "lm" / "MLmodel"
    lmfile.parent.mkdir()
    lmfile.write_text("flavors: {}\n", encoding="utf-8")
    client.log_model_artifact(lm.model_id, str(lmfile))
    v1 = client.create_model_version(NAME, source=f"runs:/{r1}/model", run_id=r1,
                                     tags={"owner": "alice", "mrm.decision": "APPROVE",
                                           "validator": "bob"},
                                     description="candidate one").version
    client.set_registered_model_alias(NAME, "champion", v1)
    v2 = client.create_model_version(NAME, source=f"runs:/{r2}/model", run_id=r2,
                                     tags={"owner": "carol"}, description="two").version
    v3 = client.create_model_version(NAME, source="s3://bucket/nowhere/model").version  # no run
    return {"versions": [str(v1), str(v2), str(v3)], "runs": [r1, r2]}


def _mlflow_client(url):
    from mlflow.tracking import MlflowClient

    return MlflowClient(url, url)


@pytest.mark.server
@pytest.mark.parametrize("index", [0, 1, 2])
def test_evidence_identical_to_mlflow_client(server, index, monkeypatch):
    """Same Evidence (every field, metric types and order-sensitive lists) and the same content
    hash from the REST client as from MlflowClient; the declared files read byte-identical."""
    url, version = server["url"], server["versions"][index]
    # MLflow resolves a logged model's files through the process-global tracking URI (without
    # it, MlflowClient fails on v2's run, whose logged model `data` shares a folder's name).
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    old = version_evidence(_mlflow_client(url), url, NAME, version, "u")
    rest = MlflowRestClient(url)
    new = version_evidence(rest, url, NAME, version, "u", store_for=rest.store_for)
    # JSON keeps 3.0 apart from 3 and NaN equal to NaN (a dict compare would not)
    assert json.dumps(new.model_dump(mode="json"), sort_keys=True) == json.dumps(
        old.model_dump(mode="json"), sort_keys=True)
    assert new.content_sha256() == old.content_sha256()
    for key, value in old.run.metrics.items():
        assert type(new.run.metrics[key]) is type(value) is float
        assert (math.isnan(value) and math.isnan(new.run.metrics[key])) or \
            new.run.metrics[key] == value
    if index == 0:
        assert old.run.metrics["auc"] == 0.81 and old.run.datasets and old.run.artifacts
        assert "data/pctA.txt" in old.run.artifacts and "data/sub/deep.csv" in old.run.artifacts
        for path in ("mrm/evidence.yaml", "model_card.md", "data/validation.csv"):
            assert new.open_file(path).read_bytes() == old.open_file(path).read_bytes()
    if index == 2:
        assert old.model.run_id is None and old.run.run_id is None


@pytest.mark.server
def test_listings_identical_including_logged_model(server, monkeypatch):
    """Each level of every listing, in order, as MlflowClient.list_artifacts gives it, including
    the MLflow 3 logged model whose files appear under the run folder of the same name."""
    url = server["url"]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    mc, rest = _mlflow_client(url), MlflowRestClient(url)
    for run_id in server["runs"]:
        for path in (None, "data", "data/sub", "mrm", "mrm/evidence.yaml", "missing"):
            old = [(f.path, f.is_dir, f.file_size) for f in mc.list_artifacts(run_id, path)]
            new = [(f.path, f.is_dir, f.file_size) for f in rest.list_artifacts(run_id, path)]
            assert new == old, (run_id, path)
    merged = [f.path for f in rest.list_artifacts(server["runs"][1], "data")]
    assert "data/MLmodel" in merged  # the logged model's file


def _tree(path: Path) -> dict:
    if path.is_file():
        return {".": path.read_bytes()}
    return {p.relative_to(path): p.read_bytes() for p in path.rglob("*") if p.is_file()}


@pytest.mark.server
def test_artifact_downloads_identical(server, tmp_path, monkeypatch):
    """A file, or a folder with everything below it, has the same bytes as MLflow downloads
    (each into its own place: MLflow puts `a/b.csv` at `<dst>/b.csv`, so two files with the
    same name in different folders overwrite each other there; the REST store keeps the path)."""
    import mlflow.artifacts

    url = server["url"]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    rest = MlflowRestClient(url)
    for run_id in server["runs"]:
        for i, path in enumerate(("data", "model_card.md", "data/sub/deep.csv", "data/sub")):
            a, b = tmp_path / f"old-{run_id}-{i}", tmp_path / f"new-{run_id}-{i}"
            pa = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path,
                                                     dst_path=str(a), tracking_uri=url)
            pb = rest.download_artifact(run_id, path, str(b))
            assert Path(pb) == b / path
            assert _tree(Path(pa)) == _tree(Path(pb)) != {}
    with pytest.raises(RestError) as exc:
        rest.download_artifact(server["runs"][0], "nothing/here.csv", str(tmp_path / "x"))
    assert exc.value.error_code == "RESOURCE_DOES_NOT_EXIST"


@pytest.mark.server
def test_cold_evaluate_does_not_import_mlflow(server, tmp_path, monkeypatch):
    """A cold `mrm-gate evaluate models:/...` against the server: decided on the same evidence
    hash as the MlflowClient path, and no `mlflow` module in the process at exit."""
    url, version = server["url"], server["versions"][1]
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY, encoding="utf-8")
    modules = tmp_path / "modules.json"
    out = tmp_path / "reports"
    code = (
        "import atexit, json, runpy, sys\n"
        f"atexit.register(lambda: open({str(modules)!r}, 'w').write(\n"
        "    json.dumps(sorted(sys.modules))))\n"
        "runpy.run_module('mrm_gate', run_name='__main__')\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    proc = subprocess.run(
        [sys.executable, "-c", code, "evaluate", f"models:/{NAME}/{version}", "--policy",
         str(policy), "--tracking-uri", url, "--target", "champion", "--format", "json",
         "--output", str(out), "--quiet"], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    loaded = json.loads(modules.read_text())
    assert [m for m in loaded if m == "mlflow" or m.startswith("mlflow.")] == []
    for heavy in ("pandas", "numpy", "scipy", "requests", "rich"):
        assert heavy not in loaded, heavy
    decision = json.loads(next(out.glob("*.json")).read_text())
    assert decision["verdict"] == "APPROVE"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)  # see test_evidence_identical_...
    expected = version_evidence(_mlflow_client(url), url, NAME, version, "u").content_sha256()
    assert decision["evidence_sha256"] == expected
    outcomes = {o["control_id"]: o["status"] for o in decision["outcomes"]}
    assert outcomes["T-PERF-002"] == "PASS"  # the champion (v1) was read too


@pytest.mark.server
def test_source_chooses_rest_for_http_and_mlflow_client_otherwise(server, tmp_path,
                                                                  monkeypatch):
    src = MlflowSource(SourceSettings(tracking_uri=server["url"]))
    assert isinstance(src.client(), MlflowRestClient)
    ev = src.load(f"models:/{NAME}@champion")
    assert ev.model.version == server["versions"][0]
    assert src.baseline(ev, alias="nobody-holds-this") is None
    with pytest.raises(EvidenceError, match="no version 99"):
        src.load(f"models:/{NAME}/99")
    with pytest.raises(EvidenceError, match="not found"):
        src.load("models:/no-such-model/1")
    monkeypatch.setenv("MRM_GATE_MLFLOW_REST", "0")
    assert not isinstance(MlflowSource(SourceSettings(tracking_uri=server["url"])).client(),
                          MlflowRestClient)
    monkeypatch.delenv("MRM_GATE_MLFLOW_REST")
    sqlite = MlflowSource(SourceSettings(tracking_uri=f"sqlite:///{tmp_path / 'm.db'}"))
    assert not isinstance(sqlite.client(), MlflowRestClient)


# --- when the MLflow client must be used ---------------------------------------------------------

@pytest.mark.parametrize(("uri", "env", "why"), [
    ("sqlite:///x.db", {}, "not an http"),
    ("file:///tmp/mlruns", {}, "not an http"),
    ("databricks", {}, "not an http"),
    ("http://u:p@host:5000", {}, "credentials inside"),
    ("http://host:5000", {"MLFLOW_TRACKING_AUTH": "my_plugin"}, "auth plugin"),
    ("http://host:5000", {"MLFLOW_TRACKING_AWS_SIGV4": "true"}, "SigV4"),
    ("http://host:5000", {"MLFLOW_TRACKING_INSECURE_TLS": "maybe"}, "not true/false"),
    ("https://host", {"MLFLOW_TRACKING_INSECURE_TLS": "1",
                      "MLFLOW_TRACKING_SERVER_CERT_PATH": "/ca.pem"}, "both"),
    ("http://host:5000", {"HTTP_PROXY": "http://proxy:3128"}, "proxy"),
    ("https://host", {"https_proxy": "http://proxy:3128"}, "proxy"),
    ("http://host:5000", {"MRM_GATE_MLFLOW_REST": "0"}, "turns the REST client off"),
])
def test_fallback_to_mlflow_client(monkeypatch, uri, env, why):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    reason = fallback_reason(uri)
    assert reason is not None and why in reason


def test_netrc_falls_back(monkeypatch, tmp_path):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine host login a password b\n")
    monkeypatch.setenv("NETRC", str(netrc))
    assert "netrc" in fallback_reason("http://host:5000")


@pytest.mark.parametrize("uri", ["http://127.0.0.1:5000", "https://mlflow.example/prefix"])
def test_plain_http_uses_rest(monkeypatch, uri):
    monkeypatch.setenv("NO_PROXY", "*")  # a proxy variable that bypasses everything
    assert fallback_reason(uri) is None


# --- a real HTTP server answering like a broken or hostile tracking server -----------------------

class _Fake:
    """Answers each path from `routes` (status, body); records request headers."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, object, dict]] = {}
        self.seen: list[dict] = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                fake.seen.append({"path": self.path, **dict(self.headers)})
                path = self.path.split("?", 1)[0]
                if self.command == "POST":
                    self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, body, headers = fake.routes.get(path, (404, {"error_code": "ENDPOINT_"
                                                               "NOT_FOUND", "message": "no"}, {}))
                raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = _answer

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def route(self, path: str, body, status: int = 200, headers: dict | None = None) -> None:
        self.routes[path] = (status, body, headers or {})


@pytest.fixture
def fake():
    f = _Fake()
    yield f
    f.httpd.shutdown()
    f.httpd.server_close()


RUN_ID = "r1"


def _good_routes(fake: _Fake) -> None:
    fake.route("/api/2.0/mlflow/registered-models/get",
               {"registered_model": {"name": "m", "tags": [{"key": "owner", "value": "a"}]}})
    fake.route("/api/2.0/mlflow/model-versions/get",
               {"model_version": {"name": "m", "version": "1", "run_id": RUN_ID,
                                  "description": "d", "tags": []}})
    fake.route("/api/2.0/mlflow/runs/get", {"run": {
        "info": {"run_id": RUN_ID, "experiment_id": "1",
                 "artifact_uri": f"mlflow-artifacts:/1/{RUN_ID}/artifacts"},
        "data": {"metrics": [{"key": "auc", "value": 0.8}]}}})
    fake.route("/api/2.0/mlflow-artifacts/artifacts", {"files": []})
    fake.route("/api/2.0/mlflow/logged-models/search", {"models": []})


def _load(fake: _Fake):
    return MlflowSource(SourceSettings(tracking_uri=fake.url, timeout_s=3)).load("models:/m/1")


def test_fake_server_baseline(fake):
    _good_routes(fake)
    ev = _load(fake)
    assert ev.run.metrics == {"auc": 0.8} and ev.model.registered_model_tags == {"owner": "a"}


@pytest.mark.parametrize(("path", "body"), [
    # metric values protobuf's JSON parser refuses
    ("/api/2.0/mlflow/runs/get", {"run": {"info": {"run_id": RUN_ID},
                                          "data": {"metrics": [{"key": "auc", "value": True}]}}}),
    ("/api/2.0/mlflow/runs/get", {"run": {"info": {"run_id": RUN_ID},
                                          "data": {"metrics": [{"key": "auc", "value": "nan"}]}}}),
    ("/api/2.0/mlflow/runs/get", {"run": {"info": {"run_id": RUN_ID},
                                          "data": {"metrics": [{"key": "auc", "value": "x"}]}}}),
    ("/api/2.0/mlflow/runs/get", {"run": {"info": {"run_id": RUN_ID},
                                          "data": {"metrics": [{"key": "auc",
                                                                "value": [1]}]}}}),
    ("/api/2.0/mlflow/runs/get", b'{"run": {"data": {"metrics": [{"key": "a", "value": NaN}]}}}'),
    # wrong types where strings / lists / objects belong
    ("/api/2.0/mlflow/runs/get", {"run": {"info": {"run_id": 5}}}),
    ("/api/2.0/mlflow/runs/get", {"run": {"data": {"tags": {"k": "v"}}}}),
    ("/api/2.0/mlflow/runs/get", {"run": {"data": {"params": [{"key": "k", "value": 1}]}}}),
    ("/api/2.0/mlflow/runs/get", {"run": ["not", "an", "object"]}),
    ("/api/2.0/mlflow/runs/get", {"run": {"inputs": {"dataset_inputs": [{"dataset": 3}]}}}),
    ("/api/2.0/mlflow/model-versions/get", {"model_version": {"aliases": [1], "run_id": "r"}}),
    ("/api/2.0/mlflow/model-versions/get", {"model_version": {"creation_timestamp": "soon"}}),
    ("/api/2.0/mlflow/registered-models/get", {"registered_model": {"tags": [{"key": None,
                                                                             "value": []}]}}),
    # not JSON, not an object
    ("/api/2.0/mlflow/runs/get", b"<html>proxy error</html>"),
    ("/api/2.0/mlflow/runs/get", b"[1, 2]"),
    # listings that escape the artifact root, as MLflow's validate_path_is_safe refuses
    ("/api/2.0/mlflow-artifacts/artifacts", {"files": [{"path": "../x", "is_dir": False}]}),
    ("/api/2.0/mlflow-artifacts/artifacts", {"files": [{"path": "%2e%2e/x", "is_dir": False}]}),
    ("/api/2.0/mlflow-artifacts/artifacts", {"files": [{"path": "/etc/passwd",
                                                        "is_dir": False}]}),
    ("/api/2.0/mlflow-artifacts/artifacts", {"files": [{"path": "C:\\x", "is_dir": False}]}),
    ("/api/2.0/mlflow-artifacts/artifacts", {"files": [{"path": "a#b", "is_dir": False}]}),
    ("/api/2.0/mlflow-artifacts/artifacts", {"files": [{"path": "file:///etc/passwd",
                                                        "is_dir": False}]}),
    ("/api/2.0/mlflow-artifacts/artifacts", {"files": "nope"}),
])
def test_hostile_or_broken_answers_block(fake, path, body):
    """Whatever the server answers that MLflow's client would not accept is an evidence error
    (the gate blocks), never a silently different evidence."""
    _good_routes(fake)
    fake.route(path, body)
    with pytest.raises(EvidenceError):
        _load(fake)


@pytest.mark.parametrize(("status", "body", "match"), [
    (404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "gone"}, "not found"),
    (403, {"error_code": "PERMISSION_DENIED", "message": "no"}, "PERMISSION_DENIED"),
    (401, b"Unauthorized", "401"),
    (500, b"boom", "500"),
    (503, {"error_code": "TEMPORARILY_UNAVAILABLE", "message": "later"}, "TEMPORARILY"),
])
def test_error_answers_block_with_the_reason(fake, status, body, match):
    _good_routes(fake)
    fake.route("/api/2.0/mlflow/registered-models/get", body, status=status)
    with pytest.raises(EvidenceError, match=match):
        _load(fake)


def test_transient_error_is_retried_once(fake):
    _good_routes(fake)
    calls = []
    original = fake.routes["/api/2.0/mlflow/model-versions/get"]

    class Once(dict):
        def get(self, key, default=None):
            if key == "/api/2.0/mlflow/model-versions/get":
                calls.append(key)
                if len(calls) == 1:
                    return (503, b"busy", {})
                return original
            return dict.get(self, key, default)

    fake.routes = Once(fake.routes)
    assert _load(fake).model.version == "1"


def test_cross_origin_redirect_is_refused_without_sending_credentials(fake, monkeypatch):
    other = _Fake()
    try:
        _good_routes(other)
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "secret-token")
        fake.route("/api/2.0/mlflow/registered-models/get", b"",
                   status=302, headers={"Location": other.url + "/steal"})
        with pytest.raises(EvidenceError, match="redirected"):
            _load(fake)
        assert other.seen == []
    finally:
        other.httpd.shutdown()
        other.httpd.server_close()


@pytest.mark.parametrize(("env", "expected"), [
    ({"MLFLOW_TRACKING_USERNAME": "ann", "MLFLOW_TRACKING_PASSWORD": "pw"},
     "Basic " + base64.b64encode(b"ann:pw").decode()),
    ({"MLFLOW_TRACKING_TOKEN": "tok"}, "Bearer tok"),
    ({"MLFLOW_TRACKING_USERNAME": "ann", "MLFLOW_TRACKING_PASSWORD": "pw",
      "MLFLOW_TRACKING_TOKEN": "tok"}, "Basic " + base64.b64encode(b"ann:pw").decode()),
    ({"MLFLOW_TRACKING_USERNAME": "ann"}, None),  # a username alone sends nothing (as MLflow)
    ({}, None),
])
def test_credentials_as_mlflow_sends_them(fake, monkeypatch, env, expected):
    _good_routes(fake)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    _load(fake)
    assert {r.get("Authorization") for r in fake.seen} == {expected}


def test_credentials_file_as_mlflow_reads_it(fake, monkeypatch, tmp_path):
    _good_routes(fake)
    creds = tmp_path / "home" / ".mlflow" / "credentials"
    creds.parent.mkdir(parents=True)
    creds.write_text("[mlflow]\nmlflow_tracking_username = fileuser\n"
                     "mlflow_tracking_password = filepw\n")
    _load(fake)
    assert {r.get("Authorization") for r in fake.seen} == {
        "Basic " + base64.b64encode(b"fileuser:filepw").decode()}


def test_unreachable_server_blocks_within_the_timeout():
    port = _free_port()  # nothing listens there
    client = MlflowRestClient(f"http://127.0.0.1:{port}", timeout_s=2)
    t = time.monotonic()
    with pytest.raises(RestError) as exc:
        client.get_registered_model("m")
    assert exc.value.error_code == "TEMPORARILY_UNAVAILABLE"
    assert time.monotonic() - t < 5


@pytest.fixture
def tls_fake(fake, tmp_path):
    """The fake server behind TLS with a self-signed certificate for 127.0.0.1."""
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    import datetime as dt
    import ipaddress

    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    pem = tmp_path / "cert.pem"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile = tmp_path / "key.pem"
    keyfile.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pem, keyfile)
    fake.httpd.socket = ctx.wrap_socket(fake.httpd.socket, server_side=True)
    _good_routes(fake)
    return fake.url.replace("http://", "https://"), pem


def test_tls_is_verified_unless_told_otherwise(tls_fake, monkeypatch):
    """A self-signed server is refused by default, accepted with its certificate named
    (MLFLOW_TRACKING_SERVER_CERT_PATH) or with MLFLOW_TRACKING_INSECURE_TLS, as MLflow does."""
    url, pem = tls_fake
    with pytest.raises(RestError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify"):
        MlflowRestClient(url, timeout_s=3).get_registered_model("m")
    monkeypatch.setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", str(pem))
    assert MlflowRestClient(url, timeout_s=3).get_registered_model("m").tags == {"owner": "a"}
    monkeypatch.delenv("MLFLOW_TRACKING_SERVER_CERT_PATH")
    monkeypatch.setenv("MLFLOW_TRACKING_INSECURE_TLS", "true")
    assert MlflowRestClient(url, timeout_s=3).get_registered_model("m").name == "m"
