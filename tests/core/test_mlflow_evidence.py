"""MLflow evidence source against a real local tracking store (sqlite file in tmp)."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
import yaml
from core_helpers import BASE_POLICY, write

from mrm_gate.cli import run
from mrm_gate.errors import EvidenceError
from mrm_gate.evidence import load_evidence

CARD = "# Card\n## Intended use\nScoring.\n## Limitations\nSmall sample.\n"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A sqlite tracking store with model `credit-pd` v1 (champion, auc .80) and v2 (.76)."""
    import mlflow
    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(uri, uri)
    exp = client.create_experiment("e", artifact_location=(root / "artifacts").as_uri())
    client.create_registered_model("credit-pd", tags={"owner": "alice"},
                                   description="PD model for retail loans")
    for i, auc in enumerate([0.80, 0.76], start=1):
        run_ = client.create_run(exp)
        rid = run_.info.run_id
        client.log_metric(rid, "auc", auc)
        client.log_metric(rid, "ks", 0.4)
        client.log_metric(rid, "brier", 0.05)
        client.log_param(rid, "seed", "1")
        tmp = root / f"files{i}"
        write(tmp / "model_card.md", CARD)
        write(tmp / "mrm" / "evidence.yaml", yaml.safe_dump({"model_card_file":
                                                             "model_card.md"}))
        client.log_artifacts(rid, str(tmp))
        client.set_terminated(rid)
        mv = client.create_model_version("credit-pd", f"runs:/{rid}/model", run_id=rid)
        client.set_model_version_tag("credit-pd", mv.version, "validator", "bob")
    client.set_registered_model_alias("credit-pd", "champion", "1")
    mlflow.set_tracking_uri(None)
    return uri


def test_version_and_alias_load_the_same_evidence(store) -> None:
    by_version = load_evidence("models:/credit-pd/1", tracking_uri=store)
    by_alias = load_evidence("models:/credit-pd@champion", tracking_uri=store)
    assert by_version.content_sha256() == by_alias.content_sha256()
    ev = by_version
    assert ev.source_kind == "mlflow" and ev.model.version == "1"
    assert ev.model.tag("owner") == "alice"  # registered model tag as fallback
    assert ev.model.tags["validator"] == "bob" and ev.model.aliases == ["champion"]
    assert ev.run.metrics["auc"] == pytest.approx(0.80) and ev.run.params["seed"] == "1"
    assert "model_card.md" in ev.run.artifacts and ev.model_card_file == "model_card.md"
    assert ev.open_file("model_card.md").read_text() == CARD  # fetched on demand


def test_evaluate_model_uri_with_champion_baseline(store, tmp_path, capsys) -> None:
    policy = write(tmp_path / "p.yaml", BASE_POLICY)
    rc = run(["evaluate", "models:/credit-pd/2", "--policy", str(policy), "--tracking-uri",
              store, "--target", "champion", "--format", "json"])
    d = json.loads(capsys.readouterr().out)
    assert rc == 1 and d["verdict"] == "BLOCK"
    reg = next(o for o in d["outcomes"] if o["control_id"] == "MRM-PERF-002")
    assert reg["status"] == "FAIL" and "@champion (v1)" in reg["result"]["message"]
    assert d["model"]["source_kind"] == "mlflow" and d["evidence_provenance"]["run_id"]


MISSING = {
    "model": ("models:/nope/1", "registered model 'nope' not found"),
    "version": ("models:/credit-pd/99", "has no version 99"),
    "alias": ("models:/credit-pd@production", "no version of 'credit-pd' holds alias"),
    "malformed uri": ("models:/credit-pd", "is not of the form"),
}


@pytest.mark.parametrize("uri,fragment", MISSING.values(), ids=MISSING.keys())
def test_missing_model_blocks_with_a_clear_reason(store, tmp_path, uri, fragment,
                                                  capsys) -> None:
    policy = write(tmp_path / "p.yaml", BASE_POLICY)
    rc = run(["evaluate", uri, "--policy", str(policy), "--tracking-uri", store,
              "--format", "json"])
    cap = capsys.readouterr()
    assert rc == 1, cap.err
    d = json.loads(cap.out)
    assert d["verdict"] == "BLOCK" and fragment in d["outcomes"][0]["result"]["message"]
    assert "Traceback" not in cap.err


def test_export_reproduces_the_evidence_and_decision(store, tmp_path, capsys) -> None:
    ev = load_evidence("models:/credit-pd/2", tracking_uri=store)
    out = tmp_path / "exported"
    assert run(["evidence", "export", "models:/credit-pd/2", "--out", str(out),
                "--tracking-uri", store]) == 0
    local = load_evidence(str(out))
    assert local.content_sha256() == ev.content_sha256()
    assert (out / "model_card.md").read_text() == CARD
    assert local.baselines["champion"].version == "1"
    policy = write(tmp_path / "p.yaml", BASE_POLICY)
    capsys.readouterr()
    assert run(["evaluate", "--evidence", str(out), "--policy", str(policy), "--target",
                "champion", "--format", "json"]) == 1
    d = json.loads(capsys.readouterr().out)
    assert d["evidence_sha256"] == ev.content_sha256()
    assert any(o["control_id"] == "MRM-PERF-002" and o["status"] == "FAIL"
               for o in d["outcomes"])
    # never overwrites: exporting into a non-empty folder is refused
    assert run(["evidence", "export", "models:/credit-pd/2", "--out", str(out),
                "--tracking-uri", store]) == 2


@pytest.fixture
def silent_server():
    """A TCP server that accepts connections and never answers (a hung tracking server)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    conns: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conns.append(sock.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    stop.set()
    t.join(2)
    for c in conns:
        c.close()
    sock.close()


def test_unresponsive_server_blocks_within_a_bounded_wait(silent_server) -> None:
    start = time.monotonic()
    with pytest.raises(EvidenceError, match=r"registered model|did not answer|cannot read"):
        load_evidence("models:/credit-pd/1", tracking_uri=silent_server, timeout_s=1.0)
    assert time.monotonic() - start < 20


def test_refused_connection_blocks_fast() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    start = time.monotonic()
    with pytest.raises(EvidenceError, match="did not answer"):
        load_evidence("models:/m/1", tracking_uri=f"http://127.0.0.1:{port}", timeout_s=2)
    assert time.monotonic() - start < 5


def test_no_tracking_uri_is_explained(monkeypatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(EvidenceError, match="no tracking URI"):
        load_evidence("models:/m/1")


def test_run_evidence_extra_and_gate_reports(store) -> None:
    """`extra` in mrm/evidence.yaml is read; the gate's own reports are not evidence."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(store, store)
    before = load_evidence("models:/credit-pd/1", tracking_uri=store)
    rid = before.run.run_id
    client.log_text(rid, "{}", "mrm/decisions/report.json")
    after = load_evidence("models:/credit-pd/1", tracking_uri=store)
    assert after.content_sha256() == before.content_sha256()
    assert not any(a.startswith("mrm/decisions") for a in after.run.artifacts)
    client.log_text(rid, yaml.safe_dump({"model_card_file": "model_card.md",
                                         "extra": {"ticket": "MRM-42"}}), "mrm/evidence.yaml")
    ev = load_evidence("models:/credit-pd/1", tracking_uri=store)
    assert ev.extra == {"ticket": "MRM-42"}
