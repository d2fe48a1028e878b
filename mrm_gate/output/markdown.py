"""Markdown report (PR comments, job summaries, wikis)."""

from __future__ import annotations

from ..decision import Decision, Status, Verdict
from .values import fmt_value, table_rows

ICON = {Verdict.APPROVE: "✅", Verdict.CONDITIONAL: "⚠️", Verdict.BLOCK: "⛔"}
STATUS_ICON = {Status.PASS: "✅", Status.FAIL: "❌", Status.ERROR: "💥", Status.SKIPPED: "⏭️",
               Status.WAIVED: "🟡"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(decision: Decision) -> str:
    m = decision.model
    lines = [
        f"## {ICON[decision.verdict]} {decision.verdict.value}: {m.name}"
        + (f" v{m.version}" if m.version else "")
        + (f" → `{decision.target}`" if decision.target else ""),
        "",
        f"- **Tier:** `{decision.tier.tier}` ({decision.tier.explanation})",
        f"- **Policy:** {decision.policy.name} {decision.policy.version or ''} "
        f"(`sha256:{decision.policy.sha256[:12]}`)",
        f"- **Decision:** `{decision.id}` at {decision.created_at.isoformat(timespec='seconds')}",
        f"- **Evidence:** {decision.evidence_provenance.get('uri') or m.uri} "
        f"(`sha256:{decision.evidence_sha256[:12]}`)",
        "",
        "| Control | Severity | Status | Measured | Threshold | Message |",
        "|---|---|---|---|---|---|",
    ]
    for o in decision.outcomes:
        lines.append(
            f"| `{o.control_id}` | {o.severity.value} | {STATUS_ICON[o.status]} {o.status.value} "
            f"| {_cell(fmt_value(o.result.measured))} | {_cell(fmt_value(o.result.threshold))} "
            f"| {_cell(o.result.message)} |"
        )
    failing = decision.failing()
    if failing:
        lines += ["", "### What to fix", ""]
        for o in failing:
            lines.append(f"- **{o.control_id}** ({o.check}): {o.result.message}"
                         + (f"  \n  _Remediation:_ {o.remediation}" if o.remediation else "")
                         + (f"  \n  _Refs:_ {', '.join(o.refs)}" if o.refs else ""))
    waived = [o for o in decision.outcomes if o.waiver or o.expired_waivers]
    if waived:
        lines += ["", "### Waivers", "", "| Waiver | Control | Approver | Expires | State |",
                  "|---|---|---|---|---|"]
        for o in waived:
            for w in ([o.waiver] if o.waiver else []) + o.expired_waivers:
                state = "expired (not applied)" if w.expired else "applied"
                lines.append(f"| {w.id} | `{o.control_id}` | {_cell(w.approver)} | {w.expires} "
                             f"| {state} |")
    for o in decision.outcomes:
        tables = [(k, table_rows(v)) for k, v in o.result.details.items()]
        tables = [(k, t) for k, t in tables if t]
        if tables or o.result.notes:
            lines += ["", f"<details><summary>{o.control_id} details</summary>", ""]
            for key, (header, rows) in tables:
                lines += [f"**{key}**", "", "| " + " | ".join(header) + " |",
                          "|" + "---|" * len(header)]
                lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows[:50]]
                lines.append("")
            lines += [f"- {n}" for n in o.result.notes]
            lines += ["", "</details>"]
    if decision.notes:
        lines += ["", "### Notes", ""] + [f"- {n}" for n in decision.notes]
    return "\n".join(lines) + "\n"
