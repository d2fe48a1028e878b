"""SVG plots of a gap-risk report (what the paper's figures 4 to 9 draw).

- `gap_distribution_svg`: histogram of the D^M series, the normal density of the chosen variant,
  the margin ratio and the overestimation limit, with the MR2 (D^M < 0), MR1 (0..m) and MR3
  (> ybar) regions shaded under the density;
- `gap_timeseries_svg`: D^M per period against 0 and the margin, with the OU forecast (mean and
  a 95% band) over the next periods, and the systemic forecast for the next one.

matplotlib is imported inside the functions with the Agg backend (no display, no GUI toolkit);
SVG ids are salted with a constant and the date metadata dropped, so the output is reproducible.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

if TYPE_CHECKING:
    from ._analysis import GapRiskReport

COLOURS = {"mr2": "#c62828", "mr1": "#f59e0b", "mr3": "#1565c0", "gap": "#1d2430", "ou": "#7b1fa2"}
FORECAST_PERIODS = 8


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "mrm-gate"
    plt.rcParams["svg.fonttype"] = "none"  # text stays text: smaller, searchable
    return plt


def _svg(fig) -> str:
    plt = _pyplot()
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]  # inline in HTML: drop the XML prolog and doctype


def _pct(p: float | None) -> str:
    return "n/a" if p is None else f"{100 * p:.1f}%"


def gap_distribution_svg(report: GapRiskReport, *, variant: str = "normal") -> str:
    """Distribution of D^M with the situations shaded under the variant's normal density."""
    plt = _pyplot()
    d = report.backtest.gaps()
    m = report.settings["declared_margin_ratio"]
    ybar = report.settings["ybar"]
    res = report.results.get(variant)
    if res is None or res.mean is None or res.sigma is None:
        res = report.results.get("normal")
    fig, ax = plt.subplots(figsize=(7.5, 3.8), layout="constrained")
    ax.hist(
        d,
        bins=min(20, max(5, d.size // 2)),
        density=True,
        color="#cfd8dc",
        edgecolor="#90a4ae",
        label=f"observed D^M ({d.size} periods)",
    )
    if res is not None and res.mean is not None and res.sigma and res.sigma > 0:
        mu, sd = res.mean, res.sigma
        lo = min(d.min(), mu - 4 * sd, -0.05)
        hi = max(d.max(), mu + 4 * sd, (ybar or m) + 0.05)
        x = np.linspace(lo, hi, 600)
        pdf = stats.norm.pdf(x, mu, sd)
        ax.plot(x, pdf, color=COLOURS["gap"], lw=1.6, label=f"N({mu:.3f}, {sd:.3f}²): {res.label}")
        ax.fill_between(
            x,
            pdf,
            where=x <= 0,
            color=COLOURS["mr2"],
            alpha=0.35,
            label=f"MR2 uncovered = {_pct(res.mr2)}",
        )
        ax.fill_between(
            x,
            pdf,
            where=(x >= 0) & (x <= m),
            color=COLOURS["mr1"],
            alpha=0.35,
            label=f"MR1 covered by margin = {_pct(res.mr1)}",
        )
        if ybar is not None:
            ax.fill_between(
                x,
                pdf,
                where=x >= ybar,
                color=COLOURS["mr3"],
                alpha=0.35,
                label=f"MR3 beyond ȳ = {_pct(res.mr3)}",
            )
    ax.axvline(0.0, color=COLOURS["mr2"], lw=1, ls="--")
    ax.axvline(m, color=COLOURS["mr1"], lw=1, ls="--")
    ax.text(m, ax.get_ylim()[1] * 0.97, f" M̂ {m:.3f}", va="top", fontsize=8)
    if ybar is not None:
        ax.axvline(ybar, color=COLOURS["mr3"], lw=1, ls="--")
        ax.text(ybar, ax.get_ylim()[1] * 0.97, f" ȳ {ybar:.3f}", va="top", fontsize=8)
    ax.set_xlabel(
        "relative gap D^M = (EL + margin − RL) / (EL + margin)"
        if report.backtest.scaling == "margin"
        else "relative gap D^M = (EL + margin − RL) / EL (expected_loss scaling)"
    )
    ax.set_ylabel("density")
    ax.set_title(f"{report.backtest.name}: gap distribution and model-risk situations", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", frameon=False)
    return _svg(fig)


def gap_timeseries_svg(report: GapRiskReport) -> str:
    """D^M over time with the OU forecast band and the systemic next-period forecast."""
    plt = _pyplot()
    bt = report.backtest
    d = bt.gaps()
    m = report.settings["declared_margin_ratio"]
    n = d.size
    k = np.arange(n)
    fig, ax = plt.subplots(figsize=(7.5, 3.6), layout="constrained")
    ax.axhspan(min(d.min(), 0) - 1, 0, color=COLOURS["mr2"], alpha=0.06)
    ax.axhline(0.0, color=COLOURS["mr2"], lw=1, ls="--", label="0: realised = EL + margin")
    ax.axhline(m, color=COLOURS["mr1"], lw=1, ls="--", label=f"margin ratio {m:.3f}")
    ax.plot(k, d, color=COLOURS["gap"], marker="o", ms=3, lw=1.2, label="D^M")
    under = d < 0
    ax.scatter(k[under], d[under], color=COLOURS["mr2"], s=14, zorder=3, label="uncovered period")
    fit = report.ou_fit
    if fit is not None:
        dt = fit.period_length
        steps = np.arange(1, FORECAST_PERIODS + 1)
        horizons = steps * dt
        decay = np.exp(-fit.lam * horizons)
        mean = decay * d[-1] + fit.mu * (1 - decay)
        sd = np.sqrt(fit.sigma**2 / (2 * fit.lam) * -np.expm1(-2 * fit.lam * horizons))
        xs = np.concatenate([[n - 1], n - 1 + steps])
        ms = np.concatenate([[d[-1]], mean])
        ss = np.concatenate([[0.0], sd])
        z = stats.norm.ppf(0.975)
        ax.plot(xs, ms, color=COLOURS["ou"], lw=1.4, label="OU forecast mean")
        ax.fill_between(
            xs, ms - z * ss, ms + z * ss, color=COLOURS["ou"], alpha=0.18, label="OU 95% band"
        )
    sys_res = report.results.get("systemic")
    if sys_res is not None and sys_res.mean is not None and sys_res.sigma is not None:
        z = stats.norm.ppf(0.975)
        ax.errorbar(
            [n],
            [sys_res.mean],
            yerr=[[z * sys_res.sigma]],
            fmt="s",
            ms=4,
            color=COLOURS["mr3"],
            capsize=3,
            label="systemic forecast (95%)",
        )
    step = max(1, math.ceil(n / 10))
    ax.set_xticks(k[::step])
    ax.set_xticklabels([str(p) for p in bt.periods[::step]], rotation=30, fontsize=7)
    ax.set_ylim(min(d.min(), 0) - 0.1 * (np.ptp(d) or 1), None)
    ax.set_ylabel("D^M")
    ax.set_title(f"{bt.name}: gap per period and forecast", fontsize=10)
    ax.legend(fontsize=7, loc="lower left", frameon=False, ncol=2)
    return _svg(fig)
