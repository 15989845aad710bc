"""OpenLineage events of real DAG runs, received by a local HTTP server as Marquez would receive them.

The DAGs run with ``dag.test()`` in a child process whose Airflow configuration names the receiver
as its ``[openlineage] transport`` before Airflow is imported, as a worker's would: the provider's
plugin registers its listener only when a transport is configured at import, so this is the real
registration path, not a listener added by hand. Real PostgreSQL, real landing files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "campus-logistics-test"
LANDING_HOST = "landing.test"

CHILD = """
import json, sys
from campus_logistics_tools.airflow_runtime import DagRunFailed, run_dag
try:
    run_dag(sys.argv[1], json.loads(sys.argv[2]))
except DagRunFailed as exc:
    print(exc)
    sys.exit(3)
"""


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.events.append((self.path, json.loads(body.decode("utf-8"))))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args):  # quiet
        pass


class LineageReceiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.events: list[tuple[str, dict]] = []

    def __enter__(self):
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


def run_with_lineage(receiver: LineageReceiver | None, dag_id: str, conf: dict) -> subprocess.CompletedProcess:
    from campus_logistics_tools import airflow_runtime as rt

    rt.ensure_metadata_db()  # the child uses this session's metadata DB
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "plugins"), str(ROOT)])
    env["CAMPUS_LOGISTICS_LINEAGE_LANDING_HOST"] = LANDING_HOST
    for key in [k for k in env if k.startswith(("AIRFLOW__OPENLINEAGE__", "OPENLINEAGE_"))]:
        del env[key]
    if receiver is not None:
        env["AIRFLOW__OPENLINEAGE__TRANSPORT"] = json.dumps(
            {"type": "http", "url": receiver.url, "endpoint": "api/v1/lineage"})
        env["AIRFLOW__OPENLINEAGE__NAMESPACE"] = NAMESPACE
        env["AIRFLOW__OPENLINEAGE__EXECUTION_TIMEOUT"] = "120"  # a slow first emission must not be cut off
    proc = subprocess.run([sys.executable, "-c", CHILD, dag_id, json.dumps(conf)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def task_events(events: list[tuple[str, dict]], job: str) -> list[dict]:
    return [e for _, e in events if e.get("job", {}).get("name") == job]


def names(datasets: list[dict]) -> set[tuple[str, str]]:
    return {(d["namespace"], d["name"]) for d in datasets}


def warehouse_namespace(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return f"postgres://{parts.hostname}:{parts.port or 5432}", parts.path.lstrip("/")


@pytest.mark.embedded_only
def test_a_feed_run_tells_marquez_which_files_it_loaded_into_which_tables(landing, warehouse, sql, monkeypatch):
    from tests.fixtures import canteen_path, purchase, write_canteen

    monkeypatch.setenv("CAMPUS_LOGISTICS_LANDING", str(landing))

    write_canteen(landing, "2001-03-01", [purchase("A1", "10001", "2001-03-01 07:30:00")])
    write_canteen(landing, "2001-03-02", [purchase("B1", "10002", "2001-03-02 12:00:00"),
                                          purchase("B2", "10003", "2001-03-02 12:05:00")])
    write_canteen(landing, "2001-03-05", [purchase("C1", "10004", "2001-03-05 12:00:00")])  # outside the run
    with LineageReceiver() as receiver:
        run_with_lineage(receiver, "feed_canteen", {"start": "2001-03-01", "end": "2001-03-02",
                                                    "landing": str(landing), "partition": "none"})
    assert sql("SELECT count(*) FROM core.canteen_txn")[0][0] == 3  # the run really loaded the two files

    assert {path for path, _ in receiver.events} == {"/api/v1/lineage"}
    load = task_events(receiver.events, "feed_canteen.load_partition")
    assert [e["eventType"] for e in load] == ["START", "COMPLETE"], [e["eventType"] for e in load]
    start, complete = load
    assert complete["job"]["namespace"] == NAMESPACE
    assert complete["run"]["runId"] == start["run"]["runId"]

    host_ns = f"file://{LANDING_HOST}"
    day1, day2, other = (str(canteen_path(landing, d).absolute()) for d in ("2001-03-01", "2001-03-02", "2001-03-05"))
    inputs = names(complete["inputs"])
    files = {name for ns, name in inputs if ns == host_ns and "/canteen/" in name}
    assert files == {day1, day2}  # the interval's files, not the one outside it
    assert other not in {name for _, name in inputs}
    # the reference files loaded with this first run of the warehouse are inputs too
    assert (host_ns, str((landing / "ref" / "outlets.csv").absolute())) in inputs

    pg_ns, database = warehouse_namespace(warehouse)
    outputs = names(complete["outputs"])
    for table in ("core.canteen_txn", "core.canteen_txn_key", "core.outlet", "quality.validation_result",
                  "quality.file_reconciliation"):
        assert (pg_ns, f"{database}.{table}") in outputs, table
    assert all(ns == pg_ns for ns, _ in outputs)
    assert not any(ns.startswith("file") for ns, _ in outputs)
    text = json.dumps(receiver.events)
    assert "postgresql://" not in text and "postgres@" not in text  # the URL and its login never leave the task

    # every other task of the run reports no datasets of its own: no files or tables leak from the load
    others = [e for _, e in receiver.events if e.get("job", {}).get("name", "").startswith("feed_canteen.")
              and e["job"]["name"] != "feed_canteen.load_partition"]
    assert {e["job"]["name"] for e in others} >= {"feed_canteen.interval", "feed_canteen.load", "feed_canteen.check"}
    for e in others:
        assert not e.get("inputs") and not any(d["namespace"] in (host_ns, pg_ns) for d in e.get("outputs") or []), \
            e["job"]["name"]


@pytest.mark.embedded_only
def test_the_kpi_run_tells_marquez_which_core_tables_feed_the_kpi_tables(landing, warehouse, sql, monkeypatch):
    from tests.fixtures import purchase, write_canteen

    monkeypatch.setenv("CAMPUS_LOGISTICS_LANDING", str(landing))

    write_canteen(landing, "2001-03-01", [purchase("A1", "10001", "2001-03-01 07:30:00")])
    run_with_lineage(None, "feed_canteen", {"start": "2001-03-01", "end": "2001-03-01", "landing": str(landing)})
    with LineageReceiver() as receiver:
        run_with_lineage(receiver, "kpi", {"days": ["2001-03-01"], "feeds": ["canteen"]})
    assert sql("SELECT count(*) FROM mart.kpi_value WHERE kpi_code = 'canteen_revenue_yuan'")[0][0] > 0

    recompute = task_events(receiver.events, "kpi.recompute")
    assert [e["eventType"] for e in recompute] == ["START", "COMPLETE"]
    complete = recompute[1]
    pg_ns, database = warehouse_namespace(warehouse)
    # the canteen group's SQL (include/sql/kpi/canteen*.sql) reads these and no other group ran
    assert names(complete["inputs"]) == {(pg_ns, f"{database}.core.{t}")
                                         for t in ("canteen_day_change", "canteen_txn", "canteen_txn_key", "enrolment")}
    assert names(complete["outputs"]) == {(pg_ns, f"{database}.mart.{t}") for t in
                                          ("kpi_value", "kpi_definition", "canteen_daily", "canteen_outlet_meal")}
