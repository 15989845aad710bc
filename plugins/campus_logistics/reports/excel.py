"""The report as an ``.xlsx`` workbook (openpyxl): the headline (要点), a cover sheet, a sheet per
topic, KPI definitions. Every sheet prints as it is: landscape A4, one page wide (the headline and
the cover one page in all), the header row repeated on every page, a footer with the report, the
period and 第 x 页，共 y 页; the 全年 rows are bold.

Money is stored as numbers (never text) formatted ``#,##0.00``; rates as fractions formatted as
percentages; a negative amount is a negative number. Text that comes from data (unit codes, KPI
formulas) is neutralised against formula injection: a cell starting with ``= + - @`` (or tab/CR,
or their full-width forms) gets a leading apostrophe, as OWASP recommends for spreadsheet exports,
so no spreadsheet program treats it as a formula — also after a CSV round trip.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from .data import ANNUAL_LABEL, Report, Sheet

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")
NUMBER_FORMATS = {
    "money": "#,##0.00",
    "quantity": "#,##0.00",
    "count": "#,##0",
    "rate": "0.00%",
    "score": "0.00",
    "period": 'yyyy"年"m"月"',  # 2001年1月, as the finance office writes a month
    "date": "yyyy-mm-dd",
    "year": "0",
}
WIDTHS = {"text": 14, "period": 11, "date": 12, "year": 8}
# 指标定义: the long text columns wrap at these widths instead of running off the page
DEFINITION_WIDTHS = {"A": 30, "B": 20, "C": 30, "D": 8, "E": 10, "F": 14, "G": 60, "H": 16}
MARGINS = dict(left=0.5, right=0.5, top=0.6, bottom=0.7, header=0.3, footer=0.3)  # inches


def safe_text(value: str) -> str:
    """Text that no spreadsheet program will evaluate as a formula."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    return "'" + value if value.startswith(FORMULA_TRIGGERS) else value


def _cell_value(value):
    if value is None or isinstance(value, (bool, int, Decimal, date, datetime)):
        return value
    if isinstance(value, float):
        raise TypeError("report values are exact (Decimal), never float")
    return safe_text(str(value))


def _sheet_name(title: str, used: set[str]) -> str:
    name = "".join(ch for ch in title if ch not in "[]:*?/\\")[:31] or "sheet"
    base, n = name, 2
    while name in used:
        name = f"{base[:28]}_{n}"
        n += 1
    used.add(name)
    return name


def _header(ws, labels, font, fill) -> None:
    ws.append([safe_text(label) for label in labels])
    for cell in ws[1]:
        cell.font, cell.fill = font, fill
    ws.freeze_panes = "A2"


