"""Canteen KPIs end to end on a small hand-built fixture (the foundation issue's acceptance test).

Three daily files, 2001-03-30, 2001-03-31 and 2001-04-01 (two months), loaded one day at a time
as the daily DAG would, each followed by a KPI recompute of exactly the days the load reports as
affected. Outlets (tests/fixtures.py): 第一食堂 = C1 and 第二食堂 = C2 of unit ``catering``, and the
tenant kiosk 清真小卖部 = K1 of unit ``supplies``. Enrolment: 800 students in March 2001, 1000 in
every other month.

Cards (raw numbers, never stored): S1, S2, S3 students (学生), T1 staff (教职工), O1, O2 other (其他).

Every expected value below is worked out by hand in the comments.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from datetime import date
from decimal import Decimal

from campus_logistics.kpis.compute import recompute
from campus_logistics.pipeline import run_feed
from tests.fixtures import purchase, reversal, write_canteen, write_minimal_ref

S1, S2, S3 = "6217000010000001", "6217000010000002", "6217000010000003"
T1 = "6217000020000001"
O1, O2 = "6217000030000001", "6217000030000002"
BAD = "6217000099999999"  # only on a quarantined row
RAW_CARDS = [S1, S2, S3, T1, O1, O2, BAD]

C1, C2, K1 = "第一食堂", "第二食堂", "清真小卖部"

DAY1 = [  # canteen_20010330.csv
    purchase("P01", S1, "2001-03-30 07:30:00", C1, "8.00"),                  # C1 breakfast
    purchase("P02", S2, "2001-03-30 09:59:59", C1, "6.50"),                  # C1 breakfast (last second)
    purchase("P03", T1, "2001-03-30 10:00:00", C2, "15.00", holder="教职工"),  # C2 lunch (first second)
    purchase("P04", S1, "2001-03-30 12:10:00", C1, "12.00"),                 # C1 lunch, reversed by R01
    reversal("R01", S1, "2001-03-30 12:11:00", "P04", "-12.00", C1),         # 冲正 of P04
    purchase("P05", S1, "2001-03-30 12:15:00", C1, "11.50"),                 # C1 lunch
    purchase("P06", O1, "2001-03-30 13:59:59", K1, "5.00", holder="其他"),     # K1 lunch (last second)
    purchase("P07", S3, "2001-03-30 18:00:00", C2, "20.00"),                 # C2 dinner, partly refunded
    reversal("F01", S3, "2001-03-30 18:30:00", "P07", "-5.00", C2, kind="退款"),  # 退款 5 of P07's 20
    purchase("P08", S2, "2001-03-30 20:00:00", K1, "3.00"),                  # K1 night, reversed NEXT day
]
DAY2 = [  # canteen_20010331.csv
    reversal("R02", S2, "2001-03-31 08:00:00", "P08", "-3.00", K1),          # belongs to P08's day 03-30
    purchase("P09", S1, "2001-03-31 07:45:00", C1, "7.00"),                  # C1 breakfast
    purchase("L01", S3, "2001-03-30 21:30:00", K1, "4.50"),                  # LATE: K1 night of 03-30
    purchase("P10", S1, "2001-03-31 11:00:00", C2, "18.00"),                 # C2 lunch
    purchase("P14", O1, "2001-03-31 14:00:00", K1, "4.00", holder="其他"),     # K1 dinner (first second)
    purchase("P11", S2, "2001-03-31 19:00:00", C1, "9.00"),                  # C1 dinner, refunded 2 in April
    purchase("P15", S1, "2001-03-31 20:30:00", K1, "2.00"),                  # K1 night
]
DAY3 = [  # canteen_20010401.csv
    reversal("F02", S2, "2001-04-01 09:00:00", "P11", "-2.00", C1, kind="退款"),  # refund of P11: 03-31
    purchase("L02", O2, "2001-03-31 22:00:00", C2, "6.00", holder="其他"),     # LATE across the month: 03-31
    purchase("P12", S1, "2001-04-01 12:00:00", C1, "10.00"),                 # C1 lunch
    purchase("P13", O1, "2001-04-01 12:30:00", K1, "2.50", holder="其他"),     # K1 lunch
    purchase("P16", T1, "2001-04-01 17:00:00", C2, "14.00", holder="教职工"),  # C2 dinner
    purchase("Q01", BAD, "2001-04-01 12:00:00", "第九食堂", "9.00"),          # unknown outlet: quarantined
]

D30, D31, A01 = date(2001, 3, 30), date(2001, 3, 31), date(2001, 4, 1)
MAR, APR, Y2001 = date(2001, 3, 1), date(2001, 4, 1), date(2001, 1, 1)


def _load_day(landing, day: date, run_id: str):
    res = run_feed("canteen", landing, day, day, run_id=run_id)
    assert res.rejected == []
    recompute(res.affected_days, feeds=["canteen"], run_id=run_id)
    return res


def _setup(landing):
    students = {f"2001-{m:02d}": 1000 for m in range(1, 13)}
    students["2001-03"] = 800
    write_minimal_ref(landing, students=students)
    write_canteen(landing, "2001-03-30", DAY1)
    write_canteen(landing, "2001-03-31", DAY2)
    write_canteen(landing, "2001-04-01", DAY3)


def _kpis(sql):
    return {(code, unit_code, grain, ps): (value, unit) for code, unit_code, grain, ps, value, unit in sql(
        "SELECT kpi_code, unit_code, grain, period_start, value, unit FROM mart.kpi_value "
        "WHERE kpi_code LIKE 'canteen_%'")}


UNITS = {"canteen_revenue_yuan": "yuan", "canteen_transactions": "count", "canteen_avg_ticket_yuan": "yuan",
         "canteen_diners": "persons", "canteen_capture_rate": "rate"}
CODES = list(UNITS)


def _expected() -> dict:
    """(kpi, unit, grain, period) -> value as a decimal string, all worked out by hand.

    Effective facts per day (reversals/refunds on their original's day and outlet, late rows on
    their own 交易时间 day):

    03-30  C1: P01 8.00 S1, P02 6.50 S2, P04 12.00 S1 + R01 -12.00 (reversed), P05 11.50 S1
           C2: P03 15.00 T1, P07 20.00 S3 + F01 -5.00 (refund: P07 still a transaction)
           K1: P06 5.00 O1, P08 3.00 S2 + R02 -3.00 (reversal from the 03-31 file), L01 4.50 S3 (late)
    03-31  C1: P09 7.00 S1, P11 9.00 S2 + F02 -2.00 (refund from the April file)
           C2: P10 18.00 S1, L02 6.00 O2 (late, from the April file)
           K1: P14 4.00 O1, P15 2.00 S1
    04-01  C1: P12 10.00 S1;  C2: P16 14.00 T1;  K1: P13 2.50 O1   (Q01 quarantined, counts nowhere)
    """
    v = {}

    def put(unit, grain, period, revenue, txns, avg, diners, capture):
        for code, val in zip(CODES, (revenue, txns, avg, diners, capture)):
            if val is not None:
                v[(code, unit, grain, period)] = Decimal(val)

    # --- day 2001-03-30 (800 students) ---
    # catering: revenue 8.00+6.50+12.00-12.00+11.50+15.00+20.00-5.00 = 56.00
    #   transactions P01 P02 P05 P03 P07 = 5 (P04 reversed; P07 refunded only in part, still counts)
    #   avg 56.00/5 = 11.20; diners {S1,S2,T1,S3} = 4; students {S1,S2,S3} = 3 -> 3/800 = 0.00375
    put("catering", "day", D30, "56.00", "5", "11.20", "4", "0.00375")
    # supplies: revenue 5.00+3.00-3.00+4.50 = 9.50; transactions P06 L01 = 2 (P08 reversed)
    #   avg 9.50/2 = 4.75; diners {O1,S3} = 2 (S2 only had the reversed P08); students {S3} -> 1/800 = 0.00125
    put("supplies", "day", D30, "9.50", "2", "4.75", "2", "0.00125")
    # campus: revenue 56.00+9.50 = 65.50; transactions 7; avg 65.50/7 = 9.357… -> 9.36
    #   diners {S1,S2,T1,S3,O1} = 5; students {S1,S2,S3} -> 3/800 = 0.00375
    put("campus", "day", D30, "65.50", "7", "9.36", "5", "0.00375")

    # --- day 2001-03-31 (800 students) ---
    # catering: revenue 7.00+9.00-2.00+18.00+6.00 = 38.00; transactions P09 P11 P10 L02 = 4
    #   avg 38.00/4 = 9.50; diners {S1,S2,O2} = 3; students {S1,S2} -> 2/800 = 0.0025
    put("catering", "day", D31, "38.00", "4", "9.50", "3", "0.0025")
    # supplies: revenue 4.00+2.00 = 6.00; transactions 2; avg 3.00; diners {O1,S1} = 2; students {S1} -> 1/800
    put("supplies", "day", D31, "6.00", "2", "3.00", "2", "0.00125")
    # campus: revenue 38.00+6.00 = 44.00; transactions 6; avg 44.00/6 = 7.333… -> 7.33
    #   diners {S1,S2,O2,O1} = 4; students {S1,S2} -> 2/800 = 0.0025
    put("campus", "day", D31, "44.00", "6", "7.33", "4", "0.0025")

    # --- day 2001-04-01 (1000 students) ---
    # catering: 10.00+14.00 = 24.00; 2; 12.00; diners {S1,T1} = 2; students {S1} -> 1/1000 = 0.001
    put("catering", "day", A01, "24.00", "2", "12.00", "2", "0.001")
    # supplies: 2.50; 1; 2.50; diners {O1} = 1; no student: 0/1000 = 0 (a real zero: the denominator exists)
    put("supplies", "day", A01, "2.50", "1", "2.50", "1", "0")
    # campus: 10.00+14.00+2.50 = 26.50; 3; 26.50/3 = 8.833… -> 8.83; diners {S1,T1,O1} = 3; 1/1000 = 0.001
    put("campus", "day", A01, "26.50", "3", "8.83", "3", "0.001")

    # --- month 2001-03 (days 03-30 and 03-31) ---
    # catering: 56.00+38.00 = 94.00; 5+4 = 9; 94.00/9 = 10.444… -> 10.44; diners mean(4,3) = 3.5;
    #   capture mean(0.00375, 0.0025) = 0.003125
    put("catering", "month", MAR, "94.00", "9", "10.44", "3.5", "0.003125")
    # supplies: 9.50+6.00 = 15.50; 2+2 = 4; 15.50/4 = 3.875 -> 3.88 (half-up); diners mean(2,2) = 2;
    #   capture mean(0.00125, 0.00125) = 0.00125
    put("supplies", "month", MAR, "15.50", "4", "3.88", "2", "0.00125")
    # campus: 65.50+44.00 = 109.50; 7+6 = 13; 109.50/13 = 8.4230… -> 8.42; diners mean(5,4) = 4.5;
    #   capture mean(0.00375, 0.0025) = 0.003125
    put("campus", "month", MAR, "109.50", "13", "8.42", "4.5", "0.003125")

    # --- month 2001-04 (only 04-01): the day's values ---
    put("catering", "month", APR, "24.00", "2", "12.00", "2", "0.001")
    put("supplies", "month", APR, "2.50", "1", "2.50", "1", "0")
    put("campus", "month", APR, "26.50", "3", "8.83", "3", "0.001")

    # --- year 2001: flows are the sum of the months; rates recomputed over the year's days ---
    # catering: 94.00+24.00 = 118.00; 9+2 = 11; 118.00/11 = 10.7272… -> 10.73; diners mean(4,3,2) = 3;
    #   capture mean(0.00375, 0.0025, 0.001) = 0.00725/3 = 0.0024166… -> 0.002417
    put("catering", "year", Y2001, "118.00", "11", "10.73", "3", "0.002417")
    # supplies: 15.50+2.50 = 18.00; 4+1 = 5; 18.00/5 = 3.60; diners mean(2,2,1) = 5/3 = 1.666… -> 1.67;
    #   capture mean(0.00125, 0.00125, 0) = 0.0025/3 = 0.0008333… -> 0.000833
    put("supplies", "year", Y2001, "18.00", "5", "3.60", "1.67", "0.000833")
    # campus: 109.50+26.50 = 136.00; 13+3 = 16; 136.00/16 = 8.50; diners mean(5,4,3) = 4;
    #   capture mean(0.00375, 0.0025, 0.001) -> 0.002417
    put("campus", "year", Y2001, "136.00", "16", "8.50", "4", "0.002417")
    # note: the year's average ticket 8.50 is NOT the mean of the monthly ones (8.42, 8.83)
    return v


# (day, unit, outlet, meal, revenue, transactions, diners) — by the original purchase's time and outlet
EXPECTED_OUTLET_MEAL = {
    # 03-30
    (D30, "catering", "C1", "breakfast", "14.50", 2, 2),  # P01 8.00 + P02 6.50 (09:59:59); S1, S2
    (D30, "catering", "C1", "lunch", "11.50", 1, 1),      # P04 12.00 - R01 12.00 + P05 11.50; only P05 counts
    (D30, "catering", "C2", "lunch", "15.00", 1, 1),      # P03 at 10:00:00 is lunch
    (D30, "catering", "C2", "dinner", "15.00", 1, 1),     # P07 20.00 - F01 5.00; P07 still a transaction
    (D30, "supplies", "K1", "lunch", "5.00", 1, 1),       # P06 at 13:59:59 is lunch
    (D30, "supplies", "K1", "night", "4.50", 1, 1),       # P08 3.00 (20:00:00) - R02 3.00 + L01 4.50 (late)
    # 03-31
    (D31, "catering", "C1", "breakfast", "7.00", 1, 1),   # P09
    (D31, "catering", "C1", "dinner", "7.00", 1, 1),      # P11 9.00 - F02 2.00 (refund from April, 09:00)
    (D31, "catering", "C2", "lunch", "18.00", 1, 1),      # P10
    (D31, "catering", "C2", "night", "6.00", 1, 1),       # L02 (late, from the April file)
    (D31, "supplies", "K1", "dinner", "4.00", 1, 1),      # P14 at 14:00:00 is dinner
    (D31, "supplies", "K1", "night", "2.00", 1, 1),       # P15
    # 04-01
    (A01, "catering", "C1", "lunch", "10.00", 1, 1),      # P12
    (A01, "catering", "C2", "dinner", "14.00", 1, 1),     # P16
    (A01, "supplies", "K1", "lunch", "2.50", 1, 1),       # P13
}


def _outlet_meal(sql):
    return {(d, u, o, m, str(r), t, n) for d, u, o, m, r, t, n in sql(
        "SELECT day, unit_code, outlet_code, meal_period, revenue_yuan, transactions, diners "
        "FROM mart.canteen_outlet_meal")}


def _assert_kpis(sql):
    got = _kpis(sql)
    expected = _expected()
    assert {k: v for k, (v, _) in got.items()} == expected
    for (code, _, _, _), (value, unit) in got.items():
        assert unit == UNITS[code]
        if unit == "yuan":  # money: exactly two decimals
            assert value.as_tuple().exponent == -2, (code, value)


def test_canteen_kpis_by_hand(landing, sql):
    _setup(landing)
    r1 = _load_day(landing, D30, "day1")
    # day 1 alone: its own day only
    assert r1.affected_days == ["2001-03-30"]
    r2 = _load_day(landing, D31, "day2")
    # the 03-31 file carries R02 (reversal of a 03-30 purchase) and L01 (a late 03-30 sale)
    assert r2.affected_days == ["2001-03-30", "2001-03-31"]
    r3 = _load_day(landing, A01, "day3")
    # the April file carries F02 (refund of a 03-31 purchase) and L02 (a late 03-31 sale)
    assert r3.affected_days == ["2001-03-31", "2001-04-01"]
    assert r3.files[0]["rows_read"] == 6 and r3.files[0]["rows_loaded"] == 5
    assert r3.files[0]["rows_quarantined"] == 1

    _assert_kpis(sql)
    assert _outlet_meal(sql) == EXPECTED_OUTLET_MEAL

    # late rows land on their own day, reversals/refunds keep their own date in core
    by_id = dict(sql("SELECT txn_id, txn_date FROM core.canteen_txn"))
    assert by_id["L01"] == D30 and by_id["L02"] == D31
    assert by_id["R02"] == D31 and by_id["F02"] == A01
    assert len(by_id) == len(DAY1) + len(DAY2) + len(DAY3) - 1

    # re-running the earlier days (each file replaces its own rows) counts nothing twice
    before = sql("SELECT kpi_code, unit_code, grain, period_start, value FROM mart.kpi_value ORDER BY 1, 2, 3, 4")
    _load_day(landing, D30, "rerun1")
    _load_day(landing, D31, "rerun2")
    after = sql("SELECT kpi_code, unit_code, grain, period_start, value FROM mart.kpi_value ORDER BY 1, 2, 3, 4")
    assert after == before
    _assert_kpis(sql)
    assert _outlet_meal(sql) == EXPECTED_OUTLET_MEAL
    assert sql("SELECT count(*) FROM core.canteen_txn") == [(len(by_id),)]


def test_capture_rate_follows_enrolment_and_is_absent_without_it(landing, sql):
    """The denominator is the month's enrolment; a month with no enrolment row has no capture rate."""
    write_minimal_ref(landing, students={"2001-05": 250})  # June: no enrolment row at all
    write_canteen(landing, "2001-05-31", [
        purchase("M1", S1, "2001-05-31 12:00:00", C1, "10.00"),
        purchase("M2", S2, "2001-05-31 12:01:00", C1, "10.00"),
        purchase("M3", S1, "2001-05-31 18:00:00", C2, "10.00"),  # S1 again: still one diner
        purchase("M4", T1, "2001-05-31 18:00:00", C2, "10.00", holder="教职工"),
    ])
    write_canteen(landing, "2001-06-01", [purchase("J1", S1, "2001-06-01 12:00:00", C1, "10.00")])
    res = run_feed("canteen", landing, date(2001, 5, 31), date(2001, 6, 1), run_id="r")
    assert res.rejected == []
    recompute(res.affected_days, feeds=["canteen"])
    got = {k: v for k, (v, _) in _kpis(sql).items()}
    # 05-31 campus: students {S1,S2} = 2 of 250 enrolled -> 0.008; diners {S1,S2,T1} = 3
    assert got[("canteen_capture_rate", "campus", "day", date(2001, 5, 31))] == Decimal("0.008")
    assert got[("canteen_diners", "campus", "day", date(2001, 5, 31))] == 3
    assert got[("canteen_capture_rate", "catering", "month", date(2001, 5, 1))] == Decimal("0.008")
    # June has no enrolment: no denominator, so the rate is absent (never 0) at day and month grain
    for grain, period in (("day", date(2001, 6, 1)), ("month", date(2001, 6, 1))):
        for unit in ("campus", "catering"):
            assert ("canteen_capture_rate", unit, grain, period) not in got
            assert got[("canteen_revenue_yuan", unit, grain, period)] == Decimal("10.00")
    # the year's rate is the mean over the days that have one: only 05-31 -> 0.008
    assert got[("canteen_capture_rate", "campus", "year", date(2001, 1, 1))] == Decimal("0.008")
    # the year's diners: mean of daily diners over both days = (3 + 1) / 2 = 2
    assert got[("canteen_diners", "campus", "year", date(2001, 1, 1))] == 2


