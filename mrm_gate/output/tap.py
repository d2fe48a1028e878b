"""TAP (version 14) format: the results of `mrm-gate policy test`.

A case name, a policy name or a file name is one line of TAP: a line break in it would forge
`ok` lines, and a `#` would read as a directive (`# SKIP` turns a failure into a skip). Both are
escaped (`\\#`, as TAP 14 says; line breaks as `\\n`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..policy_tests import SuiteResult


def description(text: object) -> str:
    """One TAP test-point description or comment: one line, `\\` and `#` escaped."""
    from .escape import plain_line

    return plain_line(str(text).replace("\\", "\\\\")).replace("#", "\\#")


def policy_tests(suite: SuiteResult, *, show_coverage: bool = True) -> str:
    """`ok`/`not ok` per case, a YAML block with expected vs actual on failure."""
    from ._shared import yaml_block
    from .escape import plain_line

    lines = ["TAP version 14", f"1..{len(suite.results)}"]
    current = None
    for i, r in enumerate(suite.results, 1):
        if r.file != current:
            current = r.file
            lines.append(f"# {plain_line(r.file)}")
        if r.ok:
            lines.append(f"ok {i} - {description(r.title)}")
            continue
        lines.append(f"not ok {i} - {description(r.title)}")
        block = {"file": r.file, "policy": r.policy, "expected": r.expected,
                 "actual": r.actual}
        lines += ["  ---", *yaml_block(block, "  "), "  diff: |",
                  *[f"    - {plain_line(p)}" for p in r.problems], "  ..."]
    passed, failed = suite.counts()
    if show_coverage:
        gaps = suite.coverage_gaps()
        for gap in gaps:
            missing = " and ".join(w for w, has in (("passing", gap.passing_cases),
                                                   ("failing", gap.failing_cases)) if not has)
            lines.append(f"# coverage: {plain_line(Path(gap.policy).name)} "
                         f"{plain_line(gap.control)} has no {missing} case")
        total = sum(len(c) for c in suite.coverage.values())
        lines.append(f"# coverage: {total - len(gaps)}/{total} controls have a passing and a "
                     "failing case")
    lines.append(f"# {passed} passed, {failed} failed in {suite.duration_s:.2f}s")
    return "\n".join(lines) + "\n"
