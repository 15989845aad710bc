"""`python -m campus_logistics kpis`: periods labelled as the finance office writes them (2001年,
2001年3月), rates as percentages, every column aligned in display cells whatever the script (CJK
is two cells wide), and notes on stderr, never inside the table. Real PostgreSQL; the figures are
worked out by hand from the fixture below."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date

from rich.cells import cell_len

from tests.fixtures import purchase, reversal, write_canteen, write_minimal_ref

# By hand, campus, March 2001 (8 students enrolled):
# 5 March: A1 5.00 (student 10001), A2 8.50 (student 10002, reversed on the 6th), A3 12.00 (staff 20001)
#   revenue 5.00 + 12.00 = 17.00; transactions 2; diners {10001, 20001} = 2; students {10001}: 1/8
# 6 March: B2 6.00 (student 10001): revenue 6.00, transactions 1, diners 1, students 1/8
# month and year: revenue 23.00, transactions 3, average ticket 23.00 / 3 = 7.67,
#   diners mean(2, 1) = 1.50, capture rate mean(1/8, 1/8) = 0.125 → 12.5%
EXPECTED = [
    ("canteen_avg_ticket_yuan", "客单价", "7.67", "元"),
    ("canteen_capture_rate", "学生在校就餐率", "12.5%", "%"),
    ("canteen_diners", "就餐人数", "1.50", "人"),
    ("canteen_revenue_yuan", "营业额", "23.00", "元"),
    ("canteen_transactions", "消费笔数", "3", "笔"),
]


def _load(landing, warehouse) -> None:
    from campus_logistics.kpis.compute import recompute
    from campus_logistics.pipeline import run_feed

    write_minimal_ref(landing, students={"2001-03": 8})
    write_canteen(landing, "2001-03-05", [
        purchase("A1", "10001", "2001-03-05 07:30:00", amount="5.00"),
        purchase("A2", "10002", "2001-03-05 12:00:00", outlet="第二食堂", amount="8.50"),
        purchase("A3", "20001", "2001-03-05 18:00:00", amount="12.00", holder="教职工"),
    ])
    write_canteen(landing, "2001-03-06", [
        reversal("B1", "10002", "2001-03-06 08:00:00", orig="A2", amount="-8.50", outlet="第二食堂"),
        purchase("B2", "10001", "2001-03-06 12:10:00", amount="6.00"),
    ])
    result = run_feed("canteen", landing, date(2001, 3, 5), date(2001, 3, 6), url=warehouse)
    assert not result.rejected
    recompute(result.affected_days, feeds=["canteen"], url=warehouse)


def _kpis(warehouse, *args):
    return subprocess.run([sys.executable, "-m", "campus_logistics", "kpis", "--warehouse", warehouse, *args],
                          capture_output=True, text=True, timeout=300, env=dict(os.environ, COLUMNS="40"))


def _cells(line: str, texts) -> list[tuple[int, int]]:
    """(first, last + 1) display column of each text in the line, searched left to right."""
    spans, pos = [], 0
    for text in texts:
        i = line.index(text, pos)
        start = cell_len(line[:i])
        spans.append((start, start + cell_len(text)))
        pos = i + len(text)
    return spans


def _table(stdout: str, period: str) -> tuple[list[str], list[list[tuple[int, int]]]]:
    lines = stdout.splitlines()
    rows = [line for line in lines if line.startswith("canteen_")]
    assert len(rows) == len(EXPECTED), stdout
    spans = []
    for line, (code, name, value, unit) in zip(rows, EXPECTED):
        assert line.split() == [code, name, period, value, unit], line
        spans.append(_cells(line, [code, name, period, value, unit]))
    header = next(line for line in lines if line.startswith("KPI"))
    spans.append(_cells(header, ["KPI", "名称", "期间", "数值 value", "单位"]))
    return lines, spans


def _assert_aligned(spans) -> None:
    for col in (0, 1, 2, 4):  # left-justified: every row's column starts at the same display column
        assert len({s[col][0] for s in spans}) == 1, (col, spans)
    assert len({s[3][1] for s in spans}) == 1, spans  # the values are right-justified: same last column


def test_year_and_month_tables(landing, warehouse):
    _load(landing, warehouse)
    out = _kpis(warehouse, "--year", "2001")
    assert out.returncode == 0, out.stderr
    lines, spans = _table(out.stdout, "2001年")
    _assert_aligned(spans)
    assert "2001-01-01" not in out.stdout and "0.125" not in out.stdout
    assert out.stderr == ""  # nothing to note; no warning inside or around the table

    out = _kpis(warehouse, "--year", "2001", "--grain", "month")
    assert out.returncode == 0, out.stderr
    _, spans = _table(out.stdout, "2001年3月")
    _assert_aligned(spans)


def test_no_kpis_is_a_note_on_stderr_not_a_table(warehouse):
    out = _kpis(warehouse, "--year", "1999")
    assert out.returncode == 0
    assert out.stdout == ""
    assert out.stderr.strip() == "no year KPIs for campus in 1999"


def test_period_labels():
    from campus_logistics.report import period_label

    assert period_label(date(2001, 1, 1), "year") == "2001年"
    assert period_label(date(2001, 1, 1), "month") == "2001年1月"
    assert period_label(date(2001, 12, 1), "month") == "2001年12月"
    assert period_label(date(2001, 3, 5), "day") == "2001年3月5日"
