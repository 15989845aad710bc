"""HTML of the Airflow UI pages: reform KPIs (latest per unit, trend, charts) and data quality
(reconciliation per feed and file, top rejection reasons, rejected rows page by page).

Plain server-rendered HTML with inline CSS and SVG — the pages show inside Airflow's UI in an
iframe and need nothing from the internet. Rejected rows are shown as stored: personal fields
were pseudonymised on ingest.
"""

from __future__ import annotations

import json
from html import escape
from urllib.parse import urlencode

from ..reports import charts, figures
from ..reports.html import CSS, charts_html, fmt_value, period_label

PAGE_SIZE = 50
PAGE_CSS = CSS + """
nav.tabs a { margin-right: 16px; } nav.tabs { margin-bottom: 12px; }
td.json { font-family: monospace; font-size: 12px; white-space: pre-wrap; max-width: 720px; }
"""


def page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html><html lang='zh-CN'><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<style>{PAGE_CSS}</style></head><body>"
            "<nav class='tabs'><a href='./'>Reform KPIs 改革指标</a><a href='quality'>Data quality 数据质量</a>"
            "<a href='data-docs/'>Data Docs (Great Expectations)</a></nav>"
            f"{body}</body></html>")


def sparkline(values, width: int = 90, height: int = 22) -> str:
    vals = [float(v) for v in values]
    if len(vals) < 2:
        return ""
    lo, hi = min(vals), max(vals)
    span = (hi - lo) or 1.0
    step = width / (len(vals) - 1)
    pts = " ".join(f"{i * step:.1f},{height - 2 - (v - lo) / span * (height - 4):.1f}" for i, v in enumerate(vals))
    return (f"<svg xmlns='http://www.w3.org/2000/svg' class='spark' width='{width}' height='{height}'>"
            f"<polyline fill='none' stroke='{charts.PALETTE[0]}' stroke-width='1.5' points='{pts}'/></svg>")


def _trend(item) -> str:
    if item.previous is None:
        return "<span class='muted'>—</span>"
    delta = item.value - item.previous
    if delta == 0:
        return "<span class='muted'>→ 0</span>"
    arrow, cls = ("▲", "up") if delta > 0 else ("▼", "down")
    return f"<span class='{cls}'>{arrow} {escape(fmt_value(abs(delta), item.unit))}</span>"


def latest_period(conn) -> tuple[int, int] | None:
    row = conn.execute("SELECT max(period_start) FROM mart.kpi_value WHERE grain = 'month'").fetchone()
    return (row[0].year, row[0].month) if row and row[0] else None


def reform_page(conn, year: int | None = None, month: int | None = None) -> str:
    latest = latest_period(conn)
    if year is None and latest:
        year, month = latest
    defs = figures.definitions(conn)
    names = figures.unit_names(conn)
    items = figures.latest_per_unit(conn)
    rows = []
    for it in items:
        d = defs.get(it.kpi_code, {})
        rows.append(
            f"<tr data-kpi='{escape(it.kpi_code)}' data-unit='{escape(it.unit_code)}'>"
            f"<td>{escape(names.get(it.unit_code, it.unit_code))}</td>"
            f"<td>{escape(d.get('name_zh', it.kpi_code))} <span class='muted'>{escape(d.get('name_en', ''))}</span></td>"
            f"<td>{escape(it.grain)} {it.period_start.isoformat()}</td>"
            f"<td class='num value'>{escape(fmt_value(it.value, it.unit))}</td>"
            f"<td class='num trend'>{_trend(it)}</td><td>{sparkline(it.history)}</td>"
            f"<td class='num'>{escape(fmt_value(it.baseline, it.unit)) if it.baseline is not None else ''}</td></tr>")
    table = ("<table class='latest'><thead><tr><th>单位 Unit</th><th>指标 KPI</th><th>最近期 Latest period</th>"
             "<th>值 Value</th><th>较上期 vs previous</th><th>趋势 Trend</th><th>基线 Baseline</th></tr></thead><tbody>"
             + "".join(rows) + "</tbody></table>") if rows else "<p class='muted'>No KPIs computed yet.</p>"
    chart_section = charts_html(conn, year, month) if year else ""
    report_link = (f"<a href='report.html?{urlencode({'year': year, 'month': month} if month else {'year': year})}'>"
                   f"HTML report {escape(period_label(year, month))}</a> · "
                   f"<a href='report.html?{urlencode({'year': year})}'>HTML report {year}年</a>") if year else ""
    return page("Reform KPIs", f"<h1>改革指标 Reform KPIs</h1><p>{report_link}</p>"
                f"<h2>图表 Charts — {escape(period_label(year, month)) if year else ''}</h2>{chart_section}"
                f"<h2>各单位最新指标 Latest KPIs per unit</h2>{table}")


