"""Idempotency of the canteen feed and its KPIs.

* the same range loaded twice leaves core, quality and mart exactly as once;
* overlapping ranges (days 1–3, then 2–4) give the same tables as days 1–4 once in a fresh warehouse;
* a corrected file re-delivered replaces the old one's rows, and the KPIs change accordingly;
* loading day 2 (with a late sale, a reversal and a refund of day 1) before day 1 gives the same
  warehouse as loading them in order.

Tables are compared on content: lineage columns (run ids and load/compute times) are left out, as
is the serial id of quality.rejected_rows and the append-only reconciliation history.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import psycopg
import pytest

from campus_logistics.kpis.compute import recompute
from campus_logistics.pipeline import run_feed
from tests.conftest import drop_database, new_database
from tests.fixtures import purchase, reversal, write_canteen

LINEAGE = {"run_id", "computed_at", "loaded_at", "rejected_at", "reconciled_at", "validated_at", "updated_at"}
SKIP_TABLES = {"quality.file_reconciliation_history", "public.schema_migrations"}

S1, S2, S3 = "6217000010000001", "6217000010000002", "6217000010000003"
T1, O1 = "6217000020000001", "6217000030000001"
C1, C2, K1 = "第一食堂", "第二食堂", "清真小卖部"


@pytest.fixture
def other_warehouse(pg_admin_url, template_db):
    """A second fresh, migrated warehouse (for 'the same as in a fresh warehouse' comparisons)."""
    name, url = new_database(pg_admin_url, template_db)
    yield url
    drop_database(pg_admin_url, name)


def snapshot(url: str) -> dict[str, list[str]]:
    """Every table of staging/core/quality/mart, content only, rows sorted."""
    out = {}
    with psycopg.connect(url, options="-c TimeZone=Asia/Shanghai") as conn:
        cols = conn.execute(
            """SELECT table_schema || '.' || table_name, array_agg(column_name::text ORDER BY ordinal_position)
               FROM information_schema.columns c
               WHERE table_schema IN ('staging', 'core', 'quality', 'mart')
                 AND EXISTS (SELECT 1 FROM information_schema.tables t WHERE t.table_schema = c.table_schema
                             AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE')
               GROUP BY 1 ORDER BY 1""").fetchall()
        for table, columns in cols:
            if table in SKIP_TABLES:
                continue
            keep = [c for c in columns if c not in LINEAGE and not (table == "quality.rejected_rows" and c == "id")]
            select = ", ".join(f'"{c}"' for c in keep)
            rows = conn.execute(f"SELECT ROW({select})::text FROM {table}").fetchall()
            out[table] = sorted(r[0] for r in rows)
    return out


def load(landing, start: date, end: date, run_id: str, url: str | None = None):
    res = run_feed("canteen", landing, start, end, run_id=run_id, url=url)
    assert res.rejected == []
    recompute(res.affected_days, feeds=["canteen"], url=url, run_id=run_id)
    return res


def kpi(url_or_sql, code, unit, grain, period):
    rows = url_or_sql("SELECT value FROM mart.kpi_value WHERE kpi_code = %s AND unit_code = %s AND grain = %s "
                      "AND period_start = %s", (code, unit, grain, period))
    return rows[0][0] if rows else None


# --- a four-day September with every kind of awkward row --------------------------------------------

def write_september(landing):
    write_canteen(landing, "2001-09-01", [
        purchase("A01", S1, "2001-09-01 08:00:00", C1, "8.00"),
        purchase("A02", S2, "2001-09-01 12:00:00", C2, "12.00"),
        purchase("A03", T1, "2001-09-01 12:30:00", K1, "5.00", holder="教职工"),
        purchase("A04", S1, "2001-09-01 18:00:00", C1, "15.00"),
        purchase("A05", S2, "2001-09-01 18:05:00", "第九食堂", "7.00"),        # unknown outlet: quarantined
        purchase("A01", S1, "2001-09-01 08:00:00", C1, "8.00"),              # identical repeat: duplicate
    ])
    write_canteen(landing, "2001-09-02", [
        reversal("R01", S1, "2001-09-02 08:00:00", "A04", "-15.00", C1),     # reverses a 09-01 sale
        purchase("B01", S3, "2001-09-02 12:00:00", C1, "10.00"),
        purchase("L01", S2, "2001-09-01 21:00:00", C2, "6.00"),              # late 09-01 sale
        purchase("A02", S2, "2001-09-01 12:00:00", C2, "12.00"),             # re-sent: duplicate
        purchase("B02", O1, "2001-09-02 13:00:00", K1, "3.00", holder="其他"),
    ])
    p3 = write_canteen(landing, "2001-09-03", [
        purchase("C01", S1, "2001-09-03 07:00:00", C1, "6.00"),
        reversal("F01", S3, "2001-09-03 10:00:00", "B01", "-4.00", C1, kind="退款"),  # refund of a 09-02 sale
        purchase("A03", T1, "2001-09-01 12:30:00", K1, "6.00", holder="教职工"),    # conflict with 09-01's A03
        purchase("C02", S2, "2001-09-03 19:00:00", C2, "9.00"),
    ])
    p3.write_bytes(p3.read_bytes() + f"C03,{S3},学生\n".encode("gb18030"))   # malformed: quarantined
    write_canteen(landing, "2001-09-04", [
        purchase("D01", S3, "2001-09-04 12:00:00", C1, "11.00"),
        purchase("L02", S1, "2001-09-03 20:30:00", K1, "2.00"),              # late 09-03 sale
        reversal("R02", S2, "2001-09-04 08:00:00", "C02", "-9.00", C2),      # reverses a 09-03 sale
    ])


SEP1, SEP2, SEP3, SEP4 = (date(2001, 9, d) for d in (1, 2, 3, 4))


def test_same_range_twice_changes_nothing(landing, warehouse):
    write_september(landing)
    load(landing, SEP1, SEP4, "first")
    once = snapshot(warehouse)
    # the fixture really exercised the quarantine, the duplicates and the KPIs
    assert len(once["core.canteen_txn"]) == 14
    assert len(once["quality.rejected_rows"]) == 3  # A05 outlet, A03 conflict, C03 malformed
    assert len(once["quality.file_reconciliation"]) == 4
    assert len(once["mart.kpi_value"]) > 50 and len(once["mart.canteen_outlet_meal"]) > 10
    load(landing, SEP1, SEP4, "second")
    twice = snapshot(warehouse)
    assert twice == once


def test_overlapping_ranges_equal_one_run(landing, warehouse, other_warehouse):
    write_september(landing)
    load(landing, SEP1, SEP3, "a1", url=warehouse)
    load(landing, SEP2, SEP4, "a2", url=warehouse)
    load(landing, SEP1, SEP4, "b", url=other_warehouse)
    a, b = snapshot(warehouse), snapshot(other_warehouse)
    assert a == b
    assert len(a["core.canteen_txn"]) == 14 and len(a["mart.kpi_value"]) > 50


def test_overlapping_ranges_hand_checked_kpis(landing, sql):
    """The September figures after days 1–3 then 2–4, worked out by hand (1000 students)."""
    write_september(landing)
    load(landing, SEP1, SEP3, "a1")
    load(landing, SEP2, SEP4, "a2")
    # 09-01: A01 8.00 S1, A02 12.00 S2, A03 5.00 T1 (K1), A04 15.00 S1 - R01 15.00 (reversed), L01 6.00 S2 (late)
    #   revenue 8+12+5+15-15+6 = 31.00; transactions A01 A02 A03 L01 = 4; diners {S1,S2,T1} = 3
    #   students {S1,S2} -> 2/1000 = 0.002
    assert kpi(sql, "canteen_revenue_yuan", "campus", "day", SEP1) == Decimal("31.00")
    assert kpi(sql, "canteen_transactions", "campus", "day", SEP1) == 4
    assert kpi(sql, "canteen_diners", "campus", "day", SEP1) == 3
    assert kpi(sql, "canteen_capture_rate", "campus", "day", SEP1) == Decimal("0.002")
    # 09-02: B01 10.00 S3 - F01 4.00 (refund, still a transaction), B02 3.00 O1 -> 9.00, 2 transactions, 4.50
    assert kpi(sql, "canteen_revenue_yuan", "campus", "day", SEP2) == Decimal("9.00")
    assert kpi(sql, "canteen_avg_ticket_yuan", "campus", "day", SEP2) == Decimal("4.50")
    # 09-03: C01 6.00 S1, C02 9.00 S2 - R02 9.00 (reversed), L02 2.00 S1 (late, K1) -> 8.00, 2, diners {S1} = 1
    assert kpi(sql, "canteen_revenue_yuan", "campus", "day", SEP3) == Decimal("8.00")
    assert kpi(sql, "canteen_transactions", "campus", "day", SEP3) == 2
    assert kpi(sql, "canteen_diners", "campus", "day", SEP3) == 1
    assert kpi(sql, "canteen_revenue_yuan", "supplies", "day", SEP3) == Decimal("2.00")
    # 09-04: D01 11.00 S3 -> 11.00, 1
    assert kpi(sql, "canteen_revenue_yuan", "campus", "day", SEP4) == Decimal("11.00")
    # September: 31+9+8+11 = 59.00 over 4+2+2+1 = 9 transactions -> 6.555… -> 6.56
    #   diners mean(3, 2, 1, 1) = 1.75
    assert kpi(sql, "canteen_revenue_yuan", "campus", "month", date(2001, 9, 1)) == Decimal("59.00")
    assert kpi(sql, "canteen_transactions", "campus", "month", date(2001, 9, 1)) == 9
    assert kpi(sql, "canteen_avg_ticket_yuan", "campus", "month", date(2001, 9, 1)) == Decimal("6.56")
    assert kpi(sql, "canteen_diners", "campus", "month", date(2001, 9, 1)) == Decimal("1.75")
    assert kpi(sql, "canteen_revenue_yuan", "campus", "year", date(2001, 1, 1)) == Decimal("59.00")


# --- a corrected file re-delivered ------------------------------------------------------------------

MAY10, MAY11 = date(2001, 5, 10), date(2001, 5, 11)


def test_corrected_file_replaces_the_old_one(landing, sql):
    from tests.fixtures import write_minimal_ref

    write_minimal_ref(landing, students={"2001-05": 500})
    write_canteen(landing, "2001-05-10", [purchase("A1", S1, "2001-05-10 08:00:00", C1, "5.00")])
    write_canteen(landing, "2001-05-11", [
        purchase("B1", S1, "2001-05-11 12:00:00", C1, "10.00"),
        purchase("B2", S2, "2001-05-11 12:05:00", C2, "20.00"),
        purchase("B3", T1, "2001-05-10 19:00:00", C1, "7.00", holder="教职工"),  # late sale of 05-10
        purchase("B4", S3, "2001-05-11 18:00:00", K1, "1,000.00"),             # quarantined: amount
    ])
    load(landing, MAY10, MAY11, "first")
    # before: 05-10 = A1 5.00 S1 + B3 7.00 T1 -> 12.00, 2 transactions, 6.00, 2 diners, 1 student/500 = 0.002
    assert kpi(sql, "canteen_revenue_yuan", "campus", "day", MAY10) == Decimal("12.00")
    assert kpi(sql, "canteen_revenue_yuan", "catering", "day", MAY10) == Decimal("12.00")
    assert kpi(sql, "canteen_capture_rate", "campus", "day", MAY10) == Decimal("0.002")
    # 05-11 = B1 10.00 S1 + B2 20.00 S2 -> 30.00, 2, 15.00, 2 diners, 2/500 = 0.004; no kiosk sale
    assert kpi(sql, "canteen_revenue_yuan", "campus", "day", MAY11) == Decimal("30.00")
    assert kpi(sql, "canteen_capture_rate", "campus", "day", MAY11) == Decimal("0.004")
    assert kpi(sql, "canteen_revenue_yuan", "supplies", "day", MAY11) is None
    # May: 42.00, 4 transactions, 10.50
    assert kpi(sql, "canteen_avg_ticket_yuan", "campus", "month", date(2001, 5, 1)) == Decimal("10.50")
    assert sql("SELECT count(*) FROM quality.rejected_rows WHERE file = 'canteen_20010511.csv'") == [(1,)]
    assert sql("SELECT count(*) FROM mart.canteen_outlet_meal WHERE day = %s AND meal_period = 'dinner'",
               (MAY10,)) == [(1,)]  # B3 at 19:00

    # the card system re-exports 05-11: B1's amount corrected, B2 and the late B3 gone, B4 fixed, B6 new
    write_canteen(landing, "2001-05-11", [
        purchase("B1", S1, "2001-05-11 12:00:00", C1, "12.00"),
        purchase("B4", S3, "2001-05-11 18:00:00", K1, "1000.00"),
        purchase("B6", "6217000040000001", "2001-05-11 13:00:00", C2, "8.00"),
    ])
    res = load(landing, MAY11, MAY11, "corrected")
    # the re-delivery changes 05-11 and, through the late sale it no longer carries, 05-10
    assert res.affected_days == ["2001-05-10", "2001-05-11"]
    assert sql("SELECT txn_id, amount_yuan::text FROM core.canteen_txn WHERE source_file = 'canteen_20010511.csv' "
               "ORDER BY 1") == [("B1", "12.00"), ("B4", "1000.00"), ("B6", "8.00")]
    assert sql("SELECT count(*) FROM quality.rejected_rows WHERE file = 'canteen_20010511.csv'") == [(0,)]
    assert sql("SELECT rows_read, rows_loaded, rows_quarantined, rows_duplicate FROM quality.file_reconciliation "
               "WHERE file = 'canteen_20010511.csv'") == [(3, 3, 0, 0)]
    # after: 05-10 = A1 5.00 only -> 5.00, 1, 5.00, 1 diner, 1/500 = 0.002
    assert kpi(sql, "canteen_revenue_yuan", "campus", "day", MAY10) == Decimal("5.00")
    assert kpi(sql, "canteen_transactions", "campus", "day", MAY10) == 1
    assert kpi(sql, "canteen_diners", "campus", "day", MAY10) == 1
    assert sql("SELECT count(*) FROM mart.canteen_outlet_meal WHERE day = %s AND meal_period = 'dinner'",
               (MAY10,)) == [(0,)]
    # 05-11 campus = B1 12.00 S1 + B4 1000.00 S3 + B6 8.00 S4 -> 1020.00, 3, 340.00, 3 diners, 3/500 = 0.006
    assert kpi(sql, "canteen_revenue_yuan", "campus", "day", MAY11) == Decimal("1020.00")
    assert kpi(sql, "canteen_avg_ticket_yuan", "campus", "day", MAY11) == Decimal("340.00")
    assert kpi(sql, "canteen_capture_rate", "campus", "day", MAY11) == Decimal("0.006")
    #   catering = B1 + B6 -> 20.00, 2, 10.00, 2/500 = 0.004; supplies (kiosk) = B4 -> 1000.00, 1, 1/500 = 0.002
    assert kpi(sql, "canteen_revenue_yuan", "catering", "day", MAY11) == Decimal("20.00")
    assert kpi(sql, "canteen_capture_rate", "catering", "day", MAY11) == Decimal("0.004")
    assert kpi(sql, "canteen_revenue_yuan", "supplies", "day", MAY11) == Decimal("1000.00")
    assert kpi(sql, "canteen_capture_rate", "supplies", "day", MAY11) == Decimal("0.002")
    # May campus: 5.00 + 1020.00 = 1025.00 over 1 + 3 = 4 transactions -> 256.25; diners mean(1, 3) = 2;
    #   capture mean(0.002, 0.006) = 0.004. Year 2001 = May.
    may = date(2001, 5, 1)
    assert kpi(sql, "canteen_revenue_yuan", "campus", "month", may) == Decimal("1025.00")
    assert kpi(sql, "canteen_avg_ticket_yuan", "campus", "month", may) == Decimal("256.25")
    assert kpi(sql, "canteen_diners", "campus", "month", may) == 2
    assert kpi(sql, "canteen_capture_rate", "campus", "month", may) == Decimal("0.004")
    assert kpi(sql, "canteen_revenue_yuan", "campus", "year", date(2001, 1, 1)) == Decimal("1025.00")
    assert kpi(sql, "canteen_revenue_yuan", "supplies", "month", may) == Decimal("1000.00")


# --- load order does not matter ---------------------------------------------------------------------

def write_two_days(landing):
    write_canteen(landing, "2001-10-08", [
        purchase("E1", S1, "2001-10-08 08:00:00", C1, "6.00"),
        purchase("E2", S2, "2001-10-08 12:00:00", C2, "14.00"),
        purchase("E3", T1, "2001-10-08 18:00:00", K1, "4.00", holder="教职工"),
    ])
    write_canteen(landing, "2001-10-09", [
        purchase("L1", S3, "2001-10-08 21:00:00", K1, "3.00"),                 # late sale of 10-08
        reversal("R1", S2, "2001-10-09 07:30:00", "E2", "-14.00", C2),         # reverses 10-08's E2
        reversal("F1", S1, "2001-10-09 07:40:00", "E1", "-1.00", C1, kind="退款"),  # refunds part of E1
        purchase("N1", S2, "2001-10-09 12:00:00", C1, "9.00"),
    ])


def test_day2_before_day1_equals_day1_before_day2(landing, warehouse, other_warehouse):
    write_two_days(landing)
    d8, d9 = date(2001, 10, 8), date(2001, 10, 9)
    load(landing, d8, d8, "in-order-1", url=warehouse)
    load(landing, d9, d9, "in-order-2", url=warehouse)
    load(landing, d9, d9, "reversed-2", url=other_warehouse)
    load(landing, d8, d8, "reversed-1", url=other_warehouse)
    a, b = snapshot(warehouse), snapshot(other_warehouse)
    assert a["mart.kpi_value"] == b["mart.kpi_value"]
    assert a == b

    def sql_b(q, p=None):
        with psycopg.connect(other_warehouse) as conn:
            return conn.execute(q, p).fetchall()

    # by hand (1000 students): 10-08 = E1 6.00 - F1 1.00, E2 14.00 - R1 14.00 (reversed), E3 4.00, L1 3.00
    #   -> revenue 12.00, transactions E1 E3 L1 = 3, avg 4.00, diners {S1,T1,S3} = 3, students {S1,S3} = 0.002
    # 10-09 = N1 9.00 only (the reversal and the refund moved to 10-08) -> 9.00, 1, diners 1
    expected = {("canteen_revenue_yuan", d8): Decimal("12.00"), ("canteen_transactions", d8): 3,
                ("canteen_avg_ticket_yuan", d8): Decimal("4.00"), ("canteen_diners", d8): 3,
                ("canteen_capture_rate", d8): Decimal("0.002"),
                ("canteen_revenue_yuan", d9): Decimal("9.00"), ("canteen_transactions", d9): 1,
                ("canteen_diners", d9): 1, ("canteen_capture_rate", d9): Decimal("0.001")}
    for (code, day), value in expected.items():
        assert kpi(sql_b, code, "campus", "day", day) == value, (code, day)
    # October: 21.00 over 4 transactions -> 5.25
    assert kpi(sql_b, "canteen_avg_ticket_yuan", "campus", "month", date(2001, 10, 1)) == Decimal("5.25")