def _print_setup(ws, report: Report, *, one_page: bool = False) -> None:
    """Landscape, one page wide, the header row on every page, a footer with the period and page x of y."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 1 if one_page else 0  # 0: as many pages down as the rows need
    if not one_page:
        ws.print_title_rows = "1:1"
    for side, inches in MARGINS.items():
        setattr(ws.page_margins, side, inches)
    ws.oddFooter.left.text = safe_text(report.title)
    ws.oddFooter.center.text = "第 &P 页，共 &N 页"
    ws.oddFooter.right.text = safe_text(f"报告期：{report.period_label}")
    ws.evenFooter.left.text, ws.evenFooter.center.text, ws.evenFooter.right.text = (
        ws.oddFooter.left.text, ws.oddFooter.center.text, ws.oddFooter.right.text)


def _table(ws, sheet: Sheet, font, fill) -> None:
    from openpyxl.utils import get_column_letter

    _header(ws, [c.label for c in sheet.columns], font, fill)
    labels = [c.label for c in sheet.columns]
    period_i = labels.index("月份") if "月份" in labels else None
    for row in sheet.rows:
        ws.append([_cell_value(v) for v in row])
        if period_i is not None and row[period_i] == ANNUAL_LABEL:  # the year's row stands out
            for cell in ws[ws.max_row]:
                cell.font = font
    for j, col in enumerate(sheet.columns, start=1):
        fmt = NUMBER_FORMATS.get(col.kind)
        if fmt:
            for (cell,) in ws.iter_rows(min_row=2, min_col=j, max_col=j):
                if not isinstance(cell.value, str):  # the annual row's 全年 label stays text
                    cell.number_format = fmt
        width = max(WIDTHS.get(col.kind, 14), min(40, 2 * len(col.label) + 2))
        ws.column_dimensions[get_column_letter(j)].width = width


def _text_width(text: str) -> int:
    """Width in character cells: a CJK character takes two."""
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def _fit_row_heights(ws, widths: dict[str, float], line_height: float = 15.0) -> None:
    """Set each row tall enough for its wrapped text: spreadsheet programs do not grow a row
    written without a height, so wrapped text would overlap the next row when printed."""
    from math import ceil

    for row in ws.iter_rows(min_row=2):
        lines = max((ceil(_text_width(str(c.value)) / max(widths.get(c.column_letter, 10) - 1, 1))
                     for c in row if c.value is not None), default=1)
        ws.row_dimensions[row[0].row].height = line_height * max(lines, 1)


def _headline_sheet(ws, report: Report, bold, fill) -> None:
    """Page 1: the period's savings, satisfaction against its target, targets missed, each with 同比."""
    from openpyxl.styles import Alignment, Font

    ws.append([f"{report.title}：要点"])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append(["报告期", report.period_label])
    ws.append([])
    ws.append(["指标", "本期", "同比增减", "方向", "说明"])
    for cell in ws[ws.max_row]:
        cell.font, cell.fill = bold, fill
    for item in report.headline:
        ws.append([item.label, _cell_value(item.value), _cell_value(item.change), item.direction, safe_text(item.note)])
        fmt = NUMBER_FORMATS[item.kind]
        for cell in ws[ws.max_row][1:3]:
            cell.number_format = fmt
        ws[ws.max_row][4].alignment = Alignment(wrap_text=True, vertical="top")
    for col, width in zip("ABCDE", (24, 18, 16, 10, 60)):
        ws.column_dimensions[col].width = width


def write(report: Report, path: Path | str) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDEBF7")
    wb = Workbook()
    used: set[str] = set()

    head = wb.active
    head.title = _sheet_name("要点", used)
    _headline_sheet(head, report, bold, fill)
    _print_setup(head, report, one_page=True)

    cover = wb.create_sheet(_sheet_name("说明", used))
    cover.append([report.title])
    cover["A1"].font = Font(bold=True, size=14)
    cover.append(["报告期", report.period_label])
    cover.append(["生成时间", report.generated_at.strftime("%Y-%m-%d %H:%M:%S") + "（北京时间）"])
    cover.append(["金额单位", "元（保留两位小数）；比率以百分数显示；同比为与上年同期相比，环比为与上月相比"])
    cover.append(["数据来源", "数据仓库 mart 层报表视图（mart.report_*）与指标定义（mart.kpi_definition）"])
    cover.append([])
    cover.append(["工作表", "来源视图", "行数"])
    for cell in cover[cover.max_row]:
        cell.font, cell.fill = bold, fill
    cover.append(["要点", "mart.kpi_value、mart.target", len(report.headline)])
    for sheet in [*report.sheets, report.definitions]:
        cover.append([sheet.title_zh, sheet.source, len(sheet.rows)])
    cover.column_dimensions["A"].width = 20
    cover.column_dimensions["B"].width = 80
    cover.column_dimensions["C"].width = 8
    for (cell,) in cover.iter_rows(min_col=2, max_col=2, max_row=5):
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    _print_setup(cover, report, one_page=True)

    for sheet in [*report.sheets, report.definitions]:
        ws = wb.create_sheet(_sheet_name(sheet.title_zh, used))
        _table(ws, sheet, bold, fill)
        _print_setup(ws, report)
    for col, width in DEFINITION_WIDTHS.items():  # the definitions' long texts wrap, never clip
        ws.column_dimensions[col].width = width
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    _fit_row_heights(ws, DEFINITION_WIDTHS)
    wb.properties.title = report.title
    wb.properties.creator = "campus-logistics"
    wb.save(path)
