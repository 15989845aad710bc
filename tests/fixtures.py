"""Builders for small hand-made landing files (the tests' own fixtures, independent of the generator)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Iterable, Sequence

CANTEEN_HEADER = ["流水号", "卡号", "身份", "交易时间", "商户名称", "终端号", "交易金额", "交易类型", "原流水号"]

SUB_CENTRES = [
    ("office", "后勤管理处", "Logistics management office", "big_entity", "2000-07-01"),
    ("catering", "饮食服务中心", "Catering centre", "big_entity", "2000-07-01"),
    ("utilities", "水电中心", "Water and power centre", "big_entity", "2000-07-01"),
    ("apartments", "学生公寓管理中心", "Student apartments centre", "big_entity", "2000-07-01"),
    ("property", "物业中心", "Property centre", "big_entity", "2000-07-01"),
    ("supplies", "商品供应中心", "Supplies centre", "big_entity", "2000-07-01"),
]
OUTLETS = [
    ("第一食堂", "C1", "catering", "centre"),
    ("第二食堂", "C2", "catering", "centre"),
    ("清真小卖部", "K1", "supplies", "tenant"),
]


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence], *, encoding: str = "utf-8",
              bom: bool = False, newline_at_end: bool = True) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow(["" if v is None else v for v in r])
    text = buf.getvalue()
    if not newline_at_end:
        text = text.rstrip("\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode(encoding)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


def write_minimal_ref(root: Path, *, students: dict[str, int] | None = None) -> None:
    ref = root / "ref"
    write_csv(ref / "sub_centres.csv", ["unit_code", "name_zh", "name_en", "reform_stage", "stage_since"], SUB_CENTRES)
    write_csv(ref / "outlets.csv", ["outlet_name", "outlet_code", "unit_code", "operator"], OUTLETS)
    students = students or {f"2001-{m:02d}": 1000 for m in range(1, 13)}
    write_csv(ref / "enrolment.csv", ["month", "students"], sorted(students.items()))


def canteen_path(root: Path, day: str) -> Path:
    return root / "canteen" / f"canteen_{day.replace('-', '')}.csv"


def write_canteen(root: Path, day: str, rows: Iterable[Sequence], **kw) -> Path:
    """rows: (流水号, 卡号, 身份, 交易时间, 商户名称, 终端号, 交易金额, 交易类型, 原流水号); GB18030 by default."""
    kw.setdefault("encoding", "gb18030")
    return write_csv(canteen_path(root, day), CANTEEN_HEADER, rows, **kw)


def purchase(txn_id, card, when, outlet="第一食堂", amount="10.00", holder="学生", terminal="T01"):
    return (txn_id, card, holder, when, outlet, terminal, amount, "消费", "")


def reversal(txn_id, card, when, orig, amount, outlet="第一食堂", holder="学生", kind="冲正"):
    return (txn_id, card, holder, when, outlet, "T01", amount, kind, orig)
