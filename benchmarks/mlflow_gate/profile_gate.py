"""Where a gated promotion spends its time, measured inside one process (no HTTP, no uvicorn).

    .venv/bin/python benchmarks/mlflow_gate/profile_gate.py --mode evaluate [--calls 200]
    .venv/bin/python benchmarks/mlflow_gate/profile_gate.py --mode attestation --profile

MLflow's Flask app runs in this process with the server's stores (sqlite + a local artifact
destination, as `mlflow server` configures them) and the gate installed. Requests go through
Flask's test client, interleaved: `@champion` (protected: the gate evaluates or verifies) and
`@challenger` (not protected: the same request path, hook lookup included, with no gate work),
so the difference of the two is the gate's own cost without network noise. With `--profile`,
cProfile runs over the gated calls and prints the top functions by cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
POLICY = HERE / "policy.yaml"
KEY_ENV = "MRM_GATE_BENCH_HMAC"
MODEL = "bench-credit"


def quantile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def setup(tmp: Path, mode: str):
    os.environ.update({
        "_MLFLOW_SERVER_FILE_STORE": f"sqlite:///{tmp}/mlflow.db",
        "_MLFLOW_SERVER_REGISTRY_STORE": f"sqlite:///{tmp}/mlflow.db",
        "_MLFLOW_SERVER_ARTIFACT_ROOT": "mlflow-artifacts:/",
        "_MLFLOW_SERVER_ARTIFACT_DESTINATION": str(tmp / "artifacts"),
        "_MLFLOW_SERVER_SERVE_ARTIFACTS": "true",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    })
    os.environ.setdefault(KEY_ENV, secrets.token_hex(32))
    import yaml

    cfg = {"apiVersion": "mrm-gate/v1", "kind": "MlflowGate", "mode": mode,
           "policy": str(POLICY), "decision_log": str(tmp / "decisions.jsonl"),
           "protected_aliases": ["champion"]}
    if mode == "attestation":
        cfg["attestation"] = {"keys": [f"env:{KEY_ENV}"], "max_age": "1h"}
    (tmp / "gate.yaml").write_text(yaml.safe_dump(cfg))
    from mlflow.server import app
    from mrm_gate_mlflow.app import install
    from mrm_gate_mlflow.config import load_config
    from mrm_gate_mlflow.gate import Gate

    gate = Gate(load_config(tmp / "gate.yaml"))
    install(app, gate)
    return app.test_client(), gate


def call(c, path: str, body: dict, method: str = "POST") -> dict:
    r = c.open(path, method=method, json=body)
    if r.status_code != 200:
        raise SystemExit(f"{path} {body}: {r.status_code} {r.get_data()[:500]!r}")
    return r.get_json() or {}


def populate(c, n: int, mode: str) -> list[str]:
    exp = call(c, "/api/2.0/mlflow/experiments/create", {"name": "bench"})["experiment_id"]
    call(c, "/api/2.0/mlflow/registered-models/create", {"name": MODEL})
    versions = []
    for _ in range(n):
        run = call(c, "/api/2.0/mlflow/runs/create", {"experiment_id": exp})["run"]["info"]
        call(c, "/api/2.0/mlflow/runs/log-metric", {"run_id": run["run_id"], "key": "auc",
                                                     "value": 0.9, "timestamp": 0, "step": 0})
        mv = call(c, "/api/2.0/mlflow/model-versions/create", {
            "name": MODEL, "source": f"{run['artifact_uri']}/model", "run_id": run["run_id"],
            "tags": [{"key": "owner", "value": "alice"}],
            "description": "Scores retail credit applications."})["model_version"]
        versions.append(mv["version"])
    if mode == "attestation":
        from mrm_gate_mlflow.server_store import InProcessArtifactStore, InProcessClient

        from mrm_gate import attestation as att
        from mrm_gate.engine import evaluate
        from mrm_gate.evidence.mlflow_source import MlflowSource
        from mrm_gate.evidence.source import SourceSettings
        from mrm_gate.policy import load_policy

        policy, key = load_policy(POLICY), att.load_key(f"env:{KEY_ENV}")
        for v in versions:
            client = InProcessClient()
            src = MlflowSource(SourceSettings(client=client, store_for=lambda r, c=client:
                                              InProcessArtifactStore(r, c)))
            ev = src.load(f"models:/{MODEL}/{v}")
            decision = evaluate(policy, ev, target="champion",
                                baseline=src.baseline_resolver(ev), actor="ci")
            call(c, "/api/2.0/mlflow/model-versions/set-tag", {
                "name": MODEL, "version": v, "key": att.ATTESTATION_TAG,
                "value": att.dumps(att.sign_decision(decision, key))})
    return versions


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["evaluate", "attestation"], default="evaluate")
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--versions", type=int, default=20)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    import logging

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("mrm_gate_mlflow").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="mrm-gate-profile-") as tmpdir:
        c, _gate = setup(Path(tmpdir), args.mode)
        versions = populate(c, args.versions, args.mode)
        prof = cProfile.Profile() if args.profile else None
        times: dict[str, list[float]] = {"plain": [], "gated": []}
        for i in range(args.warmup + args.calls):
            v = versions[i % len(versions)]
            order = [("plain", "challenger"), ("gated", "champion")]
            if i % 2:
                order.reverse()
            for kind, alias in order:
                t = time.perf_counter()
                if prof is not None and kind == "gated":
                    prof.enable()
                call(c, "/api/2.0/mlflow/registered-models/alias",
                     {"name": MODEL, "alias": alias, "version": v})
                if prof is not None and kind == "gated":
                    prof.disable()
                if i >= args.warmup:
                    times[kind].append((time.perf_counter() - t) * 1000)
    out = {k: {"p50_ms": quantile(v, 0.5), "p90_ms": quantile(v, 0.9),
               "mean_ms": statistics.fmean(v)} for k, v in times.items()}
    out["gate_p50_ms"] = out["gated"]["p50_ms"] - out["plain"]["p50_ms"]
    print(json.dumps({"mode": args.mode, "calls": args.calls, **out}, indent=2))
    if prof is not None:
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats("cumulative").print_stats(45)
        print(s.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
