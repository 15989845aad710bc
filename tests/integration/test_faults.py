"""Killed loads lose nothing: a load process SIGKILLed (or its connection cut) at a fault point leaves
the warehouse as it was before the file, or the KPI recompute, it was working on; the retry then
leaves the warehouse exactly as one clean run does.

The load runs in a process of its own (tests/load_child.py: the feed DAGs' load task and the KPI
DAG's recompute task, in that order), with ``CAMPUS_LOGISTICS_FAULT_POINT`` naming where it dies.
Every layer is compared row by row (tests/warehouse_snapshot.py). These tests start processes and
are slow-ish, so they run in the server pass only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import psycopg
import pytest

from campus_logistics.faults import POINTS
from tests.conftest import ROOT, drop_database, new_database
from tests.fixtures import purchase, reversal, write_canteen, write_minimal_ref
from tests.fixtures_monthly import person, write_monthly_ref, write_staff
from tests.warehouse_snapshot import diff, snapshot

pytestmark = pytest.mark.server_only

START, END = "2001-03-05", "2001-03-06"
FEEDS = ["canteen", "staff"]


def write_landing(root: Path, *, corrected: bool) -> Path:
    """Two canteen days (a reversal across them, a late transaction, a bad row) and a March roster;
    the corrected delivery changes an amount, drops a transaction and changes a person's cost."""
    write_minimal_ref(root)
    write_monthly_ref(root)
    write_canteen(root, "2001-03-05", [
        purchase("A1", "10001", "2001-03-05 07:30:00", amount="5.50" if corrected else "5.00"),
        purchase("A2", "10002", "2001-03-05 12:00:00", outlet="第二食堂", amount="8.50"),
        *([] if corrected else [purchase("A3", "20001", "2001-03-05 18:00:00", amount="12.00", holder="教职工")]),
        purchase("A4", "10003", "2001-03-05 18:05:00", outlet="没有这个食堂", amount="3.00"),
    ])
    write_canteen(root, "2001-03-06", [
        reversal("B1", "10002", "2001-03-06 08:00:00", orig="A2", amount="-8.50", outlet="第二食堂"),
        purchase("B2", "10001", "2001-03-06 12:10:00", amount="6.00"),
        purchase("B3", "10004", "2001-03-05 21:10:00", amount="4.00"),
    ])
    write_staff(root, "2001-03", [
        person("2001-03", "S001", "catering", "cook", "social_hire", "centre", "3100.00" if corrected else "3000.00"),
        person("2001-03", "S002", "office", "management", "school_establishment", "school", "5200.50"),
    ])
    return root


