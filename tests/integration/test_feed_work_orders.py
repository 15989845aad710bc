"""work_orders feed and the repair KPIs, on hand-built JSON files with hand-worked answers."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest

from campus_logistics.kpis.compute import recompute
from campus_logistics.pipeline import run_feed
from tests.fixtures_tickets import t, ticket, work_orders_path, write_sla, write_work_orders

FEED = "work_orders"
D = date.fromisoformat
LINEAGE = {"run_id", "computed_at", "loaded_at", "rejected_at", "reconciled_at", "validated_at"}


# --- the hand-built scenario ----------------------------------------------------------------------
# SLA (tests/fixtures_tickets.SLA): 电路/给排水 30 min & 4 h, 灯具 60 min & 24 h, 门窗/家具 120 min & 48 h,
# 保洁 60 min & 8 h, 其他 240 min & 72 h.
#
# T1 utilities 电路  created 01-30 09:00, arrived 09:20 (20 min ≤ 30 ✓), completed 01-30 11:00 (2 h ≤ 4 ✓),
#                    closed 01-31 with rating 5                                   → completed January
# T2 utilities 灯具  created 01-30 20:00, arrived 21:30 (90 min > 60 ✗), completed 01-31 08:00 (12 h ≤ 24 ✓),
#                    never rated                                                   → completed January
# T3 apartments 门窗 created 01-31 22:00, arrived 23:00 (60 ≤ 120 ✓), completed 02-01 10:00 (12 h ≤ 48 ✓),
#                    rating 4: across the month boundary, open at January's end    → completed February
# T4 apartments 家具 created 01-30 10:00, arrived 11:00 (60 ≤ 120 ✓), completed 01-30 15:00, REOPENED 01-31
#                    (completed_at withdrawn), completed again 02-02 09:00 (71 h > 48 ✗), rating 2
#                                                                                  → completed February
# T5 property 保洁   created 01-31 08:00, CANCELLED 09:00                           → counts nowhere
# T6 property 其他   created 02-01 09:00, NO arrived_at (✗ by definition), completed 17:00 (8 h ≤ 72 ✓), unrated
# T7 utilities 给排水 created 02-02 10:00, dispatched, still open at February's end
# T8 utilities 电路  created 01-31 12:00, arrived 12:45 (45 > 30 ✗), completed 18:00 (6 h > 4 ✗), rating 3
# T9 property 门窗   times in UTC ('Z'): created 01-31 06:00Z (14:00 local), arrived 07:00:00.25Z (60 min ✓),
#                    completed 01-31 16:30Z = 02-01 00:30 LOCAL (10.5 h ≤ 48 ✓), unrated → completed February


def day_files() -> dict[str, list[dict]]:
    T1 = dict(category="电路", unit="utilities", created=t("01-30 09:00"), dispatched=t("01-30 09:05"),
              arrived=t("01-30 09:20"))
    T2 = dict(category="灯具", unit="utilities", created=t("01-30 20:00"), dispatched=t("01-30 20:10"),
              arrived=t("01-30 21:30"))
    T3 = dict(category="门窗", unit="apartments", created=t("01-31 22:00"), arrived=t("01-31 23:00"))
    T4 = dict(category="家具", unit="apartments", created=t("01-30 10:00"), arrived=t("01-30 11:00"))
    T6 = dict(category="其他", unit="property", created=t("02-01 09:00"), room=None)
    T8 = dict(category="电路", unit="utilities", created=t("01-31 12:00"), arrived=t("01-31 12:45"))
    T9 = dict(category="门窗", unit="property", created="2001-01-31T06:00:00Z", arrived="2001-01-31T07:00:00.250Z",
              building="T02")
    return {
        "2001-01-30": [
            ticket("T1", **T1, completed=t("01-30 11:00"), status="completed"),
            ticket("T2", **T2, status="in_progress"),
            ticket("T4", **T4, completed=t("01-30 15:00"), status="completed"),
        ],
        "2001-01-31": [
            ticket("T1", **T1, completed=t("01-30 11:00"), status="closed", rating=5, updated=t("01-31 10:00")),
            ticket("T2", **T2, completed=t("01-31 08:00"), status="completed"),
            ticket("T3", **T3, status="in_progress"),
            ticket("T4", **T4, status="in_progress", reopened=True, updated=t("01-31 09:00")),
            ticket("T5", "保洁", "property", t("01-31 08:00"), status="cancelled", updated=t("01-31 09:00")),
            ticket("T8", **T8, completed=t("01-31 18:00"), status="completed"),
            ticket("T9", **T9, status="in_progress"),
        ],
        "2001-02-01": [
            ticket("T3", **T3, completed=t("02-01 10:00"), status="completed"),
            ticket("T6", **T6, completed=t("02-01 17:00"), status="completed"),
            ticket("T8", **T8, completed=t("01-31 18:00"), status="closed", rating=3, updated=t("02-01 09:00")),
            ticket("T9", **T9, completed="2001-01-31T16:30:00Z", status="completed"),
        ],
        "2001-02-02": [
            ticket("T3", **T3, completed=t("02-01 10:00"), status="closed", rating=4, updated=t("02-02 12:00")),
            ticket("T4", **T4, completed=t("02-02 09:00"), status="closed", rating=2, reopened=True,
                   updated=t("02-02 18:00")),
            ticket("T7", "给排水", "utilities", t("02-02 10:00"), dispatched=t("02-02 10:05"), status="dispatched"),
        ],
    }


JAN, FEB, Y = D("2001-01-01"), D("2001-02-01"), D("2001-01-01")
EXPECTED = {
    # (kpi, grain): {(unit, period): value}
    ("work_orders_completed", "month"): {
        ("utilities", JAN): 3, ("apartments", JAN): 0, ("property", JAN): 0, ("campus", JAN): 3,   # T1, T2, T8
        ("utilities", FEB): 0, ("apartments", FEB): 2, ("property", FEB): 2, ("campus", FEB): 4},  # T3 T4 | T6 T9
    ("work_orders_open", "month"): {
        # at 02-01 00:00 local: T3, T4 (completion withdrawn, re-completed 02-02), T9 (completed 00:30 on 02-01)
        ("utilities", JAN): 0, ("apartments", JAN): 2, ("property", JAN): 1, ("campus", JAN): 3,
        ("utilities", FEB): 1, ("apartments", FEB): 0, ("property", FEB): 0, ("campus", FEB): 1},  # T7
    ("response_on_time_rate", "month"): {
        ("utilities", JAN): Decimal("0.333333"), ("campus", JAN): Decimal("0.333333"),  # T1 ✓ T2 ✗ T8 ✗ = 1/3
        ("apartments", FEB): 1, ("property", FEB): Decimal("0.5"),                      # T3 ✓ T4 ✓ | T6 ✗ T9 ✓
        ("campus", FEB): Decimal("0.75")},                                               # 3/4
    ("repair_on_time_rate", "month"): {
        ("utilities", JAN): Decimal("0.666667"), ("campus", JAN): Decimal("0.666667"),  # T1 ✓ T2 ✓ T8 ✗ = 2/3
        ("apartments", FEB): Decimal("0.5"), ("property", FEB): 1,                      # T3 ✓ T4 ✗ | T6 ✓ T9 ✓
        ("campus", FEB): Decimal("0.75")},                                               # 3/4
    ("first_time_fix_rate", "month"): {
        ("utilities", JAN): 1, ("campus", JAN): 1,
        ("apartments", FEB): Decimal("0.5"), ("property", FEB): 1,                      # T4 reopened: 1 − 1/2
        ("campus", FEB): Decimal("0.75")},                                               # 1 − 1/4
    ("repair_rating_avg", "month"): {
        ("utilities", JAN): 4, ("campus", JAN): 4,                                      # (5 + 3) / 2; T2 unrated
        ("apartments", FEB): 3, ("campus", FEB): 3},                                    # (4 + 2) / 2; T6, T9 unrated
    ("work_orders_completed", "year"): {                                                # Σ months
        ("utilities", Y): 3, ("apartments", Y): 2, ("property", Y): 2, ("campus", Y): 7},
    ("work_orders_open", "year"): {                                                     # last month (February)
        ("utilities", Y): 1, ("apartments", Y): 0, ("property", Y): 0, ("campus", Y): 1},
    ("response_on_time_rate", "year"): {
        ("utilities", Y): Decimal("0.333333"), ("apartments", Y): 1, ("property", Y): Decimal("0.5"),
        ("campus", Y): Decimal("0.571429")},                                            # T1 T3 T4 T9 of 7 = 4/7
    ("repair_on_time_rate", "year"): {
        ("utilities", Y): Decimal("0.666667"), ("apartments", Y): Decimal("0.5"), ("property", Y): 1,
        ("campus", Y): Decimal("0.714286")},                                            # all but T8, T4 = 5/7
    ("first_time_fix_rate", "year"): {
        ("utilities", Y): 1, ("apartments", Y): Decimal("0.5"), ("property", Y): 1,
        ("campus", Y): Decimal("0.857143")},                                            # 1 − 1/7 = 6/7
    ("repair_rating_avg", "year"): {
        ("utilities", Y): 4, ("apartments", Y): 3, ("campus", Y): Decimal("3.5")},       # (5+3+4+2) / 4
}


def write_scenario(landing, files=None):
    write_sla(landing)
    for i, (day, recs) in enumerate((files or day_files()).items()):
        write_work_orders(landing, day, recs, bom=(i == 0))  # the first file carries a UTF-8 BOM


def load(landing, start, end, **kw):
    """Load a range and recompute exactly the days the load reported (as the KPI DAG does)."""
    kw.setdefault("run_id", "test-run")
    result = run_feed(FEED, landing, D(start), D(end), **kw)
    recompute(result.affected_days, feeds=[FEED])
    return result


def kpi_table(sql, code, grain):
    return {(u, p): v for u, p, v in sql(
        "SELECT unit_code, period_start, value FROM mart.kpi_value WHERE kpi_code = %s AND grain = %s",
        (code, grain))}


def assert_expected(sql, expected=EXPECTED):
    for (code, grain), want in expected.items():
        got = kpi_table(sql, code, grain)
        assert got == {k: Decimal(v) for k, v in want.items()}, (code, grain)


def snapshot(sql) -> dict:
    """Content of every table the feed and its KPIs write, without lineage columns."""
    out = {}
    for table in ("core.work_order_version", "core.work_order", "quality.rejected_rows",
                  "quality.file_reconciliation", "quality.validation_result", "mart.kpi_value", "mart.kpi_definition"):
        schema, name = table.split(".")
        skip = LINEAGE | {"id"} | ({"updated_at"} if table == "mart.kpi_definition" else set())
        cols = [c for (c,) in sql("""SELECT column_name FROM information_schema.columns
                                     WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position""",
                                  (schema, name)) if c not in skip]
        order = ", ".join(str(i + 1) for i in range(len(cols)))
        out[table] = sql(f"SELECT {', '.join(cols)} FROM {table} ORDER BY {order}")
        assert table == "mart.kpi_definition" or out[table] or table.startswith("quality.rejected"), table
    return out


def reconciliation(sql, file):
    return sql("""SELECT rows_read, rows_loaded, rows_quarantined, rows_duplicate FROM quality.file_reconciliation
                  WHERE feed = %s AND file = %s""", (FEED, file))[0]


# --- the scenario end to end -----------------------------------------------------------------------

def test_scenario_kpis_by_hand(landing, sql):
    write_scenario(landing)
    result = load(landing, "2001-01-30", "2001-02-02")
    assert result.rejected == []
    assert [f["rows_read"] for f in result.files] == [3, 7, 4, 3]
    assert all(f["rows_quarantined"] == 0 and f["rows_duplicate"] == 0 for f in result.files)
    assert_expected(sql)
    # the current state is the newest version; every version is kept with its file
    state = dict(sql("SELECT order_id, status FROM core.work_order"))
    assert state == {"T1": "closed", "T2": "completed", "T3": "closed", "T4": "closed", "T5": "cancelled",
                     "T6": "completed", "T7": "dispatched", "T8": "closed", "T9": "completed"}
    assert sql("SELECT count(*) FROM core.work_order_version")[0][0] == 3 + 7 + 4 + 3
    # T9's 'Z' times are stored as the same instants (local 02-01 00:30)
    assert sql("""SELECT to_char(completed_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI'),
                         to_char(arrived_at AT TIME ZONE 'UTC', 'HH24:MI:SS.MS')
                  FROM core.work_order WHERE order_id = 'T9'""") == [("2001-02-01 00:30", "07:00:00.250")]
    assert sql("SELECT unit FROM mart.kpi_definition WHERE kpi_code = 'repair_rating_avg'") == [("score",)]


def test_loading_order_does_not_matter(landing, sql):
    """Newest file first, one run per day, recomputing only the reported days: same KPIs."""
    write_scenario(landing)
    for day in ("2001-02-02", "2001-02-01", "2001-01-31", "2001-01-30"):
        load(landing, day, day)
    assert_expected(sql)


def test_replayed_older_file_never_overwrites_newer_state(landing, sql):
    write_scenario(landing)
    load(landing, "2001-01-30", "2001-02-02")
    before = snapshot(sql)
    load(landing, "2001-01-30", "2001-01-30")  # day 1 again after day 4: T1, T2, T4 stay as they are now
    assert sql("SELECT status, rating FROM core.work_order WHERE order_id = 'T4'") == [("closed", 2)]
    assert snapshot(sql) == before


def test_same_range_twice_and_overlapping_ranges(landing, sql):
    write_scenario(landing)
    load(landing, "2001-01-30", "2001-02-02")
    once = snapshot(sql)
    load(landing, "2001-01-30", "2001-02-02")
    assert snapshot(sql) == once
    load(landing, "2001-01-30", "2001-01-31")
    load(landing, "2001-01-31", "2001-02-02")
    assert snapshot(sql) == once
    assert sql("SELECT count(*) FROM quality.file_reconciliation WHERE feed = %s", (FEED,))[0][0] == 4


def test_redelivered_corrected_file_replaces_what_the_old_one_contributed(landing, sql):
    write_scenario(landing)
    load(landing, "2001-01-30", "2001-02-02")
    files = day_files()
    # the corrected 02-02 export: T4 was rated 5 (not 2), and T7 was entered by mistake
    corrected = [dict(r, rating=5) if r["order_id"] == "T4" else r for r in files["2001-02-02"] if r["order_id"] != "T7"]
    write_work_orders(landing, "2001-02-02", corrected)
    result = load(landing, "2001-02-02", "2001-02-02")
    assert result.files[0]["rows_read"] == 2
    assert sql("SELECT count(*) FROM core.work_order WHERE order_id = 'T7'")[0][0] == 0
    assert sql("SELECT count(*) FROM core.work_order_version WHERE order_id = 'T7'")[0][0] == 0
    assert sql("SELECT rating FROM core.work_order WHERE order_id = 'T4'") == [(5,)]
    expected = {k: dict(v) for k, v in EXPECTED.items()}
    expected[("repair_rating_avg", "month")].update({("apartments", FEB): Decimal("4.5"),   # (4 + 5) / 2
                                                     ("campus", FEB): Decimal("4.5")})
    expected[("repair_rating_avg", "year")].update({("apartments", Y): Decimal("4.5"),
                                                    ("campus", Y): Decimal("4.25")})        # (5+3+4+5) / 4
    expected[("work_orders_open", "month")].update({("utilities", FEB): 0, ("campus", FEB): 0})  # no T7
    expected[("work_orders_open", "year")].update({("utilities", Y): 0, ("campus", Y): 0})
    assert_expected(sql, expected)


def test_affected_months_span_creation_to_completion(landing, sql):
    """A ticket created in November and open until March: its open stock changes every month-end
    in between, so a load that touches it reports every one of those months."""
    write_sla(landing)
    x = dict(category="电路", unit="utilities", created=t("11-20 10:00").replace("2001-", "2000-"),
             dispatched=t("11-20 10:10").replace("2001-", "2000-"))
    write_work_orders(landing, "2001-01-15", [ticket("X", **x, status="dispatched")])
    r1 = load(landing, "2001-01-15", "2001-01-15")
    assert r1.affected_days == ["2000-11-01", "2000-12-01", "2001-01-01"]
    write_work_orders(landing, "2001-03-02", [ticket("X", **x, arrived=t("03-02 08:00"), completed=t("03-02 09:00"),
                                                     status="completed")])
    r2 = load(landing, "2001-03-02", "2001-03-02")
    # before: open up to the data horizon (03-02); after: completed in March
    assert r2.affected_days == ["2000-11-01", "2000-12-01", "2001-01-01", "2001-02-01", "2001-03-01"]
    opened = kpi_table(sql, "work_orders_open", "month")
    assert {p: v for (u, p), v in opened.items() if u == "utilities"} == {
        D("2000-11-01"): 1, D("2000-12-01"): 1, D("2001-01-01"): 1, D("2001-02-01"): 1, D("2001-03-01"): 0}
    assert kpi_table(sql, "work_orders_completed", "month")[("utilities", D("2001-03-01"))] == 1
    # 3 months and 10 days after creation: late for a 4 h repair, and no arrival within 30 min
    assert kpi_table(sql, "repair_on_time_rate", "month")[("campus", D("2001-03-01"))] == 0
    # the year 2000's stock is its last month, December
    assert kpi_table(sql, "work_orders_open", "year")[("campus", D("2000-01-01"))] == 1


def test_cancelled_ticket_is_never_open_and_unit_without_tickets_has_no_row(landing, sql):
    write_sla(landing)
    write_work_orders(landing, "2001-03-05", [
        ticket("C1", "保洁", "property", t("03-01 08:00"), status="cancelled", updated=t("03-05 08:00"))])
    load(landing, "2001-03-05", "2001-03-05")
    assert sql("SELECT count(*) FROM core.work_order")[0][0] == 1
    assert sql("SELECT count(*) FROM mart.kpi_value")[0][0] == 0


# --- duplicates --------------------------------------------------------------------------------------

def test_duplicates_in_one_file(landing, sql):
    write_sla(landing)
    a_open = ticket("A", "电路", "utilities", t("03-05 08:00"), status="open")
    a_done = ticket("A", "电路", "utilities", t("03-05 08:00"), arrived=t("03-05 08:10"), completed=t("03-05 09:00"),
                    status="completed")
    b = ticket("B", "灯具", "utilities", t("03-05 10:00"))
    b_conflict = dict(b, room="999")  # same order and updated_at, different content
    write_work_orders(landing, "2001-03-05", [a_done, a_open, b, dict(b), b_conflict])
    result = load(landing, "2001-03-05", "2001-03-05")
    f = result.files[0]
    assert (f["rows_read"], f["rows_loaded"], f["rows_quarantined"], f["rows_duplicate"]) == (5, 3, 1, 1)
    assert f["rules"] == {"duplicate_collapsed": 1, "duplicate_id_conflict": 1}
    assert reconciliation(sql, "work_orders_20010305.json") == (5, 3, 1, 1)
    assert sql("SELECT row_number, kept_row FROM quality.duplicate_row") == [(4, 3)]  # dict(b) repeats b
    # both versions of A are kept; the newest (completed) is the current state
    assert sql("SELECT count(*) FROM core.work_order_version WHERE order_id = 'A'")[0][0] == 2
    assert sql("SELECT order_id, status, room FROM core.work_order ORDER BY 1") == [("A", "completed", "101"),
                                                                                  ("B", "open", "101")]
    assert sql("SELECT row_number, rule, record->>'room' FROM quality.rejected_rows") == [(5, "duplicate_id_conflict", "999")]


# --- bad input: the file fails ----------------------------------------------------------------------

GOOD = ticket("G1", "电路", "utilities", t("03-05 08:00"))


@pytest.mark.parametrize("kind, raw, rule", [
    ("empty file", b"", "not_empty"),
    ("only whitespace", b"  \n", "not_empty"),
    ("GBK encoded", json.dumps([dict(GOOD, room="三楼")], ensure_ascii=False).encode("gbk"), "encoding"),
    ("invalid JSON", b'[{"order_id": "G1",, "category": 1}]\n', "json_valid"),
    ("truncated", json.dumps([GOOD, GOOD], ensure_ascii=False).encode()[:-40], "truncated"),
    ("truncated mid-string", b'[{"order_id": "G1", "category": "\xe7\x94\xb5', "truncated"),
    ("not an array", json.dumps({"tickets": [GOOD]}).encode(), "json_array"),
    ("NaN is not JSON", b'[{"order_id": "G1", "rating": NaN}]\n', "json_valid"),
])
def test_bad_file_is_rejected(landing, sql, kind, raw, rule):
    write_sla(landing)
    write_work_orders(landing, "2001-03-05", [], raw=raw)
    result = run_feed(FEED, landing, D("2001-03-05"), D("2001-03-05"), run_id="test-run")
    assert [r["rule"] for r in result.rejected] == [rule], kind
    assert "work_orders_20010305.json" in result.rejected[0]["message"]
    assert sql("SELECT count(*) FROM core.work_order_version")[0][0] == 0
    assert sql("SELECT count(*) FROM quality.file_reconciliation")[0][0] == 0  # a failed file reconciles nothing
    assert sql("SELECT success, failed_rules ? %s FROM quality.validation_result WHERE feed = %s", (rule, FEED)) == [
        (False, True)]


def test_empty_array_is_a_day_without_tickets(landing, sql):
    write_sla(landing)
    write_work_orders(landing, "2001-03-05", [])
    result = load(landing, "2001-03-05", "2001-03-05")
    assert result.rejected == []
    assert reconciliation(sql, "work_orders_20010305.json") == (0, 0, 0, 0)


def test_missing_sla_reference_fails_the_run(landing, sql):
    from campus_logistics.errors import FileRejected

    write_work_orders(landing, "2001-03-05", [GOOD])  # the minimal ref/ has no sla.csv
    with pytest.raises(FileRejected, match="sla.csv"):
        run_feed(FEED, landing, D("2001-03-05"), D("2001-03-05"), run_id="test-run")


# --- bad input: rows are quarantined ----------------------------------------------------------------

def _bad(**changes):
    rec = ticket("BAD", "灯具", "apartments", t("03-04 08:00"), arrived=t("03-04 08:30"), completed=t("03-04 12:00"),
                 status="completed", rating=4)
    for k, v in changes.items():
        if v is KeyError:
            rec.pop(k)
        else:
            rec[k] = v
    return rec


BAD_ROWS = [  # (kind, element, rule): one bad ticket version per kind, all in one file after GOOD
    ("not an object", ["a", "list"], "row_is_object"),
    ("missing field", _bad(rating=KeyError), "fields_complete"),
    ("unknown field", _bad(priority="high"), "no_unknown_fields"),
    ("missing order id", _bad(order_id=None), "order_id_present"),
    ("unknown category", _bad(category="空调"), "category_known"),
    ("unknown unit", _bad(unit_code="canteen_x"), "unit_known"),
    ("unparseable created_at", _bad(created_at="2001-03-04 8 o'clock"), "created_at_valid"),
    ("missing created_at", _bad(created_at=None), "created_at_valid"),
    ("unparseable updated_at", _bad(updated_at="yesterday"), "updated_at_valid"),
    ("impossible dispatched_at", _bad(dispatched_at="2001-02-30T08:00:00+08:00"), "dispatched_at_valid"),
    ("arrived_at a number", _bad(arrived_at=20010304), "arrived_at_valid"),
    ("completed_at without a time", _bad(completed_at="2001-03-04"), "completed_at_valid"),
    ("unknown status", _bad(status="done"), "status_known"),
    ("rating not an integer", _bad(rating=4.5), "rating_integer"),
    ("rating text", _bad(rating="good"), "rating_integer"),
    ("rating out of range", _bad(rating=7), "rating_in_range"),
    ("rating zero", _bad(rating=0), "rating_in_range"),
    ("reopened not boolean", _bad(reopened="maybe"), "reopened_boolean"),
    ("completed without completed_at", _bad(completed_at=None, updated_at=t("03-04 12:00")), "completed_has_completed_at"),
    ("dispatched before created", _bad(dispatched_at=t("03-04 07:00")), "dispatched_not_before_created"),
    ("arrived before created", _bad(arrived_at=t("03-04 07:59")), "arrived_not_before_created"),
    ("completed before created", _bad(completed_at=t("03-04 04:40")), "completed_not_before_created"),
    ("updated after the file's day", _bad(updated_at="2001-03-05T16:00:01Z"), "updated_at_not_after_file_day"),
    ("completed after the file's day", _bad(completed_at=t("03-06 09:00"), updated_at=t("03-05 09:00")),
     "times_not_after_file_day"),
]


@pytest.fixture(scope="module")
def bad_rows_loaded(pg_admin_url, template_db, tmp_path_factory):
    """One file holding GOOD then every bad row, loaded once into a warehouse of its own."""
    import psycopg

    from tests.conftest import drop_database, new_database
    from tests.fixtures import write_minimal_ref

    name, url = new_database(pg_admin_url, template_db)
    landing = tmp_path_factory.mktemp("bad_rows") / "landing"
    write_minimal_ref(landing)
    write_sla(landing)
    write_work_orders(landing, "2001-03-05", [GOOD] + [bad for _, bad, _ in BAD_ROWS])
    result = run_feed(FEED, landing, D("2001-03-05"), D("2001-03-05"), run_id="test-run", url=url)
    with psycopg.connect(url) as conn:
        rejected = {n: (rule, rec) for n, rule, rec in conn.execute(
            "SELECT row_number, rule, record FROM quality.rejected_rows WHERE feed = %s", (FEED,)).fetchall()}
        recon = conn.execute("SELECT rows_read, rows_loaded, rows_quarantined, rows_duplicate "
                             "FROM quality.file_reconciliation WHERE feed = %s", (FEED,)).fetchall()
        loaded = conn.execute("SELECT order_id FROM core.work_order").fetchall()
    yield result, rejected, recon, loaded
    drop_database(pg_admin_url, name)


@pytest.mark.parametrize("i", range(len(BAD_ROWS)), ids=[k for k, _, _ in BAD_ROWS])
def test_bad_row_is_quarantined(bad_rows_loaded, i):
    result, rejected, recon, loaded = bad_rows_loaded
    kind, bad, rule = BAD_ROWS[i]
    assert result.rejected == []
    line = i + 2  # GOOD is element 1
    assert line in rejected, kind
    rules, record = rejected[line]
    assert rule in rules.split(", "), (kind, rules)
    assert record == (bad if isinstance(bad, dict) else {"element": bad})
    assert result.files[0]["rules"][rule] >= 1
    # read = loaded (GOOD) + quarantined (every bad row) + duplicates (none)
    assert recon == [(len(BAD_ROWS) + 1, 1, len(BAD_ROWS), 0)]
    assert loaded == [("G1",)]


def test_only_the_broken_rule_is_reported(landing, sql):
    """A bad row names exactly the rules it breaks, not collateral ones."""
    write_sla(landing)
    write_work_orders(landing, "2001-03-05", [GOOD, _bad(rating=7, category="空调")])
    result = load(landing, "2001-03-05", "2001-03-05")
    assert result.files[0]["rules"] == {"category_known": 1, "rating_in_range": 1}
    assert sql("SELECT row_number, rule FROM quality.rejected_rows") == [(2, "category_known, rating_in_range")]
    assert reconciliation(sql, "work_orders_20010305.json") == (2, 1, 1, 0)


def test_lenient_but_exact_parsing(landing, sql):
    """Offsets other than +08:00, no colon in the offset, fractional seconds, a naive local time,
    an integer order id, an integral float rating and a ticket from an earlier day are all fine."""
    write_sla(landing)
    recs = [
        ticket(101, "电路", "utilities", "2001-03-04T20:00:00-04:00", arrived="2001-03-05T08:10:00.5+0800",
               completed="2001-03-05 09:00:00", status="completed", rating=4.0, updated="2001-03-05T01:00:00Z"),
    ]
    write_work_orders(landing, "2001-03-05", recs)
    result = load(landing, "2001-03-05", "2001-03-05")
    assert result.files[0]["rows_loaded"] == 1, result.files
    row = sql("""SELECT order_id, to_char(created_at AT TIME ZONE 'Asia/Shanghai', 'MM-DD HH24:MI'),
                        to_char(completed_at AT TIME ZONE 'Asia/Shanghai', 'MM-DD HH24:MI'), rating
                 FROM core.work_order""")
    assert row == [("101", "03-05 08:00", "03-05 09:00", 4)]
    # created 08:00, arrived 08:10:00.5 (≤ 30 min ✓), completed 09:00 (≤ 4 h ✓)
    assert kpi_table(sql, "response_on_time_rate", "month")[("utilities", D("2001-03-01"))] == 1
    assert kpi_table(sql, "repair_on_time_rate", "month")[("utilities", D("2001-03-01"))] == 1


def test_newest_valid_version_is_current_when_the_newest_is_quarantined(landing, sql):
    write_sla(landing)
    v1 = ticket("Q", "电路", "utilities", t("03-04 08:00"), arrived=t("03-04 08:10"), completed=t("03-04 09:00"),
                status="completed")
    write_work_orders(landing, "2001-03-04", [v1])
    write_work_orders(landing, "2001-03-05", [dict(v1, status="closed", rating=9, updated_at=t("03-05 10:00"))])
    load(landing, "2001-03-04", "2001-03-05")
    assert sql("SELECT status, rating FROM core.work_order") == [("completed", None)]
    assert work_orders_path(landing, "2001-03-05").name in {r[0] for r in sql("SELECT file FROM quality.rejected_rows")}


# --- validation windows ----------------------------------------------------------------------------

def _sql_at(url):
    import psycopg

    def run(query, params=None):
        with psycopg.connect(url, options="-c TimeZone=Asia/Shanghai") as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else []
    return run


def test_windows_spanning_files_load_as_file_by_file(landing, sql, warehouse, pg_admin_url, template_db, monkeypatch):
    """One GX run over rows of several files (and files streamed across windows) leaves exactly
    the warehouse that validating each file on its own leaves: versions, current state, quarantine
    (rules and raw records), reconciliation, validation results and KPIs."""
    from campus_logistics.feeds import work_orders
    from tests.conftest import drop_database, new_database

    write_scenario(landing)
    a_open = ticket("A", "电路", "utilities", t("02-03 08:00"), status="open")
    b = ticket("B", "灯具", "utilities", t("02-03 10:00"))
    c_bad = ticket("C", "空调", "apartments", t("02-03 07:00"), rating=7)
    write_work_orders(landing, "2001-02-03", [a_open, b, dict(b), dict(b, room="999"), c_bad, ["not", "an", "object"],
                                              dict(a_open, status="cancelled", updated_at=t("02-03 09:00"))])
    write_work_orders(landing, "2001-02-04", [])  # no ticket that day
    runs = {}

    def load_with(url, window_rows, batch):
        monkeypatch.setattr(work_orders.WorkOrdersFeed, "window_rows", window_rows)
        monkeypatch.setattr(work_orders, "BATCH", batch)
        monkeypatch.setenv("CAMPUS_LOGISTICS_WAREHOUSE_URL", url)
        result = load(landing, "2001-01-30", "2001-02-04", url=url)
        runs[(window_rows, batch)] = (result.files, result.affected_days, result.rejected)
        return snapshot(_sql_at(url))

    by_file = load_with(warehouse, 1, 50_000)  # every file validated on its own
    rejected = sql("SELECT row_number, rule, record FROM quality.rejected_rows ORDER BY row_number")
    assert [(n, r.split(", ")[0]) for n, r, _ in rejected] == [
        (4, "duplicate_id_conflict"), (5, "category_known"), (6, "row_is_object")]
    assert [rec for _, _, rec in rejected] == [dict(b, room="999"), c_bad, {"element": ["not", "an", "object"]}]
    for window_rows, batch in ((100_000, 50_000), (3, 2)):  # all files in one window; files streamed in pairs
        name, url = new_database(pg_admin_url, template_db)
        try:
            assert load_with(url, window_rows, batch) == by_file, (window_rows, batch)
        finally:
            drop_database(pg_admin_url, name)
    assert runs[(100_000, 50_000)] == runs[(3, 2)] == runs[(1, 50_000)]
