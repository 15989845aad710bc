"""Inline SVG charts built in Python: no CDN, no JavaScript, so a report opens offline anywhere.

Three shapes cover what the reform reports show: a line chart over months (several series), a
column chart over months (one signed value, e.g. a saving = baseline − actual) and a horizontal
bar chart over units (one value per unit, e.g. a rate). Rules that keep them readable:

* every chart carries a visible title naming its unit (元, %);
* value labels never overlap: a line or column chart labels only each series' latest point (the
  labels nudged apart when two series end close together); a bar chart labels each bar at its end;
  every mark keeps its value in ``data-value`` and a tooltip;
* series that coincide stay visible: each has its own marker shape and dash pattern;
* missing values are left out, never drawn as 0.
"""

from __future__ import annotations

from decimal import Decimal
from html import escape
from typing import Callable, Sequence

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
DASHES = ("", "6 3", "2 3", "8 3 2 3", "4 2", "1 2")  # per series, so coinciding lines still show
MARKERS = ("circle", "square", "triangle", "diamond", "circle", "square")
LABEL_GAP = 12  # px between two value labels, so they never overlap
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


def fmt_persons(v: Number) -> str:
    """People are whole: an average headcount rounds half-up to a whole person."""
    from decimal import ROUND_HALF_UP

    return f"{Decimal(v).quantize(Decimal(1), rounding=ROUND_HALF_UP):,}"


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


def _marker(shape: str, x: float, y: float, colour: str, tip: str) -> str:
    """A point mark of the series' own shape (hollow after the first series, so overlaps show)."""
    tip = f"<title>{tip}</title>"
    if shape == "circle":
        return f"<circle cx='{x:.1f}' cy='{y:.1f}' r='3.5' fill='{colour}'>{tip}</circle>"
    if shape == "square":
        return (f"<rect x='{x - 3.5:.1f}' y='{y - 3.5:.1f}' width='7' height='7' fill='white' stroke='{colour}' "
                f"stroke-width='1.5'>{tip}</rect>")
    pts = ((x, y - 5), (x + 4.5, y + 3.5), (x - 4.5, y + 3.5)) if shape == "triangle" else \
        ((x, y - 5), (x + 4.5, y), (x, y + 5), (x - 4.5, y))
    path = " ".join(f"{a:.1f},{b:.1f}" for a, b in pts)
    return f"<polygon points='{path}' fill='white' stroke='{colour}' stroke-width='1.5'>{tip}</polygon>"


def spread_labels(ys: Sequence[float], gap: float = LABEL_GAP) -> list[float]:
    """Label positions at least ``gap`` apart, each as near its own point as that allows (same order)."""
    order = sorted(range(len(ys)), key=lambda i: ys[i])
    out = list(ys)
    for a, b in zip(order, order[1:]):
        out[b] = max(out[b], out[a] + gap)
    return out


def _heading(title: str, width: int) -> str:
    return (f"<title>{escape(title)}</title><text class='chart-title' x='{width / 2}' y='15' text-anchor='middle' "
            f"fill='#222' font-size='13' font-weight='bold'>{escape(title)}</text>")


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
    left, right, top, bottom = 80, 90, 30, 50
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
           _heading(title, width)]
    for k in range(5):  # grid and axis labels
        v = lo + (hi - lo) * k / 4
        out.append(f"<line x1='{left}' x2='{width - right}' y1='{y(v):.1f}' y2='{y(v):.1f}' stroke='#e3e3e3'/>"
                   f"<text x='{left - 6}' y='{y(v) + 4:.1f}' text-anchor='end' fill='#555'>{escape(fmt(v))}</text>")
    if lo < 0:
        out.append(f"<line x1='{left}' x2='{width - right}' y1='{y(0):.1f}' y2='{y(0):.1f}' stroke='#999'/>")
    for i, label in enumerate(labels):
        out.append(f"<text x='{x(i):.1f}' y='{height - bottom + 16}' text-anchor='middle' fill='#555'>{escape(label)}</text>")
    latest = []  # (y, text, colour, x) of each series' latest point: the only values written out
    for s, (name, vals) in enumerate(series):
        colour, dash, shape = PALETTE[s % len(PALETTE)], DASHES[s % len(DASHES)], MARKERS[s % len(MARKERS)]
        pts = [(x(i), y(float(v)), v, labels[i]) for i, v in enumerate(vals) if v is not None]
        if len(pts) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py, _, _ in pts)
            dashing = f" stroke-dasharray='{dash}'" if dash else ""
            out.append(f"<polyline fill='none' stroke='{colour}' stroke-width='2'{dashing} points='{path}'/>")
        for px, py, v, label in pts:
            text = escape(fmt(v))
            out.append(f"<g class='point' data-series='{escape(name)}' data-label='{escape(label)}' data-value='{text}'>"
                       f"{_marker(shape, px, py, colour, f'{escape(name)} {escape(label)}: {text}')}</g>")
        if pts:
            px, py, v, _ = pts[-1]
            latest.append((py, escape(fmt(v)), colour, px))
        lx = left + s * 200
        dashing = f" stroke-dasharray='{dash}'" if dash else ""
        out.append(f"<line x1='{lx}' x2='{lx + 22}' y1='{height - 15}' y2='{height - 15}' stroke='{colour}' "
                   f"stroke-width='2'{dashing}/>{_marker(shape, lx + 11, height - 15, colour, escape(name))}"
                   f"<text x='{lx + 28}' y='{height - 11}' fill='#333'>{escape(name)}</text>")
    for ly, (_, text, colour, px) in zip(spread_labels([p[0] + 4 for p in latest]), latest):
        out.append(f"<text class='value-label' x='{px + 8:.1f}' y='{ly:.1f}' fill='{colour}' font-size='10'>{text}</text>")
    out.append("</svg>")
    return "".join(out)


