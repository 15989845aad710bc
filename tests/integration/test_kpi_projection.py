"""Year-end projections in mart.kpi_projection, from hand-made ledgers of 2000 and 2001.

Catering's ledger, yuan (revenue; a cost of 100 every month), so the centre surplus = revenue − 100:

    2000  Jan 500  Feb 1000  Mar 1500  Apr–Dec 1200 each    (surplus 400, 900, 1400, 1100 …)
    2001  Jan 1100 Feb 1900  Mar 3000                         (surplus 1000, 1800, 2900)

Every expected projection is worked out by hand in the tests below.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from campus_logistics.kpis.compute import recompute
from tests.fixtures_monthly import load, write_ledger, write_monthly_ref

REV_2000 = {1: 500, 2: 1000, 3: 1500} | {m: 1200 for m in range(4, 13)}
REV_2001 = {1: 1100, 2: 1900, 3: 3000}


def _ledger(landing, year, revenue):
    for m, r in revenue.items():
        month = f"{year}-{m:02d}"
        write_ledger(landing, month, [(month, "catering", "revenue", "meal_sales", f"{r}.00", "centre", "售饭"),
                                      (month, "catering", "cost", "food_materials", "100.00", "centre", "原材料")])


def _projection(sql, code, unit="campus"):
    rows = sql("""SELECT as_of_month::text, months_actual, ytd, projected, low, high, method, method_note
                  FROM mart.kpi_projection WHERE kpi_code = %s AND unit_code = %s ORDER BY as_of_month""",
               (code, unit))
    return {r[0]: r[1:] for r in rows}


def test_run_rate_then_seasonal_once_the_prior_year_arrives(landing, sql):
    write_monthly_ref(landing)
    _ledger(landing, 2001, REV_2001)
    load("ledger", landing, "2001-01-01", "2001-03-31")
    rev = _projection(sql, "centre_revenue_yuan")
    assert sorted(rev) == ["2001-01-01", "2001-02-01", "2001-03-01"]
    # no 2000 yet → run rate. As of March: ytd 6000, mean 2000, 9 months left → 6000 + 18000 = 24000
    # deviations −900, −100, 1000: s² = (810000 + 10000 + 1000000) / 2 = 910000, s = 953.9392;
    # √(9 + 81/3) = 6; half width 1.886 × 953.9392 = 1799.1294, × 6 = 10794.78 → [13205.22, 34794.78]
    assert rev["2001-03-01"] == (3, D("6000.00"), D("24000.00"), D("13205.22"), D("34794.78"), "run_rate", None)
    # as of January: one month, 1100 × 12 = 13200, no interval
    assert rev["2001-01-01"] == (1, D("1100.00"), D("13200.00"), None, None, "run_rate", None)

    _ledger(landing, 2000, REV_2000)
    load("ledger", landing, "2000-01-01", "2000-12-31")  # touches 2000 only: 2001 is recomputed as the year after
    rev = _projection(sql, "centre_revenue_yuan")
    # 2001 as of March, seasonal: P_e = 500 + 1000 + 1500 = 3000, P_r = 9 × 1200 = 10800, c = 6000 / 3000 = 2
    # → 6000 + 2 × 10800 = 27600; residuals 1100 − 1000 = 100, 1900 − 2000 = −100, 3000 − 3000 = 0 → s_e = 100;
    # √(9 + 3 × (10800/3000)²) = √(9 + 38.88) = 6.919537; half 1.886 × 100 × 6.919537 = 1305.02
    assert rev["2001-03-01"] == (3, D("6000.00"), D("27600.00"), D("26294.98"), D("28905.02"), "seasonal", None)
    # as of January 2001: c = 1100 / 500 = 2.2, P_r = 1000 + 1500 + 10800 = 13300 → 1100 + 29260 = 30360
    assert rev["2001-01-01"][2:] == (D("30360.00"), None, None, "seasonal", None)
    # 2000 itself has no prior year: run rate. As of March 2000: 3000 + 1000 × 9 = 12000;
    # s² = (500² + 0 + 500²) / 2 = 250000, s = 500; half 1.886 × 500 × 6 = 5658 → [6342, 17658]
    assert rev["2000-03-01"] == (3, D("3000.00"), D("12000.00"), D("6342.00"), D("17658.00"), "run_rate", None)
    # December 2000 projects the year itself: 3000 + 9 × 1200 = 13800, an interval of width 0
    assert rev["2000-12-01"][1:5] == (D("13800.00"), D("13800.00"), D("13800.00"), D("13800.00"))

    # the surplus as of March 2001: ytd 1000 + 1800 + 2900 = 5700; prior surplus Jan–Mar 400 + 900 + 1400 = 2700,
    # Apr–Dec 9 × 1100 = 9900 → 5700 + 5700 / 2700 × 9900 = 5700 + 20900 = 26600
    sur = _projection(sql, "centre_surplus_yuan")
    assert sur["2001-03-01"][1:3] == (D("5700.00"), D("26600.00"))
    assert sur["2001-03-01"][5] == "seasonal"
    # per unit too: catering is the only unit, the same figures
    assert _projection(sql, "centre_surplus_yuan", "catering")["2001-03-01"] == sur["2001-03-01"]
    # a KPI the catalog does not project has no rows
    assert _projection(sql, "centre_cost_yuan") == {}


def test_negative_prior_sum_falls_back_to_run_rate_and_says_so(landing, sql):
    write_monthly_ref(landing)
    # 2000: catering revenue 50 in Jan–Mar with cost 100 → surplus −50 each (P_e = −150 < 0 against a positive ytd)
    _ledger(landing, 2000, {1: 50, 2: 50, 3: 50} | {m: 1200 for m in range(4, 13)})
    _ledger(landing, 2001, REV_2001)
    load("ledger", landing, "2000-01-01", "2001-03-31")
    sur = _projection(sql, "centre_surplus_yuan")
    # run rate: ytd 5700, mean 1900 → 5700 + 9 × 1900 = 22800
    assert sur["2001-03-01"][2] == D("22800.00")
    assert sur["2001-03-01"][5:] == ("run_rate", "上年对应月份合计为零或与本年累计异号，季节性倍数无意义，改按已过月份平均")
    # revenue's prior months are positive: seasonal, c = 6000 / 150 = 40 → 6000 + 40 × 10800 = 438000
    assert _projection(sql, "centre_revenue_yuan")["2001-03-01"][2:3] == (D("438000.00"),)


def test_recompute_is_idempotent_and_the_view_names_the_method(landing, sql):
    write_monthly_ref(landing)
    _ledger(landing, 2001, REV_2001)
    load("ledger", landing, "2001-01-01", "2001-03-31")
    q = "SELECT kpi_code, unit_code, year, as_of_month, months_actual, ytd, projected, low, high, method, " \
        "method_note FROM mart.kpi_projection ORDER BY 1, 2, 3, 4"
    before = sql(q)
    recompute(["2001-02-15"], feeds=["ledger"], run_id="again")
    assert sql(q) == before
    assert sql("SELECT count(*) FROM mart.kpi_projection WHERE run_id = 'again'") == [(len(before),)]
    rows = sql("""SELECT "指标名称", "单位名称", "预计全年（元）", "预测方法", "全年实际（元）"
                  FROM mart.report_kpi_projection WHERE "指标代码" = 'centre_revenue_yuan' AND "单位" = 'campus'
                    AND "截至月份" = '2001-03-01'""")
    # the year's actual so far is the three months: 6000
    assert rows == [("中心收入", "全校", D("24000.00"), "按已过月份平均", D("6000.00"))]


def test_finance_reader_reads_the_projections_and_the_adjusted_baselines(landing, sql, warehouse):
    import psycopg

    write_monthly_ref(landing)
    _ledger(landing, 2001, REV_2001)
    load("ledger", landing, "2001-01-01", "2001-03-31")
    with psycopg.connect(warehouse, autocommit=True) as conn:
        conn.execute("SET ROLE finance_reader")
        # 3 months × 2 units (campus, catering) × 2 projected ledger KPIs (revenue, surplus) = 12 rows
        assert conn.execute("SELECT count(*) FROM mart.kpi_projection").fetchone() == (12,)
        assert conn.execute("SELECT count(*) FROM mart.report_kpi_projection").fetchone() == (12,)
        assert conn.execute("SELECT count(*) FROM mart.utility_baseline_adjusted").fetchone() == (0,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM mart.kpi_projection")


def test_reports_and_the_reform_page_show_the_projection_beside_the_actual(landing, sql, warehouse, tmp_path):
    from datetime import datetime

    import psycopg
    from openpyxl import load_workbook

    from campus_logistics.reports import write_report
    from campus_logistics.ui import pages

    write_monthly_ref(landing)
    _ledger(landing, 2001, REV_2001)
    load("ledger", landing, "2001-01-01", "2001-03-31")
    out = write_report(tmp_path / "annual.xlsx", 2001, url=warehouse)
    header, *rows = [list(r) for r in load_workbook(out)["预计全年"].iter_rows(values_only=True)]
    assert header == ["截至月份", "指标名称", "已有实际月数", "本年累计（元）", "预计全年（元）", "预测区间下限（元）",
                      "预测区间上限（元）", "预测方法", "方法说明", "全年实际（元）"]
    revenue = [r for r in rows if r[1] == "中心收入"]
    assert [r[0] for r in revenue] == [datetime(2001, m, 1) for m in (1, 2, 3)]
    # as of March (test above): 24000 in [13205.22, 34794.78], run rate; the year so far 1100 + 1900 + 3000 = 6000
    assert [D(str(v)) if isinstance(v, (int, float)) else v for v in revenue[-1]] == [
        datetime(2001, 3, 1), "中心收入", 3, D(6000), D(24000), D("13205.22"), D("34794.78"), "按已过月份平均", None,
        D(6000)]
    monthly = write_report(tmp_path / "march.xlsx", 2001, 3, url=warehouse)
    assert {r[0] for r in load_workbook(monthly)["预计全年"].iter_rows(min_row=2, values_only=True)} == \
        {datetime(2001, 3, 1)}
    html = (write_report(tmp_path / "annual.html", 2001, url=warehouse)).read_text(encoding="utf-8")
    assert "<h2>预计全年 Year-end projection</h2>" in html
    assert "<td class='num projected'>24,000.00</td><td class='num interval'>13,205.22 – 34,794.78</td>" \
           "<td class='method'>按已过月份平均</td>" in html
    with psycopg.connect(warehouse) as conn:
        page = pages.reform_page(conn, 2001, 3)
    assert "预计全年 Year-end projection — 截至 2001年3月" in page
    assert "data-kpi='centre_revenue_yuan' data-unit='campus' data-method='run_rate'" in page
    assert "<td class='num projected'>24,000.00</td>" in page