def test_kpi_definitions_list_the_canteen_kpis(landing, sql):
    write_canteen(landing, "2001-03-01", [purchase("X1", S1, "2001-03-01 12:00:00")])
    res = run_feed("canteen", landing, date(2001, 3, 1), date(2001, 3, 1), run_id="r")
    recompute(res.affected_days, feeds=["canteen"])
    rows = {r[0]: r[1:] for r in sql(
        "SELECT kpi_code, name_zh, unit, grains, source_feeds, name_en, formula FROM mart.kpi_definition "
        "WHERE kpi_code LIKE 'canteen_%'")}
    assert {code: (zh, unit, sorted(grains)) for code, (zh, unit, grains, *_) in rows.items()} == {
        "canteen_revenue_yuan": ("营业额", "yuan", ["day", "month", "year"]),
        "canteen_transactions": ("消费笔数", "count", ["day", "month", "year"]),
        "canteen_avg_ticket_yuan": ("客单价", "yuan", ["day", "month", "year"]),
        "canteen_diners": ("就餐人数", "persons", ["day", "month", "year"]),
        "canteen_capture_rate": ("学生在校就餐率", "rate", ["day", "month", "year"]),
    }
    for code, (_, _, _, sources, name_en, formula) in rows.items():
        assert "canteen" in sources and name_en and formula, code


