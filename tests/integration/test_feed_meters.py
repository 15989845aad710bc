"""The meters feed and the utilities KPIs, on hand-made files (tests/fixtures_meters.py).

Every expected value is worked out by hand below from the readings table in fixtures_meters.py.
Bad input (decisions, see feeds/meters.py):

* FILE FAILS (nothing of it loaded; other files of the run still load): missing file
  (``file_present``), empty or header-only (``not_empty``), not UTF-8 (``encoding``), missing /
  renamed / extra column (``header``), cut-off last line (``truncated``).
* ROWS QUARANTINED (rows_read = loaded + quarantined + duplicates): unknown meter (``meter_known``),
  unparseable time (``read_at_parseable``), time outside the file's local day
  (``read_at_in_file_day``), unparseable or negative reading (``reading_parseable``), unknown
  status (``status_known``), conflicting duplicate (``duplicate_reading_conflict``, every
  version), register going backwards (``negative_delta``), hundredfold jump (``hundredfold_jump``),
  wrong number of fields (``malformed_row``).
* DUPLICATES: an identical repeat of (meter_id, read_at) is collapsed and counted.
"""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal

import psycopg
import pytest

from campus_logistics import pipeline
from campus_logistics.feeds.meters import MetersFeed
from campus_logistics.load import read as base
from campus_logistics.load import runner
from campus_logistics.kpis.compute import recompute
from campus_logistics.pipeline import run_feed
from tests.conftest import drop_database, new_database
from tests.fixtures_meters import METERS, READINGS, day_rows, meters_path, snapshot, write_meter_ref, write_meters, write_scenario

D1, D2, D3 = "2001-03-01", "2001-03-02", "2001-03-03"
F1, F2, F3 = "meters_20010301.csv", "meters_20010302.csv", "meters_20010303.csv"
MAR, Y2001 = date(2001, 3, 1), date(2001, 1, 1)
d = date.fromisoformat


def _load(landing, start, end, url=None, run_id="test"):
    """Run the feed, then recompute the days it changed (what the KPI DAG does)."""
    result = run_feed("meters", landing, d(start), d(end), run_id=run_id, url=url)
    if result.affected_days:
        recompute(days_by_feed={"meters": result.affected_days}, url=url, run_id=run_id)
    return result


def _kpis(sql, grain=None):
    q = "SELECT kpi_code, unit_code, grain, period_start, value, baseline FROM mart.kpi_value " \
        "WHERE kpi_code IN (SELECT kpi_code FROM mart.kpi_definition WHERE 'meters' = ANY(source_feeds))"
    return {(k, u, g, p): (v, b) for k, u, g, p, v, b in sql(q) if grain is None or g == grain}


def _reconciled(sql) -> dict:
    return {f: tuple(r) for f, *r in sql("SELECT file, rows_read, rows_loaded, rows_quarantined, rows_duplicate "
                                         "FROM quality.file_reconciliation WHERE feed = 'meters'")}


def _daily(sql):
    return {(m, str(day)): c for m, day, c in sql("SELECT meter_id, day, consumption FROM core.meter_daily")}


def _recon(sql, file):
    rows = sql("SELECT rows_read, rows_loaded, rows_quarantined, rows_duplicate FROM quality.file_reconciliation "
               "WHERE feed = 'meters' AND file = %s", (file,))
    assert len(rows) == 1, f"no reconciliation row for {file}"
    read, loaded, quarantined, dup = rows[0]
    assert read == loaded + quarantined + dup
    return rows[0]


def _rejected(sql, file):
    return sorted((n, rule) for n, rule in sql(
        "SELECT row_number, rule FROM quality.rejected_rows WHERE feed = 'meters' AND file = %s", (file,)))


# --- the hand-worked scenario -------------------------------------------------------------------

