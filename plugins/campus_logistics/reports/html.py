"""A self-contained HTML report per month or year: inline SVG charts and CSS, no external asset,
no script, so the file opens offline (e-mailed, on a USB stick, on a campus network).

``write_html_report(conn_or_url, year, month | None, out_path)`` writes it; ``charts_html`` gives
the chart section the Airflow UI page embeds as well.
"""

from __future__ import annotations

from datetime import date
from html import escape
from pathlib import Path

from ..settings import TIME_ZONE
from . import charts, figures

CSS = """
body { font-family: 'Noto Sans CJK SC', 'Microsoft YaHei', sans-serif; margin: 24px; color: #222; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ddd; }
.charts { display: flex; flex-wrap: wrap; gap: 18px; }
.card { border: 1px solid #e2e2e2; border-radius: 6px; padding: 10px 14px; background: #fff; }
.card h3 { font-size: 14px; margin: 0 0 6px; } h3.topic { font-size: 15px; margin: 18px 0 6px; }
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


def fmt_report_value(value, unit: str) -> str:
    """As ``fmt_value``, but an average headcount (e.g. diners a day) is read as whole people."""
    if value is not None and unit == "persons":
        return charts.fmt_persons(value)
    return fmt_value(value, unit)


def period_label(year: int, month: int | None) -> str:
    return f"{year}年" if month is None else f"{year}年{month}月"


def charts_html(conn, year: int, month: int | None) -> str:
    """The chart cards for the period (shared by the file report and the UI page); each title names its unit."""
    months = figures.months_of(year, month)
    labels = [f"{m.month}月" for m in months]
    names = figures.unit_names(conn)
    savings = figures.monthly_series(conn, figures.SAVINGS, "campus", months)
    bill = figures.utility_bill_vs_baseline(conn, months)
    savings_svg = charts.line_chart(
        "每月节约经费（元）", labels,
        [("学校节约人员经费", savings["personnel_cost_saved_yuan"]),
         ("水电费节约合计", savings["utilities_saved_total_yuan"])],
        fmt=charts.fmt_yuan, chart_id="chart-savings")
    # the saving itself (baseline − actual) as columns: two near-equal bill lines would hide it
    saved = [None if b is None or a is None else b - a for b, a in zip(bill.baseline, bill.actual)]
    bill_svg = charts.column_chart("学校承担水电费较基线节约（元）＝ 基线 − 实际", labels, saved,
                                   fmt=charts.fmt_yuan, chart_id="chart-baseline")
    sat = figures.rate_by_unit(conn, "satisfaction_rate", year, month)
    rep = figures.rate_by_unit(conn, "repair_on_time_rate", year, month)
    sat_svg = charts.bar_chart("各单位满意率（%）", [(names.get(u, u), v) for u, v in sat], chart_id="chart-satisfaction")
    rep_svg = charts.bar_chart("各单位维修及时率（%）", [(names.get(u, u), v) for u, v in rep],
                               chart_id="chart-repair")
    capture = figures.capture_by_month(conn, months)
    cap_svg = charts.line_chart("学生在校就餐率（%）", labels,
                                [(names.get(u, u), vals) for u, vals in capture.items()],
                                fmt=charts.fmt_rate, chart_id="chart-capture")
    cards = [("节约经费 Savings against the baseline", savings_svg + bill_svg), ("满意率 Satisfaction", sat_svg),
             ("维修及时率 Repairs on time", rep_svg), ("就餐率 Canteen capture", cap_svg)]
    return "<div class='charts'>" + "".join(
        f"<div class='card'><h3>{escape(t)}</h3>{svg}</div>" for t, svg in cards) + "</div>"


# KPI group → the topic heading a reader sees (the KPI table is grouped by topic)
TOPIC_HEADINGS = {
    "staffing": "人员编制与人员经费节约", "utilities": "水电节约与回收", "books": "中心经营与社会资金",
    "satisfaction": "满意度", "repairs": "服务标准（维修）", "canteen": "饮食服务",
}


def _kpi_groups() -> dict[str, str]:
    from ..kpis.catalog import GROUPS

    return {k.code: g.name for g in GROUPS for k in g.kpis}


def kpi_table_html(conn, year: int, month: int | None) -> str:
    """The period's KPIs by topic: Chinese names, units of measure and values; codes stay in attributes."""
    from ..kpis.catalog import by_code, measure_label

    rows = figures.period_kpis(conn, year, month)
    if not rows:
        return "<p class='muted'>No KPI rows for this period.</p>"
    defs = figures.definitions(conn)
    names = figures.unit_names(conn)
    groups, catalog = _kpi_groups(), by_code()
    by_topic: dict[str, list[str]] = {}
    for code, unit_code, value, unit, baseline in rows:
        d = defs.get(code, {})
        by_topic.setdefault(groups.get(code, ""), []).append(
            f"<tr data-kpi='{escape(code)}' data-unit='{escape(unit_code)}'><td>{escape(names.get(unit_code, unit_code))}</td>"
            f"<td>{escape(d.get('name_zh') or getattr(catalog.get(code), 'name_zh', '（未定义指标）'))}</td>"
            f"<td class='num value'>{escape(fmt_report_value(value, unit))}</td>"
            f"<td class='num'>{escape(fmt_report_value(baseline, unit)) if baseline is not None else ''}</td>"
            f"<td>{escape(measure_label(unit))}</td></tr>")
    order = [*TOPIC_HEADINGS, *sorted(set(by_topic) - set(TOPIC_HEADINGS))]
    return "".join(
        f"<h3 class='topic'>{escape(TOPIC_HEADINGS.get(t) or '其他指标')}</h3>"
        "<table class='kpis'><thead><tr><th>单位</th><th>指标</th><th>数值</th><th>基线</th>"
        "<th>计量单位</th></tr></thead><tbody>" + "".join(by_topic[t]) + "</tbody></table>"
        for t in order if t in by_topic)