def child(url: str, landing: Path, *, fault: str | None = None, ready: Path | None = None) -> subprocess.Popen:
    env = dict(os.environ, CAMPUS_LOGISTICS_WAREHOUSE_URL=url)
    env.pop("CAMPUS_LOGISTICS_FAULT_POINT", None)
    if fault:
        env["CAMPUS_LOGISTICS_FAULT_POINT"] = fault
    if ready:
        env["CAMPUS_LOGISTICS_FAULT_READY"] = str(ready)
    return subprocess.Popen([sys.executable, "-m", "tests.load_child", str(landing), START, END, *FEEDS],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def load_in_process(url: str, landing: Path) -> None:
    """A load (or the retry): the same tasks, in this process."""
    from campus_logistics.kpis.compute import recompute
    from campus_logistics.pipeline import run_feed

    days = {f: run_feed(f, landing, date.fromisoformat(START), date.fromisoformat(END), url=url).affected_days
            for f in FEEDS}
    recompute(days_by_feed=days, url=url)


@pytest.fixture(scope="module")
def landings(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    return write_landing(root / "v1", corrected=False), write_landing(root / "v2", corrected=True)


@pytest.fixture(scope="module")
def clean(pg_admin_url, template_db, landings):
    """The snapshot of one clean run over the corrected delivery."""
    name, url = new_database(pg_admin_url, template_db)
    try:
        load_in_process(url, landings[1])
        return snapshot(url, history=False)
    finally:
        drop_database(pg_admin_url, name)


def part(snap: dict, *prefixes: str) -> dict:
    return {t: rows for t, rows in snap.items() if t.startswith(prefixes)}


def without_history(snap: dict) -> dict:
    return {t: rows for t, rows in snap.items() if t != "quality.file_reconciliation_history"}


def _wait_ready(proc: subprocess.Popen, ready: Path) -> None:
    while not ready.exists():
        try:
            proc.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            continue
        raise AssertionError(f"the load exited before its fault point: {proc.stderr.read()[-3000:]}")


# (fault point, first load into an empty warehouse or reload of a corrected delivery, what the
# warehouse holds after the kill)
SCENARIOS = [
    ("after_gate", True, "as_before"),
    ("mid_copy", True, "as_before"),
    ("before_publish", False, "as_before"),
    ("before_commit", False, "as_before"),
    ("before_commit@3", False, "canteen_published"),  # canteen's two files committed, the roster's commit killed
    ("kpi_recompute", False, "loaded_kpis_as_before"),
]


@pytest.mark.parametrize("fault, first_load, after_kill", SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_killed_load_loses_nothing_and_the_retry_completes_it(fault, after_kill, first_load, warehouse, landings,
                                                              clean):
    v1, v2 = landings
    if first_load:  # the reference files are a step of their own, committed before any feed file
        from campus_logistics.pseudonym import pseudonymiser, verify_key
        from campus_logistics.reference import load_reference
        from campus_logistics.warehouse import connect

        with connect(warehouse) as conn:
            verify_key(conn, pseudonymiser(allow_embedded_fallback=False))
            load_reference(conn, v2)
    else:
        load_in_process(warehouse, v1)  # the warehouse holds the first delivery; the corrected one arrives
    before = snapshot(warehouse)
    proc = child(warehouse, v2, fault=fault)
    proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL, f"the load was not killed at {fault}"
    after = snapshot(warehouse)
    if after_kill == "as_before":
        assert diff(before, after) == ""
    elif after_kill == "canteen_published":
        assert diff(part(clean, "core.canteen_txn"), part(after, "core.canteen_txn")) == ""
        assert diff(part(before, "core.staff_month", "mart."), part(after, "core.staff_month", "mart.")) == ""
    else:  # every file published, the KPIs not recomputed: the days the files changed are still marked
        marked = "core.canteen_day_change"
        assert {row[0] for row in after[marked]} == {date(2001, 3, 5), date(2001, 3, 6)} and clean[marked] == []
        assert diff(part(clean, "core.", "quality.file_rec", "quality.rejected"),
                    without_history(part(after, "core.", "quality.file_rec", "quality.rejected")) | {marked: []}) == ""
        assert diff(part(before, "mart.kpi_value", "mart.canteen"), part(after, "mart.kpi_value", "mart.canteen")) == ""
    load_in_process(warehouse, v2)  # the retry
    assert diff(clean, snapshot(warehouse, history=False)) == ""


@pytest.mark.parametrize("fault, how", [("mid_copy:block", "connection_cut"), ("before_commit:block", "sigkill")])
def test_load_cut_off_from_outside_loses_nothing(fault, how, warehouse, landings, clean, tmp_path):
    """The test itself strikes while the load waits at the fault point: it terminates the load's
    database session (pg_terminate_backend, a cut connection as the server sees it) or SIGKILLs it."""
    v1, v2 = landings
    load_in_process(warehouse, v1)
    before = snapshot(warehouse)
    ready = tmp_path / "ready"
    proc = child(warehouse, v2, fault=fault, ready=ready)
    _wait_ready(proc, ready)
    if how == "sigkill":
        os.kill(proc.pid, signal.SIGKILL)
    else:
        with psycopg.connect(warehouse, autocommit=True) as conn:
            cut = conn.execute("""SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                                  WHERE datname = current_database() AND pid <> pg_backend_pid()""").fetchone()[0]
        assert cut >= 1
    ready.unlink()  # let a cut-off load go on: its next statement fails on the dead connection
    _, err = proc.communicate(timeout=300)
    if how == "sigkill":
        assert proc.returncode == -signal.SIGKILL
    else:
        assert proc.returncode == 1 and "terminat" in err.lower(), err[-2000:]
    assert diff(before, snapshot(warehouse)) == ""
    load_in_process(warehouse, v2)
    assert diff(clean, snapshot(warehouse, history=False)) == ""


def test_fault_points_are_off_unless_named(monkeypatch):
    from campus_logistics.faults import ENV, fault_point

    monkeypatch.delenv(ENV, raising=False)
    for point in POINTS:
        fault_point(point)  # returns: the process is still here
    monkeypatch.setenv(ENV, "no_such_point")
    with pytest.raises(ValueError, match="unknown fault point"):
        fault_point("mid_copy")


def test_two_loads_of_the_same_interval_at_once_equal_one(warehouse, landings, clean, tmp_path):
    """Two load processes on the same interval: the first holds its file's lock (it waits at the fault
    point, its file staged and published but not committed) while the second reaches the same file and
    must wait for it; then both finish. The warehouse equals one clean run: no row twice, none mixed."""
    _, v2 = landings
    ready = tmp_path / "ready"
    first = child(warehouse, v2, fault="before_commit:block", ready=ready)
    _wait_ready(first, ready)
    second = child(warehouse, v2)
    with psycopg.connect(warehouse, autocommit=True) as conn:
        waiting = 0
        while not waiting and second.poll() is None:  # until the second load queues behind the first's lock
            waiting = conn.execute("""SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                                      WHERE l.locktype = 'advisory' AND NOT l.granted
                                        AND a.datname = current_database()""").fetchone()[0]
            time.sleep(0.05)
    assert waiting == 1, "the second load did not wait for the first one's file lock"
    ready.unlink()
    for proc in (first, second):
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
    assert diff(clean, snapshot(warehouse, history=False)) == ""
    # each load published every file once: two reconciliation entries per file in the history
    with psycopg.connect(warehouse) as conn:
        counts = conn.execute("SELECT file, count(*) FROM quality.file_reconciliation_history GROUP BY 1").fetchall()
    assert sorted(counts) == [("canteen_20010305.csv", 2), ("canteen_20010306.csv", 2), ("staff_200103.csv", 2)]