def _expected_full() -> dict:
    """Run 03-01 … 03-03 with 02-28's file present in the landing zone (read, not loaded).

    Daily consumption = (last register − previous day's last register) × multiplier:
      03-01: E1 (108−100)×10 = 80   E2 5010−5000 = 10   E3 310−300 = 10   W1 22−20 = 2 (estimated)
             W2 (8.5−7)×2 = 3
      03-02: E1 (118−108)×10 = 100  E2 replaced at 12:00: old meter (5012−5010) = 2 + new meter
             since its start (6−0) = 6 → 8   E3 320−310 = 10   W1 24−22 = 2   W2 (9.5−8.5)×2 = 2
      03-03: E1 (126−118)×10 = 80   E2 14−6 = 8   E3 330−320 = 10   W1 26−24 = 2   W2 no readings → unknown
    Tariffs: electricity 0.50 on 03-01, 0.60 from 03-02; water 2.00.
    """
    D = lambda s: Decimal(s)  # noqa: E731
    e = {}

    def put(code, unit, grain, period, value, baseline=None):
        e[(code, unit, grain, period)] = (D(value), None if baseline is None else D(baseline))

    for day, school_kwh, school_m3, cat_kwh, tenant_m3, cat_yuan, tenant_yuan, rate in [
        # school kWh = E1 + E2; catering kWh = E3; tenant m3 = W2; recovered = billed × that day's tariff
        (d(D1), "90", "2", "10", "3", "5.00", "6.00", "1"),      # 10×0.50 = 5.00; 3×2.00 = 6.00; 5/5 meters
        (d(D2), "108", "2", "10", "2", "6.00", "4.00", "1"),     # 100+8; 10×0.60 = 6.00; 2×2.00 = 4.00
        (d(D3), "88", "2", "10", None, "6.00", None, "0.8"),     # 80+8; W2 unknown; 4/5 meters reporting
    ]:
        put("electricity_kwh_school", "campus", "day", day, school_kwh)
        put("water_m3_school", "campus", "day", day, school_m3)
        put("electricity_kwh_billed", "catering", "day", day, cat_kwh)
        put("electricity_kwh_billed", "campus", "day", day, cat_kwh)
        put("utilities_recovered_yuan", "catering", "day", day, cat_yuan)
        if tenant_m3 is not None:
            put("water_m3_billed", "tenant", "day", day, tenant_m3)
            put("water_m3_billed", "campus", "day", day, tenant_m3)
            put("utilities_recovered_yuan", "tenant", "day", day, tenant_yuan)
        put("utilities_recovered_yuan", "campus", "day", day,
            str(D(cat_yuan) + (D(tenant_yuan) if tenant_yuan else 0)))  # 11.00, 10.00, 6.00
        put("meters_reporting_rate", "campus", "day", day, rate)
    for grain, period in (("month", MAR), ("year", Y2001)):
        # school: 90+108+88 = 286 kWh (baseline 1000), 2+2+2 = 6 m3 (baseline 50)
        put("electricity_kwh_school", "campus", grain, period, "286", "1000")
        put("water_m3_school", "campus", grain, period, "6", "50")
        put("electricity_kwh_billed", "catering", grain, period, "30")
        put("electricity_kwh_billed", "campus", grain, period, "30")
        put("water_m3_billed", "tenant", grain, period, "5")      # 3 + 2
        put("water_m3_billed", "campus", grain, period, "5")
        put("utilities_recovered_yuan", "catering", grain, period, "17.00")  # 5 + 6 + 6
        put("utilities_recovered_yuan", "tenant", grain, period, "10.00")    # 6 + 4
        put("utilities_recovered_yuan", "campus", grain, period, "27.00")
        # conservation: tariff of the month's first day (0.50, not 0.60):
        # (1000 − 286) × 0.50 + (50 − 6) × 2.00 = 357 + 88 = 445.00; baseline money 1000×0.50 + 50×2.00 = 600.00
        put("utilities_conservation_saved_yuan", "campus", grain, period, "445.00", "600.00")
        put("utilities_saved_total_yuan", "campus", grain, period, "472.00")  # 445 + 27
        # meter-days: 5 + 5 + 4 = 14 reporting of 5 meters × 3 loaded days = 14/15
        put("meters_reporting_rate", "campus", grain, period, "0.933333")
    return e


def test_utilities_kpis_by_hand(landing, sql):
    write_scenario(landing)
    result = _load(landing, D1, D3)
    assert result.rejected == []
    assert result.affected_days == [D1, D2, D3]
    assert _kpis(sql) == _expected_full()
    # the previous day's file was read for 03-01's previous readings, never loaded
    assert sql("SELECT count(*) FROM core.meter_reading WHERE day = '2001-02-28'") == [(0,)]
    assert sql("SELECT count(*) FROM quality.file_reconciliation WHERE file = 'meters_20010228.csv'") == [(0,)]
    assert sql("SELECT DISTINCT prev_source FROM core.meter_daily WHERE day = %s", (D1,)) == [("landing_file",)]
    assert sql("SELECT day, anchor_source FROM core.meter_file ORDER BY day") == [
        (d(D1), "landing_file"), (d(D2), "warehouse"), (d(D3), "warehouse")]
    daily = {(m, str(day)): (c, est, rep) for m, day, c, est, rep in sql(
        "SELECT meter_id, day, consumption, estimated, replaced FROM core.meter_daily")}
    assert daily[("E1", D1)] == (Decimal("80"), False, False)          # multiplier 10
    assert daily[("W1", D1)] == (Decimal("2"), True, False)            # estimated reading kept, flagged
    assert daily[("W1", D2)] == (Decimal("2"), False, False)
    assert daily[("E2", D2)] == (Decimal("8"), False, True)            # replacement
    assert daily[("W2", D2)] == (Decimal("2"), False, False)           # (9.5 − 8.5) × 2
    assert ("W2", D3) not in daily                                     # no reading: unknown, not 0
    assert sql("SELECT status, start_register, flags FROM core.meter_reading WHERE meter_id = 'E2' "
               "AND read_at = '2001-03-02 12:00+08'") == [("replaced", Decimal("0"), ["meter_replaced"])]
    assert sql("SELECT flags FROM core.meter_reading WHERE meter_id = 'W1' AND read_at = '2001-03-01 12:00+08'") \
        == [(["estimated"],)]
    for f in (F1, F2):
        assert _recon(sql, f) == (20, 20, 0, 0)
    assert _recon(sql, F3) == (16, 16, 0, 0)
    defs = {r[0]: r[1:] for r in sql("SELECT kpi_code, unit, grains FROM mart.kpi_definition")}
    assert defs["electricity_kwh_school"] == ("kWh", ["day", "month", "year"])
    assert defs["water_m3_billed"] == ("m3", ["day", "month", "year"])
    assert defs["utilities_conservation_saved_yuan"] == ("yuan", ["month", "year"])
    assert defs["meters_reporting_rate"] == ("rate", ["day", "month", "year"])


