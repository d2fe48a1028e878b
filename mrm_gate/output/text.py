"""Plain-text format: the terminal report of a decision (rich), and the text of a policy diff,
a coverage report, a gap-risk report and a portfolio."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from ..decision import Decision, Status, Verdict
from .escape import plain_line, plain_text
from .values import fmt_value

if TYPE_CHECKING:
    from ..policy.coverage import CoverageReport
    from ..policy.diff import PolicyDiff
    from ..risk._aggregate import PortfolioRisk
    from ..risk._analysis import GapRiskReport

STYLE = {Status.PASS: "green", Status.FAIL: "red", Status.ERROR: "magenta",
         Status.SKIPPED: "dim", Status.WAIVED: "yellow"}
VERDICT_STYLE = {Verdict.APPROVE: "bold green", Verdict.CONDITIONAL: "bold yellow",
                 Verdict.BLOCK: "bold red"}


def renderables(decision: Decision) -> list:
    """The rich renderables of the terminal report (printed by `evaluate`)."""
    from rich.table import Table
    from rich.text import Text

    m = decision.model
    head = Text()
    head.append(f"{decision.verdict.value}", style=VERDICT_STYLE[decision.verdict])
    head.append(plain_line(f"  {m.name}" + (f" v{m.version}" if m.version else "")))
    if decision.target:
        head.append(plain_line(f" -> {decision.target}"))
    head.append("\n" + plain_line(f"tier {decision.tier.tier} ({decision.tier.explanation})"),
                style="dim")
    head.append("\n" + plain_line(f"policy {decision.policy.name} "
                                  f"{decision.policy.version or ''} "
                                  f"sha256:{decision.policy.sha256[:12]}  decision {decision.id}"),
                style="dim")
    table = Table(show_lines=False, expand=False)
    for col in ("control", "sev", "status", "measured", "threshold", "message"):
        table.add_column(col, overflow="fold")
    for o in decision.outcomes:
        msg = o.result.message
        if o.waiver:
            msg += f" [waiver {o.waiver.id}, expires {o.waiver.expires}]"
        for w in o.expired_waivers:
            msg += f" [waiver {w.id} EXPIRED {w.expires}]"
        # Text(...) so that brackets in messages are not read as rich markup; control
        # characters from evidence are shown as escapes, never sent to the terminal
        table.add_row(Text(plain_line(o.control_id)), o.severity.value,
                      Text(o.status.value, style=STYLE[o.status]),
                      Text(plain_text(fmt_value(o.result.measured))),
                      Text(plain_text(fmt_value(o.result.threshold))), Text(plain_text(msg)))
    out: list = [head, table]
    fixes = [o for o in decision.failing() if o.remediation]
    if fixes:
        tips = Text("What to do:\n", style="bold")
        for o in fixes:
            tips.append(plain_text(f"  {o.control_id}: {o.remediation}") + "\n")
        out.append(tips)
    out.extend(Text(plain_text(f"note: {note}"), style="dim") for note in decision.notes)
    return out


def decision(d: Decision) -> str:
    """The text report file: the terminal report at a fixed width, without colour."""
    from .console import make_console

    buf = io.StringIO()
    console = make_console(file=buf, width=120)
    for r in renderables(d):
        console.print(r)
    return buf.getvalue()


render = decision  # the name every format module had before the family grew


def policy_diff(d: PolicyDiff) -> str:
    from ._shared import diff_summary, diff_title

    lines = [diff_title(d), ""]
    width = max([len(c.subject) for c in d.changes] + [8])
    for c in d.changes:
        tiers = f"  [{', '.join(c.tiers)}]" if c.tiers else ""
        lines.append(f"  {c.kind:<9}  {c.subject:<{width}}  {c.what}{tiers}")
    if d.changes:
        lines.append("")
    lines.append(diff_summary(d))
    return "\n".join(lines) + "\n"


def coverage(report: CoverageReport) -> str:
    from ._shared import MARKS, coverage_heading, coverage_summary

    lines = [coverage_heading(report), f"{report.framework.title}", ""]
    width = max(len("  " * c.depth + c.id) for c in report.clauses)
    for c in report.clauses:
        name = ("  " * c.depth + c.id).ljust(width)
        if c.controls:
            served = ", ".join(sc.label(report.tier_names) for sc in c.controls)
        elif c.via_children:
            served = "through " + ", ".join(c.via_children)
        else:
            served = "-"
        lines.append(f"{MARKS[c.status]} {name}  {c.title}")
        lines.append(f"{' ' * (width + 6)}{served}")
    lines += ["", coverage_summary(report)]
    unserved = [c.id for c in report.unserved()]
    if unserved:
        lines.append("Not served by any control: " + ", ".join(unserved))
    lines.append("[x] served  [~] only through sub-clauses  [ ] not served")
    return "\n".join(lines) + "\n"


def risk(report: GapRiskReport, *, variant: str | None = None) -> str:
    """`variant` is accepted for symmetry with the HTML (which plots it); text shows all."""
    from ._risk import detail_lines, header_lines, table_text, variant_rows

    lines = [*header_lines(report), ""]
    lines += table_text(*variant_rows(report))
    lines += detail_lines(report)
    return "\n".join(lines) + "\n"


def portfolio(p: PortfolioRisk, *, notes: list[str] | tuple[str, ...] = ()) -> str:
    from ._risk import coverage_lines, model_rows, portfolio_lines, portfolio_rows, table_text

    lines = [*portfolio_lines(p), ""]
    lines += [*table_text(*portfolio_rows(p)), ""]
    lines += [*table_text(*model_rows(p)), ""]
    lines += coverage_lines(p)
    return "\n".join(lines) + "\n" + "".join(f"note: {n}\n" for n in notes)
