"""A KPI run over a range rescans only the canteen days whose transactions (or enrolment) changed.

The files and outlets are those of test_canteen_kpis (its module docstring lists them): 03-30 and
03-31 first, then the April file, whose refund F02 (of P11, 03-31) and late purchase L02 (03-31)
change March 31st but not March 30th. A refreshed day's daily rows carry the refreshing run's id;
a day left as stored keeps the id of the run that last refreshed it.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from campus_logistics.kpis.compute import recompute
from campus_logistics.pipeline import run_feed
from tests.fixtures import write_canteen, write_minimal_ref
from tests.integration.test_canteen_kpis import A01, D30, D31, DAY1, DAY2, DAY3

RANGE = [date(2001, 3, 1) + timedelta(days=i) for i in range(61)]  # March and April, as a manual run


def _daily(sql) -> dict:
    return {(d, u): (run, rev, students) for d, u, run, rev, students in sql(
        "SELECT day, unit_code, run_id, revenue_yuan, students FROM mart.canteen_daily")}


def _marks(sql) -> set:
    return {d for (d,) in sql("SELECT DISTINCT day FROM core.canteen_day_change")}


def _load(landing, day, run_id):
    res = run_feed("canteen", landing, day, day, run_id=run_id)
    assert res.rejected == []


def _ref(landing, march_students: int):
    students = {f"2001-{m:02d}": 1000 for m in range(1, 13)}
    students["2001-03"] = march_students
    write_minimal_ref(landing, students=students)


def test_a_range_rescans_only_the_days_that_changed(landing, sql):
    _ref(landing, 800)
    write_canteen(landing, "2001-03-30", DAY1)
    write_canteen(landing, "2001-03-31", DAY2)
    write_canteen(landing, "2001-04-01", DAY3)
    _load(landing, D30, "load1")
    _load(landing, D31, "load2")
    assert _marks(sql) == {D30, D31}

    recompute(RANGE, feeds=["canteen"], run_id="k1")
    assert _marks(sql) == set()  # consumed by the refresh
    daily = _daily(sql)
    # campus 03-30: 65.50, 03-31 before the April file: P09 7 + P11 9 + P10 18 + P14 4 + P15 2 = 40.00
    assert daily[(D30, "campus")] == ("k1", Decimal("65.50"), 800)
    assert daily[(D31, "campus")] == ("k1", Decimal("40.00"), 800)

    recompute(RANGE, feeds=["canteen"], run_id="k2")  # nothing changed: nothing rescanned
    assert {run for run, _, _ in _daily(sql).values()} == {"k1"}

    _load(landing, A01, "load3")
    # April's own day; March 31st for L02 (late) and F02 (a refund of P11); not March 30th
    assert _marks(sql) == {D31, A01}
    recompute(RANGE, feeds=["canteen"], run_id="k3")
    daily = _daily(sql)
    assert daily[(D30, "campus")][0] == "k1"
    # 03-31: 40.00 − F02 2.00 + L02 6.00 = 44.00 (test_canteen_kpis' figure for the three files)
    assert daily[(D31, "campus")] == ("k3", Decimal("44.00"), 800)
    assert daily[(A01, "campus")][:2] == ("k3", Decimal("26.50"))  # P12 10 + P13 2.50 + P16 14
    # the KPIs of the range still read every day: 03-30's stored row included
    assert sql("""SELECT value FROM mart.kpi_value WHERE kpi_code = 'canteen_revenue_yuan' AND unit_code = 'campus'
                  AND grain = 'month' AND period_start = '2001-03-01'""") == [(Decimal("109.50"),)]  # 65.50 + 44.00

    # a corrected enrolment reaches the stored days of its month, and only those
    _ref(landing, 900)
    _load(landing, A01, "load4")  # (the run reloads ref/; reloading April's file marks 03-31 and 04-01 again)
    sql("DELETE FROM core.canteen_day_change")
    recompute(RANGE, feeds=["canteen"], run_id="k4")
    daily = _daily(sql)
    assert daily[(D30, "campus")][0::2] == ("k4", 900)
    assert daily[(A01, "campus")][0] == "k3"  # April's enrolment did not change


def test_a_reversal_loaded_before_its_original_marks_the_day_it_leaves(landing, sql):
    _ref(landing, 800)
    write_canteen(landing, "2001-03-30", DAY1)
    write_canteen(landing, "2001-03-31", DAY2)
    _load(landing, D31, "load1")  # R02 reverses P08 of 03-30, not loaded yet: an orphan on 03-31
    recompute(RANGE, feeds=["canteen"], run_id="k1")
    _load(landing, D30, "load2")  # P08 arrives: R02 moves from 03-31 to 03-30
    assert _marks(sql) == {D30, D31}
    sql("DELETE FROM core.canteen_txn_key WHERE source_file = 'canteen_20010330.csv'")
    assert _marks(sql) == {D30, D31}  # deleting a file's ids marks the same days
