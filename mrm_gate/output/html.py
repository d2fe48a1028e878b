"""HTML format: self-contained pages, every value from data escaped (`escape.html_escape`).

- a decision, for a risk committee: verdict first, then every control with measured value vs
  threshold, refs, waivers, tier and why, evidence provenance, and plots;
- a gap-risk report and a portfolio (`mrm-gate risk --format html`), with their plots.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from ..decision import ControlOutcome, Decision, Figure, Status, Verdict
from .escape import html_escape as escape
from .values import fmt_value, table_rows

if TYPE_CHECKING:
    from ..risk._aggregate import PortfolioRisk
    from ..risk._analysis import GapRiskReport

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2430}
main{max-width:1100px;margin:0 auto;padding:24px}
.banner{padding:20px 24px;border-radius:8px;color:#fff;margin-bottom:18px}
.APPROVE{background:#1a7f37}.CONDITIONAL{background:#b58100}.BLOCK{background:#c62828}
.banner h1{margin:0 0 6px 0;font-size:26px}
table{border-collapse:collapse;width:100%;margin:8px 0 16px}
th,td{border-bottom:1px solid #e3e6ea;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#f5f7f9;font-weight:600}td:first-child{white-space:nowrap}
.s{font-weight:700;padding:2px 6px;border-radius:4px;font-size:12px}
.PASS{color:#1a7f37}.FAIL{color:#c62828}.ERROR{color:#8e24aa}.SKIPPED{color:#6b7280}
.WAIVED{color:#b58100}
.card{border:1px solid #e3e6ea;border-radius:8px;padding:12px 16px;margin:12px 0}
.meta{color:#5b6472;font-size:13px}code{background:#f2f4f6;padding:1px 4px;border-radius:3px}
figure{margin:8px 0}figure svg,figure img{max-width:100%;height:auto}
"""


def _fig(f: Figure) -> str:
    if f.media_type == "image/svg+xml":
        body = f.data
    else:
        data = f.data if isinstance(f.data, str) else base64.b64encode(f.data).decode()
        body = f'<img alt="{escape(f.title)}" src="data:{escape(f.media_type)};base64,{data}">'
    cap = f"<figcaption>{escape(f.caption)}</figcaption>" if f.caption else ""
    return f"<figure><div><b>{escape(f.title)}</b></div>{body}{cap}</figure>"


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _control(o: ControlOutcome) -> str:
    r = o.result
    parts = [f'<div class="card" id="{escape(o.control_id)}">',
             f'<h3><span class="s {o.status.value}">{o.status.value}</span> '
             f"{escape(o.control_id)} <span class=meta>{escape(o.check)} · {o.severity.value}"
             f"{' · tier ' + escape(o.tier) if o.tier else ''}</span></h3>"]
    if o.description:
        parts.append(f"<p>{escape(o.description)}</p>")
    parts.append(f"<p><b>Result:</b> {escape(r.message)}</p>")
    parts.append(_table(["measured", "threshold"],
                        [[fmt_value(r.measured), fmt_value(r.threshold)]]))
    for key, value in r.details.items():
        t = table_rows(value)
        if t:
            parts.append(f"<div><b>{escape(key)}</b></div>" + _table(*t))
        elif not isinstance(value, (list, dict)):
            parts.append(f"<div><b>{escape(key)}:</b> {escape(fmt_value(value))}</div>")
    parts += [_fig(f) for f in r.figures]
    if o.status in (Status.FAIL, Status.ERROR, Status.WAIVED) and o.remediation:
        parts.append(f"<p><b>Remediation:</b> {escape(o.remediation)}</p>")
    if o.refs:
        parts.append("<p class=meta>Refs: " + ", ".join(f"<code>{escape(x)}</code>"
                                                         for x in o.refs) + "</p>")
    if o.waiver:
        w = o.waiver
        parts.append(f"<p><b>Waived</b> by {escape(w.id)} (approver {escape(w.approver)}, "
                     f"expires {w.expires}): {escape(w.reason)}</p>")
    for w in o.expired_waivers:
        parts.append(f"<p><b>Expired waiver</b> {escape(w.id)} (expired {w.expires}) was "
                     "not applied.</p>")
    parts += [f"<p class=meta>{escape(n)}</p>" for n in r.notes]
    if r.evidence_file:
        parts.append(f"<p class=meta>Evidence file: <code>{escape(r.evidence_file)}</code></p>")
    parts.append(f"<p class=meta>{o.duration_s * 1000:.0f} ms</p></div>")
    return "".join(parts)


