"""A run's parameters are bounded before anything is read: the date range (order, span, reference
calendar), the landing directory (inside an allowed root) and whether its ``ref/`` may replace the
warehouse's reference data; a long run's result stays small in XCom and in its failure message."""

from __future__ import annotations

import json
from datetime import date

import pytest

from campus_logistics_tools.airflow_runtime import DagRunFailed, run_dag
from tests.fixtures import OUTLETS, purchase, write_canteen, write_csv, write_minimal_ref

pytestmark = pytest.mark.embedded_only  # warehouse-independent checks and Airflow runs: one pass


@pytest.mark.parametrize("start, end, rule", [
    ("2001-03-06", "2001-03-05", "range_order"),            # end before start
    ("2001-03-05", "9999-12-31", "range_calendar"),         # was an OverflowError
    ("1900-01-01", "2000-12-31", "range_calendar"),         # was 36,890 file_present rejections
    ("0001-01-01", "9999-12-31", "range_calendar"),         # was ~1 GB of XCom
    ("2001-01-01", "2002-06-30", "range_max_days"),         # 546 days
], ids=["end before start", "end 9999", "1900-2000", "0001-9999", "span over the maximum"])
def test_a_manual_run_with_an_unbounded_range_fails_before_reading(start, end, rule, landing, warehouse, sql,
                                                                   monkeypatch):
    """Each range fails the feed DAG's ``interval`` task with its rule named: no file is read, the
    warehouse is untouched, and the error is short."""
    monkeypatch.setenv("CAMPUS_LOGISTICS_LANDING", str(landing))
    write_canteen(landing, "2001-03-05", [purchase("A1", "10001", "2001-03-05 07:30:00")])
    with pytest.raises(DagRunFailed) as failed:
        run_dag("feed_canteen", {"start": start, "end": end})
    result = failed.value.result
    assert result.failed_tasks == ["interval"]
    assert f"'{rule}'" in result.errors["interval"] and len(result.errors["interval"]) < 400
    assert sql("SELECT count(*) FROM quality.file_reconciliation")[0][0] == 0
    assert sql("SELECT count(*) FROM core.ref_file")[0][0] == 0


@pytest.mark.parametrize("start, end, rule", [
    ("2001-3-5", "2001-03-06", "range_dates_valid"),
    ("２００１-03-05", "2001-03-06", "range_dates_valid"),   # full-width digits
    ("2001-02-30", "2001-03-06", "range_dates_valid"),
    ("2001-03-05T00:00", "2001-03-06", "range_dates_valid"),
    ("2000-01-01", "2000-12-31", None),
    ("2026-01-01", "2026-01-31", "range_calendar"),           # after "today"
    ("2025-01-01", "2025-12-31", None),
    ("2024-01-01", "2024-12-31", None),                       # 366 days
    ("2024-01-01", "2025-01-01", "range_max_days"),
], ids=["not zero-padded", "full-width digits", "impossible day", "a time", "calendar's first year",
        "after today", "a year", "a leap year", "367 days"])
def test_check_range_rules(start, end, rule):
    """Airflow's param schema already refuses most malformed dates at trigger time; the check refuses them
    too (a conf can reach the task by other paths) and never raises anything but RunRejected."""
    from campus_logistics.errors import RunRejected
    from campus_logistics.run_params import check_range

    if rule is None:
        assert check_range(start, end, today=date(2025, 12, 31)) == (date.fromisoformat(start), date.fromisoformat(end))
    else:
        with pytest.raises(RunRejected, match=f"'{rule}'"):
            check_range(start, end, today=date(2025, 12, 31))


def test_the_kpi_dag_refuses_an_unbounded_range():
    with pytest.raises(DagRunFailed) as failed:
        run_dag("kpi", {"start": "0001-01-01", "end": "9999-12-31"})
    assert failed.value.result.failed_tasks == ["periods"]
    assert "'range_calendar'" in failed.value.result.errors["periods"]


def test_the_kpi_dag_refuses_an_unbounded_list_of_days():
    days = [f"{y:04d}-01-01" for y in range(1, 10000)]  # ten thousand years of KPIs
    with pytest.raises(DagRunFailed) as failed:
        run_dag("kpi", {"days": days})
    assert failed.value.result.failed_tasks == ["periods"]
    assert "'range_max_days'" in failed.value.result.errors["periods"]
    with pytest.raises(DagRunFailed) as failed:
        run_dag("kpi", {"days": ["1700-01-01"]})
    assert "'range_calendar'" in failed.value.result.errors["periods"]


