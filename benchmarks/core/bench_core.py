"""Core benchmarks: cold `mrm-gate --help`, and `mrm-gate evaluate` of a metadata + performance
policy against the demo's local MLflow store, end to end (fresh process each run).

    .venv/bin/python benchmarks/core/bench_core.py [--runs 10]

Runs the demo first if its store does not exist. Writes benchmarks/results/core.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXE = str(Path(sys.executable).with_name("mrm-gate"))
STORE = ROOT / "examples" / "german_credit" / "mlflow.db"
POLICY = Path(__file__).with_name("metadata-performance.yaml")


def timed(cmd: list[str], runs: int) -> dict:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        times.append(time.perf_counter() - t)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"{cmd} failed ({proc.returncode}): {proc.stderr[-500:]}")
    return {"runs": runs, "median_s": statistics.median(times), "min_s": min(times),
            "max_s": max(times)}


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
    out = ROOT / "benchmarks" / "results" / "core.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    for k, v in results.items():
        if "median_s" in v:
            print(f"{k:24s} median {v['median_s'] * 1000:8.1f} ms  (min "
                  f"{v['min_s'] * 1000:.1f} ms, {v['runs']} runs)")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
