"""Inline SVG charts built in Python: no CDN, no JavaScript, so a report opens offline anywhere.

Two shapes cover what the reform reports show: a line chart over months (several series, e.g.
actual against baseline) and a horizontal bar chart over units (one value per unit, e.g. a rate).
Every figure is also written as text next to its mark, so a reader (and a test) can read the
value without hovering; missing values are left out, never drawn as 0.
"""

from __future__ import annotations

from decimal import Decimal
from html import escape
from typing import Callable, Sequence

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
FONT = "font-family='Noto Sans CJK SC, Microsoft YaHei, sans-serif'"

Number = Decimal | float | int


def fmt_yuan(v: Number) -> str:
    return f"{Decimal(v):,.2f}"


def fmt_rate(v: Number) -> str:
    """A rate (fraction 0–1) as a percentage with one decimal, half-up as the finance office rounds."""
    from decimal import ROUND_HALF_UP, localcontext

    with localcontext() as ctx:
        ctx.prec = 100  # quantize fails past the default 28 digits; a numeric(30, 6) rate has up to 30
        return f"{(Decimal(v) * 100).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}%"


def fmt_number(v: Number) -> str:
    d = Decimal(v)
    return f"{d:,.0f}" if d == d.to_integral_value() else f"{d:,.2f}"


def _nice_max(v: float) -> float:
    """The smallest 1/2/2.5/5 × 10^k at or above v (axis top)."""
    if v <= 0:
        return 1.0
    import math

    exp = 10 ** math.floor(math.log10(v))
    for step in (1, 2, 2.5, 5, 10):
        if step * exp >= v:
            return step * exp
    return 10 * exp


def _empty(title: str, width: int, height: int, note: str) -> str:
    height = min(height, 60)
    return (f"<svg xmlns='http://www.w3.org/2000/svg' role='img' class='chart empty' width='{width}' height='{height}' "
            f"viewBox='0 0 {width} {height}' {FONT}><title>{escape(title)}</title>"
            f"<text x='{width / 2}' y='{height / 2}' text-anchor='middle' fill='#777' font-size='13'>{escape(note)}</text></svg>")


def line_chart(title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[Number | None]]], *,
               fmt: Callable[[Number], str] = fmt_number, width: int = 640, height: int = 280,
               chart_id: str = "") -> str:
    """Lines over ``labels`` (e.g. months); ``series`` = [(name, values aligned with labels)]."""
    points = [float(v) for _, vals in series for v in vals if v is not None]
    if not labels or not points:
        return _empty(title, width, height, "no data for this period")
    left, right, top, bottom = 80, 20, 30, 50
    lo = min(0.0, min(points))
    hi = _nice_max(max(points)) if max(points) > 0 else 0.0
    if hi == lo:
        hi = lo + 1
    pw, ph = width - left - right, height - top - bottom
    n = len(labels)

    def x(i: int) -> float:
        return left + (pw * (i + 0.5) / n)

    def y(v: float) -> float:
        return top + ph * (hi - v) / (hi - lo)

    out = [f"<svg xmlns='http://www.w3.org/2000/svg' role='img' class='chart line' id='{escape(chart_id)}' "
           f"width='{width}' height='{height}' viewBox='0 0 {width} {height}' {FONT} font-size='11'>",
           f"<title>{escape(title)}</title>"]
    for k in range(5):  # grid and axis labels
        v = lo + (hi - lo) * k / 4
        out.append(f"<line x1='{left}' x2='{width - right}' y1='{y(v):.1f}' y2='{y(v):.1f}' stroke='#e3e3e3'/>"
                   f"<text x='{left - 6}' y='{y(v) + 4:.1f}' text-anchor='end' fill='#555'>{escape(fmt(v))}</text>")
    if lo < 0:
        out.append(f"<line x1='{left}' x2='{width - right}' y1='{y(0):.1f}' y2='{y(0):.1f}' stroke='#999'/>")
    for i, label in enumerate(labels):
        out.append(f"<text x='{x(i):.1f}' y='{height - bottom + 16}' text-anchor='middle' fill='#555'>{escape(label)}</text>")
    for s, (name, vals) in enumerate(series):
        colour = PALETTE[s % len(PALETTE)]
        pts = [(x(i), y(float(v)), v, labels[i]) for i, v in enumerate(vals) if v is not None]
        if len(pts) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py, _, _ in pts)
            out.append(f"<polyline fill='none' stroke='{colour}' stroke-width='2' points='{path}'/>")
        for px, py, v, label in pts:
            text = escape(fmt(v))
            out.append(f"<g class='point' data-series='{escape(name)}' data-label='{escape(label)}' data-value='{text}'>"
                       f"<circle cx='{px:.1f}' cy='{py:.1f}' r='3.5' fill='{colour}'><title>{escape(name)} {escape(label)}: {text}</title></circle>"
                       f"<text x='{px:.1f}' y='{py - 7:.1f}' text-anchor='middle' fill='{colour}' font-size='10'>{text}</text></g>")
        lx = left + s * 200
        out.append(f"<rect x='{lx}' y='{height - 18}' width='12' height='4' fill='{colour}'/>"
                   f"<text x='{lx + 16}' y='{height - 13}' fill='#333'>{escape(name)}</text>")
    out.append("</svg>")
    return "".join(out)


def bar_chart(title: str, items: Sequence[tuple[str, Number | None]], *, fmt: Callable[[Number], str] = fmt_rate,
              max_value: float | None = 1.0, width: int = 640, bar: int = 22, chart_id: str = "") -> str:
    """Horizontal bars, one per (label, value); rates default to a 0–100 % axis."""
    items = [(label, v) for label, v in items if v is not None]
    if not items:
        return _empty(title, width, 80, "no data for this period")
    left, right, top = 150, 80, 10
    height = top * 2 + len(items) * (bar + 8)
    top_value = max_value if max_value is not None else _nice_max(max(float(v) for _, v in items))
    pw = width - left - right
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' role='img' class='chart bar' id='{escape(chart_id)}' "
           f"width='{width}' height='{height}' viewBox='0 0 {width} {height}' {FONT} font-size='12'>",
           f"<title>{escape(title)}</title>"]
    for i, (label, v) in enumerate(items):
        yy = top + i * (bar + 8)
        w = max(0.0, pw * float(v) / top_value) if top_value else 0.0
        text = escape(fmt(v))
        out.append(f"<g class='bar' data-label='{escape(label)}' data-value='{text}'>"
                   f"<text x='{left - 8}' y='{yy + bar * 0.7:.1f}' text-anchor='end' fill='#333'>{escape(label)}</text>"
                   f"<rect x='{left}' y='{yy}' width='{pw}' height='{bar}' fill='#f0f0f0'/>"
                   f"<rect x='{left}' y='{yy}' width='{w:.1f}' height='{bar}' fill='{PALETTE[0]}'><title>{escape(label)}: {text}</title></rect>"
                   f"<text x='{left + w + 6:.1f}' y='{yy + bar * 0.7:.1f}' fill='#111'>{text}</text></g>")
    out.append("</svg>")
    return "".join(out)
