"""Finance report views (mart.report_*), the Excel workbooks, their comments and finance_reader.

The report layer is tested on KPI rows inserted directly into mart.kpi_value (the KPIs themselves
are tested per group elsewhere); every expected number below is worked out by hand from those rows.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from decimal import Decimal
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from campus_logistics.cli import main as cli

D = Decimal
REPORT_VIEWS = [f"report_{g}_{t}" for g in ("monthly", "annual")
                for t in ("savings", "staffing", "utilities", "centre_books", "satisfaction", "service")]

# (kpi_code, unit_code, grain, period_start, value, unit, baseline)
ROWS = [
    # savings: July 2001 total = 12,500.00 + 1,000.50 = 13,500.50; June 13,000.00; July 2000 10,500.00
    ("personnel_cost_saved_yuan", "campus", "month", "2000-07-01", "10000.00", "yuan", None),
    ("utilities_saved_total_yuan", "campus", "month", "2000-07-01", "500.00", "yuan", None),
    ("personnel_cost_saved_yuan", "campus", "month", "2001-06-01", "12000.00", "yuan", None),
    ("utilities_saved_total_yuan", "campus", "month", "2001-06-01", "1000.00", "yuan", None),
    ("personnel_cost_saved_yuan", "campus", "month", "2001-07-01", "12500.00", "yuan", None),
    ("personnel_cost_saved_transfer_yuan", "campus", "month", "2001-07-01", "8000.00", "yuan", None),
    ("personnel_cost_saved_cooks_yuan", "campus", "month", "2001-07-01", "4500.00", "yuan", None),
    ("utilities_conservation_saved_yuan", "campus", "month", "2001-07-01", "-300.25", "yuan", "5600.00"),
    ("utilities_recovered_yuan", "campus", "month", "2001-07-01", "1300.75", "yuan", None),
    ("utilities_saved_total_yuan", "campus", "month", "2001-07-01", "1000.50", "yuan", None),
    ("personnel_cost_saved_yuan", "campus", "year", "2000-01-01", "10000.00", "yuan", None),
    ("utilities_saved_total_yuan", "campus", "year", "2000-01-01", "500.00", "yuan", None),
    ("personnel_cost_saved_yuan", "campus", "year", "2001-01-01", "24500.00", "yuan", None),
    ("utilities_saved_total_yuan", "campus", "year", "2001-01-01", "2000.50", "yuan", None),
    # staffing against norms
    ("admin_norm_headcount", "campus", "month", "2001-07-01", "34", "persons", None),
    ("admin_headcount", "campus", "month", "2001-07-01", "20", "persons", "34"),
    ("admin_posts_saved", "campus", "month", "2001-07-01", "14", "persons", None),
    ("cook_norm_headcount", "campus", "month", "2001-07-01", "42", "persons", None),
    ("cooks_borne_by_centre", "campus", "month", "2001-07-01", "30", "persons", "42"),
    ("jobs_provided", "campus", "month", "2001-07-01", "80", "persons", None),
    ("admin_headcount", "campus", "month", "2001-06-01", "21", "persons", "34"),
    ("admin_headcount", "campus", "month", "2000-07-01", "25", "persons", "17"),
    ("jobs_provided", "campus", "month", "2000-07-01", "60", "persons", None),
    # utilities against the baseline
    ("electricity_kwh_school", "campus", "month", "2001-07-01", "9000", "kWh", "10000"),
    ("water_m3_school", "campus", "month", "2001-07-01", "2500.5", "m3", "2000"),
    # the centre's books, per unit
    ("centre_surplus_yuan", "campus", "month", "2001-06-01", "8500.00", "yuan", None),
    ("centre_surplus_yuan", "campus", "month", "2001-07-01", "-3200.00", "yuan", None),
    ("centre_surplus_yuan", "catering", "month", "2001-07-01", "1500.00", "yuan", None),
    ("social_capital_in_yuan", "campus", "month", "2001-07-01", "50000.00", "yuan", None),
    ("social_capital_share", "campus", "month", "2001-07-01", "0.090909", "rate", None),
    ("centre_surplus_yuan", "campus", "year", "2001-01-01", "5300.00", "yuan", None),
    # service standards
    ("repair_on_time_rate", "utilities", "month", "2000-07-01", "0.95", "rate", None),
    ("repair_on_time_rate", "utilities", "month", "2001-07-01", "0.9", "rate", None),
    ("work_orders_completed", "campus", "month", "2001-07-01", "40", "count", None),
    # satisfaction, per wave and year
    ("satisfaction_rate", "utilities", "wave", "2001-06-15", "0.88", "rate", None),
    ("satisfaction_rate", "utilities", "wave", "2001-07-10", "0.92", "rate", None),
    ("satisfaction_responses", "utilities", "wave", "2001-07-10", "50", "count", None),
    ("satisfaction_rate", "utilities", "year", "2000-01-01", "0.85", "rate", None),
    ("satisfaction_rate", "utilities", "year", "2001-01-01", "0.9", "rate", None),
]


@pytest.fixture
def kpi_rows(warehouse):
    from campus_logistics.kpis.compute import sync_definitions

    with psycopg.connect(warehouse) as conn:
        sync_definitions(conn.cursor())
        # the unit dimension (mart.unit) follows core.sub_centre; a target the utilities centre missed in 2001
        conn.cursor().executemany("INSERT INTO core.sub_centre VALUES (%s, %s, %s, 'big_entity', '2000-07-01')",
                                  [("catering", "饮食服务中心", "Catering Service Centre"),
                                   ("utilities", "水电中心", "Water and Power Centre")])
        conn.execute("INSERT INTO core.target VALUES ('satisfaction_rate', 'utilities', 'min', 0.95)")
        conn.cursor().executemany(
            """INSERT INTO mart.kpi_value (kpi_code, unit_code, grain, period_start, value, unit, baseline)
               VALUES (%s, %s, %s, %s, %s, %s, %s)""", ROWS)
    return warehouse


def view(sql, name, where="true"):
    with_names = sql(f"SELECT row_to_json(v)::text FROM mart.{name} v WHERE {where}")
    import json

    return [json.loads(r[0], parse_float=Decimal) for r in with_names]


def test_monthly_views_add_up_with_year_on_year_and_month_on_month(kpi_rows, sql):
    (jul,) = view(sql, "report_monthly_savings", "\"月份\" = '2001-07-01'")
    assert jul == {
        "月份": "2001-07-01", "学校节约人员经费（元）": D("12500.00"), "其中：分流人员节约经费（元）": D("8000.00"),
        "其中：炊事员节约经费（元）": D("4500.00"), "节约水电费（元）": D("-300.25"), "回收水电费（元）": D("1300.75"),
        "水电费节约合计（元）": D("1000.50"), "节约合计（元）": D("13500.50"),
        "本年累计节约合计（元）": D("26500.50"),  # June 13,000.00 + July 13,500.50
        "节约合计环比增减（元）": D("500.50"), "节约合计同比增减（元）": D("3000.50"),
    }
    (jun,) = view(sql, "report_monthly_savings", "\"月份\" = '2001-06-01'")
    assert jun["节约合计环比增减（元）"] is None and jun["节约合计同比增减（元）"] is None  # no May 2001, no June 2000
    (y2001,) = view(sql, "report_annual_savings", "\"年度\" = 2001")
    assert y2001["节约合计（元）"] == D("26500.50") and y2001["节约合计同比增减（元）"] == D("16000.50")
    assert "节约合计环比增减（元）" not in y2001  # month-on-month means nothing for a year

    (staff,) = view(sql, "report_monthly_staffing", "\"月份\" = '2001-07-01'")
    assert (staff["定编管理人员数"], staff["管理人员数"], staff["精简管理人员数"]) == (34, 20, 14)
    assert staff["管理人员精简率"] == D("0.411765")  # 14 / 34
    assert staff["社会承担炊事员比例"] == D("0.714286")  # 30 / 42
    assert (staff["管理人员数环比增减"], staff["管理人员数同比增减"], staff["就业岗位同比增减"]) == (-1, -5, 20)

    (util,) = view(sql, "report_monthly_utilities", "\"月份\" = '2001-07-01'")
    assert (util["学校承担用电量（千瓦时）"], util["基准用电量（千瓦时）"], util["节约用电量（千瓦时）"], util["用电节约率"]) \
        == (D("9000.00"), D("10000.00"), D("1000.00"), D("0.100000"))
    assert (util["节约用水量（立方米）"], util["用水节约率"]) == (D("-500.50"), D("-0.250250"))  # consumption rose
    assert (util["基准水电费（元）"], util["节约水电费（元）"]) == (D("5600.00"), D("-300.25"))

    books = {r["单位"]: r for r in view(sql, "report_monthly_centre_books", "\"月份\" = '2001-07-01'")}
    assert set(books) == {"campus", "catering"}
    assert books["campus"]["中心积累资金（元）"] == D("-3200.00")
    assert books["campus"]["积累资金环比增减（元）"] == D("-11700.00")  # −3,200.00 − 8,500.00
    assert books["campus"]["本年累计积累资金（元）"] == D("5300.00")
    assert books["campus"]["社会资金占比"] == D("0.090909")
    assert books["catering"]["积累资金环比增减（元）"] is None

    service = {r["单位"]: r for r in view(sql, "report_monthly_service", "\"月份\" = '2001-07-01'")}
    assert service["utilities"]["维修及时率同比增减"] == D("-0.050000")
    assert service["campus"]["完成工单数"] == 40

    (wave,) = view(sql, "report_monthly_satisfaction", "\"月份\" = '2001-07-01'")
    assert wave == {"月份": "2001-07-01", "调查日期": "2001-07-10", "单位": "utilities", "满意率": D("0.920000"),
                    "有效答卷数": 50, "满意率较上次调查增减": D("0.040000"), "单位名称": "水电中心"}
    (sat,) = view(sql, "report_annual_satisfaction", "\"年度\" = 2001")
    assert sat["满意率同比增减"] == D("0.050000")


def test_money_columns_are_numeric_with_two_decimals(warehouse, sql):
    rows = sql("""SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
                  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = 'mart' AND c.relname LIKE 'report%%' AND a.attnum > 0 AND a.attname LIKE '%%元%%'""")
    assert len(rows) > 20
    assert {t for _, _, t in rows} == {"numeric(30,2)"}  # V013: anything accepted sums over a year


def test_every_mart_table_view_and_column_is_commented_in_chinese_and_english(warehouse, sql):
    objects = sql("""SELECT c.relname, NULL, obj_description(c.oid, 'pg_class') FROM pg_class c
                     JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE n.nspname = 'mart' AND c.relkind IN ('r', 'v', 'p', 'm') AND NOT c.relispartition
                     UNION ALL
                     SELECT c.relname, a.attname, col_description(c.oid, a.attnum) FROM pg_class c
                     JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid
                     WHERE n.nspname = 'mart' AND c.relkind IN ('r', 'v', 'p', 'm') AND NOT c.relispartition
                       AND a.attnum > 0 AND NOT a.attisdropped""")
    assert {o for o, _, _ in objects} >= set(REPORT_VIEWS) | {"kpi_value", "kpi_definition"}
    bad = [(o, c, text) for o, c, text in objects
           if not text or not re.search(r"[\u4e00-\u9fff]", text) or not re.search(r"[A-Za-z]{3}", text)]
    assert bad == []


def _open(path):
    from openpyxl import load_workbook

    return load_workbook(path)


def _rows(ws):
    return [list(r) for r in ws.iter_rows(values_only=True)]


def _num(v):
    return None if v is None else D(str(v))


def test_excel_monthly_report_cell_by_cell(kpi_rows, sql, tmp_path, capsys):
    out = tmp_path / "monthly.xlsx"
    assert cli(["report", "--year", "2001", "--month", "7", "--out", str(out), "--warehouse", kpi_rows]) == 0
    wb = _open(out)
    assert wb.sheetnames == ["要点", "说明", "改革节约", "人员编制", "水电节约与回收", "中心经营与社会资金",
                             "满意度", "服务标准", "预计全年", "指标定义"]
    assert wb["说明"]["A1"].value == "后勤社会化改革月度报告（2001年7月）"

    ws = wb["改革节约"]
    header, *rows = _rows(ws)
    assert header[:3] == ["月份", "学校节约人员经费（元）", "其中：分流人员节约经费（元）"]
    assert len(rows) == 1
    expected = [datetime(2001, 7, 1), "12500.00", "8000.00", "4500.00", "-300.25", "1300.75", "1000.50", "13500.50",
                "26500.50", "500.50", "3000.50"]
    assert [rows[0][0]] + [_num(v) for v in rows[0][1:]] == [expected[0]] + [D(v) for v in expected[1:]]
    for cell in ws[2][1:]:
        assert cell.data_type == "n" and cell.number_format == "#,##0.00"  # numbers, never text
    assert ws["A2"].number_format == 'yyyy"年"m"月"'  # shown as 2001年7月
    # The cells are mart.kpi_value's values.
    stored = dict(sql("""SELECT kpi_code, value FROM mart.kpi_value WHERE grain = 'month' AND unit_code = 'campus'
                         AND period_start = '2001-07-01'"""))
    assert _num(ws["B2"].value) == stored["personnel_cost_saved_yuan"]
    assert _num(ws["E2"].value) == stored["utilities_conservation_saved_yuan"]

    ws = wb["中心经营与社会资金"]
    header, *rows = _rows(ws)
    assert [r[1] for r in rows] == ["全校", "饮食服务中心"]  # campus first; names, never codes (mart.unit)
    surplus = ws.cell(row=2, column=header.index("中心积累资金（元）") + 1)
    assert surplus.value == -3200 and surplus.data_type == "n" and surplus.number_format == "#,##0.00"
    share = ws.cell(row=2, column=header.index("社会资金占比") + 1)
    assert _num(share.value) == D("0.090909") and share.number_format == "0.00%"

    ws = wb["指标定义"]
    header, *rows = _rows(ws)
    assert header == ["指标代码", "中文名称", "英文名称", "计量单位", "粒度", "类型", "计算公式", "数据来源"]
    assert len(rows) == sql("SELECT count(*) FROM mart.kpi_definition")[0][0]
    by_code = {r[0]: r for r in rows}
    assert by_code["centre_surplus_yuan"][:6] == ["centre_surplus_yuan", "中心积累资金", "Centre surplus", "元",
                                                  "月、年", "流量（按期合计）"]


def test_excel_annual_report_lists_the_months_then_the_year(kpi_rows, tmp_path):
    out = tmp_path / "annual.xlsx"
    assert cli(["report", "--year", "2001", "--out", str(out), "--warehouse", kpi_rows]) == 0
    wb = _open(out)
    assert wb["说明"]["A1"].value == "后勤社会化改革年度报告（2001年）"
    header, *rows = _rows(wb["改革节约"])
    col = header.index("节约合计（元）")
    assert [(r[0], _num(r[col])) for r in rows] == [
        (datetime(2001, 6, 1), D("13000.00")), (datetime(2001, 7, 1), D("13500.50")), ("全年", D("26500.50"))]
    yoy = header.index("节约合计同比增减（元）")
    assert _num(rows[-1][yoy]) == D("16000.50")
    assert rows[-1][header.index("节约合计环比增减（元）")] is None

    header, *rows = _rows(wb["中心经营与社会资金"])
    s = header.index("中心积累资金（元）")
    assert [(r[0], r[1], _num(r[s])) for r in rows] == [
        (datetime(2001, 6, 1), "全校", D("8500.00")), (datetime(2001, 7, 1), "全校", D("-3200.00")),
        ("全年", "全校", D("5300.00")), (datetime(2001, 7, 1), "饮食服务中心", D("1500.00"))]

    header, *rows = _rows(wb["满意度"])
    assert [(r[0], r[1], r[2], _num(r[3])) for r in rows] == [
        (datetime(2001, 6, 1), datetime(2001, 6, 15), "水电中心", D("0.88")),
        (datetime(2001, 7, 1), datetime(2001, 7, 10), "水电中心", D("0.92")),
        ("全年", None, "水电中心", D("0.9"))]


def test_report_rejects_an_unknown_format(warehouse, tmp_path, capsys):
    assert cli(["report", "--year", "2001", "--out", str(tmp_path / "r.pdf"), "--warehouse", warehouse]) == 2
    assert "unsupported report format '.pdf'" in capsys.readouterr().err
    assert not (tmp_path / "r.pdf").exists()


def test_no_cell_can_be_a_formula(kpi_rows, tmp_path):
    """Text from the data that starts like a formula is neutralised; numbers stay numbers."""
    hostile = ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "＝1"]
    with psycopg.connect(kpi_rows) as conn:
        for i, unit in enumerate(hostile):
            conn.execute("""INSERT INTO mart.kpi_value (kpi_code, unit_code, grain, period_start, value, unit)
                            VALUES ('centre_surplus_yuan', %s, 'month', '2001-07-01', %s, 'yuan')""", (unit, -5 - i))
        conn.execute("""INSERT INTO mart.kpi_definition (kpi_code, name_zh, name_en, unit, grains, kind, formula, source_feeds)
                        VALUES ('@evil', '=cmd|'' /C calc''!A0', '-x', 'yuan', '{month}', 'flow', '=1+1', '{ledger}')""")
    for month in ("7", None):
        out = tmp_path / f"r{month}.xlsx"
        assert cli(["report", "--year", "2001", "--out", str(out), "--warehouse", kpi_rows]
                   + (["--month", month] if month else [])) == 0
        wb = _open(out)
        for ws in wb.worksheets:
            for row in ws.iter_rows():
                for cell in row:
                    assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                    if isinstance(cell.value, str):
                        assert not cell.value.startswith(("=", "+", "-", "@", "\t", "\r", "＝")), (ws.title, cell.value)
        header, *rows = _rows(wb["中心经营与社会资金"])
        s = header.index("中心积累资金（元）")
        got = {r[1]: r[s] for r in rows if r[0] != "全年"}
        for i, unit in enumerate(hostile):
            assert got["'" + unit] == -5 - i  # the text is kept, behind a quote; the number is a number
        defs = {r[0]: r for r in _rows(wb["指标定义"])}
        assert defs["'@evil"][1:3] == ["'=cmd|' /C calc'!A0", "'-x"] and defs["'@evil"][6] == "'=1+1"


def _login_url(url: str, user: str) -> str:
    p = urlsplit(url)
    host = p.netloc.rsplit("@", 1)[-1]
    return urlunsplit((p.scheme, f"{user}@{host}", p.path, p.query, p.fragment))


@pytest.fixture
def finance_login(warehouse, pg_admin_url):
    """A login role that is a member of finance_reader (a finance user of the warehouse)."""
    user = f"cl_fin_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{user}" LOGIN INHERIT IN ROLE finance_reader')
    yield _login_url(warehouse, user)
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'DROP ROLE IF EXISTS "{user}"')


def test_finance_reader_reads_the_report_views_and_nothing_else(kpi_rows, finance_login, tmp_path):
    with psycopg.connect(finance_login, autocommit=True) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0].startswith("cl_fin_")
        views = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.views WHERE table_schema = 'mart' ORDER BY 1").fetchall()]
        assert set(REPORT_VIEWS) <= set(views)
        for v in REPORT_VIEWS:
            conn.execute(f"SELECT * FROM mart.{v}").fetchall()
        assert conn.execute("SELECT count(*) FROM mart.kpi_definition").fetchone()[0] > 0
        (surplus,) = conn.execute("""SELECT "中心积累资金（元）" FROM mart.report_monthly_centre_books
                                     WHERE "月份" = '2001-07-01' AND "单位" = 'campus'""").fetchone()
        assert surplus == D("-3200.00")

        refused = []
        tables = conn.execute("""SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                                 WHERE n.nspname IN ('core', 'staging', 'quality', 'ref') AND c.relkind IN ('r', 'p', 'v')
                                 ORDER BY 1, 2""").fetchall()
        schemas = {s for s, _ in tables}
        assert {"core", "quality"} <= schemas
        for schema, table in [next(t for t in tables if t[0] == s) for s in sorted(schemas)]:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f'SELECT 1 FROM {schema}."{table}" LIMIT 1')
            refused.append(schema)
        assert refused == sorted(schemas)
        for stmt in ("INSERT INTO mart.kpi_value (kpi_code, unit_code, grain, period_start, value, unit) "
                     "VALUES ('x', 'campus', 'month', '2001-01-01', 1, 'yuan')",
                     "UPDATE mart.kpi_value SET value = 0", "DELETE FROM mart.kpi_definition",
                     "CREATE TABLE mart.finance_scratch (x int)", "CREATE TABLE public.finance_scratch (x int)",
                     "CREATE VIEW mart.finance_scratch AS SELECT 1"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(stmt)
    # A finance user can produce the report with their own login (it reads mart only).
    out = tmp_path / "finance.xlsx"
    assert cli(["report", "--year", "2001", "--out", str(out), "--warehouse", finance_login]) == 0
    assert _rows(_open(out)["改革节约"])[-1][0] == "全年"


def test_report_views_read_mart_objects_only(warehouse, sql):
    """A view runs with its owner's rights, so finance_reader could read core through one: none may."""
    deps = sql("""SELECT DISTINCT v.relname, rn.nspname, r.relname
                  FROM pg_class v JOIN pg_namespace vn ON vn.oid = v.relnamespace
                  JOIN pg_rewrite w ON w.ev_class = v.oid
                  JOIN pg_depend d ON d.objid = w.oid AND d.classid = 'pg_rewrite'::regclass
                  JOIN pg_class r ON r.oid = d.refobjid AND r.oid <> v.oid
                  JOIN pg_namespace rn ON rn.oid = r.relnamespace
                  WHERE vn.nspname = 'mart' AND v.relkind = 'v'""")
    assert {v for v, _, _ in deps} >= set(REPORT_VIEWS)
    assert {(s, t) for _, s, t in deps} == {("mart", "kpi_value"), ("mart", "unit"), ("mart", "kpi_definition"),
                                            ("mart", "kpi_projection")}


