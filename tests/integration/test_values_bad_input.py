"""Values that must not crash a feed: one bad value quarantines its row (or fails its file) under a
named rule, the file reconciles, and the run's other rows and files load.

* non-ASCII digits (full-width ``３７７０２.５``, circled ``①``): Python's ``\\d`` and ``str.isdigit()``
  accept them, the parsers behind them do not — the field's parse rule quarantines the row;
* a JSON array nested 100,000 deep: the file fails (``json_valid``), never a RecursionError;
* implausible dates (1950, 1700): quarantined (``time_within_late_window``, ``times_within_ticket_age``,
  ``submitted_at_near_wave``), so no partition or KPI is created for them;
* implausible amounts (9,999,999,999.99 yuan a purchase, 900,000,000,000.00 a ledger line):
  quarantined (``amount_plausible``, ``cost_plausible``, ``reading_plausible``); with the bounds
  raised, what loads still sums without overflow (V013) and the reports are written.

Expected values are worked out by hand in the comments.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest

from campus_logistics.pipeline import run_feed
from tests.fixtures import purchase, write_canteen
from tests.fixtures_meters import write_meter_ref, write_meters
from tests.fixtures_monthly import (load, person, reconciliation, rejected, write_ledger, write_monthly_ref,
                                    write_staff)
from tests.fixtures_tickets import SURVEY_HEAD, at, t, ticket, write_sla, write_survey, write_work_orders

D = date.fromisoformat


def _rules(sql, feed: str, file: str) -> dict[int, str]:
    return {n: rule for n, rule in sql("SELECT row_number, rule FROM quality.rejected_rows WHERE feed = %s AND file = %s",
                                       (feed, file))}


def _partitions(sql, table: str) -> set[str]:
    return {r[0] for r in sql("""SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                                 JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s""", (table,))}


# --- canteen ----------------------------------------------------------------------------------------

def test_canteen_implausible_dates_amounts_and_full_width_times_are_quarantined(landing, sql):
    day = "2001-03-05"
    write_canteen(landing, day, [
        purchase("G1", "6217000011110001", f"{day} 08:00:00", amount="8.00"),                  # line 2: loads
        purchase("L1", "6217000011110002", "2001-02-20 12:00:00", amount="9.00"),              # 3: late, 13 days: loads
        purchase("Y1", "6217000011110003", "1950-03-05 12:00:00", amount="7.00"),              # 4: 1950
        purchase("Y2", "6217000011110004", "1700-01-01 12:00:00", amount="7.00"),              # 5: 1700
        purchase("W1", "6217000011110005", "2001-01-31 12:00:00", amount="7.00"),              # 6: 33 days back
        purchase("F1", "6217000011110006", "２００１-03-05 12:00:00", amount="7.00"),           # 7: full-width year
        purchase("A1", "6217000011110007", f"{day} 12:00:00", amount="9999999999.99"),         # 8: implausible
        purchase("A2", "6217000011110008", f"{day} 12:00:00", amount="10000.00"),              # 9: at the bound: loads
        purchase("A3", "6217000011110009", f"{day} 12:00:00", amount="10000.01"),              # 10: just above
    ])
    load("canteen", landing, day, day)
    file = "canteen_20010305.csv"
    assert _rules(sql, "canteen", file) == {
        4: "time_within_late_window", 5: "time_within_late_window", 6: "time_within_late_window",
        7: "time_parseable", 8: "amount_plausible", 10: "amount_plausible",
    }
    assert reconciliation(sql, "canteen")[file] == (9, 3, 6, 0)
    assert sorted(r[0] for r in sql("SELECT txn_id FROM core.canteen_txn")) == ["A2", "G1", "L1"]
    # the late transaction lands on its own day; nothing reached 1950 or 1700
    assert {"canteen_txn_200102", "canteen_txn_200103"} <= _partitions(sql, "canteen_txn")
    assert not [p for p in _partitions(sql, "canteen_txn") if p < "canteen_txn_2000"]
    assert sql("SELECT count(*) FROM mart.kpi_value WHERE period_start < '2001-01-01'") == [(0,)]
    assert sql("SELECT min(day)::text FROM mart.canteen_daily") == [("2001-02-20",)]


def test_canteen_late_window_is_configurable(landing, sql, monkeypatch):
    monkeypatch.setenv("CAMPUS_LOGISTICS_LATE_WINDOW_DAYS", "3")
    day = "2001-03-05"
    write_canteen(landing, day, [purchase("G1", "6217000011110001", f"{day} 08:00:00"),
                                 purchase("L3", "6217000011110002", "2001-03-02 08:00:00"),   # 3 days: loads
                                 purchase("L4", "6217000011110003", "2001-03-01 08:00:00")])  # 4 days: quarantined
    load("canteen", landing, day, day)
    assert _rules(sql, "canteen", "canteen_20010305.csv") == {4: "time_within_late_window"}


def test_canteen_sums_beyond_the_old_mart_columns_without_overflow(landing, sql, monkeypatch):
    """150 purchases of 9,999,999,999.99 (accepted once the bound is raised) sum to
    1,499,999,999,998.50 yuan: beyond numeric(14, 2), which failed the KPI recompute."""
    monkeypatch.setenv("CAMPUS_LOGISTICS_MAX_CANTEEN_AMOUNT_YUAN", "99999999999.99")
    day = "2001-03-05"
    write_canteen(landing, day, [purchase(f"B{i:03d}", f"62170000{i:08d}", f"{day} 12:00:00", amount="9999999999.99")
                                 for i in range(150)])
    load("canteen", landing, day, day)
    assert reconciliation(sql, "canteen")["canteen_20010305.csv"] == (150, 150, 0, 0)
    assert sql("SELECT revenue_yuan::text FROM mart.canteen_daily WHERE day = %s AND unit_code = 'campus'",
               (D(day),)) == [("1499999999998.50",)]
    assert sql("""SELECT value::text FROM mart.kpi_value WHERE kpi_code = 'canteen_revenue_yuan' AND unit_code = 'campus'
                  AND grain = 'year'""") == [("1499999999998.50",)]


# --- meters -----------------------------------------------------------------------------------------

def test_meter_full_width_and_implausible_readings_are_quarantined(landing, sql):
    write_meter_ref(landing)
    day = "2001-03-01"
    write_meters(landing, day, [
        ("E1", f"{day}T06:00:00+08:00", "101", "ok"),                 # line 2: loads
        ("E1", f"{day}T12:00:00+08:00", "３７７０２.５", "ok"),         # 3: full-width digits
        ("E1", f"{day}T18:00:00+08:00", "106", "ok"),                 # 4: loads
        ("E3", f"{day}T06:00:00+08:00", "301", "ok"),                 # 5: loads
        ("E3", f"{day}T12:00:00+08:00", "99999999999999", "replaced"),  # 6: beyond any register
        ("W1", f"{day}T06:00:00+08:00", "２０.５", "ok"),               # 7: full-width digits
    ])
    result = run_feed("meters", landing, D(day), D(day), run_id="test-run", allow_missing=True)
    assert result.rejected == []
    file = "meters_20010301.csv"
    assert _rules(sql, "meters", file) == {3: "reading_parseable", 6: "reading_plausible", 7: "reading_parseable"}
    read, loaded, quarantined, dup = reconciliation(sql, "meters")[file]
    assert (read, loaded, quarantined, dup) == (6, 3, 3, 0)


# --- work orders ------------------------------------------------------------------------------------

GOOD_TICKET = ticket("WO1", "灯具", "apartments", t("03-05 08:00"), status="completed", arrived=t("03-05 08:30"),
                     completed=t("03-05 12:00"), rating=5)


def test_work_order_circled_rating_old_ticket_and_deep_json(landing, sql):
    write_sla(landing)
    write_work_orders(landing, "2001-03-05", [
        GOOD_TICKET,                                                                          # element 1
        {**GOOD_TICKET, "order_id": "WO2", "rating": "①"},                                    # 2: isdigit() but not int()
        {**GOOD_TICKET, "order_id": "WO3", "rating": "５"},                                    # 3: full-width 5
        ticket("WO4", "灯具", "apartments", "1950-03-05T08:00:00+08:00", status="completed",   # 4: a 1950 ticket
               completed="1950-03-05T12:00:00+08:00", updated=t("03-05 12:00")),
        ticket("WO5", "灯具", "apartments", "２００１-03-05T08:00:00+08:00",                     # 5: full-width year
               updated=t("03-05 09:00")),
        {**GOOD_TICKET, "order_id": "WO6", "rating": 10**400},                               # 6: float() overflows
    ])
    deep = ("[" * 100_000 + "]" * 100_000).encode()
    write_work_orders(landing, "2001-03-06", [], raw=b'[{"order_id": "WO9", "room": ' + deep + b"}]")
    result = run_feed("work_orders", landing, D("2001-03-05"), D("2001-03-06"), run_id="test-run")
    assert [(r["file"], r["rule"]) for r in result.rejected] == [("work_orders_20010306.json", "json_valid")]
    assert "nested" in result.rejected[0]["detail"]
    assert _rules(sql, "work_orders", "work_orders_20010305.json") == {
        2: "rating_integer", 3: "rating_integer", 4: "times_within_ticket_age", 5: "created_at_valid",
        6: "rating_in_range",
    }
    assert reconciliation(sql, "work_orders")["work_orders_20010305.json"] == (6, 1, 5, 0)
    assert sql("SELECT count(*) FROM mart.kpi_value WHERE period_start < '2001-01-01'") == [(0,)]
    (failed,) = sql("SELECT success, failed_rules FROM quality.validation_result WHERE file = 'work_orders_20010306.json'")
    assert failed[0] is False and "json_valid" in failed[1]


def test_work_order_nested_just_below_the_limit_loads_nothing_crashes(landing, sql):
    """An unknown field 30 levels deep is an ordinary quarantine (the record is stored as it came)."""
    write_sla(landing)
    nested = json.loads("[" * 30 + "]" * 30)
    write_work_orders(landing, "2001-03-05", [GOOD_TICKET, {**GOOD_TICKET, "order_id": "WO2", "extra": nested}])
    result = run_feed("work_orders", landing, D("2001-03-05"), D("2001-03-05"), run_id="test-run")
    assert result.rejected == []
    assert _rules(sql, "work_orders", "work_orders_20010305.json") == {2: "no_unknown_fields"}


# --- surveys ----------------------------------------------------------------------------------------

def test_survey_answer_submitted_far_from_its_wave_is_quarantined(landing, sql):
    wave = "2001-06-15"
    write_survey(landing, wave, SURVEY_HEAD + ["水电中心"], [
        [1, at("2001-06-14", "10:00"), "学生", "满意"],        # row 2: loads
        [2, at("1950-06-14", "10:00"), "学生", "满意"],        # 3: 1950
        [3, "2001-03-20 10:00", "教职工", "满意"],              # 4: 87 days before: loads
        [4, "２００１-06-14 10:00", "学生", "满意"],             # 5: full-width year
    ])
    result = run_feed("surveys", landing, D(wave), D(wave), run_id="test-run")
    assert result.rejected == []
    file = "survey_20010615.xlsx"
    assert _rules(sql, "surveys", file) == {3: "submitted_at_near_wave", 5: "submitted_at_valid"}
    read, loaded, quarantined, dup = reconciliation(sql, "surveys")[file]
    assert read == loaded + quarantined + dup and quarantined == 2


# --- staff and ledger -------------------------------------------------------------------------------

def test_staff_cost_and_ledger_amount_beyond_the_bounds_are_quarantined(landing, sql):
    write_monthly_ref(landing)
    m = "2001-01"
    write_staff(landing, m, [
        person(m, "S001", "catering", "cook", "social_hire", "centre", "3000.00"),         # line 2: loads
        person(m, "S002", "catering", "cook", "social_hire", "centre", "9999999999.99"),   # 3: implausible
        person(m, "S003", "catering", "cook", "social_hire", "centre", "1000000.00"),      # 4: at the bound
        person(m, "S004", "catering", "cook", "social_hire", "centre", "３０００.００"),     # 5: full-width
    ])
    write_ledger(landing, m, [
        (m, "catering", "revenue", "meal_sales", "50000.00", "centre", ""),                 # line 2: loads
        (m, "catering", "revenue", "meal_sales", "900000000000.00", "centre", ""),          # 3: implausible
        (m, "catering", "revenue", "meal_sales", "900000000000.00", "centre", ""),          # 4: implausible
        (m, "catering", "cost", "food", "1000000000.00", "centre", ""),                     # 5: at the bound
    ])
    assert load("staff", landing, "2001-01-01", "2001-01-31").rejected == []
    assert load("ledger", landing, "2001-01-01", "2001-01-31").rejected == []
    assert {(r[1], r[2]) for r in rejected(sql, "staff")} == {(3, "cost_plausible"), (5, "cost_parseable")}
    assert {(r[1], r[2]) for r in rejected(sql, "ledger")} == {(3, "amount_plausible"), (4, "amount_plausible")}
    assert reconciliation(sql, "staff")["staff_200101.csv"] == (4, 2, 2, 0)
    assert reconciliation(sql, "ledger")["ledger_200101.csv"] == (4, 2, 2, 0)


def test_ledger_lines_of_900_billion_sum_and_the_report_is_written(landing, sql, monkeypatch, tmp_path):
    """Two lines of 900,000,000,000.00 (accepted once the bound is raised): revenue 1,800,000,000,000.00,
    beyond the report views' old numeric(14, 2), which made the views and ``report`` fail."""
    from campus_logistics.reports import write_report

    monkeypatch.setenv("CAMPUS_LOGISTICS_MAX_LEDGER_AMOUNT_YUAN", "1000000000000")
    write_monthly_ref(landing)
    m = "2001-01"
    write_ledger(landing, m, [(m, "catering", "revenue", "meal_sales", "900000000000.00", "centre", ""),
                              (m, "catering", "revenue", "meal_sales", "900000000000.00", "centre", "")])
    assert load("ledger", landing, "2001-01-01", "2001-01-31").rejected == []
    rows = sql("""SELECT "中心收入（元）"::text FROM mart.report_monthly_centre_books
                  WHERE "月份" = '2001-01-01' AND "单位" = 'catering'""")
    assert rows == [("1800000000000.00",)]
    for month in (1, None):
        path = write_report(tmp_path / f"r{month}.xlsx", 2001, month)
        assert path.stat().st_size > 0
    path = write_report(tmp_path / "r.html", 2001, None)
    assert "1,800,000,000,000.00" in path.read_text()


