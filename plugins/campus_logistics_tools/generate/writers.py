"""Format writers shared by the scenarios: one function per landing-zone file format.

Every writer produces the same bytes for the same input (no timestamps of "now", no dict-order
surprises), so a scenario written twice is byte-identical.

Formats (see the project's ``docs/seed-scenario.md``):

* canteen CSV: GB18030, CRLF line ends, Chinese header, no quoting needed (values never hold
  commas or quotes; pyarrow refuses to write one that does);
* meters CSV, ref CSVs, ledger CSV: UTF-8 without BOM, LF line ends, RFC 4180 quoting when needed;
* staff CSV: UTF-8 **with** BOM and CRLF line ends (the HR system exports through Excel);
* work orders: a UTF-8 JSON array, one ticket object per line, Chinese kept as is;
* surveys: ``.xlsx`` with one sheet, written by openpyxl and re-zipped with fixed timestamps.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import zipfile
from pathlib import Path
from typing import Iterable, Sequence

import pyarrow as pa
import pyarrow.csv as pacsv

from .common import CANTEEN_HEADER, METER_HEADER, WORK_ORDER_FIELDS


def _write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]], *,
              bom: bool = False, crlf: bool = False, encoding: str = "utf-8") -> int:
    """Small CSV files through the stdlib writer (RFC 4180 minimal quoting). Returns row count."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n" if crlf else "\n")
    w.writerow(header)
    n = 0
    for row in rows:
        w.writerow(["" if v is None else v for v in row])
        n += 1
    data = buf.getvalue().encode(encoding)
    _write_bytes(path, (b"\xef\xbb\xbf" if bom else b"") + data)
    return n


def arrow_csv_bytes(table: pa.Table, header: Sequence[str], *, crlf: bool = False,
                    encoding: str = "utf-8") -> bytes:
    """Fast path for big files: pyarrow writes the body (no quoting: a value that would need
    quotes raises), we add the header and transcode in one go."""
    buf = io.BytesIO()
    if table.num_rows:
        pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False, quoting_style="none",
                                                       batch_size=1 << 16))
    body = buf.getvalue()
    data = (",".join(header) + "\n").encode("utf-8") + body
    if encoding.lower().replace("-", "") not in ("utf8",):
        data = data.decode("utf-8").encode(encoding)
    if crlf:
        data = data.replace(b"\n", b"\r\n")
    return data


def write_canteen(path: Path, table: pa.Table) -> int:
    """``canteen/canteen_YYYYMMDD.csv``: GB18030, CRLF, header 流水号,卡号,…,原流水号."""
    assert table.column_names == CANTEEN_HEADER, table.column_names
    _write_bytes(path, arrow_csv_bytes(table, CANTEEN_HEADER, crlf=True, encoding="gb18030"))
    return table.num_rows


def write_meters(path: Path, table: pa.Table) -> int:
    """``meters/meters_YYYYMMDD.csv``: UTF-8, LF, ``meter_id,read_at,reading,status``."""
    assert table.column_names == METER_HEADER, table.column_names
    _write_bytes(path, arrow_csv_bytes(table, METER_HEADER))
    return table.num_rows


def write_work_orders(path: Path, records: list[dict]) -> int:
    """``work_orders/work_orders_YYYYMMDD.json``: a JSON array, one object per line."""
    lines = [json.dumps({k: r[k] for k in WORK_ORDER_FIELDS}, ensure_ascii=False, separators=(", ", ": "))
             for r in records]
    text = "[\n" + ",\n".join(lines) + "\n]\n" if lines else "[]\n"
    _write_bytes(path, text.encode("utf-8"))
    return len(records)


_FIXED_ZIP_TIME = (2001, 1, 1, 0, 0, 0)


def write_xlsx(path: Path, sheet_title: str, header: Sequence[str], rows: Iterable[Sequence[object]],
               stamp: dt.datetime) -> int:
    """One-sheet workbook. openpyxl stamps "now" into docProps/core.xml and the zip entries; we
    pin both to ``stamp`` so the bytes are reproducible."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    wb = Workbook(write_only=True)
    wb.properties.creator = "问卷平台导出"
    wb.properties.created = stamp
    ws = wb.create_sheet(sheet_title)
    ws.append(list(header))
    n = 0
    for row in rows:
        cells = []
        for v in row:
            if isinstance(v, dt.datetime):
                c = WriteOnlyCell(ws, value=v)
                c.number_format = "yyyy-mm-dd hh:mm:ss"
                cells.append(c)
            else:
                cells.append(v)
        ws.append(cells)
        n += 1
    raw = io.BytesIO()
    wb.save(raw)
    iso = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw.getvalue())) as zin, \
            zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)",
                              lambda m: m.group(1) + iso.encode() + m.group(2), data)
            zi = zipfile.ZipInfo(info.filename, date_time=_FIXED_ZIP_TIME)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o600 << 16
            zout.writestr(zi, data)
    _write_bytes(path, out.getvalue())
    return n


def write_staff(path: Path, rows: Iterable[Sequence[object]]) -> int:
    """``staff/staff_YYYYMM.csv``: UTF-8 with BOM, CRLF (an Excel export from the HR system)."""
    from .common import STAFF_HEADER

    return write_csv(path, STAFF_HEADER, rows, bom=True, crlf=True)


def write_ledger(path: Path, rows: Iterable[Sequence[object]]) -> int:
    """``ledger/ledger_YYYYMM.csv``: UTF-8, LF, memo in Chinese (quoted when it holds a comma)."""
    from .common import LEDGER_HEADER

    return write_csv(path, LEDGER_HEADER, rows)


def write_ref(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    """``ref/*.csv``: UTF-8, LF."""
    return write_csv(path, header, rows)


def write_json(path: Path, obj: object) -> None:
    _write_bytes(path, (json.dumps(obj, ensure_ascii=False, indent=1) + "\n").encode("utf-8"))