def test_first_day_previous_reading_from_the_warehouse(landing, sql):
    write_scenario(landing)
    _load(landing, "2001-02-28", "2001-02-28")   # 02-28 loaded first: 03-01 takes its readings from the warehouse
    _load(landing, D1, D3)
    assert sql("SELECT DISTINCT prev_source FROM core.meter_daily WHERE day = %s", (D1,)) == [("warehouse",)]
    expected = _expected_full()
    got = _kpis(sql)
    # 02-28 has KPIs of its own (no previous day for it: consumption unknown, rate 5/5 = 1)
    assert got.pop(("meters_reporting_rate", "campus", "day", d("2001-02-28"))) == (Decimal("1"), None)
    assert got.pop(("meters_reporting_rate", "campus", "month", d("2001-02-01"))) == (Decimal("1"), None)
    # the year now holds 4 loaded days: (5 + 14) / (5 × 4) = 19/20 = 0.95
    assert got.pop(("meters_reporting_rate", "campus", "year", Y2001)) == (Decimal("0.95"), None)
    expected.pop(("meters_reporting_rate", "campus", "year", Y2001))
    assert got == expected


def test_first_day_without_previous_reading_is_unknown_not_zero(landing, sql):
    write_meter_ref(landing)
    for day in (D1, D2, D3):            # no 02-28 file and 02-28 not loaded
        write_meters(landing, day)
    result = _load(landing, D1, D3)
    assert result.rejected == []
    # 5 meters × 4 readings a day (W2 silent on 03-03: 4 × 4), every one loaded
    assert _reconciled(sql) == {F1: (20, 20, 0, 0), F2: (20, 20, 0, 0), F3: (16, 16, 0, 0)}
    rows = sql("SELECT meter_id, readings, prev_register, consumption FROM core.meter_daily WHERE day = %s "
               "ORDER BY meter_id", (D1,))
    assert rows == [(m, 4, None, None) for m in ("E1", "E2", "E3", "W1", "W2")]
    got = _kpis(sql)
    # 03-01: no consumption KPI at all (unknown is absent, never 0) …
    assert {k for k in got if k[2] == "day" and k[3] == d(D1)} == {("meters_reporting_rate", "campus", "day", d(D1))}
    # … but every meter reported a usable reading: 5/5
    assert got[("meters_reporting_rate", "campus", "day", d(D1))] == (Decimal("1"), None)
    # the month holds 03-02 and 03-03 only: school kWh 108 + 88 = 196, m3 2 + 2 = 4
    assert got[("electricity_kwh_school", "campus", "month", MAR)] == (Decimal("196"), Decimal("1000"))
    assert got[("water_m3_school", "campus", "month", MAR)] == (Decimal("4"), Decimal("50"))
    assert got[("utilities_recovered_yuan", "campus", "month", MAR)] == (Decimal("16.00"), None)  # 6 + 4 + 6
    # (1000 − 196) × 0.50 + (50 − 4) × 2.00 = 402 + 92 = 494.00; total 494 + 16 = 510.00
    assert got[("utilities_conservation_saved_yuan", "campus", "month", MAR)] == (Decimal("494.00"), Decimal("600.00"))
    assert got[("utilities_saved_total_yuan", "campus", "month", MAR)] == (Decimal("510.00"), None)
    # reporting is about readings, not consumption: still (5 + 5 + 4) / 15
    assert got[("meters_reporting_rate", "campus", "month", MAR)] == (Decimal("0.933333"), None)


def test_conservation_is_negative_when_consumption_rose(landing, sql):
    write_scenario(landing)
    write_meter_ref(landing, baseline=[("electricity", 3, "200"), ("water", 3, "5")])
    _load(landing, D1, D3)
    # (200 − 286) × 0.50 + (5 − 6) × 2.00 = −43 − 2 = −45.00; baseline money 200×0.50 + 5×2.00 = 110.00
    got = _kpis(sql)
    assert got[("utilities_conservation_saved_yuan", "campus", "month", MAR)] == (Decimal("-45.00"), Decimal("110.00"))
    assert got[("utilities_saved_total_yuan", "campus", "month", MAR)] == (Decimal("-18.00"), None)  # −45 + 27