def test_no_raw_card_number_is_stored(landing, sql):
    _setup(landing)
    # add a malformed row (too few fields) carrying a raw card number to the 03-31 file
    path = write_canteen(landing, "2001-03-31", DAY2)
    path.write_bytes(path.read_bytes() + f"Z01,{BAD},学生,2001-03-31 12:00:00\n".encode("gb18030"))
    res = run_feed("canteen", landing, D30, A01, run_id="r")
    assert res.rejected == []
    recompute(res.affected_days, feeds=["canteen"])
    quarantined = sql("SELECT file, rule, record FROM quality.rejected_rows ORDER BY file")
    assert [(f, r) for f, r, _ in quarantined] == [
        ("canteen_20010331.csv", "malformed_row"), ("canteen_20010401.csv", "outlet_known")]

    key = os.environ["CAMPUS_LOGISTICS_PSEUDONYM_KEY"].encode()

    def hmac_of(raw):
        return hmac.new(key, raw.encode(), hashlib.sha256).hexdigest()

    # every stored card is a 64-hex HMAC-SHA256 of the raw number under the key
    hashes = dict(sql("SELECT txn_id, card_hash FROM core.canteen_txn"))
    assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes.values())
    assert hashes["P01"] == hmac_of(S1) and hashes["P03"] == hmac_of(T1) and hashes["L02"] == hmac_of(O2)
    # the quarantined records hold the pseudonym too
    records = {r: rec for _, r, rec in quarantined}
    assert records["outlet_known"]["卡号"] == hmac_of(BAD)
    assert records["malformed_row"]["fields"][1] == hmac_of(BAD)
    # and no raw number appears anywhere, in any column, of core or quality
    for table in ("core.canteen_txn", "quality.rejected_rows", "quality.file_reconciliation",
                  "quality.validation_result", "mart.canteen_outlet_meal"):
        text = "\n".join(r[0] for r in sql(f"SELECT t::text FROM {table} t"))
        for raw in RAW_CARDS:
            assert raw not in text, (table, raw)
