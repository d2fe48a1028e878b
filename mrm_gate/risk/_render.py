"""Text and HTML renderings of a gap-risk report and of a portfolio (what `mrm-gate risk` prints).

Pure functions of the report objects; the JSON rendering is `report.to_dict()`.
"""

from __future__ import annotations

import math
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._aggregate import PortfolioRisk
    from ._analysis import GapRiskReport, VariantResult


def num(v: Any, digits: int = 4) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, (int, float)):
        return f"{v:.{digits}g}"
    return str(v)


def pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}%"


def _cell(r: VariantResult, key: str) -> str:
    value = r.value(key)
    iv = r.interval(key)
    if key in ("mr1", "mr2", "mr3"):
        text = pct(value)
        return text + (f" [{pct(iv[0])}, {pct(iv[1])}]" if iv else "")
    text = num(value)
    return text + (f" [{num(iv[0])}, {num(iv[1])}]" if iv else "")


VARIANT_COLUMNS = (
    ("mr1", "MR1 covered"),
    ("mr2", "MR2 uncovered"),
    ("mr3", "MR3 > ybar"),
    ("lgmr2", "LGMR2"),
    ("el_rm2", "EL_RM(2)"),
)


def variant_rows(report: GapRiskReport) -> tuple[list[str], list[list[str]]]:
    header = ["variant", *(label for _, label in VARIANT_COLUMNS)]
    rows = [
        [r.label, *(_cell(r, key) for key, _ in VARIANT_COLUMNS)] for r in report.results.values()
    ]
    return header, rows


