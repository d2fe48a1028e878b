"""Terminal report: verdict first, then a table of controls (rich)."""

from __future__ import annotations

import io

from ..decision import Decision, Status, Verdict
from .values import fmt_value

STYLE = {Status.PASS: "green", Status.FAIL: "red", Status.ERROR: "magenta",
         Status.SKIPPED: "dim", Status.WAIVED: "yellow"}
VERDICT_STYLE = {Verdict.APPROVE: "bold green", Verdict.CONDITIONAL: "bold yellow",
                 Verdict.BLOCK: "bold red"}


def renderables(decision: Decision) -> list:
    from rich.table import Table
    from rich.text import Text

    m = decision.model
    head = Text()
    head.append(f"{decision.verdict.value}", style=VERDICT_STYLE[decision.verdict])
    head.append(f"  {m.name}" + (f" v{m.version}" if m.version else ""))
    if decision.target:
        head.append(f" -> {decision.target}")
    head.append(f"\ntier {decision.tier.tier} ({decision.tier.explanation})", style="dim")
    head.append(f"\npolicy {decision.policy.name} {decision.policy.version or ''} "
                f"sha256:{decision.policy.sha256[:12]}  decision {decision.id}", style="dim")
    table = Table(show_lines=False, expand=False)
    for col in ("control", "sev", "status", "measured", "threshold", "message"):
        table.add_column(col, overflow="fold")
    for o in decision.outcomes:
        msg = o.result.message
        if o.waiver:
            msg += f" [waiver {o.waiver.id}, expires {o.waiver.expires}]"
        for w in o.expired_waivers:
            msg += f" [waiver {w.id} EXPIRED {w.expires}]"
        # Text(...) so that brackets in messages are not read as rich markup
        table.add_row(o.control_id, o.severity.value,
                      Text(o.status.value, style=STYLE[o.status]),
                      Text(fmt_value(o.result.measured)), Text(fmt_value(o.result.threshold)),
                      Text(msg))
    out: list = [head, table]
    fixes = [o for o in decision.failing() if o.remediation]
    if fixes:
        tips = Text("What to do:\n", style="bold")
        for o in fixes:
            tips.append(f"  {o.control_id}: {o.remediation}\n")
        out.append(tips)
    out.extend(Text(f"note: {note}", style="dim") for note in decision.notes)
    return out


def render(decision: Decision) -> str:
    from rich.console import Console

    buf = io.StringIO()
    console = Console(file=buf, width=120, no_color=True, force_terminal=False)
    for r in renderables(decision):
        console.print(r)
    return buf.getvalue()