def quality_page(conn) -> str:
    recon = conn.execute("""SELECT feed, file, rows_read, rows_loaded, rows_quarantined, rows_duplicate, run_id,
                                   reconciled_at FROM quality.file_reconciliation ORDER BY feed, file""").fetchall()
    reasons = conn.execute("""SELECT feed, rule, count(*) AS n FROM quality.rejected_rows GROUP BY feed, rule
                              ORDER BY n DESC, feed, rule LIMIT 20""").fetchall()
    totals = conn.execute("""SELECT feed, count(*), sum(rows_read), sum(rows_loaded), sum(rows_quarantined),
                                    sum(rows_duplicate) FROM quality.file_reconciliation GROUP BY feed ORDER BY feed""").fetchall()
    feed_rows = "".join(
        f"<tr data-feed='{escape(f)}'><td>{escape(f)}</td><td class='num'>{n}</td><td class='num read'>{r}</td>"
        f"<td class='num loaded'>{lo}</td><td class='num quarantined'>{q}</td><td class='num'>{d}</td></tr>"
        for f, n, r, lo, q, d in totals)
    file_rows = "".join(
        f"<tr data-feed='{escape(f)}' data-file='{escape(fn)}'><td>{escape(f)}</td><td>{escape(fn)}</td>"
        f"<td class='num read'>{r}</td><td class='num loaded'>{lo}</td><td class='num quarantined'>"
        + (f"<a href='quality/rejected?{urlencode({'feed': f, 'file': fn})}'>{q}</a>" if q else "0")
        + f"</td><td class='num'>{d}</td><td class='muted'>{escape(run_id or '')}</td></tr>"
        for f, fn, r, lo, q, d, run_id, _ in recon)
    reason_rows = "".join(
        f"<tr data-feed='{escape(f)}' data-rule='{escape(rule)}'><td>{escape(f)}</td><td>{escape(rule)}</td>"
        f"<td class='num count'><a href='quality/rejected?{urlencode({'feed': f, 'rule': rule})}'>{n}</a></td></tr>"
        for f, rule, n in reasons)
    head = "<th>读入 Read</th><th>入库 Loaded</th><th>隔离 Quarantined</th><th>重复 Duplicates</th>"
    body = (
        "<h1>数据质量 Data quality</h1>"
        f"<h2>按数据源 Per feed</h2><table class='feeds'><thead><tr><th>Feed</th><th>Files</th>{head}</tr></thead>"
        f"<tbody>{feed_rows}</tbody></table>"
        "<h2>主要拒收原因 Top rejection reasons</h2>"
        + (f"<table class='reasons'><thead><tr><th>Feed</th><th>Rule</th><th>Rows</th></tr></thead><tbody>{reason_rows}</tbody></table>"
           if reasons else "<p class='muted'>No row was quarantined.</p>")
        + f"<p><a href='quality/rejected'>Browse all rejected rows</a></p>"
        f"<h2>按文件 Per file</h2><table class='files'><thead><tr><th>Feed</th><th>File</th>{head}<th>Run</th></tr></thead>"
        f"<tbody>{file_rows}</tbody></table>" + warnings_section(conn))
    return page("Data quality", body)


def warnings_section(conn) -> str:
    """quality.file_warning as a table: files that loaded (or were skipped) but deserve a look.
    File names come from the landing folder: escaped like every value."""
    rows = conn.execute("""SELECT feed, file, code, detail, run_id FROM quality.file_warning
                           ORDER BY feed, file, code LIMIT 500""").fetchall()
    if not rows:
        return "<h2>警告 File warnings</h2><p class='muted'>No file warning.</p>"
    body = "".join(
        f"<tr data-feed='{escape(f)}' data-code='{escape(c)}'><td>{escape(f)}</td><td>{escape(fn)}</td>"
        f"<td>{escape(c)}</td><td>{escape(d)}</td><td class='muted'>{escape(run_id or '')}</td></tr>"
        for f, fn, c, d, run_id in rows)
    return ("<h2>警告 File warnings</h2><table class='warnings'><thead><tr><th>Feed</th><th>File</th><th>Warning</th>"
            f"<th>Detail</th><th>Run</th></tr></thead><tbody>{body}</tbody></table>")


def rejected_page(conn, feed: str | None, file: str | None, rule: str | None, page_no: int) -> str:
    where, params = [], []
    for col, val in (("feed", feed), ("file", file), ("rule", rule)):
        if val:
            where.append(f"{col} = %s")
            params.append(val)
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    total = conn.execute(f"SELECT count(*) FROM quality.rejected_rows {clause}", params).fetchone()[0]
    pages = max(1, -(-total // PAGE_SIZE))
    page_no = min(max(1, page_no), pages)
    rows = conn.execute(f"""SELECT feed, file, row_number, rule, record, run_id, rejected_at FROM quality.rejected_rows
                            {clause} ORDER BY feed, file, row_number, id LIMIT %s OFFSET %s""",
                        [*params, PAGE_SIZE, (page_no - 1) * PAGE_SIZE]).fetchall()
    body_rows = "".join(
        f"<tr><td>{escape(f)}</td><td>{escape(fn)}</td><td class='num'>{n}</td><td>{escape(r)}</td>"
        f"<td class='json'>{escape(json.dumps(rec, ensure_ascii=False, sort_keys=True))}</td>"
        f"<td class='muted'>{escape(run or '')}</td></tr>" for f, fn, n, r, rec, run, _ in rows)
    filters = {k: v for k, v in (("feed", feed), ("file", file), ("rule", rule)) if v}

    def link(p: int, label: str) -> str:
        return f"<a href='rejected?{urlencode({**filters, 'page': p})}'>{label}</a>"

    nav = " ".join(x for x in (link(page_no - 1, "‹ previous") if page_no > 1 else "",
                               f"<span class='pageinfo'>page {page_no} of {pages} ({total} rows)</span>",
                               link(page_no + 1, "next ›") if page_no < pages else "") if x)
    title = " / ".join(f"{k}={v}" for k, v in filters.items()) or "all feeds"
    return page("Rejected rows", (
        f"<h1>隔离的行 Rejected rows — {escape(title)}</h1><p><a href='../quality'>‹ data quality</a></p><p>{nav}</p>"
        "<table class='rejected'><thead><tr><th>Feed</th><th>File</th><th>Row</th><th>Rule</th>"
        "<th>Record (personal fields pseudonymised)</th><th>Run</th></tr></thead>"
        f"<tbody>{body_rows}</tbody></table><p>{nav}</p>")).replace("href='./'", "href='../'").replace(
        "href='quality'", "href='../quality'").replace("href='data-docs/", "href='../data-docs/")