def decision(decision: Decision) -> str:
    m = decision.model
    title = f"{m.name}" + (f" v{m.version}" if m.version else "")
    verdict_text = {Verdict.APPROVE: "Approved", Verdict.CONDITIONAL: "Approved with conditions",
                    Verdict.BLOCK: "Blocked"}[decision.verdict]
    counts = decision.counts()
    summary_rows = [[o.control_id, o.severity.value, o.status.value,
                     fmt_value(o.result.measured), fmt_value(o.result.threshold),
                     o.result.message] for o in decision.outcomes]
    prov = [[k, fmt_value(v)] for k, v in decision.evidence_provenance.items()]
    body = [
        f'<div class="banner {decision.verdict.value}"><h1>{verdict_text}: {escape(title)}'
        f"{' → ' + escape(decision.target) if decision.target else ''}</h1>"
        f"<div>{decision.verdict.value} · tier <b>{escape(decision.tier.tier)}</b> · "
        + " · ".join(f"{v} {k.lower()}" for k, v in counts.items() if v) + "</div></div>",
        "<h2>Why</h2><ul>" + "".join(f"<li>{escape(r)}</li>" for r in decision.reasons)
        + "</ul>",
        f"<p><b>Tier {escape(decision.tier.tier)}</b> ({escape(decision.tier.source)}): "
        f"{escape(decision.tier.explanation)}</p>",
        "<h2>Controls</h2>",
        _table(["control", "severity", "status", "measured", "threshold", "message"],
               summary_rows),
        "<h2>Details</h2>",
        *[_control(o) for o in decision.outcomes],
        "<h2>Evidence and policy</h2>",
        _table(["", ""], [
            ["policy", f"{decision.policy.name} {decision.policy.version or ''}"],
            ["policy sha256", decision.policy.sha256],
            ["policy files", ", ".join(decision.policy.files)],
            ["evidence sha256", decision.evidence_sha256],
            ["waivers file", decision.waivers_file or "none"],
            ["decision id", decision.id],
            ["evaluated at", decision.created_at.isoformat(timespec="seconds")],
            ["requested by", decision.actor or "–"],
            ["mrm-gate", decision.tool_version],
            *prov,
        ]),
    ]
    if decision.notes:
        body.append("<h2>Notes</h2><ul>" + "".join(f"<li>{escape(n)}</li>"
                                                   for n in decision.notes) + "</ul>")
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8>"
            f"<title>mrm-gate: {escape(decision.verdict.value)} {escape(title)}</title>"
            f"<style>{CSS}</style></head><body><main>{''.join(body)}</main></body></html>\n")


render = decision  # the name every format module had before the family grew


# -- gap-based model risk ---------------------------------------------------------------------

RISK_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2430}
main{max-width:1100px;margin:0 auto;padding:24px}
table{border-collapse:collapse;width:100%;margin:8px 0 16px}
th,td{border-bottom:1px solid #e3e6ea;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#f5f7f9;font-weight:600}.meta{color:#5b6472;font-size:13px}
figure{margin:8px 0}figure svg{max-width:100%;height:auto}pre{white-space:pre-wrap}
"""


def _page(title: str, body: list[str]) -> str:
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"
        f"<style>{RISK_CSS}</style></head><body><main>" + "".join(body) + "</main></body></html>\n"
    )


def risk(report: GapRiskReport, *, variant: str | None = None) -> str:
    """The gap-risk page; `variant` picks the density the distribution plot draws."""
    from ..risk._plots import gap_distribution_svg, gap_timeseries_svg
    from ._risk import detail_lines, header_lines, plot_variant, variant_rows

    shown = plot_variant(report, variant)
    body = [f"<h1>{escape(report.backtest.name)}: gap-based model risk</h1>"]
    body += [f"<p class=meta>{escape(line)}</p>" for line in header_lines(report)[1:]]
    body.append("<h2>Probabilities of the model-risk situations</h2>")
    body.append(_table(*variant_rows(report)))
    body.append(
        "<p class=meta>MR1: 0 &le; D^M &le; margin ratio; MR2: D^M &lt; 0 (uncovered); MR3: "
        "D^M &gt; ybar. LGMR2 = |E[D^M | D^M &le; 0]|; EL_RM(2) = MRE &times; LGMR2 &times; MR2. "
        "Intervals: bootstrap (parametric for OU), Clopper-Pearson for empirical frequencies."
        "</p>"
    )
    body.append(
        f"<figure>{gap_distribution_svg(report, variant=shown)}<figcaption>Gap distribution "
        f"with the {escape(shown)} variant's density; shaded: MR2 (red), MR1 (amber), MR3 "
        "(blue).</figcaption></figure>"
    )
    body.append(
        f"<figure>{gap_timeseries_svg(report)}<figcaption>Gap per period, OU forecast band and "
        "systemic next-period forecast.</figcaption></figure>"
    )
    body.append("<h2>Fits, margin and assumptions</h2>")
    body.append("<pre>" + escape("\n".join(detail_lines(report)).strip()) + "</pre>")
    return _page(f"mrm-gate risk: {report.backtest.name}", body)


def portfolio(p: PortfolioRisk, *, notes: list[str] | tuple[str, ...] = ()) -> str:
    from ._risk import coverage_lines, model_rows, portfolio_lines, portfolio_rows

    body = ["<h1>Model risk at risk-type level</h1>"]
    body += [f"<p class=meta>{escape(line)}</p>" for line in portfolio_lines(p)]
    body.append(_table(*portfolio_rows(p)))
    body.append("<h2>Models</h2>" + _table(*model_rows(p)))
    body += [f"<p>{escape(line)}</p>" for line in coverage_lines(p)]
    body += [f"<p class=meta>note: {escape(n)}</p>" for n in notes]
    return _page("mrm-gate risk portfolio", body)
