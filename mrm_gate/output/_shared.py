"""Wording shared by several formats of one result type (titles, summaries, YAML blocks).

Format-neutral plain text; each format escapes it for itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..policy.coverage import CoverageReport
    from ..policy.diff import PolicyDiff
    from ..policy.loader import Policy

# -- policy diff ------------------------------------------------------------------------------


def diff_title(d: PolicyDiff) -> str:
    def name(p: Policy) -> str:
        v = f" {p.metadata.version}" if p.metadata.version else ""
        return f"{p.metadata.name}{v} ({p.path})"

    return f"Policy diff: {name(d.old)} -> {name(d.new)}"


def diff_summary(d: PolicyDiff) -> str:
    from ..policy.diff import KINDS

    c = d.counts()
    if not d.changes:
        return "No material change: same controls, thresholds, severities, tiers and tiering."
    return ", ".join(f"{c[k]} {k}" for k in KINDS) + (
        "; this change LOOSENS the policy" if d.loosens else "")


# -- coverage ---------------------------------------------------------------------------------

MARKS = {"served": "[x]", "partly": "[~]", "none": "[ ]"}


def coverage_heading(report: CoverageReport) -> str:
    scope = f"tier {report.tier}" if report.tier else "all tiers"
    return (f"{report.framework.short} coverage of policy {report.policy} "
            f"({report.policy_path}, {scope})")


def coverage_summary(report: CoverageReport) -> str:
    s = report.summary()
    return (f"{s['leaf_served']} of {s['leaf_clauses']} clauses served by at least one control "
            f"({s['leaf_share']:.0%}); {s['unserved']} clause(s) served by none.")


# -- policy tests -----------------------------------------------------------------------------


def yaml_block(data: Any, indent: str = "  ") -> list[str]:
    import yaml

    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=1000,
                          allow_unicode=True)
    return [indent + line for line in text.rstrip("\n").splitlines()]
