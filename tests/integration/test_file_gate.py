"""The file gate under hostile files, in every feed: a file without its header row, links in the
landing directory, a file rewritten while it is read, quoted multi-line fields and rows holding no
value. Whatever a file holds, an error message names feed, file, rule and counts, never a field
value; nothing outside the landing directory is read; the stored checksum is that of the bytes
loaded; every row read is counted under the line it starts on."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import date
from pathlib import Path

import pytest

from campus_logistics.pipeline import run_feed
from tests.fixtures import CANTEEN_HEADER, canteen_path, purchase, write_canteen, write_csv
from tests.fixtures_meters import METER_HEADER, meters_path, write_meter_ref, write_meters
from tests.fixtures_monthly import (LEDGER_HEADER, STAFF_HEADER, ledger_path, staff_path, write_ledger,
                                    write_monthly_ref, write_staff)
from tests.fixtures_tickets import (SURVEY_HEAD, at, t, ticket, write_sla,
                                    write_survey, write_work_orders)

D = date.fromisoformat
SECRET = "SECRET-KEY-b9f3c1d2e4"  # what a linked file outside the landing directory holds
STAFF_ID = "100063261"  # a raw identifier: it must never appear in a message


# --- one good file per feed -------------------------------------------------------------------------
def _canteen(root: Path) -> Path:
    return write_canteen(root, "2001-03-05", [purchase("A1", "6217000011112222", "2001-03-05 08:00:00"),
                                              purchase("A2", "6217000033334444", "2001-03-05 09:00:00")])


def _meters(root: Path) -> Path:
    write_meter_ref(root)
    return write_meters(root, "2001-03-01", [("E1", "2001-03-01T06:00:00+08:00", "101", "ok"),
                                             ("E1", "2001-03-01T12:00:00+08:00", "103", "ok")])


def _staff(root: Path) -> Path:
    write_monthly_ref(root)
    return write_staff(root, "2001-03", [("2001-03", STAFF_ID, "catering", "cook", "social_hire", "centre", "100.00"),
                                         ("2001-03", "100063262", "catering", "cook", "social_hire", "centre", "90.00")])


def _ledger(root: Path) -> Path:
    write_monthly_ref(root)
    return write_ledger(root, "2001-03", [("2001-03", "catering", "cost", "food", "1.00", "centre", "m1"),
                                          ("2001-03", "catering", "cost", "food", "2.00", "centre", "m2")])


def _work_orders(root: Path) -> Path:
    write_sla(root)
    return write_work_orders(root, "2001-03-05", [ticket("W1", "电路", "utilities", t("03-05 09:00"))])


def _surveys(root: Path) -> Path:
    return write_survey(root, "2001-06-15", SURVEY_HEAD + ["水电中心"],
                        [[STAFF_ID, at("2001-06-12", "09:00"), "学生", "满意"]])


FEEDS = {  # feed: (writer, start, end)
    "canteen": (_canteen, "2001-03-05", "2001-03-05"),
    "meters": (_meters, "2001-03-01", "2001-03-01"),
    "staff": (_staff, "2001-03-01", "2001-03-31"),
    "ledger": (_ledger, "2001-03-01", "2001-03-31"),
    "work_orders": (_work_orders, "2001-03-05", "2001-03-05"),
    "surveys": (_surveys, "2001-06-15", "2001-06-15"),
}
CSV_FEEDS = ["canteen", "meters", "staff", "ledger"]


def _run(feed: str, landing: Path):
    _, start, end = FEEDS[feed]
    return run_feed(feed, landing, D(start), D(end), allow_missing=True)


def _everything_said(sql, result) -> str:
    """Every message a run leaves: the run result (XCom, alerts, task log) and the quality tables."""
    stored = sql("SELECT failed_rules::text FROM quality.validation_result")
    said = {k: v for k, v in result.as_dict().items() if k not in ("start", "end", "ref_reloaded")}
    return json.dumps(said, ensure_ascii=False) + " ".join(r[0] for r in stored)


# --- item: a file without its header row ------------------------------------------------------------
@pytest.mark.parametrize("feed", CSV_FEEDS)
def test_file_without_header_row_fails_header_present_and_shows_no_value(feed, landing, warehouse, sql):
    path = FEEDS[feed][0](landing)
    encoding = "gb18030" if feed == "canteen" else "utf-8-sig"
    lines = path.read_bytes().decode(encoding).splitlines(keepends=True)
    path.write_bytes("".join(lines[1:]).encode("gb18030" if feed == "canteen" else "utf-8"))
    first_values = lines[1].strip().split(",")
    result = _run(feed, landing)
    [rejected] = result.rejected
    assert rejected["rule"] == "header_present", rejected
    assert "no header row" in rejected["detail"]
    said = _everything_said(sql, result)
    for value in first_values:
        if len(value) >= 3 and value not in "-".join(map(str, CANTEEN_HEADER + METER_HEADER + STAFF_HEADER + LEDGER_HEADER)):
            assert value not in said, value
    assert sql("SELECT count(*) FROM quality.file_reconciliation")[0][0] == 0


def test_survey_without_header_row_fails_header_present_and_shows_no_value(landing, warehouse, sql):
    write_survey(landing, "2001-06-15", [STAFF_ID, at("2001-06-11", "09:00"), "学生", "满意"],
                 [["100063262", at("2001-06-12", "09:00"), "学生", "满意"]])
    result = _run("surveys", landing)
    [rejected] = result.rejected
    assert rejected["rule"] == "header_present", rejected
    assert STAFF_ID not in _everything_said(sql, result)


def test_wrong_header_names_only_escaped_cut_column_names(landing, warehouse, sql):
    hostile = "<img src=x onerror=alert(1)>\x1b[31m" + "x" * 200
    write_csv(canteen_path(landing, "2001-03-05"), CANTEEN_HEADER + [hostile],
              [purchase("A1", "6217000011112222", "2001-03-05 08:00:00") + ("v",)], encoding="gb18030")
    result = _run("canteen", landing)
    [rejected] = result.rejected
    assert rejected["rule"] == "header"
    detail = rejected["detail"]
    assert "unexpected column(s)" in detail and "img src=x" in detail
    assert "<" not in detail and "\x1b" not in detail and "x" * 50 not in detail
    assert "6217000011112222" not in _everything_said(sql, result)


def test_reference_file_without_header_row_fails_header_present(landing, warehouse):
    from campus_logistics.errors import FileRejected

    (landing / "ref" / "outlets.csv").write_text("第一食堂,C1,catering,centre\n第二食堂,C2,catering,centre\n")
    _canteen(landing)
    with pytest.raises(FileRejected) as info:
        _run("canteen", landing)
    assert info.value.rule == "header_present" and "第一食堂" not in str(info.value)


# --- item: links in the landing directory -----------------------------------------------------------
def _secret(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    secret = outside / "key.txt"
    secret.write_text(f"{SECRET}\n{SECRET},{SECRET}\n")
    return secret


@pytest.mark.parametrize("feed", list(FEEDS))
def test_symlinked_file_is_refused_before_it_is_read(feed, landing, warehouse, sql, tmp_path):
    path = FEEDS[feed][0](landing)
    path.unlink()
    path.symlink_to(_secret(tmp_path))
    result = _run(feed, landing)
    [rejected] = result.rejected
    assert rejected["rule"] == "regular_file" and rejected["file"] == path.name, rejected
    assert SECRET not in _everything_said(sql, result) and "key.txt" not in _everything_said(sql, result)
    assert sql("SELECT count(*) FROM quality.file_reconciliation")[0][0] == 0


@pytest.mark.parametrize("feed", ["canteen", "work_orders"])
def test_link_to_a_good_file_is_refused_too(feed, landing, warehouse, sql, tmp_path):
    """Even a link to a well-formed file elsewhere: nothing outside the landing directory is loaded."""
    path = FEEDS[feed][0](landing)
    copy = tmp_path / "outside" / path.name
    copy.parent.mkdir(exist_ok=True)
    path.rename(copy)
    path.symlink_to(copy)
    assert [r["rule"] for r in _run(feed, landing).rejected] == ["regular_file"]


@pytest.mark.parametrize("feed", list(FEEDS))
def test_symlinked_feed_folder_is_refused(feed, landing, warehouse, sql, tmp_path):
    path = FEEDS[feed][0](landing)
    outside = tmp_path / "elsewhere"
    path.parent.rename(outside)
    path.parent.symlink_to(outside, target_is_directory=True)
    result = _run(feed, landing)
    assert [r["rule"] for r in result.rejected] == ["inside_landing"], result.rejected
    assert sql("SELECT count(*) FROM quality.file_reconciliation")[0][0] == 0


def test_fifo_in_the_landing_directory_is_refused(landing, warehouse, sql):
    path = canteen_path(landing, "2001-03-05")
    path.parent.mkdir(parents=True)
    os.mkfifo(path)  # opening it for reading would block the run forever
    assert [r["rule"] for r in _run("canteen", landing).rejected] == ["regular_file"]


def test_symlinked_reference_file_is_refused(landing, warehouse, tmp_path):
    from campus_logistics.errors import FileRejected

    ref = landing / "ref" / "outlets.csv"
    ref.unlink()
    ref.symlink_to(_secret(tmp_path))
    _canteen(landing)
    with pytest.raises(FileRejected) as info:
        _run("canteen", landing)
    assert (info.value.file, info.value.rule) == ("outlets.csv", "regular_file")
    assert SECRET not in str(info.value)


def test_symlinked_reference_folder_is_refused(landing, warehouse, tmp_path):
    from campus_logistics.errors import FileRejected

    outside = tmp_path / "other_ref"
    (landing / "ref").rename(outside)
    (landing / "ref").symlink_to(outside, target_is_directory=True)
    _canteen(landing)
    with pytest.raises(FileRejected) as info:
        _run("canteen", landing)
    assert info.value.rule == "inside_landing"


# --- item: the checksum is that of the bytes loaded ---------------------------------------------------
@pytest.mark.parametrize("feed", CSV_FEEDS)
def test_file_rewritten_while_loading_stores_the_checksum_of_what_was_loaded(feed, landing, warehouse, sql,
                                                                              monkeypatch):
    import campus_logistics.load.read as base

    path = FEEDS[feed][0](landing)
    before = path.read_bytes()
    lines = before.splitlines(keepends=True)
    after = b"".join(lines[:2])  # the header and the first row only: one row fewer
    real = base.fault_point

    def rewrite_after_gate(point: str) -> None:  # the file is rewritten in place once its gate passed
        if point == "after_gate":
            with open(path, "r+b") as f:
                f.truncate(0)
                f.write(after)
        real(point)

    monkeypatch.setattr(base, "fault_point", rewrite_after_gate)
    result = _run(feed, landing)
    assert result.rejected == []
    [(rows_read, checksum)] = sql("SELECT rows_read, checksum FROM quality.file_reconciliation")
    assert rows_read == 1
    assert checksum == hashlib.sha256(after).hexdigest() != hashlib.sha256(before).hexdigest()


@pytest.mark.parametrize("feed", list(FEEDS))
def test_checksum_is_the_sha256_of_the_file_loaded(feed, landing, warehouse, sql):
    path = FEEDS[feed][0](landing)
    assert _run(feed, landing).rejected == []
    assert sql("SELECT checksum FROM quality.file_reconciliation") == [(hashlib.sha256(path.read_bytes()).hexdigest(),)]


# --- item: line numbers and rows without a value ----------------------------------------------------
def _raw(feed: str, landing: Path, header: list[str], body: str) -> Path:
    path = {"canteen": canteen_path(landing, "2001-03-05"), "meters": meters_path(landing, "2001-03-01"),
            "staff": staff_path(landing, "2001-03"), "ledger": ledger_path(landing, "2001-03")}[feed]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((",".join(header) + "\n" + body).encode("gb18030" if feed == "canteen" else "utf-8"))
    return path


# per feed: (header, a good row with a quoted two-line text field, a row failing a rule, that rule)
LINE_CASES = {
    "canteen": (CANTEEN_HEADER, 'A1,6217000011112222,学生,2001-03-05 08:00:00,第一食堂,"T\n01",10.00,消费,',
                "A2,6217000033334444,学生,2001-03-05 09:00:00,无名食堂,T01,10.00,消费,", "outlet_known"),
    "meters": (METER_HEADER, '"E\n1",2001-03-01T06:00:00+08:00,101,ok',
               "E1,2001-03-01T12:00:00+08:00,103,broken", "status_known"),
    "staff": (STAFF_HEADER, '2001-03,"1000\n63261",catering,cook,social_hire,centre,100.00',
              "2001-03,100063262,nowhere,cook,social_hire,centre,90.00", "unit_known"),
    "ledger": (LEDGER_HEADER, '2001-03,catering,cost,food,1.00,centre,"two\r\nlines"',
               "2001-03,nowhere,cost,food,2.00,centre,m2", "unit_known"),
}


def _prepare_ref(feed: str, landing: Path) -> None:
    {"meters": write_meter_ref, "staff": write_monthly_ref, "ledger": write_monthly_ref}.get(feed, lambda r: None)(landing)


@pytest.mark.parametrize("feed", CSV_FEEDS)
def test_line_numbers_after_a_multi_line_field_are_physical(feed, landing, warehouse, sql):
    header, multi, bad, rule = LINE_CASES[feed]
    _prepare_ref(feed, landing)
    # line 1 header, lines 2-3 the two-line row, line 4 the bad row, line 5 a short row, line 6 the bad row again
    _raw(feed, landing, header, f"{multi}\n{bad}\nx,y\n{bad}\n")
    assert _run(feed, landing).rejected == []
    stored = sql(f"SELECT row_number, rule FROM quality.rejected_rows WHERE feed = '{feed}' ORDER BY row_number")
    if feed == "meters":  # a meter's register repeated at one time is a conflict in every version
        stored = [(n, r) for n, r in stored if r != "duplicate_reading_conflict"]
    first = [(2, "meter_known")] if feed == "meters" else []  # a meter id cannot hold a line break
    assert [(n, r.split(", ")[0]) for n, r in stored] == first + [(4, rule), (5, "malformed_row"), (6, rule)]


@pytest.mark.parametrize("feed", CSV_FEEDS)
def test_rows_without_any_value_are_counted_and_quarantined(feed, landing, warehouse, sql):
    header, multi, bad, _ = LINE_CASES[feed]
    _prepare_ref(feed, landing)
    commas = "," * (len(header) - 1)
    # line 2 the good row (2 lines), line 4 only commas, line 5 blank, line 6 commas with spaces
    _raw(feed, landing, header, f"{multi}\n{commas}\n\n{' ,' * (len(header) - 1)}\n")
    assert _run(feed, landing).rejected == []
    [(read, loaded, quarantined, dup)] = sql("SELECT rows_read, rows_loaded, rows_quarantined, rows_duplicate "
                                             "FROM quality.file_reconciliation")
    first = [(2, "meter_known")] if feed == "meters" else []
    assert (read, loaded, quarantined, dup) == (4, 1 - len(first), 3 + len(first), 0)
    assert sql("SELECT row_number, rule FROM quality.rejected_rows ORDER BY 1") == first + [
        (4, "empty_row"), (5, "empty_row"), (6, "empty_row")]


# --- item: warnings on files that load but deserve a look -------------------------------------------
def _warnings(sql) -> list[tuple]:
    return sql("SELECT feed, file, code FROM quality.file_warning ORDER BY feed, file, code")


def test_same_file_delivered_again_under_another_date_warns(landing, warehouse, sql):
    day4 = write_canteen(landing, "2001-03-04", [purchase("A1", "6217000011112222", "2001-03-04 08:00:00")])
    canteen_path(landing, "2001-03-05").write_bytes(day4.read_bytes())  # day 4's file delivered again as day 5's
    result = run_feed("canteen", landing, D("2001-03-04"), D("2001-03-05"))
    assert result.rejected == []
    assert [f["rows_loaded"] for f in result.files] == [1, 0]  # the copy collapses to duplicates
    assert [(w["file"], w["code"]) for w in result.warnings] == [
        ("canteen_20010304.csv", "same_content_as_other_file"), ("canteen_20010305.csv", "same_content_as_other_file")]
    assert "canteen_20010304.csv" in result.warnings[1]["detail"]
    assert _warnings(sql) == [("canteen", "canteen_20010304.csv", "same_content_as_other_file"),
                              ("canteen", "canteen_20010305.csv", "same_content_as_other_file")]
    # a re-run replaces the warnings; a corrected day 5 clears its own
    run_feed("canteen", landing, D("2001-03-04"), D("2001-03-05"))
    assert len(_warnings(sql)) == 2
    write_canteen(landing, "2001-03-05", [purchase("B1", "6217000033334444", "2001-03-05 08:00:00")])
    assert run_feed("canteen", landing, D("2001-03-05"), D("2001-03-05")).warnings == []
    assert _warnings(sql) == [("canteen", "canteen_20010304.csv", "same_content_as_other_file")]


@pytest.mark.parametrize("feed", list(FEEDS))
def test_file_with_an_unexpected_name_warns_and_is_not_loaded(feed, landing, warehouse, sql):
    path = FEEDS[feed][0](landing)
    stray = path.with_name(f"{path.stem} (1){path.suffix}")
    stray.write_bytes(path.read_bytes())
    path.unlink()
    result = _run(feed, landing)
    assert result.files == [] and result.rejected == []
    assert [(w["file"], w["code"]) for w in result.warnings] == [(stray.name, "unexpected_file_name")]
    assert _warnings(sql) == [(feed, stray.name, "unexpected_file_name")]
    assert sql("SELECT count(*) FROM quality.file_reconciliation")[0][0] == 0
    _run(feed, landing)  # a re-run leaves one warning, not two
    assert _warnings(sql) == [(feed, stray.name, "unexpected_file_name")]
    stray.unlink()
    assert _run(feed, landing).warnings == [] and _warnings(sql) == []


def test_many_stray_files_keep_the_run_result_small(landing, warehouse, sql):
    folder = landing / "canteen"
    folder.mkdir()
    for i in range(500):
        (folder / f"canteen_2001030{i % 10} ({i}).csv").write_text("x")
    result = run_feed("canteen", landing, D("2001-03-05"), D("2001-03-05"), allow_missing=True)
    assert len(result.warnings) == 21 and "480 more" in result.warnings[-1]["detail"]
    assert len(json.dumps(result.as_dict())) < 10_000
    assert sql("SELECT count(*) FROM quality.file_warning")[0][0] == 500


def test_data_quality_page_lists_warnings_escaped(landing, warehouse, sql):
    from campus_logistics.ui.pages import quality_page
    from campus_logistics.warehouse import connect

    folder = landing / "canteen"
    folder.mkdir()
    (folder / "canteen_<img src=x onerror=alert(1)>.csv").write_text("x")
    run_feed("canteen", landing, D("2001-03-05"), D("2001-03-05"), allow_missing=True)
    with connect(warehouse) as conn:
        html = quality_page(conn)
    assert "<table class='warnings'>" in html and "unexpected_file_name" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "<img src=x" not in html


# --- through Airflow and the CLI: the check task's message and the terminal -------------------------
def _cli(*args):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "campus_logistics", *args], capture_output=True, text=True,
                          env=dict(os.environ), timeout=600)


def test_cli_prints_warnings_on_stderr_and_keeps_exit_code(landing, warehouse, sql):
    day4 = write_canteen(landing, "2001-03-04", [purchase("A1", "6217000011112222", "2001-03-04 08:00:00")])
    canteen_path(landing, "2001-03-05").write_bytes(day4.read_bytes())
    (landing / "canteen" / "canteen_20010305 (1).csv").write_bytes(day4.read_bytes())
    out = _cli("run", "--landing", str(landing), "--start", "2001-03-04", "--end", "2001-03-05",
               "--warehouse", warehouse)
    assert out.returncode == 0, out.stdout + out.stderr
    warnings = [line for line in out.stderr.splitlines() if line.startswith("warning: ")]
    assert any("canteen_20010305.csv" in w and "same_content_as_other_file" in w for w in warnings), out.stderr
    assert any("canteen_20010305 (1).csv" in w and "unexpected_file_name" in w for w in warnings), out.stderr


def test_header_less_file_through_airflow_names_no_value(landing, warehouse, sql):
    card = "6217000099998888"
    path = write_canteen(landing, "2001-03-05", [purchase("A1", card, "2001-03-05 08:00:00")])
    path.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[1:]))
    out = _cli("run", "--landing", str(landing), "--start", "2001-03-05", "--end", "2001-03-05",
               "--warehouse", warehouse)
    assert out.returncode == 1
    assert "header_present" in out.stderr and "canteen_20010305.csv" in out.stderr  # the check task's error
    assert card not in out.stdout + out.stderr
    assert card not in json.dumps(sql("SELECT failed_rules FROM quality.validation_result"))


def test_key_rotation_reads_no_linked_file(landing, tmp_path):
    """Rotation re-derives pseudonyms from the landing files through the same gate: a link is skipped."""
    from campus_logistics.rekey import identifiers

    _canteen(landing)
    outside = tmp_path / "outside.csv"
    outside.write_bytes(",".join(CANTEEN_HEADER).encode("gb18030") + b"\nX1,6217000077778888,a,b,c,d,e,f,g\n")
    (landing / "canteen" / "canteen_20010306.csv").symlink_to(outside)
    found = identifiers(landing)
    assert "6217000011112222" in found and "6217000077778888" not in found


def test_data_row_holding_a_column_name_by_chance_is_still_no_header(landing, warehouse, sql):
    """A memo that happens to read "memo" does not make the first data row a header whose other
    "columns" (the row's values) would be named."""
    path = write_ledger(landing, "2001-03", [("2001-03", "catering", "cost", "food", "1.00", "centre", "memo")])
    path.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[1:]))
    write_monthly_ref(landing)
    result = _run("ledger", landing)
    assert [r["rule"] for r in result.rejected] == ["header_present"]
    assert "catering" not in json.dumps(result.rejected)


