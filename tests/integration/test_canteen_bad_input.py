"""Bad input in the canteen feed: one test per kind of sources.md that applies to it.

Decisions:

* FILE FAILS — nothing of the file is loaded, the run lists it in ``result.rejected`` with the
  rule, and the other files of the same run still load: missing file (``file_present``), 0-byte
  or header-only file (``not_empty``), wrong encoding / UTF-8 BOM / bytes invalid in GB18030
  (``encoding``), missing, renamed or extra column (``header``), cut-off last line
  (``truncated``), a file dated after today (``not_in_future``).
* ROWS QUARANTINED — the good rows load, each bad row lands in ``quality.rejected_rows`` with its
  rule and the record (card pseudonymised), and the file's reconciliation holds
  rows_read = loaded + quarantined + duplicates.
* DUPLICATES — an identical repeat of a 流水号 (in the file or already loaded from another file)
  is collapsed and counted in rows_duplicate; the same 流水号 with different content is quarantined
  as ``duplicate_id_conflict`` (the first one loaded wins).

To keep this file fast, the file-level cases share ONE run (one good file and one bad file per
kind, each on its own day of March 2001) and the row-level cases share another (one file per kind,
each on its own day of April 2001), in a warehouse of this module; every kind is still its own test.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from datetime import date, timedelta

import pendulum
import psycopg
import pytest

from campus_logistics.pipeline import run_feed
from tests.conftest import drop_database, new_database
from tests.fixtures import (CANTEEN_HEADER, canteen_path, purchase, reversal, write_canteen, write_csv,
                            write_minimal_ref)

CARD = "6217000011112222"
RAW_CARDS = ["6217000011112222", "6217000033334444", "6217000055556666"]


def _hmac(raw: str) -> str:
    return hmac.new(os.environ["CAMPUS_LOGISTICS_PSEUDONYM_KEY"].encode(), raw.encode(), hashlib.sha256).hexdigest()


def _file(day: str) -> str:
    return f"canteen_{day.replace('-', '')}.csv"


def _pre(day: str) -> str:
    """A txn id prefix unique to the day (MMDD), so files of different days never share a 流水号."""
    return day[5:7] + day[8:10]


def _good_rows(day: str, prefix: str) -> list[tuple]:
    return [
        purchase(f"{prefix}G1", "6217000033334444", f"{day} 08:00:00", "第一食堂", "8.00"),
        purchase(f"{prefix}G2", "6217000055556666", f"{day} 12:00:00", "第二食堂", "12.50", holder="教职工"),
    ]


def _query(url):
    def run(query, params=None):
        with psycopg.connect(url, options="-c TimeZone=Asia/Shanghai") as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else []
    return run


def _recon(sql, file):
    rows = sql("SELECT rows_read, rows_loaded, rows_quarantined, rows_duplicate FROM quality.file_reconciliation "
               "WHERE feed = 'canteen' AND file = %s", (file,))
    assert len(rows) == 1, f"no reconciliation row for {file}"
    read, loaded, quarantined, dup = rows[0]
    assert read == loaded + quarantined + dup
    return rows[0]


def _ids(sql, file):
    return sorted(r[0] for r in sql("SELECT txn_id FROM core.canteen_txn WHERE source_file = %s", (file,)))


def _no_raw_cards(sql):
    for table in ("core.canteen_txn", "quality.rejected_rows"):
        text = "\n".join(r[0] for r in sql(f"SELECT t::text FROM {table} t"))
        for raw in RAW_CARDS:
            assert raw not in text, (table, raw)


@pytest.fixture(scope="module")
def module_warehouse(pg_admin_url, template_db):
    name, url = new_database(pg_admin_url, template_db)
    yield url
    drop_database(pg_admin_url, name)


# --- the file fails -------------------------------------------------------------------------------

def _header_minus(col):
    return [c for c in CANTEEN_HEADER if c != col]


def _rows_minus(rows, col):
    i = CANTEEN_HEADER.index(col)
    return [r[:i] + r[i + 1:] for r in rows]


def _empty(root, day, rows):
    canteen_path(root, day).parent.mkdir(parents=True, exist_ok=True)
    canteen_path(root, day).write_bytes(b"")


def _header_only(root, day, rows):
    write_canteen(root, day, [])


def _utf8(root, day, rows):
    write_canteen(root, day, rows, encoding="utf-8")


def _utf8_bom(root, day, rows):
    write_canteen(root, day, rows, encoding="utf-8", bom=True)


def _invalid_gb18030(root, day, rows):
    # 0xFF is not a valid GB18030 byte anywhere; put it in a data row, not the header
    p = write_canteen(root, day, rows + [purchase("X3", CARD, f"{day} 13:00:00", terminal="TXX")])
    p.write_bytes(p.read_bytes().replace(b"TXX", b"T\xff\x80"))


def _missing_column(root, day, rows):
    write_csv(canteen_path(root, day), _header_minus("终端号"), _rows_minus(rows, "终端号"), encoding="gb18030")


def _renamed_column(root, day, rows):
    header = ["金额" if c == "交易金额" else c for c in CANTEEN_HEADER]
    write_csv(canteen_path(root, day), header, rows, encoding="gb18030")


def _extra_column(root, day, rows):
    write_csv(canteen_path(root, day), CANTEEN_HEADER + ["备注"], [r + ("x",) for r in rows], encoding="gb18030")


def _truncated(root, day, rows):
    p = write_canteen(root, day, rows + [purchase("X3", CARD, f"{day} 13:00:00")])
    data = p.read_bytes()
    cut = data.rindex(f"{day} 13:".encode("gb18030"))  # the export stopped in the middle of a time
    p.write_bytes(data[:cut + 8])


def _truncated_crlf(root, day, rows):
    p = write_canteen(root, day, rows + [purchase("X3", CARD, f"{day} 13:00:00")])
    p.write_bytes(p.read_bytes().replace(b"\n", b"\r\n")[:-20])


FILE_GOOD_DAY = "2001-03-01"
FILE_CASES = {  # kind: (day of the bad file, writer or None for no file at all, rule)
    "missing_file": ("2001-03-02", None, "file_present"),
    "empty_0_bytes": ("2001-03-03", _empty, "not_empty"),
    "header_only": ("2001-03-04", _header_only, "not_empty"),
    "utf8_instead_of_gb18030": ("2001-03-05", _utf8, "encoding"),
    "utf8_bom": ("2001-03-06", _utf8_bom, "encoding"),
    "bytes_invalid_in_gb18030": ("2001-03-07", _invalid_gb18030, "encoding"),
    "missing_column": ("2001-03-08", _missing_column, "header"),
    "renamed_column": ("2001-03-09", _renamed_column, "header"),
    "extra_column": ("2001-03-10", _extra_column, "header"),
    "truncated_last_line": ("2001-03-11", _truncated, "truncated"),
    "truncated_last_line_crlf": ("2001-03-12", _truncated_crlf, "truncated"),
}


@pytest.fixture(scope="module")
def file_run(module_warehouse, tmp_path_factory):
    """One run over 2001-03-01..12: a good file on the 1st, a bad (or no) file on each other day."""
    root = tmp_path_factory.mktemp("landing_files")
    write_minimal_ref(root)
    write_canteen(root, FILE_GOOD_DAY, _good_rows(FILE_GOOD_DAY, "F"))
    for day, writer, _ in FILE_CASES.values():
        if writer:
            writer(root, day, _good_rows(day, _pre(day)))
    result = run_feed("canteen", root, date(2001, 3, 1), date(2001, 3, 12), run_id="files",
                      url=module_warehouse)
    return result, _query(module_warehouse)


@pytest.mark.parametrize("kind", list(FILE_CASES))
def test_file_fails(kind, file_run):
    result, sql = file_run
    day, _, rule = FILE_CASES[kind]
    file = _file(day)
    rejected = [r for r in result.rejected if r["file"] == file]
    assert [r["rule"] for r in rejected] == [rule]
    assert "canteen" in rejected[0]["message"] and file in rejected[0]["message"]
    # nothing of the file is in core or quality
    assert _ids(sql, file) == []
    assert sql("SELECT count(*) FROM quality.rejected_rows WHERE file = %s", (file,)) == [(0,)]
    assert sql("SELECT count(*) FROM quality.file_reconciliation WHERE file = %s", (file,)) == [(0,)]
    if rule != "file_present":
        # the failure is recorded for the engineers (validation result naming the rule)
        assert sql("SELECT success, failed_rules ? %s FROM quality.validation_result WHERE file = %s",
                   (rule, file)) == [(False, True)]
    # the good file of the same run loaded
    assert [f["file"] for f in result.files] == [_file(FILE_GOOD_DAY)]
    assert _ids(sql, _file(FILE_GOOD_DAY)) == ["FG1", "FG2"]
    assert _recon(sql, _file(FILE_GOOD_DAY)) == (2, 2, 0, 0)
    # every bad file is reported, each once; nothing else is
    assert sorted(r["file"] for r in result.rejected) == sorted(_file(d) for d, _, _ in FILE_CASES.values())
    _no_raw_cards(sql)


def test_file_dated_in_the_future_fails_not_in_future(landing, sql):
    today = pendulum.now("Asia/Shanghai").date()
    yesterday, future = today - timedelta(days=1), today + timedelta(days=2)
    write_canteen(landing, yesterday.isoformat(), _good_rows(yesterday.isoformat(), "Y"))
    for d in (today, today + timedelta(days=1), future):
        write_canteen(landing, d.isoformat(), _good_rows(yesterday.isoformat(), f"{d.day}-"))
    result = run_feed("canteen", landing, yesterday, future, run_id="r")
    future_file = _file(future.isoformat())
    rejected = {r["file"]: r["rule"] for r in result.rejected}
    assert rejected[future_file] == "not_in_future"
    assert _file(yesterday.isoformat()) not in rejected and _file(today.isoformat()) not in rejected
    assert _ids(sql, future_file) == []
    assert sql("SELECT count(*) FROM quality.file_reconciliation WHERE file = %s", (future_file,)) == [(0,)]
    assert _ids(sql, _file(yesterday.isoformat())) == ["YG1", "YG2"]
    # today's file is not in the future: it loads (its rows are yesterday's late sales)
    assert len(_ids(sql, _file(today.isoformat()))) == 2


# --- rows are quarantined -------------------------------------------------------------------------

def _p(day, txn_id="X1", when=None, **kw):
    return purchase(txn_id, CARD, when or f"{day} 12:30:00", **kw)


QUARANTINE_CASES = {
    # kind: (bad row for a file of `day`, rule expected)
    "unknown_outlet": (lambda d: _p(d, outlet="第九食堂"), "outlet_known"),
    "unparseable_amount": (lambda d: _p(d, amount="abc"), "amount_parseable"),
    "amount_with_3_decimals": (lambda d: _p(d, amount="12.345"), "amount_parseable"),
    "amount_with_thousands_separator": (lambda d: _p(d, amount="1,000.00"), "amount_parseable"),
    "amount_in_full_width_digits": (lambda d: _p(d, amount="１２.００"), "amount_parseable"),
    "empty_amount": (lambda d: _p(d, amount=""), "amount_parseable"),
    "unparseable_time": (lambda d: _p(d, when="yesterday noon"), "time_parseable"),
    "impossible_date": (lambda d: _p(d, when="2001-02-30 12:00:00"), "time_parseable"),
    "time_after_the_file_day": (lambda d: _p(d, when=str(date.fromisoformat(d) + timedelta(days=1)) + " 00:00:00"),
                                "time_not_after_file_day"),
    "unknown_holder_type": (lambda d: _p(d, holder="访客"), "holder_type_known"),
    "unknown_txn_type": (lambda d: ("X1", CARD, "学生", f"{d} 12:30:00", "第一食堂", "T01", "10.00", "充值", ""),
                         "type_known"),
    "purchase_with_negative_amount": (lambda d: _p(d, amount="-10.00"), "amount_sign_matches_type"),
    "reversal_with_positive_amount": (lambda d: reversal("X1", CARD, f"{d} 12:30:00", "G1", "8.00"),
                                      "amount_sign_matches_type"),
    "reversal_without_original_id": (lambda d: reversal("X1", CARD, f"{d} 12:30:00", "", "-8.00"),
                                     "original_id_matches_type"),
    "purchase_with_original_id": (lambda d: ("X1", CARD, "学生", f"{d} 12:30:00", "第一食堂", "T01", "10.00", "消费",
                                             "G1"), "original_id_matches_type"),
    "empty_txn_id": (lambda d: _p(d, txn_id=""), "txn_id_present"),
    "empty_card": (lambda d: purchase("X1", "", f"{d} 12:30:00"), "card_present"),
}
Q_DAYS = {kind: f"2001-04-{i:02d}" for i, kind in enumerate(QUARANTINE_CASES, start=1)}


def _malformed(root, day):
    p = write_canteen(root, day, _good_rows(day, _pre(day)))
    lines = p.read_bytes().split(b"\n")
    # a row with too few fields between the two good ones (line 3), and one with too many (line 5)
    lines.insert(2, f"X1,{CARD},学生,{day} 12:30:00,第一食堂".encode("gb18030"))
    lines.insert(4, f"X2,{CARD},学生,{day} 12:30:00,第一食堂,T01,10.00,消费,,surplus".encode("gb18030"))
    p.write_bytes(b"\n".join(lines))


def _several_rules(root, day):
    write_canteen(root, day, _good_rows(day, _pre(day)) + [_p(day, outlet="第九食堂", amount="abc", holder="访客")])


def _formula(root, day):
    write_canteen(root, day, _good_rows(day, _pre(day)) + [_p(day, "X1", terminal="=1+2"),
                                                             _p(day, "X2", terminal="@SUM(A1)")])


def _non_padded_time(root, day):
    write_canteen(root, day, _good_rows(day, _pre(day)) + [_p(day, "Y1", when=f"2001-5-{int(day[8:])} 9:05:00")])


def _no_newline_at_end(root, day):
    write_canteen(root, day, _good_rows(day, _pre(day)), newline_at_end=False)


def _crlf(root, day):
    p = write_canteen(root, day, _good_rows(day, _pre(day)))
    p.write_bytes(p.read_bytes().replace(b"\n", b"\r\n"))


def _reordered(root, day):
    header = list(reversed(CANTEEN_HEADER))
    write_csv(canteen_path(root, day), header, [tuple(reversed(r)) for r in _good_rows(day, _pre(day))],
              encoding="gb18030")


OTHER_DAYS = {  # more row-level and layout cases, in May
    "malformed": ("2001-05-01", _malformed), "several_rules": ("2001-05-02", _several_rules),
    "formula": ("2001-05-03", _formula), "non_padded_time": ("2001-05-04", _non_padded_time),
    "no_newline_at_end": ("2001-05-05", _no_newline_at_end), "crlf": ("2001-05-06", _crlf),
    "reordered": ("2001-05-07", _reordered),
}


@pytest.fixture(scope="module")
def row_run(module_warehouse, tmp_path_factory):
    """One run over the April files (one quarantine kind each) and one over the May ones."""
    root = tmp_path_factory.mktemp("landing_rows")
    write_minimal_ref(root)
    for kind, (bad, _) in QUARANTINE_CASES.items():
        day = Q_DAYS[kind]
        good = _good_rows(day, _pre(day))
        write_canteen(root, day, good[:1] + [bad(day)] + good[1:])  # the bad row is line 3
    for day, writer in OTHER_DAYS.values():
        writer(root, day)
    days = sorted(Q_DAYS.values())
    april = run_feed("canteen", root, date.fromisoformat(days[0]), date.fromisoformat(days[-1]), run_id="rows",
                     url=module_warehouse)
    may = run_feed("canteen", root, date(2001, 5, 1), date(2001, 5, len(OTHER_DAYS)), run_id="rows",
                   url=module_warehouse)
    assert april.rejected == [] and may.rejected == []
    files = {f["file"]: f for f in april.files + may.files}
    return files, _query(module_warehouse)


@pytest.mark.parametrize("kind", list(QUARANTINE_CASES))
def test_rows_quarantined(kind, row_run):
    files, sql = row_run
    bad_row, rule = QUARANTINE_CASES[kind]
    day = Q_DAYS[kind]
    file, bad = _file(day), bad_row(day)
    assert files[file]["rules"] == {rule: 1}
    # the good rows loaded, the bad one did not
    assert _ids(sql, file) == [f"{_pre(day)}G1", f"{_pre(day)}G2"]
    assert _recon(sql, file) == (3, 2, 1, 0)
    # the bad row is kept with its rule, its line number (header = line 1) and the record
    [(row_number, got_rule, record)] = sql(
        "SELECT row_number, rule, record FROM quality.rejected_rows WHERE feed = 'canteen' AND file = %s", (file,))
    assert (row_number, got_rule) == (3, rule)
    assert record["流水号"] == (bad[0] or None)
    assert record["交易金额"] == (bad[6] or None)
    assert record["交易时间"] == bad[3]
    if bad[1]:
        assert record["卡号"] == _hmac(bad[1])  # pseudonymised, never the raw number
    else:
        assert record["卡号"] is None
    _no_raw_cards(sql)


def test_malformed_rows_quarantined(row_run):
    files, sql = row_run
    file = _file(OTHER_DAYS["malformed"][0])
    assert files[file]["rules"] == {"malformed_row": 2}
    assert _ids(sql, file) == ["0501G1", "0501G2"]
    assert _recon(sql, file) == (4, 2, 2, 0)
    rows = sql("SELECT row_number, rule, record FROM quality.rejected_rows WHERE file = %s ORDER BY row_number",
               (file,))
    assert [(n, r) for n, r, _ in rows] == [(3, "malformed_row"), (5, "malformed_row")]
    # 4 fields short: the card may have shifted left into the 流水号's place, so both are pseudonymised
    assert rows[0][2]["fields"] == [_hmac("X1"), _hmac(CARD), "学生", "2001-05-01 12:30:00", "第一食堂"]
    assert rows[1][2]["fields"][1] == _hmac(CARD) and len(rows[1][2]["fields"]) == 10
    _no_raw_cards(sql)


def test_several_rules_on_one_row_are_all_named(row_run):
    files, sql = row_run
    file = _file(OTHER_DAYS["several_rules"][0])
    [(rule,)] = sql("SELECT rule FROM quality.rejected_rows WHERE file = %s", (file,))
    assert set(rule.split(", ")) == {"outlet_known", "amount_parseable", "holder_type_known"}
    assert _recon(sql, file) == (3, 2, 1, 0)


def test_formula_looking_text_is_stored_literally(row_run):
    files, sql = row_run
    file = _file(OTHER_DAYS["formula"][0])
    assert sql("SELECT txn_id, terminal FROM core.canteen_txn WHERE source_file = %s AND txn_id LIKE 'X%%' "
               "ORDER BY 1", (file,)) == [("X1", "=1+2"), ("X2", "@SUM(A1)")]
    assert _recon(sql, file) == (4, 4, 0, 0)


def test_non_padded_time_is_normalised(row_run):
    """A time written without zero padding (2001-5-4 9:05:00) is read, typed and dated correctly."""
    files, sql = row_run
    file = _file(OTHER_DAYS["non_padded_time"][0])
    assert _recon(sql, file) == (3, 3, 0, 0)
    assert sql("SELECT txn_date, to_char(txn_time, 'YYYY-MM-DD HH24:MI:SS') FROM core.canteen_txn "
               "WHERE source_file = %s AND txn_id = 'Y1'", (file,)) == [(date(2001, 5, 4), "2001-05-04 09:05:00")]


@pytest.mark.parametrize("kind", ["no_newline_at_end", "crlf", "reordered"])
def test_harmless_layout_variations_load(kind, row_run):
    """Not bad input: a complete last line without newline, Windows line ends, another column order."""
    files, sql = row_run
    day = OTHER_DAYS[kind][0]
    file = _file(day)
    assert files[file]["rules"] == {}
    assert _recon(sql, file) == (2, 2, 0, 0)
    assert sql("SELECT txn_id, amount_yuan::text, terminal, holder_type FROM core.canteen_txn WHERE source_file = %s "
               "ORDER BY 1", (file,)) == [(f"{_pre(day)}G1", "8.00", "T01", "student"),
                                          (f"{_pre(day)}G2", "12.50", "T01", "staff")]


# --- duplicates -----------------------------------------------------------------------------------

D1, D2 = "2001-03-01", "2001-03-02"
F1, F2 = _file(D1), _file(D2)


def _run(landing, start=D1, end=D2):
    return run_feed("canteen", landing, date.fromisoformat(start), date.fromisoformat(end), run_id="dup")


def test_identical_duplicate_in_file_is_collapsed(landing, sql):
    g1, g2 = _good_rows(D1, "")
    write_canteen(landing, D1, [g1, g2, g1])
    result = _run(landing, D1, D1)
    assert result.rejected == []
    assert _ids(sql, F1) == ["G1", "G2"]
    assert _recon(sql, F1) == (3, 2, 0, 1)  # read 3 = loaded 2 + quarantined 0 + duplicates 1
    assert sql("SELECT count(*) FROM quality.rejected_rows") == [(0,)]


def test_conflicting_duplicate_in_file_is_quarantined(landing, sql):
    g1, g2 = _good_rows(D1, "")
    changed = g1[:6] + ("9.00",) + g1[7:]  # same 流水号 G1, another amount
    write_canteen(landing, D1, [g1, g2, changed])
    result = _run(landing, D1, D1)
    assert result.rejected == []
    assert _ids(sql, F1) == ["G1", "G2"]
    assert sql("SELECT amount_yuan::text FROM core.canteen_txn WHERE txn_id = 'G1'") == [("8.00",)]  # first wins
    assert _recon(sql, F1) == (3, 2, 1, 0)
    [(row_number, rule, record)] = sql("SELECT row_number, rule, record FROM quality.rejected_rows")
    assert (row_number, rule) == (4, "duplicate_id_conflict")
    assert record["txn_id"] == "G1" and str(record["amount_yuan"]) in ("9", "9.0", "9.00")
    assert re.fullmatch(r"[0-9a-f]{64}", record["card_hash"])
    _no_raw_cards(sql)


def test_duplicate_of_a_transaction_loaded_from_another_file(landing, sql):
    g1, g2 = _good_rows(D1, "")
    write_canteen(landing, D1, [g1, g2])
    changed = g2[:6] + ("99.00",) + g2[7:]
    # the next day's export repeats G1 identically (a late re-send) and G2 with another amount
    write_canteen(landing, D2, [g1, purchase("N1", CARD, f"{D2} 09:00:00"), changed])
    result = _run(landing)
    assert result.rejected == []
    assert _ids(sql, F1) == ["G1", "G2"]
    assert _ids(sql, F2) == ["N1"]
    assert _recon(sql, F2) == (3, 1, 1, 1)  # 3 = N1 loaded + G2 conflict + G1 duplicate
    assert sql("SELECT row_number, rule FROM quality.rejected_rows WHERE file = %s", (F2,)) == [
        (4, "duplicate_id_conflict")]
    assert sql("SELECT amount_yuan::text FROM core.canteen_txn WHERE txn_id = 'G2'") == [("12.50",)]
    # re-running both days changes nothing (the owner file is not compared with itself)
    _run(landing)
    assert _ids(sql, F1) == ["G1", "G2"] and _ids(sql, F2) == ["N1"]
    assert _recon(sql, F2) == (3, 1, 1, 1) and _recon(sql, F1) == (2, 2, 0, 0)
    _no_raw_cards(sql)
