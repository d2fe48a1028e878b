"""Validation-suite benchmark: the libraries' default way vs `mrm-gate evaluate` vs numpy.

    .venv/bin/python benchmarks/suites/bench_suites.py [--rows 100000 --rows 1000000]
                                                       [--repeat 2] [--workdir DIR]

Data: 20 numeric + 2 categorical features, a 3-group protected attribute, reference and current
sets of N rows each (Parquet), a 100-tree gradient-boosting model (see _data.py). The same
validation (40 GE expectations, fairness by group, SHAP TreeExplainer on 1,000 rows, per-feature
drift with PSI + KS / chi-square, score drift) is run three ways, each in a fresh process so
imports and reads count: the libraries called their default way (_libraries.py), the gate end to
end (`mrm-gate evaluate --evidence ... --trust-model-code`, reports written), and a hand-written
numpy/scipy baseline (_baseline.py). Wall time and peak RSS (os.wait4) per run; numbers are
cross-checked between the variants. Results: benchmarks/results/suites.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "suites.json"
EXE = str(Path(sys.executable).with_name("mrm-gate"))
sys.path.insert(0, str(HERE))


def run(cmd: list[str]) -> dict:
    """Wall time, peak RSS and exit code of one fresh process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    proc.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    return {"wall_s": round(wall, 3), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "exit": code, **({"stderr": err[-2000:]} if code not in (0, 1) else {})}


def variant_commands(folder: Path, work: Path) -> dict[str, tuple[list[str], Path]]:
    return {
        "libraries_default": ([sys.executable, str(HERE / "_libraries.py"), str(folder),
                               str(work / "libraries.json")], work / "libraries.json"),
        "mrm_gate_evaluate": ([EXE, "evaluate", "--evidence", str(folder), "--policy",
                               str(folder / "policy.yaml"), "--trust-model-code", "--format",
                               "json", "--output", str(work / "reports"), "-q"],
                              work / "reports"),
        "numpy_baseline": ([sys.executable, str(HERE / "_baseline.py"), str(folder),
                            str(work / "baseline.json")], work / "baseline.json"),
    }


def gate_numbers(reports: Path) -> dict:
    report = max(reports.glob("*.json"), key=lambda p: p.stat().st_mtime)
    d = json.loads(report.read_text())
    out: dict = {"verdict": d["verdict"], "statuses": {}}
    for o in d["outcomes"]:
        out["statuses"][o["control_id"]] = o["status"]
        r = o["result"]
        if o["control_id"] == "MRM-FAIR-001":
            out["demographic_parity_ratio"] = r["measured"]["group: demographic_parity_ratio"]
            out["equalized_odds_difference"] = r["measured"]["group: equalized_odds_difference"]
        elif o["control_id"] == "MRM-DRIFT-001":
            cols = r["details"]["columns"]
            out["psi"] = {c["column"]: c["psi"] for c in cols}
            out["ks"] = {c["column"]: c["ks"] for c in cols if "ks" in c}
            out["chisquare"] = {c["column"]: c["chisquare"] for c in cols if "chisquare" in c}
        elif o["control_id"] == "MRM-DRIFT-002":
            out["psi_score"] = r["details"]["columns"][0]["psi"]
        elif o["control_id"] == "MRM-XAI-001":
            out["shap_top5"] = r["measured"]["top_k"]
        elif o["control_id"] == "MRM-DQ-001":
            out["dq_failed"] = r["measured"]["failed"]
    return out


