"""The HTML report: figures placed in mart.kpi_value by hand come out in its charts and table, and
the file is self-contained (no script, no stylesheet or image from anywhere)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from campus_logistics.reports import charts
from campus_logistics.reports.html import write_html_report

ROWS = [  # kpi_code, unit_code, grain, period_start, value, unit, baseline
    ("personnel_cost_saved_yuan", "campus", "month", "2001-01-01", "1000.00", "yuan", None),
    ("personnel_cost_saved_yuan", "campus", "month", "2001-02-01", "2500.50", "yuan", None),
    ("utilities_saved_total_yuan", "campus", "month", "2001-01-01", "300.00", "yuan", None),
    ("utilities_conservation_saved_yuan", "campus", "month", "2001-01-01", "120.00", "yuan", "1000.00"),
    ("satisfaction_rate", "property", "wave", "2001-01-20", "0.6", "rate", None),
    ("satisfaction_rate", "property", "wave", "2001-02-10", "0.8", "rate", None),
    ("satisfaction_rate", "campus", "wave", "2001-02-10", "0.75", "rate", None),
    ("repair_on_time_rate", "property", "month", "2001-02-01", "0.5", "rate", None),
    ("repair_on_time_rate", "property", "year", "2001-01-01", "0.6", "rate", None),
    ("canteen_capture_rate", "campus", "month", "2001-01-01", "0.25", "rate", None),
    ("canteen_capture_rate", "campus", "month", "2001-02-01", "0.3333333", "rate", None),
]


@pytest.fixture
def figures(warehouse, sql):
    import psycopg

    with psycopg.connect(warehouse) as conn:
        conn.execute("""INSERT INTO core.sub_centre VALUES ('property', '物业中心', 'Property centre', 'big_entity',
                        '2000-07-01') ON CONFLICT DO NOTHING""")
        for r in ROWS:
            conn.execute("""INSERT INTO mart.kpi_value (kpi_code, unit_code, grain, period_start, value, unit, baseline)
                            VALUES (%s, %s, %s, %s, %s, %s, %s)""", r)
    return warehouse


def points(html: str, chart: str) -> dict[tuple[str, str], str]:
    svg = re.search(rf"<svg[^>]*id='{chart}'.*?</svg>", html, re.S).group(0)
    return {(s, lbl): v for s, lbl, v in re.findall(
        r"<g class='point' data-series='([^']*)' data-label='([^']*)' data-value='([^']*)'>", svg)}


def bars(html: str, chart: str) -> dict[str, str]:
    svg = re.search(rf"<svg[^>]*id='{chart}'.*?</svg>", html, re.S).group(0)
    return dict(re.findall(r"<g class='bar' data-label='([^']*)' data-value='([^']*)'>", svg))


def test_monthly_report_shows_the_figures_and_stands_alone(figures, tmp_path):
    out = write_html_report(figures, 2001, 2, tmp_path / "r" / "2001-02.html")
    html = out.read_text(encoding="utf-8")
    assert "2001年2月" in html
    assert points(html, "chart-savings") == {
        ("学校节约人员经费", "1月"): "1,000.00", ("学校节约人员经费", "2月"): "2,500.50",
        ("水电费节约合计", "1月"): "300.00"}
    # the school's utility bill: baseline 1,000.00, actual 1,000.00 − 120.00 = 880.00: the saving is the column
    assert bars(html, "chart-baseline") == {"1月": "120.00"}
    assert bars(html, "chart-satisfaction") == {"物业中心": "80.0%", "全校": "75.0%"}  # February's wave, not January's
    assert bars(html, "chart-repair") == {"物业中心": "50.0%"}
    assert points(html, "chart-capture") == {("全校", "1月"): "25.0%", ("全校", "2月"): "33.3%"}
    # self-contained: no script, no external stylesheet, image or font; only the SVG namespace URL
    assert "<script" not in html and "<link" not in html and "@import" not in html
    assert set(re.findall(r"https?://[^\s'\"<>)]+", html)) == {"http://www.w3.org/2000/svg"}


def test_annual_report_uses_the_annual_rows(figures, tmp_path):
    html = write_html_report(figures, 2001, None, tmp_path / "2001.html").read_text(encoding="utf-8")
    assert "2001年" in html and "2001年2月" not in html
    assert bars(html, "chart-repair") == {"物业中心": "60.0%"}
    assert len(points(html, "chart-savings")) == 3 and ">12月</text>" in html  # the trend spans the whole year
    row = re.search(r"<tr data-kpi='repair_on_time_rate' data-unit='property'>.*?</tr>", html, re.S).group(0)
    assert "60.0%" in row


def test_report_for_a_period_without_figures_says_so(warehouse, tmp_path):
    html = write_html_report(warehouse, 1999, 5, tmp_path / "empty.html").read_text(encoding="utf-8")
    assert html.count("no data for this period") == 5
    assert "No KPI rows for this period." in html


def test_rate_and_money_formats():
    assert charts.fmt_rate(Decimal("0.666667")) == "66.7%"
    assert charts.fmt_rate(Decimal("0.0005")) == "0.1%"        # half-up, as the finance office rounds
    assert charts.fmt_yuan(Decimal("-1234.5")) == "-1,234.50"
    from campus_logistics.reports.html import fmt_report_value

    assert fmt_report_value(Decimal("1234.5"), "persons") == "1,235"  # whole people in the report, half-up
    assert fmt_report_value(Decimal("12.49"), "persons") == "12" and fmt_report_value(None, "persons") == "—"
    svg = charts.bar_chart("t", [("a", Decimal("0.5")), ("b", None)])
    assert "data-label='b'" not in svg                          # a missing rate is left out, never drawn as 0


def _visible_text(html: str) -> str:
    """What a reader sees: tags, attributes, tooltips and the style sheet removed."""
    html = re.sub(r"<style>.*?</style>|<title>.*?</title>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


def test_every_chart_names_its_unit_and_labels_only_its_latest_values(figures, tmp_path):
    html = write_html_report(figures, 2001, 2, tmp_path / "r.html").read_text(encoding="utf-8")
    titles = dict(re.findall(r"<svg[^>]*id='([^']+)'.*?<text class='chart-title'[^>]*>([^<]*)</text>", html, re.S))
    assert set(titles) == {"chart-savings", "chart-baseline", "chart-satisfaction", "chart-repair", "chart-capture"}
    assert all("（元）" in t or "（%）" in t for t in titles.values()), titles
    svg = re.search(r"<svg[^>]*id='chart-savings'.*?</svg>", html, re.S).group(0)
    # three points, but one value written per series: its latest (personnel February, utilities January)
    assert re.findall(r"class='value-label'[^>]*>([^<]*)<", svg) == ["2,500.50", "300.00"]


def test_kpi_tables_are_grouped_by_topic_in_chinese_without_codes(figures, tmp_path):
    html = write_html_report(figures, 2001, 2, tmp_path / "r.html").read_text(encoding="utf-8")
    topics = re.findall(r"<h3 class='topic'>([^<]*)</h3>", html)
    assert topics == ["人员编制与人员经费节约", "服务标准（维修）", "饮食服务"]  # the topics of February's rows
    text = _visible_text(html.split("<h2>指标", 1)[1])
    assert "全校" in text and "物业中心" in text and "元" in text
    assert not re.search(r"\b(campus|property|yuan|rate|persons)\b|_yuan|_rate", text), text


def test_coinciding_series_stay_visible_and_their_labels_never_overlap():
    same = [Decimal("100"), Decimal("100"), Decimal("100")]
    svg = charts.line_chart("t（元）", ["1月", "2月", "3月"], [("a", same), ("b", same), ("c", same)], chart_id="x")
    dashes = [re.search(r"stroke-dasharray='([^']*)'|$", line).group(1) for line in re.findall(r"<polyline[^>]*>", svg)]
    assert len(dashes) == 3 and len(set(dashes)) == 3  # solid, dashed, dotted
    marks = re.findall(r"<g class='point'[^>]*><(circle|rect|polygon)", svg)
    assert marks[0::3] == ["circle", "rect", "polygon"]  # each series' own marker shape
    ys = sorted(float(y) for y in re.findall(r"class='value-label'[^>]*y='([\d.]+)'", svg))
    assert len(ys) == 3 and all(b - a >= charts.LABEL_GAP for a, b in zip(ys, ys[1:]))
    assert charts.spread_labels([50, 40, 45]) == [64, 40, 52]  # pushed apart in order, none moved up
    col = charts.column_chart("s（元）", ["1月", "2月"], [Decimal("-5"), Decimal("7")], chart_id="c")
    assert col.count("class='value-label'") == 1 and ">7.00</text>" in col  # only the latest column is labelled


CHROMIUM = __import__("shutil").which("chromium") or __import__("shutil").which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (make browser installs it as root)")
def test_rendered_report_labels_do_not_overlap(figures, tmp_path):
    """The report as Chromium draws it: no two value labels (or a label and a chart title) overlap;
    the page is kept as tests/artifacts/html_report.png."""
    from pathlib import Path

    from playwright.sync_api import sync_playwright

    out = write_html_report(figures, 2001, None, tmp_path / "2001.html")
    shot = Path(__file__).resolve().parents[1] / "artifacts" / "html_report.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(out.as_uri(), wait_until="load")
            for svg in page.locator("svg.chart").all():
                boxes = [t.bounding_box() for t in svg.locator("text.value-label, text.chart-title").all()]
                for i, a in enumerate(boxes):
                    for b in boxes[i + 1:]:
                        apart = (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                                 or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])
                        assert apart, (svg.get_attribute("id"), a, b)
            shot.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()


def test_html_report_opens_with_the_headline(figures, tmp_path):
    html = write_html_report(figures, 2001, 1, tmp_path / "r.html").read_text(encoding="utf-8")
    assert html.index("<h2>要点") < html.index("<h2>图表")  # the headline comes first
    table = html.split("class='headline'", 1)[1].split("</table>")[0]
    cells = [re.findall(r"<td[^>]*>([^<]*)</td>", tr) for tr in re.findall(r"<tr>.*?</tr>", table)]
    rows = {r[0]: r[1:] for r in cells if r}
    # January 2001: personnel 1,000.00 + utilities 300.00 = 1,300.00; no January 2000 to compare with
    assert rows["节约合计（元）"][:3] == ["1,300.00", "", "—"]
    assert rows["全校满意率"][0] == "—" and rows["未达标指标数"][0] == "0"  # no campus wave in January
