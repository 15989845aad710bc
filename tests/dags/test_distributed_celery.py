"""The production topology, for real: CeleryExecutor workers as separate processes.

Starts the API server, scheduler, DAG processor and two Celery workers from the project's venv
against the PostgreSQL server (fresh metadata and warehouse databases) and Redis, triggers the
canteen, meters and work-orders feed DAGs and then the KPI DAG for 2001-01-01..03 of the seed
scenario through the authenticated REST API, and SIGKILLs the worker that holds the canteen load
while its first file is written but not committed. Proves:

* the killed attempt left nothing in the warehouse, and the retry finished the run on the other
  worker (each canteen file published exactly once, rows read = the file's data lines);
* tasks ran on both workers (``task_instance.hostname``, distinct per worker);
* the KPI DAG computed day KPIs for the three days.

A second cluster (one task slot per worker) backfills a quarter of the canteen and the meters
(``test_a_quarter_backfill_is_loaded_by_both_workers``). Proves:

* the range is split into one mapped ``load_partition`` per month, and the canteen's partitions
  ran on both workers (``task_instance.hostname`` per map index);
* the meters' partitions ran one after another (each day judged against the previous day as
  loaded);
* every file was loaded exactly once, and the one merged result (``load``'s XCom and its one asset
  event) adds up every partition: rows read = loaded + quarantined + duplicates, as in the
  warehouse's reconciliation.

Server pass only (marker ``server_only``); about 1-2.5 minutes on 2 cores.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from campus_logistics_tools.cluster import Cluster

pytestmark = [pytest.mark.server_only, pytest.mark.slow]

FEEDS = ("canteen", "meters", "work_orders")
START, END = "2001-01-01", "2001-01-03"
DAYS = ("20010101", "20010102", "20010103")
TERMINAL = {"success", "failed"}


def _wait(predicate, timeout: float, what: str, cluster: Cluster):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{cluster.diagnostics()}")


def _run_state(cluster: Cluster, dag_id: str, run_id: str) -> str | None:
    r = cluster.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
    r.raise_for_status()
    state = r.json()["state"]
    return state if state in TERMINAL else None


def _ti_path(task_id: str, map_index: int = -1) -> str:
    return task_id if map_index < 0 else f"{task_id}/{map_index}"


def _task_instance(cluster: Cluster, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict:
    r = cluster.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{_ti_path(task_id, map_index)}")
    r.raise_for_status()
    return r.json()


def _tries(cluster: Cluster, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[dict]:
    r = cluster.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{_ti_path(task_id, map_index)}/tries")
    r.raise_for_status()
    return sorted(r.json()["task_instances"], key=lambda t: t["try_number"])


def _trigger(cluster: Cluster, dag_id: str, conf: dict) -> str:
    r = cluster.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
    assert r.status_code == 200, r.text
    r = cluster.api("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf})
    assert r.status_code == 200, r.text
    return r.json()["dag_run_id"]


def _data_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(1 for line in fh if line.strip()) - 1  # minus the header


@pytest.fixture
def server_url():
    url = os.environ.get("CAMPUS_LOGISTICS_TEST_PG_URL")
    if not url:
        pytest.skip("needs the PostgreSQL server (CAMPUS_LOGISTICS_TEST_PG_URL; run by `make test-server`)")
    return url


def test_feeds_and_kpis_on_celery_workers_survive_a_killed_worker(server_url, tmp_path):
    import psycopg

    started = time.monotonic()
    landing = tmp_path / "landing"
    subprocess.run([sys.executable, "-m", "campus_logistics", "generate", "--scenario", "seed", "--out", str(landing)],
                   check=True, capture_output=True)
    flag = tmp_path / "pause-canteen.flag"
    flag.touch()
    cluster = Cluster(server_url, tmp_path, landing, extra_env={
        "CAMPUS_LOGISTICS_TASK_RETRIES": "2",
        "CAMPUS_LOGISTICS_RETRY_DELAY_S": "1",
        "CAMPUS_LOGISTICS_FAULT_PAUSE_BEFORE_COMMIT": f"canteen:120:{flag}",
    })
    try:
        cluster.up(workers=("w1", "w2"))
        up_at = time.monotonic()

        # Unauthenticated calls are refused: the API is behind the auth manager.
        import httpx

        assert httpx.get(f"{cluster.base_url}/api/v2/dags", timeout=10).status_code == 401

        dag_ids = [f"feed_{f}" for f in FEEDS] + ["kpi"]
        _wait(lambda: all(cluster.api("GET", f"/dags/{d}").status_code == 200 for d in dag_ids), 60,
              "the DAG processor to serialise the DAGs", cluster)
        runs = {f"feed_{f}": _trigger(cluster, f"feed_{f}", {"start": START, "end": END}) for f in FEEDS}

        # The canteen load is inside its first file's transaction once the flag is gone.
        _wait(lambda: not flag.exists(), 90, "the canteen load to reach its commit", cluster)
        # three days of January: one partition
        held = _task_instance(cluster, "feed_canteen", runs["feed_canteen"], "load_partition", 0)
        assert held["state"] == "running", held
        victim = held["hostname"]
        assert victim in ("w1", "w2"), f"task_instance.hostname should name the worker, got {victim!r}"
        survivor = "w2" if victim == "w1" else "w1"
        cluster.kill(victim)
        killed_at = time.monotonic()

        # The killed transaction left nothing behind (and holds no lock: a survivor would block these).
        with psycopg.connect(cluster.warehouse_url, options="-c statement_timeout=10000") as conn:
            assert conn.execute("SELECT count(*) FROM core.canteen_txn").fetchone()[0] == 0
            assert conn.execute(
                "SELECT count(*) FROM quality.file_reconciliation WHERE feed = 'canteen'").fetchone()[0] == 0

        states = {d: _wait(lambda d=d, r=r: _run_state(cluster, d, r), 150, f"{d} to finish", cluster)
                  for d, r in runs.items()}
        assert states == {d: "success" for d in runs}, states
        feeds_done_at = time.monotonic()

        kpi_run = _trigger(cluster, "kpi", {"start": START, "end": END, "feeds": list(FEEDS)})
        runs["kpi"] = kpi_run
        assert _wait(lambda: _run_state(cluster, "kpi", kpi_run), 120, "kpi to finish", cluster) == "success"

        # The canteen load: try 1 died with its worker, try 2 succeeded on the other one.
        tries = _tries(cluster, "feed_canteen", runs["feed_canteen"], "load_partition", 0)
        assert [t["try_number"] for t in tries] == [1, 2], tries
        assert tries[0]["hostname"] == victim and tries[0]["state"] == "failed", tries[0]
        assert tries[1]["hostname"] == survivor and tries[1]["state"] == "success", tries[1]

        hosts: dict[str, set[str]] = {}
        for dag_id, run_id in runs.items():
            r = cluster.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
            r.raise_for_status()
            for ti in r.json()["task_instances"]:
                assert ti["state"] == "success", ti
                for t in _tries(cluster, dag_id, run_id, ti["task_id"], ti["map_index"]):
                    hosts.setdefault(t["hostname"], set()).add(f"{dag_id}.{t['task_id']}#{t['try_number']}")
        assert set(hosts) == {"w1", "w2"}, hosts

        with psycopg.connect(cluster.warehouse_url) as conn:
            q = lambda sql, *a: conn.execute(sql, a).fetchall()  # noqa: E731
            recon = {(f, fl): (read, loaded) for f, fl, read, loaded in q(
                "SELECT feed, file, rows_read, rows_loaded FROM quality.file_reconciliation")}
            # Every canteen file published exactly once: the killed attempt never committed.
            history = dict(q("""SELECT file, count(*) FROM quality.file_reconciliation_history
                                WHERE feed = 'canteen' GROUP BY file"""))
            for day in DAYS:
                name = f"canteen_{day}.csv"
                assert recon[("canteen", name)][0] == _data_lines(landing / "canteen" / name), name
                assert history[name] == 1, history
                (in_core,) = q("SELECT count(*) FROM core.canteen_txn WHERE source_file = %s", name)[0]
                assert in_core == recon[("canteen", name)][1], name
                assert (f"meters_{day}.csv" in {fl for f, fl in recon if f == "meters"}), recon.keys()
                meters_file = landing / "meters" / f"meters_{day}.csv"
                assert recon[("meters", meters_file.name)][0] == _data_lines(meters_file)
                assert ("work_orders", f"work_orders_{day}.json") in recon, recon.keys()
            (canteen_rows,) = q("SELECT count(*) FROM core.canteen_txn")[0]
            (meter_rows,) = q("SELECT count(*) FROM core.meter_reading")[0]
            (order_rows,) = q("SELECT count(*) FROM core.work_order")[0]
            assert canteen_rows == sum(loaded for (f, _), (_, loaded) in recon.items() if f == "canteen") > 0
            assert meter_rows > 0 and order_rows > 0
            kpi_days = dict(q("""SELECT period_start::text, count(*) FROM mart.kpi_value
                                 WHERE grain = 'day' AND run_id = %s GROUP BY 1""", kpi_run))
            assert sorted(kpi_days) == ["2001-01-01", "2001-01-02", "2001-01-03"], kpi_days

        done = time.monotonic()
        print(f"\ndistributed run: up {up_at - started:.1f} s, kill after {killed_at - up_at:.1f} s, "
              f"feeds done {feeds_done_at - up_at:.1f} s after start, total {done - started:.1f} s; "
              f"canteen/meter/work-order rows {canteen_rows}/{meter_rows}/{order_rows}, "
              f"KPI rows per day {kpi_days}; tasks per worker "
              + ", ".join(f"{h}: {len(v)}" for h, v in sorted(hosts.items())))
    finally:
        cluster.close()


QUARTER = ("2001-01-01", "2001-03-31")  # 90 days: January, February, March


def _mapped(cluster: Cluster, dag_id: str, run_id: str, task_id: str) -> list[dict]:
    r = cluster.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/listMapped")
    r.raise_for_status()
    return sorted(r.json()["task_instances"], key=lambda t: t["map_index"])


def _xcom(cluster: Cluster, dag_id: str, run_id: str, task_id: str):
    import json

    r = cluster.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value",
                    params={"deserialize": "true"})
    r.raise_for_status()
    value = r.json()["value"]
    return json.loads(value) if isinstance(value, str) else value


def test_a_quarter_backfill_is_loaded_by_both_workers(server_url, tmp_path):
    import psycopg

    started = time.monotonic()
    landing = tmp_path / "landing"
    subprocess.run([sys.executable, "-m", "campus_logistics", "generate", "--scenario", "seed", "--out", str(landing)],
                   check=True, capture_output=True)
    # one task slot per worker: a worker busy with a partition takes no other, so the next goes to
    # the other worker
    cluster = Cluster(server_url, tmp_path, landing, worker_concurrency=1,
                      extra_env={"CAMPUS_LOGISTICS_TASK_RETRIES": "0"})
    try:
        cluster.up(workers=("w1", "w2"))
        up_at = time.monotonic()
        _wait(lambda: all(cluster.api("GET", f"/dags/{d}").status_code == 200 for d in ("feed_canteen", "feed_meters")),
              60, "the DAG processor to serialise the DAGs", cluster)
        conf = {"start": QUARTER[0], "end": QUARTER[1]}
        runs = {d: _trigger(cluster, d, conf) for d in ("feed_canteen", "feed_meters")}
        states = {d: _wait(lambda d=d, r=r: _run_state(cluster, d, r), 480, f"{d} to finish", cluster)
                  for d, r in runs.items()}
        assert states == {d: "success" for d in runs}, states
        done_at = time.monotonic()

        months = [("2001-01-01", "2001-01-31"), ("2001-02-01", "2001-02-28"), ("2001-03-01", "2001-03-31")]
        parts = {d: _mapped(cluster, d, r, "load_partition") for d, r in runs.items()}
        for d, tis in parts.items():
            assert [t["map_index"] for t in tis] == [0, 1, 2], tis
            assert all(t["state"] == "success" for t in tis), tis
            assert _xcom(cluster, d, runs[d], "partitions") == [{"start": a, "end": b} for a, b in months]
        by_index = {t["map_index"]: t["hostname"] for t in parts["feed_canteen"]}
        assert set(by_index.values()) == {"w1", "w2"}, f"one range, both workers: {by_index}"
        # meters: one partition at a time, in date order (a day needs the previous one committed)
        m = parts["feed_meters"]
        for before, after in zip(m, m[1:]):
            assert after["start_date"] >= before["end_date"], (before, after)

        with psycopg.connect(cluster.warehouse_url) as conn:
            q = lambda sql, *a: conn.execute(sql, a).fetchall()  # noqa: E731
            for feed, table in (("canteen", "core.canteen_txn"), ("meters", "core.meter_reading")):
                load = _xcom(cluster, f"feed_{feed}", runs[f"feed_{feed}"], "load")
                recon = q("""SELECT count(*), sum(rows_read), sum(rows_loaded), sum(rows_quarantined),
                                    sum(rows_duplicate) FROM quality.file_reconciliation WHERE feed = %s""", feed)[0]
                history = dict(q("""SELECT file, count(*) FROM quality.file_reconciliation_history WHERE feed = %s
                                    GROUP BY file""", feed))
                assert len(history) == 90 and set(history.values()) == {1}, history  # each file once
                t = load["totals"]
                assert (t["files"], t["rows_read"], t["rows_loaded"], t["rows_quarantined"], t["rows_duplicate"]) \
                    == tuple(int(x) for x in recon), (t, recon)
                assert t["rows_read"] == t["rows_loaded"] + t["rows_quarantined"] + t["rows_duplicate"]
                assert load["partitions"] == 3 and load["rejected"] == []
                (in_core,) = q(f"SELECT count(*) FROM {table}")[0]
                if feed == "canteen":
                    assert in_core == t["rows_loaded"]
                assert load["affected_days"][0] <= "2001-01-01" and load["affected_days"][-1] >= "2001-03-31"
                # one asset event for the run, carrying the days of every partition
                r = cluster.api("GET", "/assets/events", params={"source_dag_id": f"feed_{feed}",
                                                                 "source_run_id": runs[f"feed_{feed}"]})
                r.raise_for_status()
                events = r.json()["asset_events"]
                assert len(events) == 1 and events[0]["extra"]["days"] == load["affected_days"], events
        print(f"\nquarter backfill: up {up_at - started:.1f} s, canteen + meters loaded in {done_at - up_at:.1f} s; "
              f"canteen partitions by worker {by_index}; meters partitions "
              + ", ".join(f"{t['map_index']}@{t['hostname']}" for t in m))
    finally:
        cluster.close()