def test_replaced_meter_whose_register_was_not_reset_starts_at_its_first_reading(landing, sql):
    write_scenario(landing)
    rows = [r for r in day_rows(D2) if r[0] != "E2"] + [
        ("E2", f"{D2}T06:00:00+08:00", "5012", "ok"),
        ("E2", f"{D2}T12:00:00+08:00", "4000", "replaced"),
        ("E2", f"{D2}T18:00:00+08:00", "4003", "ok"),
        ("E2", f"{D2}T23:00:00+08:00", "4005.5", "ok"),
    ]
    write_meters(landing, D2, rows)
    _load(landing, D1, D2)
    # E2's normal increase per hour: median of the day medians 03-01 (2/7, 3/6, 3/6, 2/5 → 0.45) and
    # 03-02 (2/7, 3/6, 2.5/5 → 0.5) = 0.475; 6 h since the last reading → 100 × 0.475 × 6 = 285 ≤ 4000:
    # a new meter starting at 0 cannot show 4000 after 6 hours, so it started at its first reading.
    assert sql("SELECT start_register, flags FROM core.meter_reading WHERE meter_id = 'E2' AND status = 'replaced'") \
        == [(Decimal("4000"), ["meter_replaced", "new_meter_start_at_first_reading"])]
    # (5012 − 5010) + (4005.5 − 4000) = 7.5
    assert _daily(sql)[("E2", D2)] == Decimal("7.5")


# --- bad rows (one test per kind) ---------------------------------------------------------------

def _bad_run(landing, sql, extra_rows, *, rows=None):
    """03-01 and 03-02 with extra rows appended to 03-02's file; returns 03-02's rejected rows."""
    write_scenario(landing, days=("2001-02-28", D1))
    base = day_rows(D2) if rows is None else rows
    write_meters(landing, D2, base + extra_rows)
    result = run_feed("meters", landing, d(D1), d(D2), run_id="bad")
    assert result.rejected == []
    return _rejected(sql, F2)


def _consumption_unchanged(sql):
    daily = _daily(sql)
    assert daily[("E1", D2)] == Decimal("100") and daily[("E3", D2)] == Decimal("10")


def test_unknown_meter_is_quarantined(landing, sql):
    bad = _bad_run(landing, sql, [("E9", f"{D2}T10:00:00+08:00", "5", "ok"), ("", f"{D2}T10:00:00+08:00", "5", "ok")])
    assert bad == [(22, "meter_known"), (23, "meter_known")]
    assert _recon(sql, F2) == (22, 20, 2, 0)
    _consumption_unchanged(sql)


def test_unparseable_time_is_quarantined(landing, sql):
    bad = _bad_run(landing, sql, [("E1", f"{D2}T25:00:00+08:00", "113", "ok"), ("E1", "yesterday", "113", "ok"),
                                  ("E1", "", "113", "ok"), ("E1", D2, "113", "ok")])
    assert bad == [(22, "read_at_parseable"), (23, "read_at_parseable"), (24, "read_at_parseable"),
                   (25, "read_at_parseable")]
    assert _recon(sql, F2) == (24, 20, 4, 0)
    _consumption_unchanged(sql)


def test_time_outside_the_files_local_day_is_quarantined(landing, sql):
    bad = _bad_run(landing, sql, [
        ("E1", f"{D3}T00:00:00+08:00", "119", "ok"),       # next local day
        ("E1", "2001-03-01T23:30:00+08:00", "109", "ok"),  # previous local day
        ("E1", "2001-03-02T16:30:00Z", "119", "ok"),       # 00:30 on 03-03 in Shanghai
    ])
    assert bad == [(22, "read_at_in_file_day"), (23, "read_at_in_file_day"), (24, "read_at_in_file_day")]
    assert _recon(sql, F2) == (23, 20, 3, 0)
    _consumption_unchanged(sql)


def test_any_iso_offset_is_read_as_the_instant_it_names(landing, sql):
    bad = _bad_run(landing, sql, [
        ("E1", "2001-03-01T17:00:00Z", "108.5", "ok"),             # 01:00 local
        ("E1", "2001-03-02T02:00:00.250+0800", "108.7", "ok"),     # fractional seconds, offset without colon
        ("E1", "2001-03-02 07:30:00", "111", "ok"),                # no offset: local time
        ("E1", "2001-03-01T20:00:00-05:00", "111.5", "ok"),        # 09:00 local
    ])
    assert bad == []
    assert _recon(sql, F2) == (24, 24, 0, 0)
    times = [str(t) for (t,) in sql("SELECT to_char(read_at AT TIME ZONE 'Asia/Shanghai', 'HH24:MI:SS.MS') "
                                    "FROM core.meter_reading WHERE meter_id = 'E1' AND day = %s ORDER BY read_at", (D2,))]
    assert times == ["01:00:00.000", "02:00:00.250", "06:00:00.000", "07:30:00.000", "09:00:00.000",
                     "12:00:00.000", "18:00:00.000", "23:00:00.000"]
    _consumption_unchanged(sql)


def test_unparseable_or_negative_reading_is_quarantined(landing, sql):
    bad = _bad_run(landing, sql, [("E1", f"{D2}T13:00:00+08:00", "ERR", "ok"),
                                  ("E1", f"{D2}T14:00:00+08:00", "#N/A", "ok"),
                                  ("E1", f"{D2}T15:00:00+08:00", "", "ok"),
                                  ("E1", f"{D2}T16:00:00+08:00", "-113", "ok"),
                                  ("E1", f"{D2}T17:00:00+08:00", "1.1e2", "ok")])
    assert bad == [(n, "reading_parseable") for n in range(22, 27)]
    assert _recon(sql, F2) == (25, 20, 5, 0)
    _consumption_unchanged(sql)


