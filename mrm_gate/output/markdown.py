"""Markdown format: the decision report (PR comments, job summaries, wikis), the policy diff,
the coverage report and the model card template.

Every value from evidence goes through `escape.md_text`/`md_cell`/`md_code`: it renders as
itself, never as a link, an image, raw HTML, a mention or a broken table.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from ..decision import Decision, Status, Verdict
from .escape import html_escape, md_cell, md_code, md_text
from .values import fmt_value, table_rows

if TYPE_CHECKING:
    from ..card import CardPlan
    from ..policy.coverage import CoverageReport
    from ..policy.diff import PolicyDiff

ICON = {Verdict.APPROVE: "✅", Verdict.CONDITIONAL: "⚠️", Verdict.BLOCK: "⛔"}
STATUS_ICON = {Status.PASS: "✅", Status.FAIL: "❌", Status.ERROR: "💥", Status.SKIPPED: "⏭️",
               Status.WAIVED: "🟡"}


_cell = md_cell


def decision(decision: Decision) -> str:
    m = decision.model
    lines = [
        f"## {ICON[decision.verdict]} {decision.verdict.value}: {md_text(m.name)}"
        + (f" v{md_text(m.version)}" if m.version else "")
        + (f" → {md_code(decision.target)}" if decision.target else ""),
        "",
        f"- **Tier:** {md_code(decision.tier.tier)} ({md_text(decision.tier.explanation)})",
        f"- **Policy:** {md_text(decision.policy.name)} {md_text(decision.policy.version or '')} "
        f"(`sha256:{decision.policy.sha256[:12]}`)",
        f"- **Decision:** {md_code(decision.id)} at "
        f"{decision.created_at.isoformat(timespec='seconds')}",
        f"- **Evidence:** {md_text(decision.evidence_provenance.get('uri') or m.uri)} "
        f"(`sha256:{md_text(decision.evidence_sha256[:12])}`)",
        "",
        "| Control | Severity | Status | Measured | Threshold | Message |",
        "|---|---|---|---|---|---|",
    ]
    for o in decision.outcomes:
        lines.append(
            f"| {md_code(o.control_id)} | {o.severity.value} "
            f"| {STATUS_ICON[o.status]} {o.status.value} "
            f"| {_cell(fmt_value(o.result.measured))} | {_cell(fmt_value(o.result.threshold))} "
            f"| {_cell(o.result.message)} |"
        )
    failing = decision.failing()
    if failing:
        lines += ["", "### What to fix", ""]
        for o in failing:
            lines.append(f"- **{md_text(o.control_id)}** ({md_text(o.check)}): "
                         f"{md_text(o.result.message)}"
                         + (f"  \n  _Remediation:_ {md_text(o.remediation)}"
                            if o.remediation else "")
                         + (f"  \n  _Refs:_ {md_text(', '.join(o.refs))}" if o.refs else ""))
    waived = [o for o in decision.outcomes if o.waiver or o.expired_waivers]
    if waived:
        lines += ["", "### Waivers", "", "| Waiver | Control | Approver | Expires | State |",
                  "|---|---|---|---|---|"]
        for o in waived:
            for w in ([o.waiver] if o.waiver else []) + o.expired_waivers:
                state = "expired (not applied)" if w.expired else "applied"
                lines.append(f"| {_cell(w.id)} | {md_code(o.control_id)} | {_cell(w.approver)} "
                             f"| {w.expires} | {state} |")
    for o in decision.outcomes:
        tables = [(k, table_rows(v)) for k, v in o.result.details.items()]
        tables = [(k, t) for k, t in tables if t]
        if tables or o.result.notes:
            lines += ["", f"<details><summary>{html_escape(o.control_id)} details</summary>",
                      ""]
            for key, (header, rows) in tables:
                lines += [f"**{md_text(key)}**", "", "| " + " | ".join(map(_cell, header)) + " |",
                          "|" + "---|" * len(header)]
                lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows[:50]]
                lines.append("")
            lines += [f"- {md_text(n)}" for n in o.result.notes]
            lines += ["", "</details>"]
    if decision.notes:
        lines += ["", "### Notes", ""] + [f"- {md_text(n)}" for n in decision.notes]
    return "\n".join(lines) + "\n"


render = decision  # the name every format module had before the family grew


def policy_diff(d: PolicyDiff) -> str:
    from ._shared import diff_summary, diff_title

    lines = [f"## {md_text(diff_title(d))}", ""]
    if d.changes:
        lines += ["| change | control | what | tiers |", "|---|---|---|---|"]
        for c in d.changes:
            lines.append(f"| {c.kind} | {md_code(c.subject)} | {md_cell(c.what)} "
                         f"| {md_cell(', '.join(c.tiers))} |")
        lines.append("")
    lines.append(md_text(diff_summary(d)))
    return "\n".join(lines) + "\n"


def coverage(report: CoverageReport) -> str:
    from ..policy.coverage import tier_span
    from ._shared import coverage_heading, coverage_summary

    lines = [f"## {md_text(coverage_heading(report))}", "", md_text(report.framework.title), "",
             "| clause | title | status | controls |", "|---|---|---|---|"]
    for c in report.clauses:
        if c.controls:
            served = ", ".join(f"{md_code(sc.id)} "
                               f"({md_cell(tier_span(sc.tiers, report.tier_names))})"
                               + (f" via {md_code(sc.via)}" if sc.via else "")
                               for sc in c.controls)
        elif c.via_children:
            served = "through " + ", ".join(md_code(x) for x in c.via_children)
        else:
            served = ""
        indent = "&nbsp;&nbsp;" * c.depth
        status = {"served": "served", "partly": "partly", "none": "**not served**"}[c.status]
        lines.append(f"| {indent}{md_code(c.id)} | {md_cell(c.title)} | {status} | {served} |")
    lines += ["", md_text(coverage_summary(report))]
    return "\n".join(lines) + "\n"


def card(plan: CardPlan, model_name: str | None = None, today: dt.date | None = None) -> str:
    """The model card template: guidance in an HTML comment, then one heading per section.

    The section bodies are empty on purpose: an unfilled template fails the same controls a
    missing card fails. Names from the policy cannot close the comment early (`--` is
    shortened) or add headings (one line each)."""
    from ..card import guidance

    today = today or dt.date.today()
    title = f"# Model card: {' '.join(model_name.split())}" if model_name else "# Model card"
    lines = [line.replace("--", "-").replace("\n", " ") for line in guidance(plan, today)]
    out = ["<!--", *lines, "-->", "", title, ""]
    for s in plan.sections:
        name = s.name.replace("\n", " ")
        out += [f"## {name[:1].upper()}{name[1:]}", "", ""]
    return "\n".join(out).rstrip("\n") + "\n"