def _table_text(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in
              enumerate(header)]  # fmt: skip
    line = lambda cells: "  ".join(  # noqa: E731
        c.ljust(w) for c, w in zip(cells, widths, strict=True)
    ).rstrip()
    return [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def _header_lines(report: GapRiskReport) -> list[str]:
    bt, s = report.backtest, report.settings
    out = [
        f"Gap-based model risk: {bt.name}" + (f" ({bt.source})" if bt.source else ""),
        f"{bt.n} periods {bt.periods[0]} .. {bt.periods[-1]}; declared margin ratio "
        f"{num(s['declared_margin_ratio'])}",
    ]
    fit = report.normal_fit
    if fit is not None:
        out.append(
            f"gap D^M: mean {num(fit.mean)}, sigma {num(fit.sigma)}, bias (mean - margin ratio) "
            f"{num(fit.bias)} (t {num(fit.bias_t, 3)})"
        )
    boot = f"{s['n_boot']} bootstrap replicates, seed {s['seed']}" if s["n_boot"] else "none"
    out.append(
        f"MRE {num(s['mre'])} ({s['mre_source']}); ybar {num(s['ybar'])}; horizon "
        f"{num(s['horizon'])} (period length {num(s['period_length'])}); intervals "
        f"{s['confidence']:.0%}: {boot}"
    )
    return out


def _detail_lines(report: GapRiskReport) -> list[str]:
    out: list[str] = []
    req = report.required_margin
    if req is not None:
        verdict = "sufficient" if req["sufficient"] else "INSUFFICIENT"
        out += [
            "",
            f"Margin for MR2 = {pct(req['alpha'])}: ratio {num(req['required_margin_ratio'])} "
            f"(paper, q_(1-alpha) sigma) / {num(req['required_margin_ratio_fitted'])} (with the "
            f"observed bias) vs declared {num(req['declared_margin_ratio'])}: {verdict}",
            f"  amount for the latest period: {num(req['required_margin_latest'])} (paper) / "
            f"{num(req['required_margin_latest_fitted'])} (fitted) vs declared "
            f"{num(req['declared_margin_latest'])}",
        ]
    sf = report.systemic_fit
    if sf is not None:
        coefs = ", ".join(
            f"{n} {num(float(c))} (se {num(float(se), 3)}, p {num(float(p), 2)})"
            for n, c, se, p in zip(sf.names, sf.coef, sf.se, sf.p_values, strict=True)
        )
        scen = report.settings["scenario"] or "latest factor values"
        out += [
            "",
            f"Systemic: D^M_k = {num(sf.intercept)} + sum phi_j E_(k-1,j); {coefs}",
            f"  residual sigma {num(sf.sigma)}, R2 {num(sf.r2, 3)}, {sf.n_obs} observations; "
            f"forecast from {scen}",
        ]
    ou = report.ou_fit
    if ou is not None:
        res = report.results.get("ou")
        out += [
            "",
            f"Ornstein-Uhlenbeck: lambda {num(ou.lam)} per time unit (half-life "
            f"{num(ou.half_life, 3)}), long-term mean {num(ou.mu)}, sigma {num(ou.sigma)}, AR(1) "
            f"b {num(ou.b)} (se {num(ou.se_b, 3)})",
        ]
        if res is not None:
            out.append(
                f"  at horizon {num(report.settings['horizon'])} from the last gap "
                f"{num(float(report.backtest.gaps()[-1]))}: mean {num(res.mean)}, "
                f"sd {num(res.sigma)}"
            )
    a = report.assumptions
    if a is not None:
        out += ["", f"Assumptions (level {a.level}):"]
        for subject, tests in a.tests.items():
            parts = []
            for name, t in tests.items():
                if t.rejected is None:
                    parts.append(f"{name} n/a")
                    continue
                p = (
                    f"p {num(t.p_value, 3)}"
                    if t.p_value is not None
                    else f"t {num(t.statistic, 3)}"
                )
                flag = " significant" if name == "f_test" else " REJECTED"
                parts.append(f"{name} {p}{flag if t.rejected else ''}")
            out.append(f"  {subject}: " + "; ".join(parts))
        out.append(f"  recommended variant: {a.recommended}")
        out += [f"  - {r}" for r in a.reasons]
    if report.errors:
        out += ["", "Not computed:"]
        out += [f"  {k}: {v}" for k, v in report.errors.items()]
    if report.notes:
        out += ["", "Notes:"] + [f"  - {n}" for n in report.notes]
    return out


def report_text(report: GapRiskReport) -> str:
    lines = [*_header_lines(report), ""]
    lines += _table_text(*variant_rows(report))
    lines += _detail_lines(report)
    return "\n".join(lines) + "\n"


CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2430}
main{max-width:1100px;margin:0 auto;padding:24px}
table{border-collapse:collapse;width:100%;margin:8px 0 16px}
th,td{border-bottom:1px solid #e3e6ea;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#f5f7f9;font-weight:600}.meta{color:#5b6472;font-size:13px}
figure{margin:8px 0}figure svg{max-width:100%;height:auto}pre{white-space:pre-wrap}
"""


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _page(title: str, body: list[str]) -> str:
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"
        f"<style>{CSS}</style></head><body><main>" + "".join(body) + "</main></body></html>\n"
    )


def plot_variant(report: GapRiskReport, variant: str | None) -> str:
    """The variant whose density the distribution plot draws: the chosen one if it has a
    distribution, else the recommended one, else the fitted normal."""
    for v in (variant, report.recommended, "normal"):
        r = report.results.get(v or "")
        if r is not None and r.mean is not None:
            return r.variant
    return "normal"


def report_html(report: GapRiskReport, *, variant: str | None = None) -> str:
    from ._plots import gap_distribution_svg, gap_timeseries_svg

    shown = plot_variant(report, variant)
    body = [f"<h1>{escape(report.backtest.name)}: gap-based model risk</h1>"]
    body += [f"<p class=meta>{escape(line)}</p>" for line in _header_lines(report)[1:]]
    body.append("<h2>Probabilities of the model-risk situations</h2>")
    body.append(_html_table(*variant_rows(report)))
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
    body.append("<pre>" + escape("\n".join(_detail_lines(report)).strip()) + "</pre>")
    return _page(f"mrm-gate risk: {report.backtest.name}", body)


def portfolio_rows(p: PortfolioRisk) -> tuple[list[str], list[list[str]]]:
    header = ["variant", "mean of D_Total", "sigma_T", "MR2_agg", "LGMR2", "EL_RM(2)"]
    rows = []
    for name, loss in (("paper (mean = M_Total)", p.paper), ("fitted mean", p.fitted)):
        key = "paper" if loss is p.paper else "fitted"
        iv = p.intervals.get(f"{key}.el_rm2") if p.intervals else None
        mr2_iv = p.intervals.get(f"{key}.mr2") if p.intervals else None
        rows.append([
            name, num(loss.mean), num(loss.sigma),
            pct(loss.mr2) + (f" [{pct(mr2_iv[0])}, {pct(mr2_iv[1])}]" if mr2_iv else ""),
            num(loss.lgmr2),
            num(loss.el_rm2) + (f" [{num(iv[0])}, {num(iv[1])}]" if iv else ""),
        ])  # fmt: skip
    return header, rows


def _model_rows(p: PortfolioRisk) -> tuple[list[str], list[list[str]]]:
    header = ["model", "periods", "margin ratio", "mean D^M", "sigma", "MR2 (paper)",
              "EL_RM(2) paper", "EL_RM(2) fitted"]  # fmt: skip
    rows = []
    for name, m in p.per_model.items():
        if "error" in m:
            rows.append([name, str(m["periods"]), "error: " + m["error"], "", "", "", "", ""])
            continue
        rows.append([
            name, str(m["periods"]), num(m["margin_ratio"]), num(m["mean"]), num(m["sigma"]),
            pct(m["paper"]["mr2"]), num(m["paper"]["el_rm2"]), num(m["fitted"]["el_rm2"]),
        ])  # fmt: skip
    return header, rows


def _portfolio_lines(p: PortfolioRisk) -> list[str]:
    out = [
        f"Model risk at risk-type level: {len(p.models)} model(s), {p.total.n} periods "
        f"{p.total.periods[0]} .. {p.total.periods[-1]}",
        f"M_Total {num(p.fit.margin_ratio)}; D_Total mean {num(p.fit.mean)}, sigma_T "
        f"{num(p.fit.sigma)}; MRE {num(p.paper.mre)} ({p.mre_source})",
    ]
    return out


def _coverage_lines(p: PortfolioRisk) -> list[str]:
    out = []
    for variant in ("paper", "fitted"):
        cov = p.coverage(variant)
        if cov is None:
            continue
        state = "covered" if cov["covered"] else f"NOT covered (shortfall {num(cov['shortfall'])})"
        out.append(
            f"Allocated fund {num(cov['allocated_fund'])} vs EL_RM(2) ({variant}) "
            f"{num(cov['el_rm2'])}: {state}"
        )
    emp = p.empirical
    out.append(f"Empirical: {emp.mr2.count} of {emp.mr2.n} periods uncovered at total level "
               f"({pct(emp.mr2.value)} [{pct(emp.mr2.low)}, {pct(emp.mr2.high)}])")  # fmt: skip
    return out


def portfolio_text(p: PortfolioRisk) -> str:
    lines = [*_portfolio_lines(p), ""]
    lines += [*_table_text(*portfolio_rows(p)), ""]
    lines += [*_table_text(*_model_rows(p)), ""]
    lines += _coverage_lines(p)
    return "\n".join(lines) + "\n"


def portfolio_html(p: PortfolioRisk) -> str:
    body = ["<h1>Model risk at risk-type level</h1>"]
    body += [f"<p class=meta>{escape(line)}</p>" for line in _portfolio_lines(p)]
    body.append(_html_table(*portfolio_rows(p)))
    body.append("<h2>Models</h2>" + _html_table(*_model_rows(p)))
    body += [f"<p>{escape(line)}</p>" for line in _coverage_lines(p)]
    return _page("mrm-gate risk portfolio", body)
