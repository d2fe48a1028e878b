"""Benchmark: 100k Monte Carlo paths of the OU gap process over 8 quarters (target <= 1 s).

Measures, in one run and on the same parameters (the corporate example's OU fit):
- `simulate_uncovered_loss` end to end (paths, cumulative uncovered loss, quantiles with their
  order-statistic intervals, closed forms incl. the Gaussian orthant probability);
- `gap_paths` alone (the vectorised simulation);
- a naive baseline: a Python loop over paths and quarters (random.gauss), same process.

    .venv/bin/python benchmarks/risk/bench_monte_carlo.py [--paths 100000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import math
import platform
import random
import statistics
import time
from pathlib import Path

import numpy as np

from mrm_gate.risk import analyse, gap_paths, read_backtest, simulate_uncovered_loss

ROOT = Path(__file__).resolve().parents[2]
QUARTERS = 8
DT = 0.25


def naive(n_paths: int, lam: float, mu: float, sigma: float, last: float, mre: float) -> float:
    """The same exact OU transition and uncovered loss, one path and one quarter at a time."""
    b = math.exp(-lam * DT)
    s = sigma * math.sqrt((1 - b * b) / (2 * lam))
    rng = random.Random(0)
    total = 0.0
    for _ in range(n_paths):
        x, loss = last, 0.0
        for _ in range(QUARTERS):
            x = mu + b * (x - mu) + s * rng.gauss(0.0, 1.0)
            if x < 0:
                loss -= x
        total += mre * loss
    return total / n_paths


def timed(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--paths", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    bt = read_backtest(ROOT / "examples" / "backtests" / "corporate.csv")
    rep = analyse(bt, period_length=DT, n_boot=0, variants=("ou",))
    fit, last, mre = rep.ou_fit, float(bt.gaps()[-1]), rep.settings["mre"]
    ou = (fit.lam, fit.mu, fit.sigma)
    full, res = timed(lambda: simulate_uncovered_loss(
        mre=mre, periods=QUARTERS, n_paths=args.paths, ou=ou, last=last, period_length=DT,
        seed=0, variant="ou"), args.repeat)
    paths, _ = timed(lambda: gap_paths(periods=QUARTERS, n_paths=args.paths, ou=ou, last=last,
                                       period_length=DT, seed=0), args.repeat)
    loop, loop_mean = timed(lambda: naive(args.paths, *ou, last, mre), 1)
    print(f"machine: {platform.processor() or platform.machine()}, python "
          f"{platform.python_version()}, numpy {np.__version__}")
    print(f"OU fit of examples/backtests/corporate.csv: lambda {fit.lam:.4g}, mu {fit.mu:.4g}, "
          f"sigma {fit.sigma:.4g}, last gap {last:.4g}, MRE {mre:.4g}")
    print(f"| measure ({args.paths} paths x {QUARTERS} quarters) | median of {args.repeat} (s) |")
    print("|---|---|")
    print(f"| simulate_uncovered_loss, end to end | {full:.3f} |")
    print(f"| gap_paths (simulation only) | {paths:.3f} |")
    print(f"| naive Python loop baseline (1 run) | {loop:.3f} |")
    print(f"speed-up end to end vs loop: {loop / full:.0f}x; target <= 1 s: "
          f"{'met' if full <= 1.0 else 'MISSED'}")
    print(f"mean cumulative uncovered loss: vectorised {res.mean:.4f} (MC se {res.se:.2g}), "
          f"loop {loop_mean:.4f}, closed form {res.closed_form_mean:.4f}")


if __name__ == "__main__":
    main()
