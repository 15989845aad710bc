"""The report as an ``.xlsx`` workbook (openpyxl): a cover sheet, a sheet per topic, KPI definitions.

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

from .data import Report, Sheet

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")
NUMBER_FORMATS = {
    "money": "#,##0.00",
    "quantity": "#,##0.00",
    "count": "#,##0",
    "rate": "0.00%",
    "score": "0.00",
    "period": "yyyy-mm",
    "date": "yyyy-mm-dd",
    "year": "0",
}
WIDTHS = {"text": 14, "period": 10, "date": 12, "year": 8}


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


def _table(ws, sheet: Sheet, font, fill) -> None:
    from openpyxl.utils import get_column_letter

    _header(ws, [c.label for c in sheet.columns], font, fill)
    for row in sheet.rows:
        ws.append([_cell_value(v) for v in row])
    for j, col in enumerate(sheet.columns, start=1):
        fmt = NUMBER_FORMATS.get(col.kind)
        if fmt:
            for (cell,) in ws.iter_rows(min_row=2, min_col=j, max_col=j):
                if not isinstance(cell.value, str):  # the annual row's 全年 label stays text
                    cell.number_format = fmt
        width = max(WIDTHS.get(col.kind, 14), min(40, 2 * len(col.label) + 2))
        ws.column_dimensions[get_column_letter(j)].width = width


def write(report: Report, path: Path | str) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill

    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDEBF7")
    wb = Workbook()
    used: set[str] = set()

    cover = wb.active
    cover.title = _sheet_name("说明", used)
    cover.append([report.title])
    cover["A1"].font = Font(bold=True, size=14)
    cover.append(["报告期", report.period_label])
    cover.append(["生成时间", report.generated_at.strftime("%Y-%m-%d %H:%M:%S") + "（北京时间）"])
    cover.append(["金额单位", "元（保留两位小数）；比率以百分数显示；同比为与上年同期相比，环比为与上月相比"])
    cover.append(["数据来源", "数据仓库 mart 层报表视图（mart.report_*）与指标定义（mart.kpi_definition）"])
    cover.append([])
    cover.append(["工作表", "内容", "来源视图", "行数"])
    for cell in cover[cover.max_row]:
        cell.font, cell.fill = bold, fill
    for sheet in [*report.sheets, report.definitions]:
        cover.append([sheet.title_zh, sheet.title_en, sheet.source, len(sheet.rows)])
    cover.column_dimensions["A"].width = 20
    cover.column_dimensions["B"].width = 40
    cover.column_dimensions["C"].width = 60

    for sheet in [*report.sheets, report.definitions]:
        ws = wb.create_sheet(_sheet_name(sheet.title_zh, used))
        _table(ws, sheet, bold, fill)
    ws.column_dimensions["G"].width = 80  # the definitions' formulas
    wb.properties.title = report.title
    wb.properties.creator = "campus-logistics"
    wb.save(path)
