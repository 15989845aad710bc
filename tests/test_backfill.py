"""A manual range split into partitions (``campus_logistics.backfill``): the split itself, each file
in exactly one partition, the partitions' results merged into one, two loads of the same file
serialised on its advisory lock (exactly once), and the feed DAGs mapping ``load_partition`` over
the partitions (real Airflow runs through ``dag.test()``, real PostgreSQL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from campus_logistics.backfill import merge, partition_files, partitions

ROOT = Path(__file__).resolve().parents[1]


def _ranges(parts: list[dict]) -> list[tuple[str, str]]:
    return [(p["start"], p["end"]) for p in parts]


# --- the split, without a database ---------------------------------------------------------------

def test_a_quarter_splits_into_calendar_months():
    assert _ranges(partitions("2024-09-02", "2024-12-01")) == [
        ("2024-09-02", "2024-09-30"), ("2024-10-01", "2024-10-31"), ("2024-11-01", "2024-11-30"),
        ("2024-12-01", "2024-12-01"),
    ]


def test_months_across_a_year_end_and_a_leap_february():
    assert _ranges(partitions("2023-12-31", "2024-03-01")) == [
        ("2023-12-31", "2023-12-31"), ("2024-01-01", "2024-01-31"), ("2024-02-01", "2024-02-29"),
        ("2024-03-01", "2024-03-01"),
    ]
    assert len(partitions("2001-01-01", "2001-12-31")) == 12


def test_weeks_run_monday_to_sunday_but_a_monthly_feed_keeps_months():
    # 2024-09-04 is a Wednesday
    assert _ranges(partitions("2024-09-04", "2024-09-20", unit="week")) == [
        ("2024-09-04", "2024-09-08"), ("2024-09-09", "2024-09-15"), ("2024-09-16", "2024-09-20"),
    ]
    # a week across 1 October would put staff_202409 and staff_202410 in one partition each... and
    # the same monthly file in two: a monthly feed is split by month at the finest
    assert _ranges(partitions("2024-09-01", "2024-10-31", unit="week", cadence="month")) == [
        ("2024-09-01", "2024-09-30"), ("2024-10-01", "2024-10-31"),
    ]


def test_a_scheduled_run_or_partition_none_is_one_partition():
    assert _ranges(partitions("2024-09-01", "2024-11-30", manual=False)) == [("2024-09-01", "2024-11-30")]
    assert _ranges(partitions("2024-09-01", "2024-11-30", unit="none")) == [("2024-09-01", "2024-11-30")]
    assert _ranges(partitions("2024-09-05", "2024-09-05")) == [("2024-09-05", "2024-09-05")]


def test_a_bad_split_is_refused():
    with pytest.raises(ValueError, match="before start"):
        partitions("2024-09-05", "2024-09-04")
    with pytest.raises(ValueError, match="'fortnight' is not one of month, week, none"):
        partitions("2024-09-01", "2024-09-30", unit="fortnight")


@pytest.mark.parametrize("feed, start, end, unit, expected", [
    ("canteen", "2001-01-30", "2001-02-02", "month",
     [["canteen_20010130.csv", "canteen_20010131.csv"], ["canteen_20010201.csv", "canteen_20010202.csv"]]),
    ("staff", "2001-01-15", "2001-03-10", "week",
     [["staff_200101.csv"], ["staff_200102.csv"], ["staff_200103.csv"]]),
])
def test_each_file_belongs_to_exactly_one_partition(feed, start, end, unit, expected, tmp_path):
    from campus_logistics.feeds import get_feed

    cadence = "month" if feed == "staff" else "day"
    got = partition_files(get_feed(feed), tmp_path, partitions(start, end, unit=unit, cadence=cadence))
    assert got == expected


def test_surveys_waves_fall_in_the_partition_of_their_date(tmp_path):
    from campus_logistics.feeds import get_feed

    (tmp_path / "surveys").mkdir()
    for name in ("survey_20010315.xlsx", "survey_20010401.xlsx", "survey_20010430.xlsx"):
        (tmp_path / "surveys" / name).write_text("x\n", encoding="utf-8")
    got = partition_files(get_feed("surveys"), tmp_path, partitions("2001-03-01", "2001-05-31"))
    assert got == [["survey_20010315.xlsx"], ["survey_20010401.xlsx", "survey_20010430.xlsx"], []]


# --- the merge -----------------------------------------------------------------------------------

def _file(name: str, read: int, loaded: int, quarantined: int, dup: int) -> dict:
    return {"file": name, "rows_read": read, "rows_loaded": loaded, "rows_quarantined": quarantined,
            "rows_duplicate": dup}


def test_merge_adds_up_every_partition(tmp_path):
    ref_refusal = {"file": "ref/outlets.csv", "rule": "header", "detail": "d", "message": "m"}
    march = {"start": "2001-03-01", "end": "2001-03-31", "files": [_file("canteen_20010330.csv", 10, 7, 2, 1)],
             "totals": {"files": 1, "rows_read": 10, "rows_loaded": 7, "rows_quarantined": 2, "rows_duplicate": 1},
             "affected_days": ["2001-03-29", "2001-03-30"], "ref_reloaded": ["outlets.csv"],
             "rejected": [{"file": "canteen_20010331.csv", "rule": "encoding", "detail": "not GB18030",
                           "message": "m"}, ref_refusal],
             "missing": ["canteen_20010301.csv"], "warnings": [{"file": "canteen_20010330.csv", "kind": "w"}]}
    april = {"start": "2001-04-01", "end": "2001-04-02",
             "files": [_file("canteen_20010401.csv", 5, 5, 0, 0), _file("canteen_20010402.csv", 4, 3, 0, 1)],
             "totals": {"files": 2, "rows_read": 9, "rows_loaded": 8, "rows_quarantined": 0, "rows_duplicate": 1},
             "affected_days": ["2001-03-30", "2001-04-01", "2001-04-02"], "ref_reloaded": [],
             "rejected": [ref_refusal], "missing": [], "warnings": []}
    spec = {"start": "2001-03-01", "end": "2001-04-02", "landing": str(tmp_path)}
    out = merge("canteen", spec, [april, march])  # in any order: mapped results come as they finish
    assert out["totals"] == {"files": 3, "rows_read": 19, "rows_loaded": 15, "rows_quarantined": 2,
                             "rows_duplicate": 2}
    assert out["totals"]["rows_read"] == sum(out["totals"][k] for k in
                                             ("rows_loaded", "rows_quarantined", "rows_duplicate"))
    assert [f["file"] for f in out["files"]] == ["canteen_20010330.csv", "canteen_20010401.csv", "canteen_20010402.csv"]
    assert out["affected_days"] == ["2001-03-29", "2001-03-30", "2001-04-01", "2001-04-02"]
    assert out["ref_reloaded"] == ["outlets.csv"]
    # the file's rejection, the missing file, the ref refusal once (every partition saw it)
    assert [(r["file"], r["rule"]) for r in out["rejected"]] == [
        ("canteen_20010331.csv", "encoding"), ("canteen_20010301.csv", "file_present"), ("ref/outlets.csv", "header")]
    assert out["partitions"] == 2 and len(out["warnings"]) == 1
    assert (out["start"], out["end"]) == ("2001-03-01", "2001-04-02")


def test_missing_files_of_consecutive_partitions_are_one_range(tmp_path):
    jan = [f"canteen_200101{d:02d}.csv" for d in range(20, 32)]
    feb = [f"canteen_200102{d:02d}.csv" for d in range(1, 11)]
    results = [{"start": "2001-01-20", "end": "2001-01-31", "files": [], "missing": jan},
               {"start": "2001-02-01", "end": "2001-02-10", "files": [], "missing": feb}]
    out = merge("canteen", {"start": "2001-01-20", "end": "2001-02-10", "landing": str(tmp_path)}, results)
    assert [(r["file"], r["rule"]) for r in out["rejected"]] == [
        ("canteen_20010120.csv…canteen_20010210.csv", "file_present")]
    assert "2001-01-20…2001-02-10 (22 days)" in out["rejected"][0]["detail"]
    assert out["totals"]["files"] == 0


# --- exactly once: two loads of one file ----------------------------------------------------------

_CHILD = """
import json, sys
from campus_logistics.backfill import load_partition
spec = {"landing": sys.argv[1], "replace_reference": True}
out = load_partition("canteen", spec, {"start": sys.argv[2], "end": sys.argv[3]}, run_id=sys.argv[4])
print(json.dumps(out["totals"]))
"""


def _partition_child(url: str, landing: Path, start: str, end: str, run_id: str) -> subprocess.Popen:
    env = dict(os.environ, CAMPUS_LOGISTICS_WAREHOUSE_URL=url, PYTHONPATH=f"{ROOT / 'plugins'}{os.pathsep}{ROOT}")
    env.pop("CAMPUS_LOGISTICS_FAULT_POINT", None)
    return subprocess.Popen([sys.executable, "-c", _CHILD, str(landing), start, end, run_id], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


FILE_LOCK_WAITERS = """SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
    AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
    AND classid::bigint = hashtext('canteen')::bigint & 4294967295
    AND objid::bigint = hashtext('canteen_20010305.csv')::bigint & 4294967295"""


def test_two_partitions_loading_one_file_at_once_load_it_once(landing, warehouse, sql):
    """Two workers' partitions both reach canteen_20010305.csv while its advisory lock on (feed, file)
    is held (here by the test, as a third load would): both wait; once it is free, one loads the
    file and commits, the other then replaces those rows with its own. The file's rows are in core
    once, not twice, and both loads are in the reconciliation history."""
    import psycopg

    from tests.fixtures import purchase, write_canteen

    write_canteen(landing, "2001-03-05", [purchase("A1", "10001", "2001-03-05 07:30:00", amount="5.00"),
                                          purchase("A2", "10002", "2001-03-05 12:00:00", amount="8.50")])
    write_canteen(landing, "2001-03-06", [purchase("B1", "10003", "2001-03-06 08:00:00", amount="3.00")])
    holder = psycopg.connect(warehouse)
    holder.execute("SELECT pg_advisory_xact_lock(hashtext('canteen'), hashtext('canteen_20010305.csv'))")
    a = _partition_child(warehouse, landing, "2001-03-05", "2001-03-05", "worker-a")
    b = _partition_child(warehouse, landing, "2001-03-05", "2001-03-06", "worker-b")
    try:
        deadline = time.monotonic() + 600  # two cold starts on a shared 2-core machine
        while sql(FILE_LOCK_WAITERS)[0][0] < 2:
            for p in (a, b):
                assert p.poll() is None, f"a load finished while the file was locked: {p.stderr.read()[-3000:]}"
            assert time.monotonic() < deadline, "the two loads never both waited on the file's lock"
            time.sleep(0.2)
        # both are inside their file transaction, blocked: nothing of 5 March is written
        assert sql("SELECT count(*) FROM core.canteen_txn WHERE source_file = 'canteen_20010305.csv'")[0][0] == 0
        holder.commit()  # the file is free: one load gets it, then the other
        out_a, err_a = a.communicate(timeout=600)
        out_b, err_b = b.communicate(timeout=600)
    finally:
        holder.close()
        for p in (a, b):
            if p.poll() is None:
                p.kill()
    assert a.returncode == 0, err_a[-3000:]
    assert b.returncode == 0, err_b[-3000:]
    assert json.loads(out_a.strip().splitlines()[-1]) == {"files": 1, "rows_read": 2, "rows_loaded": 2,
                                                          "rows_quarantined": 0, "rows_duplicate": 0}
    assert json.loads(out_b.strip().splitlines()[-1]) == {"files": 2, "rows_read": 3, "rows_loaded": 3,
                                                          "rows_quarantined": 0, "rows_duplicate": 0}
    history = sql("""SELECT run_id FROM quality.file_reconciliation_history WHERE file = 'canteen_20010305.csv'
                     ORDER BY reconciled_at""")
    assert sorted(history) == [("worker-a",), ("worker-b",)]  # loaded twice, one after the other
    last = history[-1][0]
    # each transaction once in core (2 + 1 rows, not 2 + 2 + 1), 5 March's from the load that committed last
    assert sql("SELECT txn_id, source_file, run_id FROM core.canteen_txn ORDER BY txn_id") == [
        ("A1", "canteen_20010305.csv", last), ("A2", "canteen_20010305.csv", last),
        ("B1", "canteen_20010306.csv", "worker-b")]
    assert sql("SELECT rows_read, rows_loaded, run_id FROM quality.file_reconciliation "
               "WHERE file = 'canteen_20010305.csv'") == [(2, 2, last)]


# --- the feed DAGs, through Airflow ---------------------------------------------------------------

@pytest.mark.embedded_only
def test_the_feed_dags_map_load_partition_and_chain_meters(dagbag_for_backfill):
    dags = dagbag_for_backfill
    for dag_id, dag in dags.items():
        tasks = {t.task_id: t for t in dag.tasks}
        assert {"interval", "partitions", "load_partition", "load", "check"} <= set(tasks), dag_id
        assert tasks["load_partition"].__class__.__name__.endswith("MappedOperator"), dag_id
        expected = 1 if dag_id == "feed_meters" else None  # a meters day needs its previous day committed
        assert tasks["load_partition"].max_active_tis_per_dagrun == expected, dag_id
        assert [o.uri for o in tasks["load"].outlets] == [f"campus_logistics://feeds/{dag_id[5:]}"], dag_id
        assert tasks["load_partition"].outlets == [], dag_id  # one asset event per run, from load


@pytest.fixture(scope="module")
def dagbag_for_backfill():
    from campus_logistics import airflow_runtime as rt

    rt.prepare_airflow_env()
    return {d: rt.load_dag(d) for d in ("feed_canteen", "feed_meters", "feed_staff", "feed_surveys")}


@pytest.mark.embedded_only
def test_a_two_month_canteen_run_loads_one_partition_a_month(landing, warehouse, sql, monkeypatch):
    from campus_logistics.airflow_runtime import DagRunFailed, run_dag
    from tests.fixtures import purchase, write_canteen

    monkeypatch.setenv("CAMPUS_LOGISTICS_LANDING", str(landing))
    write_canteen(landing, "2001-02-27", [purchase("A1", "10001", "2001-02-27 07:30:00")])
    write_canteen(landing, "2001-02-28", [purchase("A2", "10002", "2001-02-28 07:30:00"),
                                          purchase("A2", "10002", "2001-02-28 07:30:00")])  # a duplicate line
    write_canteen(landing, "2001-03-01", [purchase("B1", "10003", "2001-03-01 08:00:00"),
                                          purchase("B2", "10004", "2001-03-01 09:00:00", outlet="没有这个食堂")])
    with pytest.raises(DagRunFailed) as failed:  # 2001-03-02 is missing
        run_dag("feed_canteen", {"start": "2001-02-27", "end": "2001-03-02", "landing": str(landing)})
    result = failed.value.result
    assert result.failed_tasks == ["check"]
    assert result.xcoms["partitions"] == [{"start": "2001-02-27", "end": "2001-02-28"},
                                          {"start": "2001-03-01", "end": "2001-03-02"}]
    feb, mar = result.xcoms["load_partition"]
    assert (feb["totals"]["files"], mar["totals"]["files"]) == (2, 1)  # files found; the missing one is a rejection
    load = result.xcoms["load"]
    # 5 rows read = 3 loaded + 1 quarantined (unknown outlet) + 1 duplicate line collapsed
    assert load["totals"] == {"files": 3, "rows_read": 5, "rows_loaded": 3, "rows_quarantined": 1,
                              "rows_duplicate": 1}
    assert load["affected_days"] == ["2001-02-27", "2001-02-28", "2001-03-01"]
    assert [(r["file"], r["rule"]) for r in load["rejected"]] == [("canteen_20010302.csv", "file_present")]
    assert sql("SELECT count(*) FROM core.canteen_txn")[0][0] == 3


@pytest.mark.embedded_only
def test_meters_across_a_month_end_in_partitions_equal_one_load(tmp_path, pg_admin_url, template_db, monkeypatch):
    """Day 1 March is judged against 28 February's last readings whether the run is one partition or
    two (February, then March, chained): the same warehouse."""
    from campus_logistics.airflow_runtime import run_dag
    from tests.conftest import drop_database, new_database
    from tests.fixtures import write_minimal_ref
    from tests.fixtures_meters import snapshot, write_scenario

    root = tmp_path / "landing"
    write_minimal_ref(root)
    write_scenario(root)
    monkeypatch.setenv("CAMPUS_LOGISTICS_LANDING", str(root))
    snaps, xcoms = {}, {}
    for unit in ("none", "month"):
        name, url = new_database(pg_admin_url, template_db)
        try:
            monkeypatch.setenv("CAMPUS_LOGISTICS_WAREHOUSE_URL", url)
            result = run_dag("feed_meters", {"start": "2001-02-28", "end": "2001-03-03", "landing": str(root),
                                             "partition": unit})
            xcoms[unit] = result.xcoms

            def sql(query, params=None, url=url):
                import psycopg

                with psycopg.connect(url, options="-c TimeZone=Asia/Shanghai") as conn:
                    cur = conn.execute(query, params)
                    return cur.fetchall() if cur.description else []

            snaps[unit] = snapshot(sql)
            if unit == "month":
                assert sql("SELECT day::text, anchor_source FROM core.meter_file ORDER BY day")[1] == (
                    "2001-03-01", "warehouse")
        finally:
            drop_database(pg_admin_url, name)
    assert len(xcoms["none"]["load_partition"]) == 1 and len(xcoms["month"]["load_partition"]) == 2
    assert xcoms["month"]["load"]["totals"] == xcoms["none"]["load"]["totals"]
    assert xcoms["month"]["load"]["affected_days"] == xcoms["none"]["load"]["affected_days"]
    assert snaps["month"] == snaps["none"]