def test_the_cli_refuses_an_unbounded_range(landing):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "campus_logistics", "run", "--landing", str(landing),
                          "--start", "2001-01-01", "--end", "9999-12-31"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "'range_calendar'" in out.stderr and "Traceback" not in out.stderr


def test_a_long_range_keeps_xcom_and_messages_small(landing, warehouse, sql, monkeypatch):
    """A year with two delivered days: the missing days are reported as ranges, the load's XCom stays a
    few kilobytes and the failure message a few lines, while the two files are loaded."""
    monkeypatch.setenv("CAMPUS_LOGISTICS_LANDING", str(landing))
    write_canteen(landing, "2001-03-05", [purchase("A1", "10001", "2001-03-05 07:30:00")])
    write_canteen(landing, "2001-03-07", [purchase("B1", "10002", "2001-03-07 07:30:00")])
    with pytest.raises(DagRunFailed) as failed:
        run_dag("feed_canteen", {"start": "2001-01-01", "end": "2001-12-31"})
    result = failed.value.result
    assert result.failed_tasks == ["check"]
    load = result.xcoms["load"]
    assert len(json.dumps(load)) < 8_000
    assert load["totals"]["files"] == 2 and load["totals"]["rows_read"] == 2
    assert [(r["file"], r["rule"]) for r in load["rejected"]] == [
        ("canteen_20010101.csv…canteen_20010304.csv", "file_present"),
        ("canteen_20010306.csv", "file_present"),
        ("canteen_20010308.csv…canteen_20011231.csv", "file_present"),
    ]
    assert "2001-01-01…2001-03-04 (63 days)" in load["rejected"][0]["detail"]
    assert "2001-03-08…2001-12-31 (299 days)" in load["rejected"][2]["detail"]
    assert len(result.errors["check"]) < 2_000
    assert sql("SELECT count(*) FROM core.canteen_txn")[0][0] == 2


def test_the_check_task_counts_every_file_of_a_long_run(landing, warehouse, monkeypatch):
    """More than the 50 file entries XCom keeps: the run's totals and ``check`` still count them all."""
    monkeypatch.setenv("CAMPUS_LOGISTICS_LANDING", str(landing))
    for day in range(1, 61):
        d = date(2001, 1, 1).toordinal() + day - 1
        iso = date.fromordinal(d).isoformat()
        write_canteen(landing, iso, [purchase(f"T{day}", "10001", f"{iso} 07:30:00")])
    result = run_dag("feed_canteen", {"start": "2001-01-01", "end": "2001-03-01"})
    load = result.xcoms["load"]
    assert len(load["files"]) == 50 and load["files_omitted"] == 10
    assert load["totals"]["files"] == 60 and load["totals"]["rows_loaded"] == 60
    assert result.xcoms["check"] == {"files": 60, "days": 60}


def test_bounded_result_keeps_totals_and_at_most_fifty_entries():
    from campus_logistics.errors import FeedRunFailed, FileRejected
    from campus_logistics.pipeline import bounded_result

    files = [{"feed": "canteen", "file": f"f{i}.csv", "rows_read": 10, "rows_loaded": 7, "rows_quarantined": 2,
              "rows_duplicate": 1, "rules": {"x": 2}} for i in range(400)]
    rejected = [{"file": f"r{i}.csv", "rule": "not_empty", "detail": "empty", "message": "m"} for i in range(300)]
    out = bounded_result({"feed": "canteen", "files": files, "rejected": rejected, "affected_days": ["2001-03-05"]})
    assert len(out["files"]) == 50 and out["files_omitted"] == 350
    assert len(out["rejected"]) == 50 and out["rejected_omitted"] == 250
    assert out["totals"] == {"files": 400, "rows_read": 4000, "rows_loaded": 2800, "rows_quarantined": 800,
                             "rows_duplicate": 400}
    assert len(json.dumps(out)) < 30_000
    message = str(FeedRunFailed("canteen", [FileRejected("canteen", f"r{i}.csv", "not_empty", "empty")
                                            for i in range(50)], omitted=250))
    assert "300 file(s) rejected" in message and "280 more" in message and len(message.splitlines()) == 22


def test_missing_monthly_files_are_summarised_as_month_ranges():
    from campus_logistics.feeds import get_feed
    from campus_logistics.pipeline import missing_ranges

    staff = get_feed("staff").spec
    names = [staff.expected_name(date(2001, m, 1)) for m in (1, 2, 3, 5, 11, 12)] + \
        [staff.expected_name(date(2002, 1, 1))]
    assert [label for _, label in missing_ranges(staff, names)] == [
        "2001-01…2001-03 (3 months)", staff.expected_name(date(2001, 5, 1)), "2001-11…2002-01 (3 months)"]


