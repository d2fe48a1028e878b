"""`mrm-gate policy validate` on policies of N one-line controls: is validation near-linear?

Issue 11 measured 30 s for 8,000 controls (0.6 MB) and 67 s for 10,000 before the loader's merge
and inheritance became dictionary lookups. Each size is timed in a fresh process (CPU time of the
child, the steady figure on a shared machine), sizes interleaved over the repeats.

    .venv/bin/python benchmarks/policy/bench_validate.py --sizes 1000 4000 8000 10000 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEADER = """apiVersion: mrm-gate/v1
kind: Policy
metadata: {name: big, version: "1"}
tiering: {default: high}
tiers:
  low:
    controls:
"""


def write_policy(folder: Path, n: int) -> Path:
    lines = [HEADER]
    for i in range(n):
        lines.append(f"      - {{id: MRM-P-{i:05d}, check: performance.threshold, "
                     f"params: {{metric: m{i}, min: 0.5}}}}\n")
    lines.append("  high:\n    extends: low\n    controls: []\n")
    path = folder / f"policy-{n}.yaml"
    path.write_text("".join(lines))
    return path


def run_once(path: Path) -> tuple[float, float]:
    exe = str(Path(sys.executable).with_name("mrm-gate"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([exe, "policy", "validate", str(path)], capture_output=True,
                          text=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": ""})
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"validate failed for {path}: {proc.stdout}{proc.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000, 8000, 10000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=str(Path(__file__).parents[1] / "results" /
                                         "policy-validate.json"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = {n: write_policy(Path(tmp), n) for n in args.sizes}
        runs: dict[int, list[tuple[float, float]]] = {n: [] for n in args.sizes}
        for _ in range(args.repeat):
            for n in args.sizes:
                runs[n].append(run_once(paths[n]))
        rows = []
        for n in args.sizes:
            walls = sorted(w for w, _ in runs[n])
            cpus = sorted(c for _, c in runs[n])
            rows.append({"controls": n, "bytes": paths[n].stat().st_size,
                         "wall_median_s": walls[len(walls) // 2],
                         "cpu_median_s": cpus[len(cpus) // 2]})
    for r in rows:
        print(f"{r['controls']:>6} controls ({r['bytes'] / 1e6:.2f} MB): "
              f"wall {r['wall_median_s']:.2f} s, CPU {r['cpu_median_s']:.2f} s")
    Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
