"""Builders for small hand-made work-order (JSON) and survey (xlsx) landing files."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Iterable, Sequence

from tests.fixtures import write_csv

# category -> (respond_within_min, complete_within_h): several different standards
SLA = [
    ("电路", 30, 4),
    ("给排水", 30, 4),
    ("灯具", 60, 24),
    ("门窗", 120, 48),
    ("家具", 120, 48),
    ("保洁", 60, 8),
    ("其他", 240, "72"),
]
FIELDS = ["order_id", "category", "unit_code", "building_code", "room", "created_at", "dispatched_at",
          "arrived_at", "completed_at", "status", "rating", "reopened", "updated_at"]


def write_sla(root: Path, rows: Sequence[Sequence] = SLA) -> None:
    write_csv(root / "ref" / "sla.csv", ["category", "respond_within_min", "complete_within_h"], rows)


def t(s: str) -> str:
    """'01-30 09:00' → '2001-01-30T09:00:00+08:00' (local time with offset)."""
    md, hm = s.split()
    return f"2001-{md}T{hm}:00+08:00"


def ticket(order_id: str, category: str, unit: str, created: str, *, status: str = "open",
           dispatched: str | None = None, arrived: str | None = None, completed: str | None = None,
           rating=None, reopened: bool = False, updated: str | None = None, building: str | None = "D01",
           room: str | None = "101", **extra) -> dict:
    rec = {"order_id": order_id, "category": category, "unit_code": unit, "building_code": building,
           "room": room, "created_at": created, "dispatched_at": dispatched, "arrived_at": arrived,
           "completed_at": completed, "status": status, "rating": rating, "reopened": reopened,
           "updated_at": updated or completed or arrived or dispatched or created}
    rec.update(extra)
    return rec


def work_orders_path(root: Path, day: str) -> Path:
    return root / "work_orders" / f"work_orders_{day.replace('-', '')}.json"


def write_work_orders(root: Path, day: str, records: Iterable, *, bom: bool = False, raw: bytes | None = None) -> Path:
    path = work_orders_path(root, day)
    path.parent.mkdir(parents=True, exist_ok=True)
    if raw is None:
        lines = [json.dumps(r, ensure_ascii=False) for r in records]
        raw = ("[\n" + ",\n".join(lines) + "\n]\n" if lines else "[]\n").encode("utf-8")
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + raw)
    return path


# --- surveys --------------------------------------------------------------------------------------

SURVEY_HEAD = ["序号", "提交答卷时间", "身份"]


def survey_path(root: Path, day: str) -> Path:
    return root / "surveys" / f"survey_{day.replace('-', '')}.xlsx"


def write_survey(root: Path, day: str, header: Sequence, rows: Iterable[Sequence], *, title: str = "Sheet1",
                 extra_sheets: dict[str, list[list]] | None = None) -> Path:
    """One-sheet workbook (openpyxl): header row then one row per respondent; None = empty cell."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = title
    ws.append(list(header))
    for r in rows:
        ws.append(list(r))
        for c in ws[ws.max_row]:
            if isinstance(c.value, dt.datetime):
                c.number_format = "yyyy-mm-dd hh:mm:ss"
    for name, data in (extra_sheets or {}).items():
        extra = wb.create_sheet(name)
        for r in data:
            extra.append(r)
    path = survey_path(root, day)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def at(day: str, hm: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{hm}:00")