def test_a_landing_outside_the_allowed_roots_is_refused(landing, warehouse, sql, monkeypatch, tmp_path):
    """A run's landing param must resolve inside CAMPUS_LOGISTICS_LANDING_ROOTS (default: the deployment's
    landing and var/landing): another directory, a path climbing out with .., or a link inside a root that
    points outside fails the run with ``landing_allowed`` before anything is read."""
    outside = tmp_path / "outside"
    write_minimal_ref(outside)
    write_canteen(outside, "2001-03-05", [purchase("A1", "10001", "2001-03-05 07:30:00")])
    monkeypatch.setenv("CAMPUS_LOGISTICS_LANDING", str(landing))
    (landing / "link").symlink_to(outside, target_is_directory=True)
    for path in (outside, landing / ".." / "outside", landing / "link", "/etc"):
        with pytest.raises(DagRunFailed) as failed:
            run_dag("feed_canteen", {"start": "2001-03-05", "end": "2001-03-05", "landing": str(path)})
        assert failed.value.result.failed_tasks == ["interval"], path
        assert "'landing_allowed'" in failed.value.result.errors["interval"]
    assert sql("SELECT count(*) FROM core.ref_file")[0][0] == 0
    # the same directory once it is under an allowed root
    monkeypatch.setenv("CAMPUS_LOGISTICS_LANDING_ROOTS", f"{landing}:{tmp_path / 'outside'}")
    result = run_dag("feed_canteen", {"start": "2001-03-05", "end": "2001-03-05", "landing": str(outside),
                                      "replace_reference": True})
    assert result.state == "success"
    assert sql("SELECT count(*) FROM core.canteen_txn")[0][0] == 1


def test_a_reference_change_from_a_non_default_landing_must_be_explicit(landing, warehouse, sql, monkeypatch,
                                                                          tmp_path):
    """A run from another allowed landing whose ref/ differs from the warehouse's fails with
    ``ref_replace_explicit`` naming the file and leaves the reference data as it was; with
    ``replace_reference`` it replaces it. The default landing's ref/ applies as before."""
    from campus_logistics.pipeline import run_feed

    monkeypatch.setenv("CAMPUS_LOGISTICS_LANDING", str(landing))
    write_canteen(landing, "2001-03-05", [purchase("A1", "10001", "2001-03-05 07:30:00")])
    assert run_dag("feed_canteen", {"start": "2001-03-05", "end": "2001-03-05"}).state == "success"
    outlets = sql("SELECT outlet_name, unit_code FROM core.outlet ORDER BY 1")

    other = tmp_path / "other"
    write_minimal_ref(other)
    write_csv(other / "ref" / "outlets.csv", ["outlet_name", "outlet_code", "unit_code", "operator"],
              [(name, code, "utilities", op) for name, code, _, op in OUTLETS])
    write_canteen(other, "2001-03-06", [purchase("B1", "10002", "2001-03-06 07:30:00")])
    monkeypatch.setenv("CAMPUS_LOGISTICS_LANDING_ROOTS", f"{landing}:{other}")
    with pytest.raises(DagRunFailed) as failed:
        run_dag("feed_canteen", {"start": "2001-03-06", "end": "2001-03-06", "landing": str(other)})
    error = failed.value.result.errors["load_partition[0]"]  # the one partition, which read ref/
    assert "'ref_replace_explicit'" in error and "outlets.csv" in error
    assert sql("SELECT outlet_name, unit_code FROM core.outlet ORDER BY 1") == outlets
    assert sql("SELECT count(*) FROM core.canteen_txn")[0][0] == 1  # nothing of that run was loaded

    result = run_dag("feed_canteen", {"start": "2001-03-06", "end": "2001-03-06", "landing": str(other),
                                      "replace_reference": True})
    assert result.state == "success" and "outlets.csv" in result.xcoms["load"]["ref_reloaded"]
    assert {u for _, u in sql("SELECT outlet_name, unit_code FROM core.outlet")} == {"utilities"}
    # direct pipeline calls (tests, tools) keep replacing, as the default landing does
    assert run_feed("canteen", landing, date(2001, 3, 5), date(2001, 3, 5)).ref_reloaded == ["outlets.csv"]