def test_unknown_status_is_quarantined(landing, sql):
    bad = _bad_run(landing, sql, [("E1", f"{D2}T13:00:00+08:00", "113", "manual"),
                                  ("E1", f"{D2}T14:00:00+08:00", "113.5", ""),
                                  ("E1", f"{D2}T15:00:00+08:00", "114", "OK")])  # case-insensitive: accepted
    assert bad == [(22, "status_known"), (23, "status_known")]
    assert _recon(sql, F2) == (23, 21, 2, 0)
    _consumption_unchanged(sql)


def test_several_rules_broken_by_one_row_are_all_named(landing, sql):
    bad = _bad_run(landing, sql, [("E9", "never", "ERR", "broken")])
    assert bad == [(22, "meter_known, read_at_parseable, reading_parseable, status_known")]
    assert _recon(sql, F2) == (21, 20, 1, 0)


def test_identical_duplicate_is_collapsed(landing, sql):
    # E1 12:00 again, same register written differently (112.00 = 112) and the same instant in UTC
    bad = _bad_run(landing, sql, [("E1", f"{D2}T12:00:00+08:00", "112.00", "ok"),
                                  ("E1", f"{D2}T04:00:00Z", "112", "ok")])
    assert bad == []
    assert _recon(sql, F2) == (22, 20, 0, 2)
    assert sql("SELECT count(*) FROM core.meter_reading WHERE meter_id = 'E1' AND day = %s", (D2,)) == [(4,)]
    # lines 22 and 23 (appended after the 20 scenario rows) repeat E1 12:00, line 3: named for the audit trail
    assert sql("SELECT row_number, kept_row FROM quality.duplicate_row WHERE file = %s ORDER BY 1", (F2,)) == \
        [(22, 3), (23, 3)]
    _consumption_unchanged(sql)


def test_conflicting_duplicate_is_quarantined_in_every_version(landing, sql):
    bad = _bad_run(landing, sql, [("E1", f"{D2}T12:00:00+08:00", "113", "ok"),
                                  ("W1", f"{D2}T12:00:00+08:00", "23", "estimated")])
    # E1 12:00 (line 3 and 22) and W1 12:00 (line 15 and 23) — neither version is trusted
    assert bad == [(3, "duplicate_reading_conflict"), (15, "duplicate_reading_conflict"),
                   (22, "duplicate_reading_conflict"), (23, "duplicate_reading_conflict")]
    assert _recon(sql, F2) == (22, 18, 4, 0)
    # consumption from the remaining plausible readings: E1 (118 − 108) × 10 = 100, W1 24 − 22 = 2
    _consumption_unchanged(sql)
    assert _daily(sql)[("W1", D2)] == Decimal("2")


def test_register_going_backwards_is_quarantined_not_summed(landing, sql):
    bad = _bad_run(landing, sql, [("E1", f"{D2}T13:00:00+08:00", "100", "ok"),     # below 112 at 12:00
                                  ("W1", f"{D2}T00:30:00+08:00", "21.5", "ok")])  # below 22, 03-01's last
    assert bad == [(22, "negative_delta"), (23, "negative_delta")]
    assert _recon(sql, F2) == (22, 20, 2, 0)
    rec = sql("SELECT record FROM quality.rejected_rows WHERE file = %s AND row_number = 22", (F2,))[0][0]
    assert rec["reading"] == "100" and rec["previous_register"] == "112"
    # the next readings are judged against 112, not 100: (118 − 108) × 10 = 100; W1 24 − 22 = 2
    _consumption_unchanged(sql)
    assert _daily(sql)[("W1", D2)] == Decimal("2")


def test_hundredfold_jump_is_quarantined_not_summed(landing, sql):
    bad = _bad_run(landing, sql, [("E3", f"{D2}T14:00:00+08:00", "31500", "ok")])
    # E3's normal: median of the day medians 03-01 (1/7, 3/6, 4/6, 2/5 → 0.45) and 03-02's own
    # increases (2/7, 3/6, 31185/2, 2/5 → 0.45) = 0.45 per hour; 31500 − 315 = 31185 ≥ 100 × 0.45 × 2 h
    assert bad == [(22, "hundredfold_jump")]
    assert _recon(sql, F2) == (21, 20, 1, 0)
    # 18:00's 318 is judged against 315, not 31500: E3 still 320 − 310 = 10
    _consumption_unchanged(sql)


def test_daily_meter_hundredfold_jump_is_judged_against_earlier_days(landing, sql):
    write_scenario(landing)
    write_meter_ref(landing, meters=METERS + [("E4", "electricity", "LIGHT", "outdoor", "school", "1")])
    for day, reg in (("2001-02-28", "500"), (D1, "520"), (D2, "540"), (D3, "54000")):   # read once a day at 08:00
        write_meters(landing, day, day_rows(day) + [("E4", f"{day}T08:00:00+08:00", reg, "ok")])
    _load(landing, D1, D3)
    # E4's normal: day medians 03-01 (20 over 24 h = 0.8333/h) and 03-02 (0.8333/h); 03-03's single
    # increase does not count for itself. 54000 − 540 = 53460 ≥ 100 × 0.8333 × 24 h = 2000
    assert _rejected(sql, F3) == [(18, "hundredfold_jump")]
    assert _recon(sql, F3) == (17, 16, 1, 0)
    daily = _daily(sql)
    assert (daily[("E4", D1)], daily[("E4", D2)]) == (Decimal("20"), Decimal("20"))
    assert ("E4", D3) not in daily            # no plausible reading that day


