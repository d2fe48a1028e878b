"""Small self-contained SVG charts for check results (bar charts, paired histograms).

Hand-written SVG rather than matplotlib: a figure costs microseconds instead of a 0.5 s import
plus ~0.1 s per figure, the output is deterministic text (stable report hashes), and it renders
in every browser and in the HTML report without scripts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

PALETTE = {"bar": "#4c78a8", "reference": "#9ecae9", "current": "#f58518",
           "green": "#54a24b", "yellow": "#e5b400", "red": "#e45756", "grey": "#888888"}
FONT = 'font-family="sans-serif" font-size="11"'


@dataclass(frozen=True)
class Line:
    """A vertical reference line on a bar chart (e.g. a yellow / red threshold)."""

    value: float
    color: str
    label: str


def _num(v: float) -> str:
    return f"{v:.3g}"


def bar_chart(labels: Sequence[str], values: Sequence[float], *, title: str,
              colors: Sequence[str] | None = None, lines: Sequence[Line] = (),
              width: int = 640, value_label: str = "") -> str:
    """Horizontal bars, one per label, largest scale from values and lines."""
    n = len(labels)
    label_w = min(220, 12 + 7 * max((len(str(lb)) for lb in labels), default=4))
    bar_h, gap, top, bottom = 16, 6, 28, 34
    height = top + n * (bar_h + gap) + bottom
    plot_w = width - label_w - 60
    finite = [v for v in values if v == v and v not in (float("inf"), float("-inf"))]
    vmax = max([*finite, *(ln.value for ln in lines), 1e-12])
    scale = plot_w / vmax
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
           f'<text x="{width / 2}" y="16" text-anchor="middle" {FONT} font-weight="bold">'
           f"{escape(title)}</text>"]
    for i, (lb, v) in enumerate(zip(labels, values, strict=False)):
        y = top + i * (bar_h + gap)
        color = colors[i] if colors else PALETTE["bar"]
        w = max(0.0, min(v if v == v else 0.0, vmax)) * scale
        out.append(f'<text x="{label_w - 6}" y="{y + bar_h - 4}" text-anchor="end" {FONT}>'
                   f"{escape(str(lb))}</text>")
        out.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" '
                   f'fill="{color}"><title>{escape(str(lb))}: {_num(v)}</title></rect>')
        out.append(f'<text x="{label_w + w + 4:.1f}" y="{y + bar_h - 4}" {FONT}>{_num(v)}</text>')
    axis_y = top + n * (bar_h + gap)
    out.append(f'<line x1="{label_w}" y1="{top - 4}" x2="{label_w}" y2="{axis_y}" '
               'stroke="#333"/>')
    for j, ln in enumerate(lines):
        x = label_w + ln.value * scale
        out.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{axis_y}" '
                   f'stroke="{ln.color}" stroke-dasharray="4 3" stroke-width="1.5"/>')
        out.append(f'<text x="{x:.1f}" y="{axis_y + 14 + 11 * j}" text-anchor="middle" {FONT} '
                   f'fill="{ln.color}">{escape(ln.label)} {_num(ln.value)}</text>')
    if value_label:
        out.append(f'<text x="{width - 4}" y="{height - 4}" text-anchor="end" {FONT}>'
                   f"{escape(value_label)}</text>")
    out.append("</svg>")
    return "".join(out)


def paired_histogram(bin_labels: Sequence[str], reference: Sequence[float],
                     current: Sequence[float], *, title: str, width: int = 420,
                     height: int = 230) -> str:
    """Reference vs current shares per bin, side by side (a drift picture of one column)."""
    n = max(len(bin_labels), 1)
    left, right, top, bottom = 36, 8, 24, 74
    plot_w, plot_h = width - left - right, height - top - bottom
    vmax = max([*reference, *current, 1e-12])
    slot = plot_w / n
    bw = max(1.0, slot * 0.4)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
           f'<text x="{width / 2}" y="15" text-anchor="middle" {FONT} font-weight="bold">'
           f"{escape(title)}</text>"]
    base = top + plot_h
    for i, lb in enumerate(bin_labels):
        x0 = left + i * slot + slot * 0.1
        for k, (series, color) in enumerate(((reference, PALETTE["reference"]),
                                             (current, PALETTE["current"]))):
            v = series[i]
            h = plot_h * v / vmax
            out.append(f'<rect x="{x0 + k * bw:.1f}" y="{base - h:.1f}" width="{bw:.1f}" '
                       f'height="{h:.1f}" fill="{color}"><title>{escape(str(lb))} '
                       f'{"reference" if k == 0 else "current"}: {v:.3%}</title></rect>')
        if n <= 16:
            tx, ty = x0 + bw, base + 10
            out.append(f'<text x="{tx:.1f}" y="{ty}" text-anchor="end" font-family="sans-serif" '
                       f'font-size="9" transform="rotate(-35 {tx:.1f} {ty})">'
                       f"{escape(str(lb)[:16])}</text>")
    out.append(f'<line x1="{left}" y1="{base}" x2="{width - right}" y2="{base}" stroke="#333"/>')
    out.append(f'<text x="4" y="{top + 8}" {FONT}>{vmax:.0%}</text>')
    ly = height - 8
    out.append(f'<rect x="{left}" y="{ly - 8}" width="10" height="8" '
               f'fill="{PALETTE["reference"]}"/><text x="{left + 14}" y="{ly}" {FONT}>'
               'reference</text>')
    out.append(f'<rect x="{left + 90}" y="{ly - 8}" width="10" height="8" '
               f'fill="{PALETTE["current"]}"/><text x="{left + 104}" y="{ly}" {FONT}>'
               'current</text>')
    out.append("</svg>")
    return "".join(out)