def projection_html(conn, year: int, month: int | None, unit: str | None = "campus") -> str:
    """预计全年: the year-end projections as of the month (each month-end of the year when None), with
    the method in Chinese and the 80% interval, beside the year's actual so far."""
    from ..kpis.projection import METHOD_ZH

    as_of = None if month is None else date(year, month, 1)
    rows = figures.projections(conn, year, as_of, unit)
    if not rows:
        return "<p class='muted'>No projection for this period (预计全年: 无).</p>"
    defs, names = figures.definitions(conn), figures.unit_names(conn)
    body = []
    for r in rows:
        interval = "—" if r.low is None else f"{charts.fmt_yuan(r.low)} – {charts.fmt_yuan(r.high)}"
        method = METHOD_ZH.get(r.method, r.method) + (f"（{r.note}）" if r.note else "")
        body.append(
            f"<tr data-kpi='{escape(r.kpi_code)}' data-unit='{escape(r.unit_code)}' data-method='{escape(r.method)}'>"
            f"<td>{escape(defs.get(r.kpi_code, {}).get('name_zh') or r.kpi_code)}</td>"
            f"<td>{escape(names.get(r.unit_code, r.unit_code))}</td>"
            f"<td class='period'>{escape(period_label(r.as_of.year, r.as_of.month))}</td>"
            f"<td class='num'>{escape(charts.fmt_yuan(r.ytd))}</td>"
            f"<td class='num projected'>{escape(charts.fmt_yuan(r.projected))}</td>"
            f"<td class='num interval'>{escape(interval)}</td><td class='method'>{escape(method)}</td>"
            f"<td class='num actual'>{escape(fmt_value(r.actual, 'yuan'))}</td></tr>")
    return ("<table class='projection'><thead><tr><th>指标</th><th>单位</th><th>截至</th><th>本年累计（元）</th>"
            "<th>预计全年（元）</th><th>80%预测区间（元）</th><th>预测方法</th><th>全年实际（元）</th></tr></thead>"
            "<tbody>" + "".join(body) + "</tbody></table>"
            "<p class='muted'>预计全年 = 本年累计 + 其余月份的预测：上年12个月齐全时按上年季节性（本年累计 ÷ 上年同期 × "
            "上年其余月份），否则按已过月份平均；区间为80%预测区间。全年实际为已入账月份之和。</p>")


def headline_html(conn, year: int, month: int | None) -> str:
    """The workbook's 要点 as a table: the period's savings, satisfaction, targets missed, each with 同比."""
    from .data import _headline

    fmt = {"money": charts.fmt_yuan, "rate": charts.fmt_rate, "count": charts.fmt_number}
    body = []
    for item in _headline(conn.cursor(), year, month):
        f = fmt[item.kind]
        cls = "" if item.change is None else " up" if item.change > 0 else " down" if item.change < 0 else ""
        body.append(f"<tr><td>{escape(item.label)}</td>"
                    f"<td class='num value'>{escape('—' if item.value is None else f(item.value))}</td>"
                    f"<td class='num{cls}'>{escape('' if item.change is None else f(item.change))}</td>"
                    f"<td class='{cls.strip()}'>{escape(item.direction)}</td><td>{escape(item.note)}</td></tr>")
    return ("<table class='headline'><thead><tr><th>指标</th><th>本期</th><th>同比增减</th><th>方向</th>"
            "<th>说明</th></tr></thead><tbody>" + "".join(body) + "</tbody></table>")


def render_html_report(conn_or_url, year: int, month: int | None) -> str:
    import pendulum

    with figures.connection(conn_or_url) as conn:
        label = period_label(year, month)
        headline = headline_html(conn, year, month)
        chart_section = charts_html(conn, year, month)
        table = kpi_table_html(conn, year, month)
        projection = projection_html(conn, year, month)
    generated = pendulum.now(TIME_ZONE).to_date_string()
    return (f"<!DOCTYPE html><html lang='zh-CN'><head><meta charset='utf-8'>"
            f"<title>后勤改革指标 Reform KPIs — {escape(label)}</title><style>{CSS}</style></head><body>"
            f"<h1>后勤改革指标报告 Reform KPI report — {escape(label)}</h1>"
            f"<p class='muted'>数据来源：数据仓库 mart.kpi_value；生成日期 {generated}（北京时间）；"
            f"金额单位为元，比率以百分数显示，同比为与上年同期相比。</p>"
            f"<h2>要点 Headline</h2>{headline}<h2>图表 Charts</h2>{chart_section}<h2>指标 KPIs ({escape(label)})</h2>{table}"
            f"<h2>预计全年 Year-end projection</h2>{projection}</body></html>")


def write_html_report(conn_or_url, year: int, month: int | None, out_path) -> Path:
    """Write the report for ``year`` (``month=None``) or one month to ``out_path``; return the path."""
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html_report(conn_or_url, year, month), encoding="utf-8")
    return out
