"""The workbook as a finance office prints it: print setup, the headline page, Chinese names.

The print setup is read back from the written file with openpyxl; when LibreOffice and poppler are
installed (``make browser``) the annual workbook is also printed to PDF, its pages counted and read,
and page 1 (the headline) and the first 中心经营与社会资金 page are rendered to
tests/artifacts/workbook_page1.png and workbook_books.png. Expected figures are worked out by hand
from the rows of tests/integration/test_reports.py (``kpi_rows``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import date
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from campus_logistics.cli import main as cli
from tests.integration.test_reports import kpi_rows  # noqa: F401  (the fixture)

D = Decimal
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
TOPIC_SHEETS = ["改革节约", "人员编制", "水电节约与回收", "中心经营与社会资金", "满意度", "服务标准", "预计全年", "指标定义"]
UNIT_CODES = {"campus", "catering", "utilities", "apartments", "property", "office", "tenant"}


def _workbook(url, tmp_path, month=None):
    from openpyxl import load_workbook

    out = tmp_path / f"r{month or ''}.xlsx"
    assert cli(["report", "--year", "2001", "--out", str(out), "--warehouse", url]
               + (["--month", str(month)] if month else [])) == 0
    return out, load_workbook(out)


def test_every_sheet_prints_landscape_one_page_wide_with_its_header_on_every_page(kpi_rows, tmp_path):
    _, wb = _workbook(kpi_rows, tmp_path)
    assert wb.sheetnames == ["要点", "说明", *TOPIC_SHEETS]
    for ws in wb.worksheets:
        assert ws.page_setup.orientation == "landscape", ws.title
        assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth == 1, ws.title
        assert "&P" in ws.oddFooter.center.text and "&N" in ws.oddFooter.center.text, ws.title
        assert ws.oddFooter.right.text == "报告期：2001年", ws.title
        assert 0.25 <= ws.page_margins.left <= 1 and 0.25 <= ws.page_margins.bottom <= 1, ws.title
    for name in ("要点", "说明"):  # the cover and the headline each fit one page
        assert wb[name].page_setup.fitToHeight == 1
    for name in TOPIC_SHEETS:  # as many pages down as needed, 月份/年度 header on each
        assert wb[name].page_setup.fitToHeight == 0
        assert wb[name].print_title_rows == "$1:$1"
    defs = wb["指标定义"]
    assert defs.column_dimensions["G"].width >= 40 and defs["G2"].alignment.wrap_text  # formulas wrap, never clip
    for row in defs.iter_rows(min_row=2):  # each row tall enough for its longest wrapped formula
        lines = -(-len(str(row[6].value)) // int(defs.column_dimensions["G"].width - 1))
        assert defs.row_dimensions[row[0].row].height >= 15 * lines, row[0].value


def test_the_year_row_is_bold_and_readers_see_names_not_codes(kpi_rows, tmp_path):
    _, wb = _workbook(kpi_rows, tmp_path)
    for name in ("改革节约", "中心经营与社会资金", "满意度"):  # the sheets whose topics have year rows
        ws = wb[name]
        annual = [row for row in ws.iter_rows(min_row=2) if row[0].value == "全年"]
        assert annual, name
        assert all(cell.font.b for row in annual for cell in row), name
        assert not any(cell.font.b for row in ws.iter_rows(min_row=2) if row[0].value != "全年" for cell in row), name
    seen = {cell.value for ws in wb.worksheets for row in ws.iter_rows() for cell in row if isinstance(cell.value, str)}
    assert not seen & UNIT_CODES
    assert {"全校", "饮食服务中心", "水电中心"} <= seen
    cover = [r for r in wb["说明"].iter_rows(min_row=8, values_only=True)]
    assert [r[0] for r in cover] == ["要点", *TOPIC_SHEETS]  # the sheet list in Chinese
    assert not any(re.search(r"[A-Za-z]", r[0] + str(r[2])) for r in cover)
    units = {r[3] for r in wb["指标定义"].iter_rows(min_row=2, values_only=True)}
    assert {"元", "千瓦时", "立方米", "人", "笔", "%"} <= units and not units & {"yuan", "kWh", "m3", "persons"}
    assert wb["改革节约"]["A2"].number_format == 'yyyy"年"m"月"'


def test_headline_page_gives_savings_satisfaction_and_missed_targets_with_their_direction(kpi_rows, tmp_path):
    _, wb = _workbook(kpi_rows, tmp_path)
    rows = {r[0]: r[1:] for r in wb["要点"].iter_rows(min_row=5, values_only=True) if r[0]}
    # 2001: 24,500.00 + 2,000.50 = 26,500.50; 2000: 10,000.00 + 500.00 = 10,500.00; 同比 +16,000.50
    assert (D(str(rows["节约合计（元）"][0])), D(str(rows["节约合计（元）"][1])), rows["节约合计（元）"][2]) \
        == (D("26500.50"), D("16000.50"), "↑ 上升")
    assert D(str(rows["学校节约人员经费（元）"][1])) == D("14500.00")  # 24,500.00 − 10,000.00
    assert D(str(rows["水电费节约合计（元）"][1])) == D("1500.50")  # 2,000.50 − 500.00
    assert rows["全校满意率"][0] is None and rows["全校满意率"][3] == "无目标"  # no campus survey row, no campus target
    # the utilities centre's 2001 satisfaction 90.0 % is below its 95 % target
    assert rows["未达标指标数"][0] == 1 and rows["未达标指标数"][3] == "满意率（水电中心）"
    assert wb["要点"]["B2"].value == "2001年"

    _, wb = _workbook(kpi_rows, tmp_path, month=7)
    rows = {r[0]: r[1:] for r in wb["要点"].iter_rows(min_row=5, values_only=True) if r[0]}
    # July 2001: 12,500.00 + 1,000.50 = 13,500.50; July 2000: 10,500.00
    assert (D(str(rows["节约合计（元）"][0])), D(str(rows["节约合计（元）"][1]))) == (D("13500.50"), D("3000.50"))
    assert "基准水电费 5,600.00 元" in rows["水电费节约合计（元）"][3]
    assert rows["未达标指标数"][0] == 0 and rows["未达标指标数"][3] == "全部达标"


def test_unit_dimension_follows_the_sub_centres_and_finance_reader_sees_it(warehouse, sql):
    assert sql("SELECT code, name_zh, kind FROM mart.unit ORDER BY code") == [
        ("campus", "全校", "campus"), ("tenant", "校外承租户", "tenant")]  # sources.md: a meter's payer may be 'tenant'
    with psycopg.connect(warehouse) as conn:
        conn.execute("""INSERT INTO core.sub_centre VALUES
                        ('apartments', '公寓中心', 'Apartments', 'small_entity', '2000-01-01'),
                        ('apartments', '学生公寓管理中心', 'Student Apartments Centre', 'big_entity', '2001-01-01'),
                        ('office', '后勤管理处', 'Logistics Management Office', 'no_entity', '2000-01-01')""")
    assert sql("SELECT code, name_zh, name_en, kind FROM mart.unit ORDER BY code") == [
        ("apartments", "学生公寓管理中心", "Student Apartments Centre", "sub_centre"),  # the latest name
        ("campus", "全校", "Whole campus", "campus"),
        ("office", "后勤管理处", "Logistics Management Office", "office"),
        ("tenant", "校外承租户", "Outside tenants", "tenant")]
    assert sql("SELECT has_table_privilege('finance_reader', 'mart.unit', 'SELECT'), "
               "has_table_privilege('finance_reader', 'mart.target', 'SELECT')") == [(True, True)]


def _print_to_pdf(xlsx: Path, out_dir: Path) -> Path:
    subprocess.run(["soffice", "--headless", f"-env:UserInstallation=file://{out_dir}/lo-profile",
                    "--convert-to", "pdf", "--outdir", str(out_dir), str(xlsx)],
                   check=True, capture_output=True, timeout=300)
    return out_dir / (xlsx.stem + ".pdf")


def _pages(pdf: Path) -> list[str]:
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True,
                          text=True, timeout=120).stdout
    return text.split("\f")[:-1] if text.endswith("\f") else text.split("\f")


@pytest.mark.skipif(not (shutil.which("soffice") and shutil.which("pdftotext") and shutil.which("pdftoppm")),
                    reason="LibreOffice or poppler-utils not installed (make browser installs them as root)")
def test_printed_workbook_pages_carry_their_header_and_page_one_is_the_headline(kpi_rows, tmp_path):
    # a centre_books sheet long enough to need several pages: 12 months × 9 units, plus their years
    units = [f"u{i}" for i in range(9)]
    with psycopg.connect(kpi_rows) as conn:
        conn.cursor().executemany("INSERT INTO core.sub_centre VALUES (%s, %s, %s, 'big_entity', '2000-07-01')",
                                  [(u, f"测试中心{u[1]}", f"Test centre {u}") for u in units])
        conn.cursor().executemany(
            """INSERT INTO mart.kpi_value (kpi_code, unit_code, grain, period_start, value, unit)
               VALUES ('centre_revenue_yuan', %s, %s, %s, %s, 'yuan')""",
            [(u, "month", date(2001, m, 1), 1000 * m) for u in units for m in range(1, 13)]
            + [(u, "year", date(2001, 1, 1), 78000) for u in units])
    xlsx, wb = _workbook(kpi_rows, tmp_path)
    pages = _pages(_print_to_pdf(xlsx, tmp_path))
    assert 9 <= len(pages) <= 30  # one page each at least; not the dozens a portrait, unscaled print took
    assert all(re.search(r"第 \d+ 页，共 \d+ 页", p) and "报告期：2001年" in p for p in pages)
    assert "要点" in pages[0] and "节约合计（元）" in pages[0] and "26,500.50" in pages[0]
    books = [p for p in pages if "测试中心" in p]
    assert len(books) >= 2  # the sheet spans pages ...
    assert all("中心收入（元）" in p and "月份" in p for p in books)  # ... and each repeats the header
    ARTIFACTS.mkdir(exist_ok=True)
    pdf = tmp_path / (xlsx.stem + ".pdf")
    first_books = pages.index(books[0]) + 1
    for page, name in ((1, "workbook_page1"), (first_books, "workbook_books")):
        subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", str(page), "-l", str(page), "-singlefile",
                        str(pdf), str(ARTIFACTS / name)], check=True, timeout=120)
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 5000
