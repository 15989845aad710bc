"""The Reform KPIs and Data quality pages as HTML, rendered from the UI scenario loaded through the
pipeline (tests/fixtures_ui.py): the unit-of-measure column, rates' changes in percentage points,
arrows coloured by each KPI's direction, topics, filters as plain links, counts with thousands
separators, the file list's filter and pages, run ids linking to Airflow's run page, every rule
explained, rejected rows as a table. Screenshots in Chromium are tests/integration/test_ui_plugin.py's."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import psycopg
import pytest

from campus_logistics import rules
from campus_logistics.ui import pages


@pytest.fixture(scope="module")
def scenario(pg_admin_url, template_db, tmp_path_factory):
    from tests.fixtures_ui import load_scenario, loaded_warehouse, write_scenario

    yield from loaded_warehouse(pg_admin_url, template_db, tmp_path_factory, write_scenario, load_scenario)


@pytest.fixture
def conn(scenario):
    with psycopg.connect(scenario["url"]) as c:
        yield c


class Rows(HTMLParser):
    """Rows of the page's tables as {attrs, cells: [text]}, nested tables flattened into their cell."""

    def __init__(self):
        super().__init__()
        self.rows, self.stack, self.cell = [], [], None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.stack.append({"attrs": dict(attrs), "cells": [], "html": ""})
        elif tag in ("td", "th") and self.stack and self.cell is None:
            self.cell, self.depth = [], len(self.stack)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None and len(self.stack) == self.depth:
            self.stack[-1]["cells"].append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif tag == "tr" and self.stack:
            row = self.stack.pop()
            if not self.stack or self.cell is None:
                self.rows.append(row)

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data + " ")


def rows(html: str, **attrs) -> list[list[str]]:
    p = Rows()
    p.feed(html)
    return [r["cells"] for r in p.rows if all(r["attrs"].get(f"data-{k}") == v for k, v in attrs.items())]


def test_reform_page_has_measures_directions_topics_and_percentage_points(conn):
    html = pages.reform_page(conn)
    # 指标, 单位, 期间, 值, 计量单位, 较上期 …: personnel savings Mar 27,300.00 元, unchanged on Feb
    row = rows(html, kpi="personnel_cost_saved_yuan", unit="campus")[0]
    assert row[0].startswith("学校节约人员经费") and row[1:6] == ["全校", "2001年3月", "27,300.00", "元", "→ 0"]
    assert rows(html, kpi="satisfaction_rate", unit="campus")[0][3:5] == ["71.4%", "%"]
    assert rows(html, kpi="repair_on_time_rate", unit="property")[0][1] == "物业中心"
    # topics as header rows, in the catalog's order
    topics = re.findall(r"<tr class='topic'><th colspan='\d+'>([^<]+)</th>", html)
    assert topics and all(t.split()[0] in {z for z, _ in pages.catalog.TOPIC.values()} for t in topics)
    assert [t for t in topics] == sorted(topics, key=lambda t: [z for z, _ in pages.catalog.TOPIC.values()].index(t.split()[0]))
    # the scenario has no baseline anywhere: no baseline column
    with_baseline = {r[0] for r in conn.execute("SELECT DISTINCT kpi_code FROM mart.kpi_value WHERE baseline IS NOT NULL")}
    assert ("<th>基线 Baseline</th>" in html) == bool(with_baseline)
    # filters are links (no script, no form)
    assert "<script" not in html and "<form" not in html
    assert "data-filter='unit'" in html and "data-filter='measure'" in html and "data-filter='period'" in html


def test_reform_page_filters_by_unit_measure_and_period(conn):
    only_property = pages.reform_page(conn, 2001, 3, unit="property")
    assert rows(only_property, unit="property") and not rows(only_property, unit="campus")
    only_rates = pages.reform_page(conn, 2001, 3, measure="rate")
    assert rows(only_rates, kpi="satisfaction_rate") and not rows(only_rates, kpi="personnel_cost_saved_yuan")
    february = pages.reform_page(conn, 2001, 2)
    row = rows(february, kpi="personnel_cost_saved_yuan", unit="campus")[0]
    assert row[2:6] == ["2001年2月", "27,300.00", "元", "▲ 199.50"]  # Jan 27,100.50 → Feb 27,300.00
    assert "class='good'>▲ 199.50" in february  # savings up: green
    assert not rows(february, kpi="satisfaction_rate")  # the survey wave is in March


class Item:
    def __init__(self, value, previous, unit="rate"):
        self.value, self.previous, self.unit = value, previous, unit


