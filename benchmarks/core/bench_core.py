"""Core benchmarks: cold `mrm-gate --help`, and `mrm-gate evaluate` of a metadata + performance
policy end to end (fresh process each run): against the demo's local sqlite MLflow store, and
against a real tracking *server* (http) holding the demo's two models.

    .venv/bin/python benchmarks/core/bench_core.py [--runs 10] [--no-server]

Runs the demo first if its store does not exist. The server part starts a plain `mlflow server`
(sqlite backend, proxied artifacts, `--workers 1`, job execution off) on loopback, logs and
registers the demo's two candidates on it (demo.py's own `log_candidate`), sets @champion on
the first, then times cold `mrm-gate evaluate models:/german-credit-pd/2 --target champion`
processes, interleaving the REST client (default for http URIs) with the MlflowClient path
(`MRM_GATE_MLFLOW_REST=0`, same code otherwise). Wall time and the child's CPU time are both
recorded (the machine is shared: CPU time is the steadier figure). Writes
benchmarks/results/core.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXE = str(Path(sys.executable).with_name("mrm-gate"))
STORE = ROOT / "examples" / "german_credit" / "mlflow.db"
POLICY = Path(__file__).with_name("metadata-performance.yaml")
# Children compile to __pycache__ as an installed package has (pip byte-compiles on install);
# with PYTHONDONTWRITEBYTECODE set, every cold run would re-compile the modules from source.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(cmd: list[str], runs: int) -> dict:
    subprocess.run(cmd, capture_output=True, env=ENV)  # warm-up: page cache, bytecode
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
        times.append(time.perf_counter() - t)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"{cmd} failed ({proc.returncode}): {proc.stderr[-500:]}")
    return {"runs": runs, "median_s": statistics.median(times), "min_s": min(times),
            "max_s": max(times)}


def _child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_once(cmd: list[str], env: dict | None = None) -> tuple[float, float]:
    """(wall s, CPU s) of one fresh process; exits 0 or 1 (a verdict), anything else fails."""
    c0, t0 = _child_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall, cpu = time.perf_counter() - t0, _child_cpu() - c0
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{cmd} failed ({proc.returncode}): {proc.stderr[-800:]}")
    return wall, cpu


def stats(xs: list[float]) -> dict:
    return {"median_s": statistics.median(xs), "min_s": min(xs), "max_s": max(xs),
            "runs": len(xs)}


def interleaved(variants: dict[str, tuple[list[str], dict]], runs: int) -> dict:
    """Each variant once per round, rounds repeated: load drifts hit every variant alike."""
    walls: dict[str, list[float]] = {k: [] for k in variants}
    cpus: dict[str, list[float]] = {k: [] for k in variants}
    for cmd, env in variants.values():  # warm the page cache, not counted
        run_once(cmd, env)
    for _ in range(runs):
        for k, (cmd, env) in variants.items():
            w, c = run_once(cmd, env)
            walls[k].append(w)
            cpus[k].append(c)
    return {k: {"wall": stats(walls[k]), "cpu": stats(cpus[k])} for k in variants}


def import_profile(cmd: list[str], env: dict, top: int = 12) -> dict:
    """`python -X importtime` of one cold run: total import time and the costliest top-level
    imports (cumulative ms)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "mrm_gate", *cmd[1:]],
                          capture_output=True, text=True, env=env)
    rows, total = [], 0
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m and len(m.group(3)) == 1:
            rows.append((int(m.group(2)) / 1000, m.group(4)))
            total += int(m.group(2)) / 1000
    rows.sort(reverse=True)
    return {"total_import_ms": round(total, 1),
            "top_level_ms": {name: round(ms, 1) for ms, name in rows[:top]}}