def test_big_but_plausible_increase_is_kept(landing, sql):
    # a busy hour, not a hundredfold jump: E3 12:00 → 13:00 +18, with a normal of 0.425/h = median of
    # the day medians 03-01 (0.45) and 03-02 (2/7, 3/6, 18/1, 2/5, 2/5 → 0.4); 18 < 100 × 0.425 × 1 h
    rows = [r for r in day_rows(D2) if r[0] != "E3"] + [
        ("E3", f"{D2}T06:00:00+08:00", "312", "ok"), ("E3", f"{D2}T12:00:00+08:00", "315", "ok"),
        ("E3", f"{D2}T13:00:00+08:00", "333", "ok"), ("E3", f"{D2}T18:00:00+08:00", "335", "ok"),
        ("E3", f"{D2}T23:00:00+08:00", "337", "ok")]
    bad = _bad_run(landing, sql, [], rows=rows)
    assert bad == []
    assert _daily(sql)[("E3", D2)] == Decimal("27")  # 337 − 310


def test_malformed_row_is_quarantined(landing, sql):
    bad = _bad_run(landing, sql, [("E1", f"{D2}T13:00:00+08:00", "113"),
                                  ("E1", f"{D2}T14:00:00+08:00", "114", "ok", "extra")])
    assert bad == [(22, "malformed_row"), (23, "malformed_row")]
    assert _recon(sql, F2) == (22, 20, 2, 0)
    _consumption_unchanged(sql)


# --- files that fail as a whole -----------------------------------------------------------------

def _write_raw(landing, day, data: bytes):
    p = meters_path(landing, day)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)


def _good_text(day=D2) -> str:
    return "meter_id,read_at,reading,status\n" + "".join(f"{','.join(r)}\n" for r in day_rows(day))


UNUSABLE = [  # (day, what is wrong, file bytes, rule): each day's file fails in its own way
    ("2001-03-02", "empty", b"", "not_empty"),
    ("2001-03-03", "header only", b"meter_id,read_at,reading,status\n", "not_empty"),
    ("2001-03-04", "renamed column", _good_text().replace("reading,", "value,", 1).encode(), "header"),
    ("2001-03-05", "missing column", b"meter_id,read_at,reading\nE1,2001-03-05T06:00:00+08:00,110\n", "header"),
    ("2001-03-06", "extra column", _good_text().replace("status\n", "status,unit\n", 1).encode(), "header"),
    ("2001-03-07", "not UTF-8", "meter_id,read_at,reading,status\n电表1,2001-03-07T06:00:00+08:00,110,ok\n".encode("gbk"),
     "encoding"),
    ("2001-03-08", "cut-off last line", _good_text().replace(D2, "2001-03-08").encode()[:-9], "truncated"),
]


def test_unusable_files_fail_and_load_nothing(landing, sql):
    write_scenario(landing, days=("2001-02-28", D1))
    for day, _, data, _ in UNUSABLE:
        _write_raw(landing, day, data)
    result = run_feed("meters", landing, d(D1), d("2001-03-08"), run_id="bad-file")
    files = {day: meters_path(landing, day).name for day, *_ in UNUSABLE}
    assert [(r["file"], r["rule"]) for r in result.rejected] == [(files[day], rule) for day, _, _, rule in UNUSABLE]
    for (day, kind, _, rule), rejected in zip(UNUSABLE, result.rejected):
        assert "'meters'" in rejected["message"] and files[day] in rejected["message"], kind
        assert sql("SELECT count(*) FROM core.meter_reading WHERE day = %s", (day,)) == [(0,)], kind
        assert sql("SELECT count(*) FROM core.meter_file WHERE day = %s", (day,)) == [(0,)], kind
        assert sql("SELECT count(*) FROM quality.file_reconciliation WHERE file = %s", (files[day],)) == [(0,)], kind
        assert sql("SELECT success, failed_rules ? %s FROM quality.validation_result WHERE file = %s",
                   (rule, files[day])) == [(False, True)], kind
    assert _recon(sql, F1) == (20, 20, 0, 0)   # the good file of the same run is loaded
    assert result.affected_days == [D1]


def test_missing_file_fails_the_run(landing, sql):
    write_scenario(landing, days=("2001-02-28", D1, D3))
    result = run_feed("meters", landing, d(D1), d(D3), run_id="missing")
    assert [(r["file"], r["rule"]) for r in result.rejected] == [(F2, "file_present")]
    assert _reconciled(sql) == {F1: (20, 20, 0, 0), F3: (16, 16, 0, 0)}  # the missing day reconciles nothing
    # 03-03 has no previous day (neither loaded nor in the landing zone): unknown, not 0
    assert {c for (m, day), c in _daily(sql).items() if day == D3} == {None}