def cross_check(gate: dict, base: dict, libs: dict | None) -> dict:
    """Largest differences between the gate's numbers and the others' on the same data."""
    psi_base = dict(base["psi"])
    score = psi_base.pop("score")
    checks = {
        "psi_max_abs_diff_vs_baseline": max(abs(gate["psi"][k] - v) for k, v in psi_base.items()),
        "score_psi_abs_diff_vs_baseline": abs(gate["psi_score"] - score),
        "ks_p_max_abs_diff_vs_scipy": max(abs(gate["ks"][k] - v) for k, v in base["ks"].items()),
        "chisquare_p_max_abs_diff_vs_scipy": max(abs(gate["chisquare"][k] - v)
                                                 for k, v in base["chisquare"].items()),
        "dpr_abs_diff_vs_baseline": abs(gate["demographic_parity_ratio"]
                                        - base["demographic_parity_ratio"]),
        "shap_top5_equal_baseline": gate["shap_top5"] == base["shap_top5"],
        "dq_failed": {"gate": gate["dq_failed"], "baseline": base["dq_failed"]},
    }
    if libs:
        checks["dpr_abs_diff_vs_fairlearn"] = abs(gate["demographic_parity_ratio"]
                                                  - libs["demographic_parity_ratio"])
        checks["eod_abs_diff_vs_fairlearn"] = abs(gate["equalized_odds_difference"]
                                                  - libs["equalized_odds_difference"])
        checks["dq_failed"]["great_expectations"] = libs["dq_failed"]
        checks["shap_top5_equal_libraries"] = gate["shap_top5"] == libs["shap_top5"]
    return checks


def bench(n: int, workdir: Path, repeat: int, skip_libraries: bool) -> dict:
    from _data import build

    folder = workdir / f"rows-{n}"
    t = time.perf_counter()
    meta = build(n, folder)
    print(f"[{n:,} rows] data ready ({time.perf_counter() - t:.1f} s; "
          f"{meta['data_bytes_in_memory'] / 2**20:.0f} MB in memory)", flush=True)
    entry: dict = {**meta, "runs": {}}
    numbers: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name, (cmd, out) in variant_commands(folder, work).items():
            if name == "libraries_default" and skip_libraries:
                continue
            times = []
            for _ in range(1 if name == "libraries_default" else repeat):
                res = run(cmd)
                if res["exit"] not in (0, 1):
                    raise SystemExit(f"{name} failed: {res.get('stderr')}")
                times.append(res)
                print(f"[{n:,} rows] {name}: {res['wall_s']:.2f} s, peak "
                      f"{res['peak_rss_mb']:.0f} MB", flush=True)
            best = min(times, key=lambda r: r["wall_s"])
            entry["runs"][name] = {**best, "all_wall_s": [r["wall_s"] for r in times]}
            numbers[name] = (gate_numbers(out) if name == "mrm_gate_evaluate"
                             else json.loads(out.read_text()))
    runs = entry["runs"]
    gate, base = runs["mrm_gate_evaluate"], runs["numpy_baseline"]
    data_mb = meta["data_bytes_in_memory"] / 2**20
    entry["ratios"] = {
        "gate_over_baseline": round(gate["wall_s"] / base["wall_s"], 2),
        "gate_peak_over_data_size": round(gate["peak_rss_mb"] / data_mb, 2),
    }
    if "libraries_default" in runs:
        entry["ratios"]["libraries_over_gate"] = round(
            runs["libraries_default"]["wall_s"] / gate["wall_s"], 2)
    entry["gate_verdict"] = numbers["mrm_gate_evaluate"]["verdict"]
    entry["gate_statuses"] = numbers["mrm_gate_evaluate"]["statuses"]
    entry["cross_check"] = cross_check(numbers["mrm_gate_evaluate"], numbers["numpy_baseline"],
                                       numbers.get("libraries_default"))
    print(f"[{n:,} rows] ratios: {entry['ratios']}", flush=True)
    print(f"[{n:,} rows] cross-check: {entry['cross_check']}", flush=True)
    return entry


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, action="append",
                    help="rows per dataset (repeatable; default 100000 and 1000000)")
    ap.add_argument("--repeat", type=int, default=2,
                    help="runs of the gate and the baseline (best is kept)")
    ap.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "mrm-gate-bench-suites"),
                    help="where the generated data is cached between runs")
    ap.add_argument("--skip-libraries", action="store_true")
    args = ap.parse_args()
    rows = args.rows or [100_000, 1_000_000]
    results = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                           "platform": platform.platform()},
               "command": " ".join([Path(sys.executable).name, *sys.argv]),
               "date": time.strftime("%Y-%m-%d"), "by_rows": {}}
    for n in rows:
        results["by_rows"][str(n)] = bench(n, Path(args.workdir), args.repeat,
                                           args.skip_libraries)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