def server_setup(tmp: Path):
    """A plain mlflow server holding the demo's two candidates (v1 @champion)."""
    from mrm_gate_mlflow.testing import MlflowServer

    srv = MlflowServer(tmp, app_name=None)
    t = time.perf_counter()
    srv.start()
    print(f"  mlflow server up in {time.perf_counter() - t:.1f} s ({srv.url})", flush=True)
    sys.path.insert(0, str(ROOT / "examples" / "german_credit"))
    warnings.filterwarnings("ignore")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import demo
    import mlflow
    import pandas as pd
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(srv.url)
    mlflow.set_registry_uri(srv.url)
    mlflow.set_experiment("german-credit")
    client = MlflowClient(srv.url, srv.url)
    client.create_registered_model(demo.MODEL_NAME, tags={"business_unit": "retail-lending"},
                                   description="Probability that a retail loan applicant "
                                   "repays (German credit).")
    df = pd.read_csv(demo.DATA).sample(frac=1.0, random_state=demo.SEED).reset_index(drop=True)
    n = len(df)
    splits = (df.iloc[: int(0.6 * n)], df.iloc[int(0.6 * n): int(0.8 * n)],
              df.iloc[int(0.8 * n):])
    today = dt.date.today()
    common = {"mrm.exposure": "25000000", "mrm.purpose": "credit_decision"}
    t = time.perf_counter()
    v1 = demo.log_candidate(
        client, "candidate-a", "gbm", [c for c in demo.NUMERIC + demo.CATEGORICAL if c != "sex"],
        demo.CARD_A, {"owner": "alice@bank.example", "validator": "bob@bank.example",
                      "validation_date": (today - dt.timedelta(days=30)).isoformat(), **common},
        "Gradient boosting scorecard; validated.", splits)
    client.set_registered_model_alias(demo.MODEL_NAME, "champion", v1)
    v2 = demo.log_candidate(
        client, "candidate-b", "gbm", [c for c in demo.NUMERIC + demo.CATEGORICAL if c != "sex"],
        demo.CARD_A, {"owner": "carol@bank.example", "validator": "dave@bank.example",
                      "validation_date": today.isoformat(), **common},
        "Retrained gradient boosting scorecard; validated.", splits)
    print(f"  demo models registered in {time.perf_counter() - t:.1f} s", flush=True)
    return srv, v2


def against_server(runs: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="mrm-gate-bench-core-") as tmp:
        srv, version = server_setup(Path(tmp))
        try:
            cmd = [EXE, "evaluate", f"models:/german-credit-pd/{version}", "--policy",
                   str(POLICY), "--tracking-uri", srv.url, "--target", "champion",
                   "--format", "json", "--quiet"]
            base = {k: v for k, v in ENV.items()
                    if not k.startswith(("MLFLOW_", "MRM_GATE_MLFLOW"))}
            variants = {"rest_client": (cmd, base),
                        "mlflow_client": (cmd, {**base, "MRM_GATE_MLFLOW_REST": "0"})}
            out = interleaved(variants, runs)
            out["command"] = " ".join(["mrm-gate", *cmd[1:]]).replace(str(ROOT) + "/", "")
            out["imports"] = {k: import_profile(c, e) for k, (c, e) in variants.items()}
            return out
        finally:
            srv.stop()


def in_process(uri: str, tracking: str, runs: int) -> dict:
    """Same evaluation inside one process after a warm-up: the gate's own cost without
    interpreter start-up and imports (what a long-running server pays per request)."""
    from mrm_gate.engine import evaluate
    from mrm_gate.evidence import load_evidence_with_baseline
    from mrm_gate.policy import load_policy

    times = []
    for i in range(runs + 1):
        t = time.perf_counter()
        pol = load_policy(POLICY)
        ev, base = load_evidence_with_baseline(uri, tracking_uri=tracking)
        evaluate(pol, ev, target="champion", baseline=base)
        if i:  # first run warms imports
            times.append(time.perf_counter() - t)
    return {"runs": runs, "median_s": statistics.median(times), "min_s": min(times)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--no-server", action="store_true", help="skip the tracking-server part")
    args = ap.parse_args()
    if not STORE.exists():
        subprocess.run([sys.executable, str(ROOT / "examples/german_credit/demo.py")],
                       check=True, capture_output=True)
    tracking = f"sqlite:///{STORE}"
    uri = "models:/german-credit-pd@champion"
    results = {
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "help_cold": timed([EXE, "--help"], args.runs),
        "policy_validate_cold": timed([EXE, "policy", "validate", str(POLICY)], args.runs),
        "evaluate_end_to_end": timed(
            [EXE, "evaluate", uri, "--policy", str(POLICY), "--tracking-uri", tracking,
             "--target", "champion", "--format", "json", "--quiet"], max(3, args.runs // 2)),
        "evaluate_in_process": in_process(uri, tracking, args.runs),
    }
    if not args.no_server:
        results["evaluate_server_cold"] = against_server(args.runs)
    out = ROOT / "benchmarks" / "results" / "core.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    for k, v in results.items():
        if "median_s" in v:
            print(f"{k:24s} median {v['median_s'] * 1000:8.1f} ms  (min "
                  f"{v['min_s'] * 1000:.1f} ms, {v['runs']} runs)")
    for k, v in results.get("evaluate_server_cold", {}).items():
        if isinstance(v, dict) and "wall" in v:
            print(f"server {k:17s} wall median {v['wall']['median_s'] * 1000:7.1f} ms  CPU "
                  f"median {v['cpu']['median_s'] * 1000:7.1f} ms  ({v['wall']['runs']} runs)")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