# --- idempotency, order, corrections ------------------------------------------------------------

@pytest.fixture
def second_warehouse(pg_admin_url, template_db):
    name, url = new_database(pg_admin_url, template_db)
    yield url
    drop_database(pg_admin_url, name)


def _sql_on(url):
    def run(query, params=None):
        with psycopg.connect(url, options="-c TimeZone=Asia/Shanghai") as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else []
    return run


def test_same_range_twice_and_overlapping_ranges_leave_identical_tables(landing, sql, warehouse, second_warehouse):
    write_scenario(landing)
    _load(landing, D1, D3, run_id="first")
    once = snapshot(sql)
    assert len(once["mart.kpi_value"]) == len(_expected_full())
    _load(landing, D1, D3, run_id="again")
    assert snapshot(sql) == once
    _load(landing, D1, D2, url=second_warehouse, run_id="a")
    _load(landing, D2, D3, url=second_warehouse, run_id="b")
    assert snapshot(_sql_on(second_warehouse)) == once


@pytest.fixture
def third_warehouse(pg_admin_url, template_db):
    name, url = new_database(pg_admin_url, template_db)
    yield url
    drop_database(pg_admin_url, name)


def _messy_scenario(landing):
    """Three days with bad rows of most kinds spread over them (for the windowing test)."""
    write_scenario(landing)
    write_meters(landing, D1, day_rows(D1) + [
        ("E9", f"{D1}T10:00:00+08:00", "5", "ok"),                     # meter_known
        ("E1", f"{D1}T12:00:00+08:00", "103.00", "ok"),                # identical duplicate: collapsed
        ("E1", f"{D1}T13:00:00.123456789+08:00", "104", "ok"),         # nanoseconds: kept to the µs
        ("E1", f"{D1}T14:00:00+08:00", "105"),                         # malformed_row
    ])
    write_meters(landing, D2, day_rows(D2) + [
        ("E1", f"{D2}T12:00:00+08:00", "113", "ok"),                   # duplicate_reading_conflict (112)
        ("W1", f"{D2}T00:30:00+08:00", "21.5", "ok"),                  # negative_delta (03-01 ends at 22)
        ("E3", f"{D2}T13:00:00+08:00", "316", "broken"),               # status_known
    ])
    write_meters(landing, D3, day_rows(D3) + [
        ("E3", f"{D3}T14:00:00+08:00", "32500", "ok"),                 # hundredfold_jump
        ("E2", "not a time", "9", "ok"),                               # read_at_parseable
        ("E2", f"{D2}T23:30:00+08:00", "7", "ok"),                     # read_at_in_file_day
        ("W1", f"{D3}T13:00:00+08:00", "2,5", "ok"),                   # reading_parseable
    ])


def _one_by_one(feed, files, env):
    """Each file through ``runner.load_file`` (the path re-judging a day takes), one transaction each."""
    with env.connect() as conn:
        ref = feed.reference(conn)
    outcomes = []
    for lf in files:
        with env.connect() as conn:
            ctx = runner.LoadContext(run_id=env.run_id, conn=conn, pseudonymise=env.pseudonymise, today=env.today)
            outcomes.append(runner.load_file(feed, lf, ref, ctx))
    return outcomes, []


def test_validation_windows_load_like_one_file_at_a_time(landing, sql, second_warehouse, third_warehouse,
                                                         monkeypatch):
    """Rows of several files validated in one window, a file streamed over several windows, and
    each file loaded on its own (the path re-judging a day takes) end in identical warehouses."""
    _messy_scenario(landing)
    _load(landing, D1, D3)                       # one window holds the three files
    together = snapshot(sql)
    assert sorted({r for (r,) in sql("SELECT DISTINCT unnest(string_to_array(rule, ', ')) "
                                     "FROM quality.rejected_rows")}) == sorted([
        "meter_known", "malformed_row", "duplicate_reading_conflict", "negative_delta", "status_known",
        "hundredfold_jump", "read_at_parseable", "read_at_in_file_day", "reading_parseable"])
    # read = loaded + quarantined + duplicates: 03-01 24 = 21 + 2 + 1; 03-02 23 = 19 + 4 (both versions of
    # E1 12:00, W1, E3); 03-03 20 = 16 + 4
    assert [_recon(sql, f) for f in (F1, F2, F3)] == [(24, 21, 2, 1), (23, 19, 4, 0), (20, 16, 4, 0)]
    assert sql("SELECT to_char(read_at AT TIME ZONE 'Asia/Shanghai', 'HH24:MI:SS.US') FROM core.meter_reading "
               "WHERE meter_id = 'E1' AND read_at::time <> date_trunc('hour', read_at)::time") == [("13:00:00.123456",)]

    with monkeypatch.context() as m:             # a window per batch, several batches per file
        m.setattr(MetersFeed, "window_rows", 1)
        m.setattr(base, "BLOCK_SIZE", 256)
        _load(landing, D1, D3, url=second_warehouse)
    assert snapshot(_sql_on(second_warehouse)) == together

    with monkeypatch.context() as m:             # the per-file path: runner.load_file in the file's transaction
        m.setattr(pipeline, "load_files", _one_by_one)
        _load(landing, D1, D3, url=third_warehouse)
    assert snapshot(_sql_on(third_warehouse)) == together