def test_bounds_are_validated_settings(monkeypatch):
    from campus_logistics import limits

    assert limits.late_window_days() == 31 and limits.max_canteen_amount() == Decimal("10000.00")
    for bad in ("-1", "0", "３１", "x", "nan"):
        monkeypatch.setenv("CAMPUS_LOGISTICS_LATE_WINDOW_DAYS", bad)
        with pytest.raises(ValueError, match="CAMPUS_LOGISTICS_LATE_WINDOW_DAYS"):
            limits.late_window_days()
    for bad in ("-1", "０.５", "Infinity", "NaN", "1e"):
        monkeypatch.setenv("CAMPUS_LOGISTICS_MAX_LEDGER_AMOUNT_YUAN", bad)
        with pytest.raises(ValueError, match="CAMPUS_LOGISTICS_MAX_LEDGER_AMOUNT_YUAN"):
            limits.max_ledger_amount()


# --- the command line ---------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [["--year", "9999"], ["--year", "２００１"], ["--year", "0"],
                                  ["--year", "2001", "--month", "²"], ["--year", "2001", "--month", "１２"]],
                         ids=["year 9999", "full-width year", "year 0", "superscript month", "full-width month"])
def test_report_arguments_out_of_range_are_usage_errors(argv, tmp_path, capsys):
    from campus_logistics.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["report", *argv, "--out", str(tmp_path / "r.xlsx")])
    assert exc.value.code == 2
    assert "expected a" in capsys.readouterr().err


@pytest.mark.parametrize("year,month", [(9998, None), (9998, 12), (1, None), (1, 1)],
                         ids=["last annual", "last december", "first annual", "first january"])
def test_report_for_the_first_and_last_years_is_written(warehouse, tmp_path, year, month):
    from campus_logistics.cli import main

    argv = ["report", "--year", str(year), "--warehouse", warehouse, "--out", str(tmp_path / "r.html")]
    assert main(argv + (["--month", str(month)] if month else [])) == 0
    assert (tmp_path / "r.html").stat().st_size > 0


def test_rates_of_any_stored_size_are_formatted():
    from campus_logistics.reports.charts import bar_chart, fmt_rate

    huge = Decimal("-" + "9" * 27 + ".123456")  # mart.kpi_value.value is an unconstrained numeric
    assert fmt_rate(huge).endswith("%")
    assert "<svg" in bar_chart("t", [("a", huge), ("b", Decimal("0.5"))])