def test_grant_reader_creates_a_finance_login_that_reads_the_mart_only(kpi_rows, pg_admin_url, tmp_path, capsys,
                                                                         monkeypatch):
    user = f"cl_fin_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("CL_TEST_FINANCE_PASSWORD", "s3cret-Pw")
    try:
        assert cli(["warehouse", "grant-reader", user, "--password-env", "CL_TEST_FINANCE_PASSWORD",
                    "--warehouse", kpi_rows]) == 0
        out = capsys.readouterr().out
        url = out.strip().rsplit(": ", 1)[-1]
        assert url == _login_url(kpi_rows, user) and "s3cret" not in out  # the password is never printed
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute("SELECT current_user").fetchone()[0] == user
            (name,) = conn.execute("""SELECT "单位名称" FROM mart.report_monthly_centre_books
                                      WHERE "月份" = '2001-07-01' AND "单位" = 'catering'""").fetchone()
            assert name == "饮食服务中心"  # finance sees the unit's name through mart.unit
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT 1 FROM core.sub_centre LIMIT 1")
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            (has_password,) = conn.execute("SELECT rolpassword IS NOT NULL FROM pg_authid WHERE rolname = %s",
                                           (user,)).fetchone()
            assert has_password
        assert cli(["warehouse", "grant-reader", user, "--warehouse", kpi_rows]) == 0  # again: reused, not an error
        out = tmp_path / "finance.xlsx"
        assert cli(["report", "--year", "2001", "--out", str(out), "--warehouse", url]) == 0
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(f'DROP ROLE IF EXISTS "{user}"')
    assert cli(["warehouse", "grant-reader", "Robert'); DROP", "--warehouse", kpi_rows]) == 2
    assert "login name" in capsys.readouterr().err
