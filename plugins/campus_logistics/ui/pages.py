"""HTML of the Airflow UI pages: reform KPIs (latest per unit, trend, charts) and data quality
(reconciliation per feed and file, top rejection reasons, rejected rows page by page).

Every KPI value on the Reform KPIs page links to its audit trail (``explain_page``: the
``kpis.explain`` answer as HTML). Plain server-rendered HTML with inline CSS and SVG — the pages show inside Airflow's UI in an
iframe and need nothing from the internet. Rejected rows are shown as stored: personal fields
were pseudonymised on ingest.
"""

from __future__ import annotations

import json
from decimal import Decimal
from html import escape
from urllib.parse import quote, urlencode

from ..reports import charts, figures
from ..kpis import catalog
from ..report import period_label as report_period_label
from ..reports.html import CSS, charts_html, fmt_value, period_label, projection_html
from .. import rules

PAGE_SIZE = 50
PAGE_CSS = CSS + """
nav.tabs a { margin-right: 16px; } nav.tabs { margin-bottom: 12px; }
.good { color: #2ca02c; } .bad { color: #d62728; } .neutral { color: #555; }
tr.topic th { background: #e8eef6; font-size: 14px; } p.filter { margin: 4px 0; font-size: 13px; }
p.filter a.current { font-weight: bold; color: #222; text-decoration: none; }
table.fields th { background: #fafafa; font-weight: normal; color: #555; }
table.fields td, table.fields th { border: 0; border-bottom: 1px solid #eee; padding: 1px 6px; }
code { font-size: 12px; }
.json { font-family: monospace; font-size: 12px; white-space: pre-wrap; max-width: 720px; }
code.sha { font-size: 11px; word-break: break-all; } td.file { max-width: 260px; }
td.samples { min-width: 360px; } .sample { padding: 2px 0; border-bottom: 1px dotted #ddd; }
.sample.quarantined { color: #8a1c1c; }
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


def _change(item, direction: int) -> str:
    """The change on the previous period: rates in percentage points, the arrow coloured by whether
    the change is good news for this KPI (``kpis.catalog.DIRECTION``)."""
    if item.previous is None:
        return "<span class='muted'>—</span>"
    delta = item.value - item.previous
    if delta == 0:
        return "<span class='muted'>→ 0</span>"
    if item.unit == "rate":
        shown = f"{abs(delta) * 100:.1f} pp"  # a rate's change: percentage points, not percent
    else:
        shown = fmt_value(abs(delta), item.unit)
    sign = 1 if delta > 0 else -1
    cls = "neutral" if direction == 0 else ("good" if sign == direction else "bad")
    return f"<span class='{cls}'>{'▲' if sign > 0 else '▼'} {escape(shown)}</span>"


def latest_period(conn) -> tuple[int, int] | None:
    row = conn.execute("SELECT max(period_start) FROM mart.kpi_value WHERE grain = 'month'").fetchone()
    return (row[0].year, row[0].month) if row and row[0] else None


def kpi_months(conn, limit: int = 12) -> list[tuple[int, int]]:
    rows = conn.execute("""SELECT DISTINCT period_start FROM mart.kpi_value WHERE grain = 'month'
                           ORDER BY period_start DESC LIMIT %s""", (limit,)).fetchall()
    return [(r[0].year, r[0].month) for r in rows]


def _filter_links(label: str, current: str | None, options: list[tuple[str | None, str]], params: dict, key: str) -> str:
    """One filter as plain links (the pages run no script): the current choice is bold."""
    links = []
    for value, text in options:
        query = urlencode({k: v for k, v in {**params, key: value}.items() if v is not None})
        cls = " class='current'" if value == current else ""
        links.append(f"<a{cls} href='?{query}'>{escape(text)}</a>")
    return f"<p class='filter' data-filter='{escape(key)}'><b>{escape(label)}</b> {' · '.join(links)}</p>"


def _period_links(year, month, months, params: dict) -> str:
    links = []
    for y, m in months:
        query = urlencode({"year": y, "month": m, **{k: v for k, v in params.items() if v is not None}})
        cls = " class='current'" if (y, m) == (year, month) else ""
        links.append(f"<a{cls} href='?{query}'>{escape(period_label(y, m))}</a>")
    return f"<p class='filter' data-filter='period'><b>期间 Period</b> {' · '.join(links)}</p>"


def latest_until(conn, until, history: int = 12) -> list[figures.LatestKpi]:
    """``figures.latest_per_unit`` as of a period: each KPI and unit's latest monthly (or wave)
    value before ``until`` (None: all), the one before it and the trend."""
    rows = conn.execute("""
        SELECT kpi_code, unit_code, grain, period_start, value, unit, baseline
        FROM (SELECT v.*, row_number() OVER (PARTITION BY kpi_code, unit_code, grain
                                             ORDER BY period_start DESC) AS rn
              FROM mart.kpi_value v WHERE grain IN ('month', 'wave')
                AND (%(until)s::date IS NULL OR period_start < %(until)s::date)) x
        WHERE rn <= %(history)s
        ORDER BY kpi_code, unit_code, grain, period_start""", {"until": until, "history": history}).fetchall()
    out: dict[tuple, figures.LatestKpi] = {}
    for code, unit_code, grain, period, value, unit, baseline in rows:
        item = out.get((code, unit_code, grain))
        if item is None:
            out[(code, unit_code, grain)] = figures.LatestKpi(code, unit_code, grain, period, value, unit, baseline,
                                                              None, [value])
        else:
            item.previous, item.value, item.period_start, item.baseline = item.value, value, period, baseline
            item.history.append(value)
    return sorted(out.values(), key=lambda k: (k.unit_code != "campus", k.unit_code, k.kpi_code))


def reform_page(conn, year: int | None = None, month: int | None = None, unit: str | None = None,
                measure: str | None = None) -> str:
    latest = latest_period(conn)
    if year is None and latest:
        year, month = latest
    defs = figures.definitions(conn)
    names = figures.unit_names(conn)
    until = figures.period_bounds(year, month)[1] if year else None
    items = [it for it in latest_until(conn, until)
             if (unit is None or it.unit_code == unit) and (measure is None or it.unit == measure)]
    with_baseline = any(it.baseline is not None for it in items)
    by_topic: dict[tuple[str, str], list] = {}
    for it in items:
        by_topic.setdefault(catalog.topic(it.kpi_code), []).append(it)
    order = list(catalog.TOPIC.values())
    columns = 7 + with_baseline
    body = []
    for topic in sorted(by_topic, key=lambda t: order.index(t) if t in order else len(order)):
        body.append(f"<tr class='topic'><th colspan='{columns}'>{escape(topic[0])} {escape(topic[1])}</th></tr>")
        for it in by_topic[topic]:
            d = defs.get(it.kpi_code, {})
            body.append(
                f"<tr data-kpi='{escape(it.kpi_code)}' data-unit='{escape(it.unit_code)}'>"
                f"<td>{escape(d.get('name_zh', it.kpi_code))} <span class='muted'>{escape(d.get('name_en', ''))}</span></td>"
                f"<td>{escape(names.get(it.unit_code, it.unit_code))}</td>"
                f"<td class='period'>{escape(report_period_label(it.period_start, it.grain))}</td>"
                f"<td class='num value'><a href='{escape(explain_href(it.kpi_code, it.unit_code, it.grain, it.period_start))}' "
                f"title='审计追溯 audit trail'>{escape(fmt_value(it.value, it.unit))}</a></td>"
                f"<td class='measure'>{escape(catalog.measure_label(it.unit))}</td>"
                f"<td class='num trend'>{_change(it, catalog.direction(it.kpi_code))}</td><td>{sparkline(it.history)}</td>"
                + (f"<td class='num baseline'>{escape(fmt_value(it.baseline, it.unit)) if it.baseline is not None else ''}</td>"
                   if with_baseline else "") + "</tr>")
    table = ("<table class='latest'><thead><tr><th>指标 KPI</th><th>单位 Unit</th><th>期间 Period</th>"
             "<th>值 Value</th><th>计量单位 Measure</th><th>较上期 vs previous</th><th>趋势 Trend</th>"
             + ("<th>基线 Baseline</th>" if with_baseline else "") + "</tr></thead><tbody>"
             + "".join(body) + "</tbody></table>") if items else "<p class='muted'>No KPIs for this choice.</p>"
    params = {"year": year, "month": month, "unit": unit, "measure": measure}
    units = sorted({r[0] for r in conn.execute("SELECT DISTINCT unit_code FROM mart.kpi_value").fetchall()},
                   key=lambda u: (u != "campus", u))
    measures = sorted({d["unit"] for d in defs.values()})
    filters = (
        _period_links(year, month, kpi_months(conn), {"unit": unit, "measure": measure})
        + _filter_links("单位 Unit", unit, [(None, "全部 all")] + [(u, names.get(u, u)) for u in units], params, "unit")
        + _filter_links("计量单位 Measure", measure, [(None, "全部 all")] + [(m, catalog.measure_label(m)) for m in measures],
                        params, "measure"))
    chart_section = charts_html(conn, year, month) if year else ""
    # money flows only: shown unless another measure is chosen
    projection = projection_html(conn, year, month, unit or "campus") if year and month and measure in (None, "yuan") \
        else ""
    report_link = (f"<a href='report.html?{urlencode({'year': year, 'month': month} if month else {'year': year})}'>"
                   f"HTML report {escape(period_label(year, month))}</a> · "
                   f"<a href='report.html?{urlencode({'year': year})}'>HTML report {year}年</a>") if year else ""
    return page("Reform KPIs", f"<h1>改革指标 Reform KPIs</h1><p>{report_link}</p>{filters}"
                f"<h2>图表 Charts — {escape(period_label(year, month)) if year else ''}</h2>{chart_section}"
                f"<h2>各单位指标 KPIs per unit — {escape(period_label(year, month)) if year else ''}</h2>"
                "<p class='muted'>▲▼ 绿色为向好、红色为变差、灰色为中性 green: better, red: worse, grey: neutral; "
                f"比率的变化以百分点计 rates change in percentage points (pp).</p>{table}"
                + (f"<h2>预计全年 Year-end projection — 截至 {escape(period_label(year, month))}</h2>{projection}"
                   if projection else ""))


FILE_PAGE_SIZE = 50


def n(value) -> str:
    """A count with thousands separators."""
    return f"{value or 0:,}"


def run_link(feed: str, run_id: str | None, up: str = "../") -> str:
    """A run id as a link to its run in Airflow's UI (``/dags/<dag_id>/runs/<run_id>``, URL-encoded);
    ``up`` leads from this page to Airflow's root. No ``target='_top'``: Airflow frames the pages
    with ``sandbox`` without ``allow-top-navigation``, so the run opens in the page's frame."""
    if not run_id:
        return ""
    if feed == "ref":  # reference files load within a feed's run: no DAG of their own
        return escape(run_id)
    href = f"{up}dags/{quote(f'feed_{feed}', safe='')}/runs/{quote(run_id, safe='')}"
    return f"<a class='run' href='{escape(href)}'>{escape(run_id)}</a>"


