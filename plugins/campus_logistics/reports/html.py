"""A self-contained HTML report per month or year: inline SVG charts and CSS, no external asset,
no script, so the file opens offline (e-mailed, on a USB stick, on a campus network).

``write_html_report(conn_or_url, year, month | None, out_path)`` writes it; ``charts_html`` gives
the chart section the Airflow UI page embeds as well.
"""

from __future__ import annotations

from datetime import date
from html import escape
from pathlib import Path

from . import charts, figures

CSS = """
body { font-family: 'Noto Sans CJK SC', 'Microsoft YaHei', sans-serif; margin: 24px; color: #222; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ddd; }
.charts { display: flex; flex-wrap: wrap; gap: 18px; }
.card { border: 1px solid #e2e2e2; border-radius: 6px; padding: 10px 14px; background: #fff; }
.card h3 { font-size: 14px; margin: 0 0 6px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 4px 8px; } th { background: #f5f5f5; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.up { color: #2ca02c; } .down { color: #d62728; } .muted { color: #777; }
"""


def fmt_value(value, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "yuan":
        return charts.fmt_yuan(value)
    if unit == "rate":
        return charts.fmt_rate(value)
    return charts.fmt_number(value)


def period_label(year: int, month: int | None) -> str:
    return f"{year}年" if month is None else f"{year}年{month}月"


def charts_html(conn, year: int, month: int | None) -> str:
    """The four chart cards for the period (shared by the file report and the UI page)."""
    months = figures.months_of(year, month)
    labels = [f"{m.month}月" for m in months]
    names = figures.unit_names(conn)
    savings = figures.monthly_series(conn, figures.SAVINGS, "campus", months)
    bill = figures.utility_bill_vs_baseline(conn, months)
    savings_svg = charts.line_chart(
        "节约经费 Savings by month (yuan)", labels,
        [("学校节约人员经费 personnel", savings["personnel_cost_saved_yuan"]),
         ("水电费节约合计 utilities", savings["utilities_saved_total_yuan"])],
        fmt=charts.fmt_yuan, chart_id="chart-savings")
    bill_svg = charts.line_chart(
        "学校承担水电费 vs 基线 School utility bill vs baseline (yuan)", labels,
        [("基线 baseline", bill.baseline), ("实际 actual", bill.actual)], fmt=charts.fmt_yuan, chart_id="chart-baseline")
    sat = figures.rate_by_unit(conn, "satisfaction_rate", year, month)
    rep = figures.rate_by_unit(conn, "repair_on_time_rate", year, month)
    sat_svg = charts.bar_chart("满意率 Satisfaction by unit", [(names.get(u, u), v) for u, v in sat], chart_id="chart-satisfaction")
    rep_svg = charts.bar_chart("维修及时率 Repair on-time rate by unit", [(names.get(u, u), v) for u, v in rep],
                               chart_id="chart-repair")
    capture = figures.capture_by_month(conn, months)
    cap_svg = charts.line_chart("学生在校就餐率 Canteen capture rate", labels,
                                [(names.get(u, u), vals) for u, vals in capture.items()],
                                fmt=charts.fmt_rate, chart_id="chart-capture")
    cards = [("节约经费 Savings vs baseline", savings_svg + bill_svg), ("满意率 Satisfaction", sat_svg),
             ("维修及时率 Repairs on time", rep_svg), ("就餐率 Canteen capture", cap_svg)]
    return "<div class='charts'>" + "".join(
        f"<div class='card'><h3>{escape(t)}</h3>{svg}</div>" for t, svg in cards) + "</div>"


def kpi_table_html(conn, year: int, month: int | None) -> str:
    rows = figures.period_kpis(conn, year, month)
    if not rows:
        return "<p class='muted'>No KPI rows for this period.</p>"
    defs = figures.definitions(conn)
    names = figures.unit_names(conn)
    body = []
    for code, unit_code, value, unit, baseline in rows:
        d = defs.get(code, {})
        body.append(f"<tr data-kpi='{escape(code)}' data-unit='{escape(unit_code)}'><td>{escape(names.get(unit_code, unit_code))}</td>"
                    f"<td>{escape(d.get('name_zh', code))}<br><span class='muted'>{escape(code)}</span></td>"
                    f"<td class='num value'>{escape(fmt_value(value, unit))}</td>"
                    f"<td class='num'>{escape(fmt_value(baseline, unit)) if baseline is not None else ''}</td>"
                    f"<td>{escape(unit)}</td></tr>")
    return ("<table class='kpis'><thead><tr><th>单位 Unit</th><th>指标 KPI</th><th>值 Value</th><th>基线 Baseline</th>"
            "<th>单位 Unit of measure</th></tr></thead><tbody>" + "".join(body) + "</tbody></table>")


def render_html_report(conn_or_url, year: int, month: int | None) -> str:
    with figures.connection(conn_or_url) as conn:
        label = period_label(year, month)
        chart_section = charts_html(conn, year, month)
        table = kpi_table_html(conn, year, month)
    generated = date.today().isoformat()
    return (f"<!DOCTYPE html><html lang='zh-CN'><head><meta charset='utf-8'>"
            f"<title>后勤改革指标 Reform KPIs — {escape(label)}</title><style>{CSS}</style></head><body>"
            f"<h1>后勤改革指标报告 Reform KPI report — {escape(label)}</h1>"
            f"<p class='muted'>From mart.kpi_value; generated {generated}. Rates are shares of 100 %, money in yuan.</p>"
            f"<h2>图表 Charts</h2>{chart_section}<h2>指标 KPIs ({escape(label)})</h2>{table}</body></html>")


def write_html_report(conn_or_url, year: int, month: int | None, out_path) -> Path:
    """Write the report for ``year`` (``month=None``) or one month to ``out_path``; return the path."""
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html_report(conn_or_url, year, month), encoding="utf-8")
    return out
