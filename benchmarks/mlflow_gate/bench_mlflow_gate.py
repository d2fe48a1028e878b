"""Latency of `set_registered_model_alias`: plain MLflow vs the gated server, in one run.

    .venv/bin/python benchmarks/mlflow_gate/bench_mlflow_gate.py [--calls 300] [--versions 30]

Starts three real servers side by side (sqlite store, loopback, `--workers 1`, job execution
off): plain `mlflow server`, `--app-name mrm-gate` in `evaluate` mode with a metadata +
performance policy (threshold, no-regression against @champion), and `--app-name mrm-gate` in
`attestation` mode (HMAC). Each gets the same registry: N
versions, each with its own run; in attestation mode each version carries a signed record made
the way CI makes it. Calls are interleaved (one per server per round, rotating the order), so
load from other processes on the machine hits all three alike. Reports p50/p90/p99 per server
and the gate's overhead over plain MLflow; writes benchmarks/results/mlflow_gate.json.

With `--checkpoint`, two more gated servers run in the same rounds, `evaluate+checkpoint` and
`attestation+checkpoint`, whose configuration adds `decision_log_checkpoint: {store: registry}`
(an HMAC-signed head written to the registry after each append): the difference of their p50
with their peer's is the cost of anchoring the log. Writes
benchmarks/results/mlflow_gate_checkpoint.json instead.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
POLICY = HERE / "policy.yaml"
RESULTS = ROOT / "benchmarks" / "results" / "mlflow_gate.json"
RESULTS_CHECKPOINT = ROOT / "benchmarks" / "results" / "mlflow_gate_checkpoint.json"
KEY_ENV = "MRM_GATE_BENCH_HMAC"
CHECKPOINT = {"key": f"env:{KEY_ENV}", "store": "registry"}
MODEL = "bench-credit"


def quantile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def summary(ms: list[float]) -> dict:
    return {"calls": len(ms), "p50_ms": quantile(ms, 0.5), "p90_ms": quantile(ms, 0.9),
            "p99_ms": quantile(ms, 0.99), "mean_ms": statistics.fmean(ms), "max_ms": max(ms)}


def start_servers(tmp: Path, checkpoint: bool = False):
    from mrm_gate_mlflow.testing import MlflowServer

    def gated(name: str, **cfg) -> MlflowServer:
        root = tmp / name
        root.mkdir()
        srv = MlflowServer(root, env={KEY_ENV: os.environ[KEY_ENV]})
        srv.write_config({"apiVersion": "mrm-gate/v1", "kind": "MlflowGate",
                          "policy": str(POLICY), "decision_log": str(root / "decisions.jsonl"),
                          "protected_aliases": ["champion"], **cfg})
        return srv

    (tmp / "plain").mkdir()
    servers = {
        "plain": MlflowServer(tmp / "plain", app_name=None),
        "evaluate": gated("evaluate", mode="evaluate"),
        "attestation": gated("attestation", mode="attestation",
                             attestation={"keys": [f"env:{KEY_ENV}"], "max_age": "1h"}),
    }
    if checkpoint:
        servers["evaluate+checkpoint"] = gated("evaluate-cp", mode="evaluate",
                                               decision_log_checkpoint=CHECKPOINT)
        servers["attestation+checkpoint"] = gated(
            "attestation-cp", mode="attestation", decision_log_checkpoint=CHECKPOINT,
            attestation={"keys": [f"env:{KEY_ENV}"], "max_age": "1h"})
    for name, srv in servers.items():
        t = time.perf_counter()
        srv.start()
        print(f"  {name:12s} server up in {time.perf_counter() - t:4.1f} s ({srv.url})",
              flush=True)
    return servers


def populate(name: str, srv, n: int) -> tuple[object, list[str]]:
    """N versions of one model, each with its own run; attested when the server needs it."""
    from mlflow import MlflowClient
    from mrm_gate_mlflow.testing import make_version

    client = MlflowClient(tracking_uri=srv.url, registry_uri=srv.url)
    versions = [make_version(client, MODEL, auc=0.9) for _ in range(n)]
    if name.startswith("attestation"):
        from mrm_gate import attestation as att
        from mrm_gate.engine import evaluate
        from mrm_gate.evidence import load_evidence_with_baseline
        from mrm_gate.policy import load_policy

        policy, key = load_policy(POLICY), att.load_key(f"env:{KEY_ENV}")
        for v in versions:
            ev, base = load_evidence_with_baseline(f"models:/{MODEL}/{v}", tracking_uri=srv.url)
            decision = evaluate(policy, ev, target="champion", baseline=base, actor="ci")
            client.set_model_version_tag(MODEL, v, att.ATTESTATION_TAG,
                                         att.dumps(att.sign_decision(decision, key)))
    return client, versions


def main() -> int:
    import logging

    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=300, help="measured calls per server")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--versions", type=int, default=30)
    ap.add_argument("--checkpoint", action="store_true",
                    help="also run both gated modes with registry checkpoints of the log")
    args = ap.parse_args()
    os.environ.setdefault(KEY_ENV, secrets.token_hex(32))
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    from mlflow.exceptions import MlflowException

    logging.getLogger("mlflow").setLevel(logging.WARNING)  # after MLflow configured it

    with tempfile.TemporaryDirectory(prefix="mrm-gate-bench-") as tmpdir:
        servers = start_servers(Path(tmpdir), args.checkpoint)
        try:
            setup = {}
            for name, srv in servers.items():
                t = time.perf_counter()
                setup[name] = populate(name, srv, args.versions)
                print(f"  {name:12s} {args.versions} versions ready in "
                      f"{time.perf_counter() - t:4.1f} s", flush=True)
            names = list(servers)
            timings: dict[str, list[float]] = {n: [] for n in names}
            for i in range(args.warmup + args.calls):
                k = i % len(names)
                order = names[k:] + names[:k]
                for name in order:
                    client, versions = setup[name]
                    v = versions[i % len(versions)]
                    t = time.perf_counter()
                    try:
                        client.set_registered_model_alias(MODEL, "champion", v)
                    except MlflowException as exc:
                        raise SystemExit(f"{name}: promotion refused: {exc}") from None
                    if i >= args.warmup:
                        timings[name].append((time.perf_counter() - t) * 1000)
            for name in names[1:]:
                from mrm_gate.audit import verify

                store, keys = None, ()
                if name.endswith("+checkpoint"):
                    from mrm_gate_mlflow.checkpoints import ClientRegistry, RegistryCheckpointStore

                    from mrm_gate.attestation import load_key

                    store = RegistryCheckpointStore(ClientRegistry(servers[name].url))
                    keys = [load_key(f"env:{KEY_ENV}")]
                res = verify(servers[name].root / "decisions.jsonl", checkpoints=store,
                             keys=keys)
                assert res.ok and res.records == args.warmup + args.calls, res
                assert store is None or res.anchored_seq == res.head_seq, res
        finally:
            for srv in servers.values():
                srv.stop()
    results = {n: summary(ms) for n, ms in timings.items()}
    base = results["plain"]
    for name in names[1:]:
        r = results[name]
        r["overhead_p50_ms"] = r["p50_ms"] - base["p50_ms"]
        r["overhead_p99_ms"] = r["p99_ms"] - base["p99_ms"]
        r["ratio_p50"] = r["p50_ms"] / base["p50_ms"]
        r["ratio_p99"] = r["p99_ms"] / base["p99_ms"]
    out = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
           "settings": {"calls": args.calls, "warmup": args.warmup, "versions": args.versions,
                        "policy": str(POLICY.relative_to(ROOT)), "store": "sqlite",
                        "workers": 1},
           "set_registered_model_alias": results}
    if args.checkpoint:
        out["checkpoint_added_p50_ms"] = {
            m: results[f"{m}+checkpoint"]["p50_ms"] - results[m]["p50_ms"]
            for m in ("evaluate", "attestation")}
    path = RESULTS_CHECKPOINT if args.checkpoint else RESULTS
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"\nset_registered_model_alias, {args.calls} calls per server (interleaved):")
    print(f"  {'server':22s} {'p50 ms':>8s} {'p90 ms':>8s} {'p99 ms':>8s}  overhead p50/p99  "
          "ratio p50")
    for name, r in results.items():
        extra = (f"  {r['overhead_p50_ms']:+6.1f} / {r['overhead_p99_ms']:+6.1f}    "
                 f"{r['ratio_p50']:.2f}x" if name != "plain" else "")
        print(f"  {name:22s} {r['p50_ms']:8.1f} {r['p90_ms']:8.1f} {r['p99_ms']:8.1f}{extra}")
    for name, target in (("attestation", 5.0), ("evaluate", 20.0)):
        over = results[name]["overhead_p50_ms"]
        print(f"{name} overhead at p50: {over:.1f} ms (target <= +{target:g} ms): "
              f"{'met' if over <= target else 'NOT met'}")
    for m, added in out.get("checkpoint_added_p50_ms", {}).items():
        print(f"{m}: a registry checkpoint per promotion adds {added:+.1f} ms at p50")
    print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
