"""Wording of a gap-risk report and of a portfolio shared by the text and HTML formats: the
numbers as text, the variant and portfolio tables, the header and detail lines.

Format-neutral plain text; `text.risk`/`html.risk` lay it out (and the HTML escapes it).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..risk._aggregate import PortfolioRisk
    from ..risk._analysis import GapRiskReport, VariantResult


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


def table_text(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in
              enumerate(header)]  # fmt: skip
    line = lambda cells: "  ".join(  # noqa: E731
        c.ljust(w) for c, w in zip(cells, widths, strict=True)
    ).rstrip()
    return [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def header_lines(report: GapRiskReport) -> list[str]:
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


def detail_lines(report: GapRiskReport) -> list[str]:
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


def plot_variant(report: GapRiskReport, variant: str | None) -> str:
    """The variant whose density the distribution plot draws: the chosen one if it has a
    distribution, else the recommended one, else the fitted normal."""
    for v in (variant, report.recommended, "normal"):
        r = report.results.get(v or "")
        if r is not None and r.mean is not None:
            return r.variant
    return "normal"


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


def model_rows(p: PortfolioRisk) -> tuple[list[str], list[list[str]]]:
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


def portfolio_lines(p: PortfolioRisk) -> list[str]:
    out = [
        f"Model risk at risk-type level: {len(p.models)} model(s), {p.total.n} periods "
        f"{p.total.periods[0]} .. {p.total.periods[-1]}",
        f"M_Total {num(p.fit.margin_ratio)}; D_Total mean {num(p.fit.mean)}, sigma_T "
        f"{num(p.fit.sigma)}; MRE {num(p.paper.mre)} ({p.mre_source})",
    ]
    return out


def coverage_lines(p: PortfolioRisk) -> list[str]:
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