def rule_text(rules_value: str) -> str:
    """Each rule id of a recorded value (one id or a comma-separated list), with its explanation."""
    return "<br>".join(f"<code>{escape(r)}</code> {escape(zh)} <span class='muted'>{escape(en)}</span>"
                       for r, zh, en in rules.explain_all(rules_value))


def quality_page(conn, feed: str | None = None, show_all: bool = False, page_no: int = 1) -> str:
    where = ["(%(feed)s::text IS NULL OR feed = %(feed)s)"]
    if not show_all:  # files with nothing read (all counts zero) hide unless asked for
        where.append("rows_read > 0")
    clause = " AND ".join(where)
    args = {"feed": feed}
    total = conn.execute(f"SELECT count(*) FROM quality.file_reconciliation WHERE {clause}", args).fetchone()[0]
    hidden = conn.execute("""SELECT count(*) FROM quality.file_reconciliation
                             WHERE (%(feed)s::text IS NULL OR feed = %(feed)s) AND rows_read = 0""", args).fetchone()[0]
    pages = max(1, -(-total // FILE_PAGE_SIZE))
    page_no = min(max(1, page_no), pages)
    recon = conn.execute(f"""SELECT feed, file, rows_read, rows_loaded, rows_quarantined, rows_duplicate, run_id
                             FROM quality.file_reconciliation WHERE {clause}
                             ORDER BY feed, file LIMIT %(limit)s OFFSET %(offset)s""",
                         {**args, "limit": FILE_PAGE_SIZE, "offset": (page_no - 1) * FILE_PAGE_SIZE}).fetchall()
    reasons = conn.execute("""SELECT feed, rule, count(*) AS n FROM quality.rejected_rows GROUP BY feed, rule
                              ORDER BY n DESC, feed, rule LIMIT 20""").fetchall()
    totals = conn.execute("""SELECT feed, count(*), sum(rows_read), sum(rows_loaded), sum(rows_quarantined),
                                    sum(rows_duplicate) FROM quality.file_reconciliation GROUP BY feed ORDER BY feed""").fetchall()
    feed_rows = "".join(
        f"<tr data-feed='{escape(f)}'><td><a href='?{urlencode({'feed': f})}'>{escape(f)}</a></td><td class='num'>{n(c)}</td>"
        f"<td class='num read'>{n(r)}</td><td class='num loaded'>{n(lo)}</td><td class='num quarantined'>{n(q)}</td>"
        f"<td class='num'>{n(d)}</td></tr>"
        for f, c, r, lo, q, d in totals)
    file_rows = "".join(
        f"<tr data-feed='{escape(f)}' data-file='{escape(fn)}'><td>{escape(f)}</td><td>{escape(fn)}</td>"
        f"<td class='num read'>{n(r)}</td><td class='num loaded'>{n(lo)}</td><td class='num quarantined'>"
        + (f"<a href='quality/rejected?{urlencode({'feed': f, 'file': fn})}'>{n(q)}</a>" if q else "0")
        + f"</td><td class='num'>{n(d)}</td><td class='runid'>{run_link(f, run_id)}</td></tr>"
        for f, fn, r, lo, q, d, run_id in recon)
    reason_rows = "".join(
        f"<tr data-feed='{escape(f)}' data-rule='{escape(rule)}'><td>{escape(f)}</td><td class='rule'>{rule_text(rule)}</td>"
        f"<td class='num count'><a href='quality/rejected?{urlencode({'feed': f, 'rule': rule})}'>{n(c)}</a></td></tr>"
        for f, rule, c in reasons)
    params = {k: v for k, v in (("feed", feed), ("all", "1" if show_all else None)) if v}

    def link(p: int, label: str) -> str:
        return f"<a href='?{urlencode({**params, 'page': p})}'>{label}</a>"

    toggle = (f"<a href='?{urlencode({k: v for k, v in params.items() if k != 'all'})}'>隐藏全零行 hide all-zero files</a>"
              if show_all else f"<a href='?{urlencode({**params, 'all': '1'})}'>显示全部 show all ({n(hidden)} all-zero files hidden)</a>")
    nav = " ".join(x for x in (link(page_no - 1, "‹ previous") if page_no > 1 else "",
                               f"<span class='pageinfo'>page {page_no} of {pages} ({n(total)} files)</span>",
                               link(page_no + 1, "next ›") if page_no < pages else "") if x)
    shown_feed = (f" — {escape(feed)} <a href='quality'>(all feeds 全部)</a>" if feed else "")
    head = "<th>读入 Read</th><th>入库 Loaded</th><th>隔离 Quarantined</th><th>重复 Duplicates</th>"
    body = (
        "<h1>数据质量 Data quality</h1>"
        f"<h2>按数据源 Per feed</h2><table class='feeds'><thead><tr><th>Feed</th><th>Files</th>{head}</tr></thead>"
        f"<tbody>{feed_rows}</tbody></table>"
        "<h2>主要拒收原因 Top rejection reasons</h2>"
        + ("<table class='reasons'><thead><tr><th>Feed</th><th>规则 Rule</th><th>Rows</th></tr></thead>"
           f"<tbody>{reason_rows}</tbody></table>"
           if reasons else "<p class='muted'>No row was quarantined.</p>")
        + f"<p><a href='quality/rejected'>Browse all rejected rows</a></p>"
        f"<h2>按文件 Per file{shown_feed}</h2><p class='filter'>{toggle}</p><p class='nav'>{nav}</p>"
        f"<table class='files'><thead><tr><th>Feed</th><th>File</th>{head}<th>Run</th></tr></thead>"
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
        f"<td class='rule'>{rule_text(c)}</td><td>{escape(d)}</td><td class='runid'>{run_link(f, run_id)}</td></tr>"
        for f, fn, c, d, run_id in rows)
    return ("<h2>警告 File warnings</h2><table class='warnings'><thead><tr><th>Feed</th><th>File</th><th>Warning</th>"
            f"<th>Detail</th><th>Run</th></tr></thead><tbody>{body}</tbody></table>")


def record_table(record) -> str:
    """A rejected row's stored record as a field/value table (personal fields already pseudonymised);
    nested values (a JSON feed's lists and objects) as compact JSON text."""
    if not isinstance(record, dict):
        return f"<span class='json'>{escape(json.dumps(record, ensure_ascii=False))}</span>"
    cells = "".join(
        f"<tr><th>{escape(str(k))}</th><td>{escape(v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))}</td></tr>"
        for k, v in record.items())
    return f"<table class='fields'>{cells}</table>"


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
        f"<tr><td>{escape(f)}</td><td>{escape(fn)}</td><td class='num'>{n(line)}</td><td class='rule'>{rule_text(r)}</td>"
        f"<td class='record'>{record_table(rec)}</td>"
        f"<td class='runid'>{run_link(f, run, '../../')}</td></tr>" for f, fn, line, r, rec, run, _ in rows)
    filters = {k: v for k, v in (("feed", feed), ("file", file), ("rule", rule)) if v}

    def link(p: int, label: str) -> str:
        return f"<a href='rejected?{urlencode({**filters, 'page': p})}'>{label}</a>"

    nav = " ".join(x for x in (link(page_no - 1, "‹ previous") if page_no > 1 else "",
                               f"<span class='pageinfo'>page {page_no} of {pages} ({n(total)} rows)</span>",
                               link(page_no + 1, "next ›") if page_no < pages else "") if x)
    title = " / ".join(f"{k}={v}" for k, v in filters.items()) or "all feeds"
    return page("Rejected rows", (
        f"<h1>隔离的行 Rejected rows — {escape(title)}</h1><p><a href='../quality'>‹ data quality</a></p><p>{nav}</p>"
        "<table class='rejected'><thead><tr><th>Feed</th><th>File</th><th>Row</th><th>Rule</th>"
        "<th>Record (personal fields pseudonymised)</th><th>Run</th></tr></thead>"
        f"<tbody>{body_rows}</tbody></table><p>{nav}</p>")).replace("href='./'", "href='../'").replace(
        "href='quality'", "href='../quality'").replace("href='data-docs/", "href='../data-docs/")


def explain_href(code: str, unit: str, grain: str, period_start) -> str:
    """The lineage page of one stored value (relative to the Reform KPIs page)."""
    from ..kpis.explain import period_text

    return "explain?" + urlencode({"kpi": code, "unit": unit, "grain": grain, "period": period_text(grain, period_start)})


def _ok(flag: bool) -> str:
    return "<span class='good'>✓ 一致 matches</span>" if flag else "<span class='bad'>✗ 不一致 differs</span>"


def explain_page(conn, kpi: str, unit: str, period: str, grain: str | None) -> str:
    """The audit trail (审计追溯) of one stored value (``kpis.explain``) as HTML; every value escaped."""
    from ..kpis.explain import OP_TEXT, explain

    e = explain(conn, kpi, unit, period, grain)
    k, mu = e["kpi"], e["kpi"]["unit"]

    def v(value, unit_=mu) -> str:
        return escape(fmt_value(None if value is None else Decimal(value), unit_))

    def fields(pairs) -> str:
        return "<table class='fields'>" + "".join(f"<tr><th>{escape(a)}</th><td>{b}</td></tr>" for a, b in pairs) + "</table>"

    parts = [f"<h1>审计追溯 Audit trail — {escape(k['name_zh'])} <span class='muted'>{escape(k['name_en'])}</span></h1>",
             "<p><a href='./'>‹ 改革指标 Reform KPIs</a></p>",
             fields([
                 ("指标 KPI", f"<code>{escape(k['code'])}</code>"),
                 ("单位 Unit", f"{escape(e['unit_name'])} <span class='muted'>{escape(e['unit_code'])}</span>"),
                 ("期间 Period", f"{escape(e['period_label'])} <span class='muted'>{escape(e['grain'])} "
                                 f"{escape(e['period'])}</span>"),
                 ("值 Value", f"<b class='value'>{v(e['value'])}</b> "
                  + ("" if mu == "rate" else escape(catalog.measure_label(mu)))),
                 *([("基线 Baseline", v(e["baseline"]))] if e["baseline"] is not None else []),
                 ("计算时间 Computed", escape(e["computed_at"] or "")),
                 ("运行 Run", escape(e["run_id"] or "—")),
                 ("类型 Kind", f"{escape(k['kind'])} — {escape(k['kind_zh'])}"),
                 ("公式 Formula", escape(k["formula"])),
                 ("来源 Sources", ", ".join(f"<code>{escape(s)}</code>" for s in k["sources"])),
             ])]
    ru = e["rollup"]
    if ru:
        months = "".join(f"<tr><td>{escape(m['period'])}</td><td class='num'>{v(m['value'])}</td>"
                         f"<td class='runid'>{escape(m['run_id'] or '')}</td></tr>" for m in ru["months"])
        summary = (f"合计 total {v(ru['total'])}" if ru["rule"] == "sum" else f"取 taken {escape(ru['taken'] or '—')}")
        parts.append(f"<h2>年值来自各月 Annual value from the stored months</h2><p>{escape(ru['rule_zh'])}</p>"
                     f"<table class='rollup'><thead><tr><th>月份 Month</th><th>值 Value</th><th>Run</th></tr></thead>"
                     f"<tbody>{months}</tbody></table><p>{summary} {_ok(ru['matches'])}</p>")
    if e["inputs"]:
        rows_ = "".join(
            f"<tr data-input='{escape(i['code'])}'><td>{escape(OP_TEXT[i['op']])}</td>"
            f"<td>{escape(i['name_zh'])} <span class='muted'>{escape(i['name_en'])}</span></td>"
            f"<td class='num'>"
            + (f"<a href='{escape(explain_href(i['code'], e['unit_code'], e['grain'], _date(e['period_start'])))}'>"
               f"{v(i['value'], i['unit'])}</a>" if i["stored"] else "<span class='muted'>未存储 not stored</span>")
            + f"</td><td class='runid'>{escape(i['run_id'] or '')}</td></tr>" for i in e["inputs"])
        check = e["check"]
        parts.append("<h2>输入指标 Input KPIs</h2><table class='inputs'><thead><tr><th></th><th>指标 KPI</th>"
                     f"<th>值 Value</th><th>Run</th></tr></thead><tbody>{rows_}</tbody></table>"
                     + (f"<p>复算 recomputed: {escape(check['expression'])} = {v(check['recomputed'])} "
                        f"{_ok(check['matches'])}</p>" if check else ""))
    for fd in e["feeds"]:
        parts.append(f"<h2>来源文件 Source files — <code>{escape(fd['feed'])}</code></h2>"
                     f"<p class='muted'>{escape(fd['counted_label'])} in the period: {n(fd['counted_total'])}</p>")
        body = []
        for f in fd["files"]:
            rules_ = "<br>".join(f"{rule_text(r)}: {n(c)}" for r, c in f["rules"].items())
            samples = "".join(
                f"<div class='sample counted'>计入 counted {'line ' + n(s['line']) if s['line'] is not None else ''} "
                f"<code>{escape(s['id'] or '')}</code> {escape(s['detail'] or '')}</div>" for s in f["samples_counted"])
            samples += "".join(
                f"<div class='sample quarantined'>隔离 quarantined line {n(s['line'])} <code>{escape(s['id'] or '')}</code> "
                f"{rule_text(s['rule'])}</div>" for s in f["samples_quarantined"])
            samples += "".join(
                f"<div class='sample collapsed'>重复 collapsed line {n(s['line'])}: "
                + (f"identical to line {n(s['kept_row'])}" if s["kept_row"] is not None else "identical to a row of another file")
                + f" {rule_text(s['rule'])}</div>" for s in f["samples_duplicate"])
            counts = (f"<td class='num read'>{n(f['rows_read'])}</td><td class='num loaded'>{n(f['rows_loaded'])}</td>"
                      f"<td class='num quarantined'>{n(f['rows_quarantined'])}</td><td class='num'>{n(f['rows_duplicate'])}</td>"
                      if f["reconciled"] else "<td colspan='4' class='muted'>no reconciliation recorded</td>")
            body.append(
                f"<tr data-file='{escape(f['file'])}'><td class='file'>{escape(f['file'])}<br><code class='muted sha'>sha256 "
                f"{escape(f.get('checksum') or '')}</code></td>{counts}<td class='num counted'>{n(f['counted'])}</td>"
                f"<td class='rule'>{rules_}</td><td class='samples'>{samples}</td><td class='runid'>{run_link(fd['feed'], f.get('run_id'))}"
                f"<br><span class='muted'>{escape(f.get('reconciled_at') or '')}</span></td></tr>")
        if fd["more_files"]:
            body.append(f"<tr><td colspan='9' class='muted'>+{n(fd['more_files'])} more files</td></tr>")
        parts.append("<table class='files'><thead><tr><th>文件 File</th><th>读入 Read</th><th>入库 Loaded</th>"
                     "<th>隔离 Quarantined</th><th>重复 Duplicates</th><th>计入本期 In period</th><th>规则 Rules</th>"
                     "<th>样例 Sample rows (ids pseudonymised)</th><th>Run</th></tr></thead>"
                     f"<tbody>{''.join(body)}</tbody></table>")
    if e["references"]:
        refs = "".join(
            f"<tr><td><code>{escape(r['name'])}</code></td><td><code>{escape(r['table'] or '')}</code></td>"
            + (f"<td class='num'>{n(r['rows'])}</td><td><code class='muted sha'>{escape(r['checksum'])}</code></td>"
               f"<td>{escape(r['loaded_at'] or '')}</td><td class='runid'>{escape(r['run_id'] or '')}</td>"
               if r["loaded"] else "<td colspan='4' class='muted'>未加载 not loaded</td>") + "</tr>"
            for r in e["references"])
        parts.append("<h2>参照文件 Reference files</h2><table class='refs'><thead><tr><th>文件 File</th><th>表 Table</th>"
                     "<th>行 Rows</th><th>SHA-256</th><th>加载 Loaded</th><th>Run</th></tr></thead>"
                     f"<tbody>{refs}</tbody></table>")
    return page("Audit trail", "".join(parts))


def _date(text: str):
    from datetime import date

    return date.fromisoformat(text)
