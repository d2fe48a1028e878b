"""Run every benchmark script (`benchmarks/*/bench_*.py`) in turn; `make bench` calls this.

Each script writes its figures to benchmarks/results/ and prints a summary. The heavy ones
(1M-row validation suites) take minutes on a 2-core machine.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    failed = 0
    for script in sorted(HERE.glob("*/bench_*.py")):
        print(f"== {script.relative_to(HERE.parent)}", flush=True)
        failed += subprocess.call([sys.executable, str(script)]) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