def test_changes_are_coloured_by_direction_and_rates_move_in_points():
    from decimal import Decimal as D

    assert pages._change(Item(D("0.714"), D("0.5")), 1) == "<span class='good'>▲ 21.4 pp</span>"
    assert pages._change(Item(D("0.5"), D("0.714")), 1) == "<span class='bad'>▼ 21.4 pp</span>"
    assert pages._change(Item(D("1200"), D("1000"), "yuan"), -1) == "<span class='bad'>▲ 200.00</span>"  # cost up
    assert pages._change(Item(D("800"), D("1000"), "yuan"), -1) == "<span class='good'>▼ 200.00</span>"
    assert pages._change(Item(D("3"), D("2"), "count"), 0) == "<span class='neutral'>▲ 1</span>"


def test_quality_page_counts_links_runs_and_explains_rules(conn):
    html = pages.quality_page(conn)
    row = rows(html, file="canteen_20010305.csv")[0]
    assert row[2:7] == ["4", "3", "1", "0", "ui-canteen"]
    assert "href='../dags/feed_canteen/runs/ui-canteen'" in html
    reason = rows(html, feed="canteen", rule="outlet_known")[0]
    assert reason[1] == "outlet_known " + " ".join(rules.RULES["outlet_known"]) and reason[2] == "1"


def test_quality_page_separates_thousands_hides_all_zero_files_and_pages(conn):
    conn.execute("""INSERT INTO quality.file_reconciliation (feed, file, rows_read, rows_loaded, rows_quarantined,
                                                                 rows_duplicate, checksum, run_id)
                    SELECT 'meters', format('meters_%s.csv', i), CASE WHEN i = 0 THEN 1234567 ELSE 0 END,
                           CASE WHEN i = 0 THEN 1234560 ELSE 0 END, CASE WHEN i = 0 THEN 7 ELSE 0 END, 0, 'x',
                           'manual__2001-03-05T00:00:00+00:00'
                    FROM generate_series(0, 60) i""")
    try:
        html = pages.quality_page(conn, feed="meters")
        assert rows(html, file="meters_0.csv")[0][2:5] == ["1,234,567", "1,234,560", "7"]
        assert not rows(html, file="meters_1.csv")  # nothing read: hidden by default
        assert "60 all-zero files hidden" in html
        assert "href='../dags/feed_meters/runs/manual__2001-03-05T00%3A00%3A00%2B00%3A00'" in html
        shown = pages.quality_page(conn, feed="meters", show_all=True)
        assert "page 1 of 2 (61 files)" in shown and len(rows(shown, feed="meters")) == 1 + 50  # the feed total + a page
        second = pages.quality_page(conn, feed="meters", show_all=True, page_no=2)
        assert len([r for r in rows(second, feed="meters") if len(r) == 7]) == 11
        assert "href='?feed=meters&amp;all=1&amp;page=1'" in second or "href='?feed=meters&all=1&page=1'" in second
    finally:
        conn.rollback()


def test_rejected_rows_are_a_table_with_rules_explained(conn):
    from tests.fixtures_monthly import hmac_of
    from tests.fixtures_ui import BAD_CARD

    html = pages.rejected_page(conn, "canteen", None, None, 1)
    assert "<table class='fields'>" in html and '{"' not in html
    fields = dict(re.findall(r"<tr><th>([^<]*)</th><td>([^<]*)</td></tr>", html))
    assert hmac_of(BAD_CARD) in fields.values() and BAD_CARD not in fields.values()
    assert "第九食堂" in fields.values()
    assert rules.RULES["outlet_known"][0] in html
    assert "href='../../dags/feed_canteen/runs/ui-canteen'" in html


def test_baseline_column_shows_only_where_a_baseline_exists(conn):
    assert "<th>基线 Baseline</th>" not in pages.reform_page(conn, 2001, 3, measure="rate")
    conn.execute("""UPDATE mart.kpi_value SET baseline = 30000 WHERE kpi_code = 'personnel_cost_saved_yuan'
                    AND unit_code = 'campus' AND grain = 'month' AND period_start = '2001-03-01'""")
    try:
        html = pages.reform_page(conn, 2001, 3)
        assert "<th>基线 Baseline</th>" in html
        assert rows(html, kpi="personnel_cost_saved_yuan", unit="campus")[0][-1] == "30,000.00"
        assert rows(html, kpi="satisfaction_rate", unit="campus")[0][-1] == ""
        assert "<th>基线 Baseline</th>" not in pages.reform_page(conn, 2001, 3, measure="rate")
    finally:
        conn.rollback()