def column_chart(title: str, labels: Sequence[str], values: Sequence[Number | None], *,
                 fmt: Callable[[Number], str] = fmt_yuan, width: int = 640, height: int = 240,
                 chart_id: str = "") -> str:
    """A signed value per label (e.g. a month's saving = baseline − actual) as columns from zero:
    green above, red below; only the latest column is labelled, the others carry a tooltip."""
    pts = [(i, v) for i, v in enumerate(values) if v is not None]
    if not labels or not pts:
        return _empty(title, width, height, "no data for this period")
    left, right, top, bottom = 80, 20, 30, 30
    vals = [float(v) for _, v in pts]
    hi = _nice_max(max(vals)) if max(vals) > 0 else 0.0
    lo = -_nice_max(-min(vals)) if min(vals) < 0 else 0.0
    if hi == lo:
        hi = lo + 1
    pw, ph = width - left - right, height - top - bottom
    step = pw / len(labels)

    def y(v: float) -> float:
        return top + ph * (hi - v) / (hi - lo)

    out = [f"<svg xmlns='http://www.w3.org/2000/svg' role='img' class='chart column' id='{escape(chart_id)}' "
           f"width='{width}' height='{height}' viewBox='0 0 {width} {height}' {FONT} font-size='11'>",
           _heading(title, width)]
    for k in range(5):
        v = lo + (hi - lo) * k / 4
        out.append(f"<line x1='{left}' x2='{width - right}' y1='{y(v):.1f}' y2='{y(v):.1f}' stroke='#e3e3e3'/>"
                   f"<text x='{left - 6}' y='{y(v) + 4:.1f}' text-anchor='end' fill='#555'>{escape(fmt(v))}</text>")
    out.append(f"<line x1='{left}' x2='{width - right}' y1='{y(0):.1f}' y2='{y(0):.1f}' stroke='#777'/>")
    for i, label in enumerate(labels):
        out.append(f"<text x='{left + step * (i + 0.5):.1f}' y='{height - bottom + 16}' text-anchor='middle' "
                   f"fill='#555'>{escape(label)}</text>")
    last = pts[-1][0]
    for i, v in pts:
        fv, text = float(v), escape(fmt(v))
        colour = PALETTE[2] if fv >= 0 else PALETTE[3]
        top_y, bar_h = min(y(fv), y(0)), abs(y(fv) - y(0))
        bx = left + step * i + step * 0.2
        label = ""
        if i == last:
            ly = top_y - 4 if fv >= 0 else top_y + bar_h + 12
            label = (f"<text class='value-label' x='{bx + step * 0.3:.1f}' y='{ly:.1f}' text-anchor='middle' "
                     f"fill='#111' font-size='10'>{text}</text>")
        out.append(f"<g class='bar' data-label='{escape(labels[i])}' data-value='{text}'>"
                   f"<rect x='{bx:.1f}' y='{top_y:.1f}' width='{step * 0.6:.1f}' height='{max(bar_h, 1):.1f}' "
                   f"fill='{colour}'><title>{escape(labels[i])}: {text}</title></rect>{label}</g>")
    out.append("</svg>")
    return "".join(out)


def bar_chart(title: str, items: Sequence[tuple[str, Number | None]], *, fmt: Callable[[Number], str] = fmt_rate,
              max_value: float | None = 1.0, width: int = 640, bar: int = 22, chart_id: str = "") -> str:
    """Horizontal bars, one per (label, value); rates default to a 0–100 % axis."""
    items = [(label, v) for label, v in items if v is not None]
    if not items:
        return _empty(title, width, 80, "no data for this period")
    left, right, top = 150, 80, 26
    height = top + 10 + len(items) * (bar + 8)
    top_value = max_value if max_value is not None else _nice_max(max(float(v) for _, v in items))
    pw = width - left - right
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' role='img' class='chart bar' id='{escape(chart_id)}' "
           f"width='{width}' height='{height}' viewBox='0 0 {width} {height}' {FONT} font-size='12'>",
           _heading(title, width)]
    for i, (label, v) in enumerate(items):
        yy = top + i * (bar + 8)
        w = max(0.0, pw * float(v) / top_value) if top_value else 0.0
        text = escape(fmt(v))
        out.append(f"<g class='bar' data-label='{escape(label)}' data-value='{text}'>"
                   f"<text x='{left - 8}' y='{yy + bar * 0.7:.1f}' text-anchor='end' fill='#333'>{escape(label)}</text>"
                   f"<rect x='{left}' y='{yy}' width='{pw}' height='{bar}' fill='#f0f0f0'/>"
                   f"<rect x='{left}' y='{yy}' width='{w:.1f}' height='{bar}' fill='{PALETTE[0]}'>"
                   f"<title>{escape(label)}: {text}</title></rect>"
                   f"<text x='{left + w + 6:.1f}' y='{yy + bar * 0.7:.1f}' fill='#111'>{text}</text></g>")
    out.append("</svg>")
    return "".join(out)
