"""Readers of the non-CSV landed formats, each a ``staged.Reader``: gated, streamed as pandas
batches carrying ``_row`` (where the row is in the file), ``rows_read`` and ``checksum`` set as
they go. Nothing here knows a feed: what a header must name is the caller's ``header`` function.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from typing import Callable, Iterator
from xml.etree.ElementTree import ParseError

import numpy as np
import pandas as pd

from ..errors import FileRejected, shown
from ..loading import content_checksum
from ..validation import ROW

# what a corrupt or cut-off workbook raises while its sheets are read
UNREADABLE = (zipfile.BadZipFile, zlib.error, EOFError, ParseError)


def blank(v) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def col_letter(i: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(i + 1)


class XlsxReader:
    """The one data sheet of an ``.xlsx`` workbook, streamed (openpyxl read-only) in batches of
    ``batch`` rows.

    Gate (the file fails as a whole): a regular file inside landing, not 0 bytes (``not_empty``), a
    readable workbook (``xlsx_readable``, also when a sheet turns out corrupt while read), at most one
    sheet holding data (``one_sheet``), a header row (the first non-blank row) that ``header`` accepts,
    no value in a column without a header (``header``), and at least one data row (``not_empty``).

    ``header(reader, row_no, names)`` gets the header's stripped texts ('' for a blank cell) and
    returns {frame column: sheet column index}, or raises (``reader.reject``); ``row_noun`` names a
    data row in the rejection of a sheet without one. Each batch has
    ``_row`` (the sheet row number) and those columns, holding the cells' values as openpyxl gives
    them. Blank rows are not rows.
    """

    def __init__(self, feed: str, lf, header: Callable[["XlsxReader", int, list[str]], dict[str, int]],
                 batch: int = 20_000, row_noun: str = "data row"):
        self.feed, self.lf, self.header, self.batch, self.row_noun = feed, lf, header, batch, row_noun
        self.rows_read = 0
        self.malformed: list[tuple[int, str]] = []  # a sheet has no row with the wrong number of fields
        self.checksum = ""
        self.title = ""

    def reject(self, rule: str, detail: str, **counts) -> FileRejected:
        return FileRejected(self.feed, self.lf.name, rule, detail, **counts)

    def cell(self, col: int, row: int) -> str:
        return f"sheet {shown(self.title)}, cell {col_letter(col)}{row}"

    def gate_rows(self) -> list[tuple[int, str, str]]:
        return []

    def batches(self) -> Iterator[pd.DataFrame]:
        wb = None
        try:
            wb, ws = self._open()
            yield from self._frames(ws)
        except UNREADABLE as exc:
            raise self._unreadable(exc) from None
        finally:
            if wb is not None:
                wb.close()

    def _unreadable(self, exc: Exception) -> FileRejected:
        return self.reject("xlsx_readable", f"the workbook cannot be read ({type(exc).__name__}: {exc}); "
                                            "a cut-off or corrupt export?", rows_read=self.rows_read)

    def _open(self):
        from openpyxl import load_workbook
        from openpyxl.utils.exceptions import InvalidFileException

        with self.lf.open() as f:
            raw = f.read()  # a workbook is read at random offsets: hash the bytes it is parsed from
        self.checksum = content_checksum(raw)
        if not raw:
            raise self.reject("not_empty", "the file is empty (0 bytes)", rows_read=0)
        try:
            wb = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
        except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError, EOFError) as exc:
            raise self.reject("xlsx_readable", f"not a readable .xlsx workbook ({type(exc).__name__}: {exc}); "
                                               "a cut-off or corrupt export?") from None
        try:
            sheets = wb.worksheets
            if not sheets:
                raise self.reject("not_empty", "the workbook has no sheet", rows_read=0)
            for ws in sheets:
                ws.reset_dimensions()  # do not trust the dimension the exporter wrote
            used = [ws for ws in sheets if any(any(not blank(v) for v in row) for row in ws.iter_rows(values_only=True))]
            if len(used) > 1:
                raise self.reject("one_sheet", "more than one sheet holds data: "
                                  + ", ".join(shown(ws.title) for ws in used) + " (the export has exactly one)")
        except BaseException:
            wb.close()
            raise
        ws = used[0] if used else sheets[0]
        self.title = ws.title
        return wb, ws

    def _frames(self, ws) -> Iterator[pd.DataFrame]:
        rows_iter = enumerate(ws.iter_rows(values_only=True), start=1)
        for row_no, cells in rows_iter:
            if any(not blank(v) for v in cells):
                names = ["" if blank(v) else str(v).strip() for v in cells]
                columns = self.header(self, row_no, names)
                break
        else:
            raise self.reject("not_empty", f"sheet {shown(self.title)} has no header row and no data", rows_read=0)
        width = len(names)
        unnamed = [i for i, n in enumerate(names) if not n]
        batch: list[tuple] = []
        lines: list[int] = []
        for row_no, cells in rows_iter:
            if all(blank(v) for v in cells):
                continue
            if len(cells) < width:
                cells = tuple(cells) + (None,) * (width - len(cells))
            for i in [*unnamed, *range(width, len(cells))]:
                if not blank(cells[i]):
                    raise self.reject("header", f"{self.cell(i, row_no)} holds a value (not shown) but its column "
                                                "has no header", rows_read=self.rows_read)
            batch.append(cells)
            lines.append(row_no)
            self.rows_read += 1
            if len(batch) >= self.batch:
                yield self._frame(batch, lines, columns)
                batch, lines = [], []
        if batch:
            yield self._frame(batch, lines, columns)
        if self.rows_read == 0:
            raise self.reject("not_empty", f"sheet {shown(self.title)} has a header but no {self.row_noun}", rows_read=0)

    @staticmethod
    def _frame(batch: list[tuple], lines: list[int], columns: dict[str, int]) -> pd.DataFrame:
        df = pd.DataFrame({ROW: np.asarray(lines, dtype="int64")})
        for name, i in columns.items():
            df[name] = pd.Series([cells[i] for cells in batch], dtype="object")
        return df