def test_stray_reference_file_warns(landing, warehouse, sql):
    (landing / "ref" / "outlets (1).csv").write_bytes((landing / "ref" / "outlets.csv").read_bytes())
    _canteen(landing)
    result = _run("canteen", landing)
    assert [(w.get("feed"), w["file"], w["code"]) for w in result.warnings] == [
        ("ref", "outlets (1).csv", "unexpected_file_name")]
    _run("canteen", landing)
    assert _warnings(sql) == [("ref", "outlets (1).csv", "unexpected_file_name")]


def test_reference_file_errors_name_the_physical_line(landing, warehouse):
    """A quoted multi-line value and a blank line before the bad row: the line named is the bad row's."""
    from campus_logistics.errors import FileRejected

    (landing / "ref" / "outlets.csv").write_text(
        'outlet_name,outlet_code,unit_code,operator\n"第一\n食堂",C1,catering,centre\n\n第二食堂,C2,catering,nobody\n')
    _canteen(landing)
    with pytest.raises(FileRejected) as info:
        _run("canteen", landing)
    assert info.value.rule == "operator_valid" and "line 5:" in info.value.detail, info.value.detail
    (landing / "ref" / "outlets.csv").write_text(
        'outlet_name,outlet_code,unit_code,operator\n"第一\n食堂",C1,catering,centre\n"第一\n食堂",C1,catering,centre\n')
    with pytest.raises(FileRejected) as info:
        _run("canteen", landing)
    assert info.value.rule == "unique_key" and "line 4:" in info.value.detail, info.value.detail


def test_check_task_logs_each_warning_escaped(landing, warehouse, caplog):
    """The feed DAG's check task logs the load's warnings (they do not fail it)."""
    import logging

    from campus_logistics.file_warnings import log_warnings
    from campus_logistics.pipeline import raise_for_rejections

    folder = landing / "canteen"
    folder.mkdir()
    (folder / "canteen_x\x1b[31m<b>.csv").write_text("x")
    result = run_feed("canteen", landing, D("2001-03-05"), D("2001-03-05"), allow_missing=True).as_dict()
    with caplog.at_level(logging.WARNING, logger="campus_logistics.file_warnings"):
        log_warnings(result)
        raise_for_rejections(result)  # a warning alone does not fail the run
    [line] = [r.getMessage() for r in caplog.records if "unexpected_file_name" in r.getMessage()]
    assert "canteen_x" in line and "\x1b" not in line and "<b>" not in line