def test_out_of_order_loading_ends_like_in_order(landing, sql, second_warehouse):
    write_scenario(landing)
    _load(landing, D1, D3)
    in_order = snapshot(sql)
    other = _sql_on(second_warehouse)
    r3 = _load(landing, D3, D3, url=second_warehouse)
    assert r3.affected_days == [D3]
    r2 = _load(landing, D2, D2, url=second_warehouse)
    assert r2.affected_days == [D2, D3]           # 03-03's previous reading changed source
    r1 = _load(landing, D1, D1, url=second_warehouse)
    assert r1.affected_days == [D1, D2]
    assert snapshot(other) == in_order


def test_late_previous_day_file_re_judges_the_next_day(landing, sql, second_warehouse):
    """03-03 is loaded while 03-02's file has not arrived: its readings cannot be checked against
    03-02's last ones and its consumption is unknown. When 03-02 arrives, 03-03 is re-judged."""
    write_scenario(landing)
    # E3's first reading on 03-03 (319) is below its last on 03-02 (320): backwards
    rows = [r if not (r[0] == "E3" and r[1].endswith("T06:00:00+08:00")) else ("E3", r[1], "319", "ok")
            for r in day_rows(D3)]
    write_meters(landing, D3, rows)
    _load(landing, D1, D3)
    assert _rejected(sql, F3) == [(10, "negative_delta")]
    in_order = snapshot(sql)

    other = _sql_on(second_warehouse)
    _load(landing, D1, D1, url=second_warehouse)
    parked = landing.parent / "parked.csv"
    shutil.move(meters_path(landing, D2), parked)
    _load(landing, D3, D3, url=second_warehouse)
    assert {c for (m, day), c in _daily(other).items() if day == D3} == {None}   # no previous reading known
    assert _rejected(other, F3) == []                                          # 319 not judged yet
    shutil.move(parked, meters_path(landing, D2))
    r2 = _load(landing, D2, D2, url=second_warehouse)
    assert r2.affected_days == [D2, D3]
    assert _rejected(other, F3) == [(10, "negative_delta")]
    assert snapshot(other) == in_order


def test_redelivered_corrected_file_replaces_the_old_one(landing, sql):
    write_scenario(landing)
    _load(landing, D1, D3)
    before = _kpis(sql)
    # corrected 03-02: E1's 23:00 register 118 → 117, E3's 320 → 321, W1's 12:00 reading withdrawn
    readings = {m: list(v) for m, v in READINGS[D2].items()}
    readings["E1"][3], readings["E3"][3] = "117", "321"
    rows = [r for r in day_rows(D2, readings) if not (r[0] == "W1" and "T12:" in r[1])]
    write_meters(landing, D2, rows)
    result = _load(landing, D2, D2, run_id="corrected")
    assert result.affected_days == [D2, D3]       # 03-03's previous readings changed too
    assert _recon(sql, F2) == (19, 19, 0, 0)
    assert sql("SELECT count(*) FROM core.meter_reading WHERE source_file = %s", (F2,)) == [(19,)]
    daily = _daily(sql)
    # E1: (117 − 108) × 10 = 90 on 03-02 and (126 − 117) × 10 = 90 on 03-03; E3: 321 − 310 = 11, 330 − 321 = 9
    assert (daily[("E1", D2)], daily[("E1", D3)], daily[("E3", D2)], daily[("E3", D3)]) == (
        Decimal("90"), Decimal("90"), Decimal("11"), Decimal("9"))
    after = _kpis(sql)
    changed = {k: after[k] for k in after if after[k] != before.get(k)}
    assert changed == {
        ("electricity_kwh_school", "campus", "day", d(D2)): (Decimal("98"), None),    # 90 + 8
        ("electricity_kwh_school", "campus", "day", d(D3)): (Decimal("98"), None),    # 90 + 8
        ("electricity_kwh_billed", "catering", "day", d(D2)): (Decimal("11"), None),
        ("electricity_kwh_billed", "campus", "day", d(D2)): (Decimal("11"), None),
        ("electricity_kwh_billed", "catering", "day", d(D3)): (Decimal("9"), None),
        ("electricity_kwh_billed", "campus", "day", d(D3)): (Decimal("9"), None),
        ("utilities_recovered_yuan", "catering", "day", d(D2)): (Decimal("6.60"), None),  # 11 × 0.60
        ("utilities_recovered_yuan", "campus", "day", d(D2)): (Decimal("10.60"), None),   # 6.60 + 4.00
        ("utilities_recovered_yuan", "catering", "day", d(D3)): (Decimal("5.40"), None),  # 9 × 0.60
        ("utilities_recovered_yuan", "campus", "day", d(D3)): (Decimal("5.40"), None),
    }   # the month and year are unchanged: 90 + 98 + 98 = 286 kWh, 5 + 6.60 + 5.40 = 17.00 yuan
    assert set(after) == set(before)
