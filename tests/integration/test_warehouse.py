"""The warehouse contract: migrations, the fixed tables, the finance role, the embedded server."""

from __future__ import annotations

import psycopg
import pytest

from campus_logistics.migrations import discover, migrate
from campus_logistics.warehouse import connection_json, normalise_url


def test_migrations_apply_once_and_are_idempotent(empty_warehouse):
    applied = migrate(empty_warehouse)
    assert applied == [m.version for m in discover()]
    assert migrate(empty_warehouse) == []
    with psycopg.connect(empty_warehouse) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM quality.schema_migration ORDER BY 1")]
    assert versions == applied


def test_concurrent_migrations_do_not_race(empty_warehouse):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda _: migrate(empty_warehouse), range(3)))
    assert sorted(len(r) for r in results) == [0, 0, len(discover())]


def test_changed_migration_is_refused(empty_warehouse, tmp_path, monkeypatch):
    import campus_logistics.migrations as m

    migrate(empty_warehouse)
    first = discover()[0]
    copy = tmp_path / first.path.name
    copy.write_text(first.sql + "\n-- edited\n", encoding="utf-8")
    monkeypatch.setattr(m, "discover", lambda directory=None: [m.Migration(first.version, first.name, copy)])
    with pytest.raises(RuntimeError, match="changed after it was applied"):
        migrate(empty_warehouse)


def test_layers_and_fixed_tables(sql):
    schemas = {r[0] for r in sql("SELECT schema_name FROM information_schema.schemata")}
    assert {"staging", "core", "quality", "mart"} <= schemas
    cols = sql("""SELECT column_name, data_type FROM information_schema.columns
                  WHERE table_schema = 'mart' AND table_name = 'kpi_value' ORDER BY ordinal_position""")
    assert [c[0] for c in cols] == ["kpi_code", "unit_code", "grain", "period_start", "value", "unit", "baseline",
                                    "computed_at", "run_id"]
    types = dict(cols)
    assert types["value"] == "numeric" and types["baseline"] == "numeric" and types["period_start"] == "date"
    pk = sql("""SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid
                AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'mart.kpi_value'::regclass AND i.indisprimary""")
    assert {r[0] for r in pk} == {"kpi_code", "unit_code", "grain", "period_start"}
    for table in ("quality.rejected_rows", "quality.file_reconciliation", "mart.kpi_definition"):
        assert sql(f"SELECT to_regclass('{table}')")[0][0] is not None


def test_reconciliation_constraint_rejects_rows_that_do_not_add_up(sql):
    with pytest.raises(psycopg.errors.CheckViolation):
        sql("""INSERT INTO quality.file_reconciliation (feed, file, rows_read, rows_loaded, rows_quarantined,
               rows_duplicate, checksum) VALUES ('canteen', 'x.csv', 10, 5, 2, 2, 'abc')""")


def _as_finance_reader(url: str, query: str):
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET ROLE finance_reader")
        return conn.execute(query).fetchall()


def test_finance_reader_reads_mart_only(warehouse, sql):
    sql("INSERT INTO mart.kpi_value (kpi_code, unit_code, grain, period_start, value, unit) "
        "VALUES ('canteen_revenue_yuan', 'campus', 'day', '2001-03-05', 12.50, 'yuan')")
    assert _as_finance_reader(warehouse, "SELECT value FROM mart.kpi_value")[0][0] == pytest.approx(12.5)
    assert _as_finance_reader(warehouse, "SELECT count(*) FROM mart.kpi_definition")[0][0] >= 0
    for table in ("core.canteen_txn", "quality.rejected_rows", "quality.file_reconciliation", "core.outlet"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            _as_finance_reader(warehouse, f"SELECT * FROM {table}")
    for stmt in ("DELETE FROM mart.kpi_value", "UPDATE mart.kpi_value SET value = 0",
                 "INSERT INTO mart.kpi_value (kpi_code, unit_code, grain, period_start, value, unit) "
                 "VALUES ('x', 'campus', 'day', '2001-01-01', 1, 'yuan')",
                 "CREATE TABLE mart.evil (x int)", "CREATE TABLE public.evil (x int)"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            _as_finance_reader(warehouse, stmt)


def test_finance_reader_can_read_mart_tables_created_later(warehouse, sql):
    sql("CREATE TABLE mart.later_report (x int)")
    sql("INSERT INTO mart.later_report VALUES (1)")
    assert _as_finance_reader(warehouse, "SELECT x FROM mart.later_report") == [(1,)]


@pytest.mark.parametrize("raw, expected", [
    ("postgresql://postgres:@/postgres?host=/tmp/pg", "postgresql://postgres@localhost/postgres?host=/tmp/pg"),
    ("postgresql+psycopg://u:p@db.example:5433/wh", "postgresql://u:p@db.example:5433/wh"),
    ("postgres://u@127.0.0.1/wh", "postgresql://u@127.0.0.1/wh"),
])
def test_url_normalisation(raw, expected):
    assert normalise_url(raw) == expected


def test_connection_json_round_trips_a_socket_url():
    import json
    from types import SimpleNamespace

    from campus_logistics.warehouse import url_from_connection

    d = json.loads(connection_json("postgresql://postgres@localhost/wh?host=/run/pg"))
    assert d["host"] == "/run/pg" and d["schema"] == "wh"
    conn = SimpleNamespace(login=d["login"], password=None, host=d["host"], port=None, schema=d["schema"],
                           extra_dejson=d.get("extra", {}))
    assert url_from_connection(conn) == "postgresql://postgres@localhost/wh?host=/run/pg"


@pytest.mark.embedded_only
def test_embedded_server_starts_stops_and_keeps_its_data(tmp_path):
    from campus_logistics.warehouse import start_embedded, stop_embedded

    pgdata = tmp_path / "wh"
    url = start_embedded(pgdata)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)")
    assert start_embedded(pgdata) == url  # a second start attaches to the running server
    assert stop_embedded(pgdata) is True
    assert not (pgdata / "postmaster.pid").exists()
    url = start_embedded(pgdata)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT x FROM kept").fetchall() == [(42,)]
    assert stop_embedded(pgdata) is True


@pytest.mark.embedded_only
def test_embedded_server_survives_an_unclean_stop(tmp_path):
    """The embedded server's postmaster is SIGKILLed with a transaction open: a new process starts it
    again (crash recovery), committed data is all there and the open transaction is not."""
    import os
    import signal
    import subprocess
    import sys

    from campus_logistics.warehouse import start_embedded, stop_embedded

    pgdata = tmp_path / "wh"
    url = start_embedded(pgdata)
    migrate(url)
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO mart.kpi_value (kpi_code, unit_code, grain, period_start, value, unit) "
                     "VALUES ('canteen_revenue_yuan', 'campus', 'day', '2001-03-05', 12.50, 'yuan')")
    open_txn = psycopg.connect(url)
    open_txn.execute("INSERT INTO mart.kpi_value (kpi_code, unit_code, grain, period_start, value, unit) "
                     "VALUES ('canteen_revenue_yuan', 'campus', 'day', '2001-03-06', 99, 'yuan')")
    postmaster = int((pgdata / "postmaster.pid").read_text().split()[0])
    os.kill(postmaster, signal.SIGKILL)
    open_txn.close()
    # a new process (the next task) finds the server dead and starts it again
    out = subprocess.run([sys.executable, "-c", "import sys; from campus_logistics.warehouse import start_embedded; "
                          "print(start_embedded(sys.argv[1]))", str(pgdata)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert int((pgdata / "postmaster.pid").read_text().split()[0]) != postmaster
    try:
        # and this process, whose handle still points at the dead server, reaches the new one
        url = start_embedded(pgdata)
        with psycopg.connect(url) as conn:
            rows = conn.execute("SELECT period_start::text, value FROM mart.kpi_value").fetchall()
            assert migrate(url) == []  # the schema survived whole
        assert [(d, str(v)) for d, v in rows] == [("2001-03-05", "12.50")]
    finally:
        stop_embedded(pgdata)


@pytest.mark.embedded_only
def test_warehouse_stop_from_another_process_stops_the_postmaster(tmp_path):
    """`warehouse stop` in a process that did not start the server stops its postmaster for real
    (pgserver's own cleanup stops only servers its handle started), so `make clean` never deletes a
    live server's data directory."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import psutil

    import campus_logistics

    pgdata = tmp_path / "wh"
    env = {**os.environ, "CAMPUS_LOGISTICS_PGDATA": str(pgdata),
           "PYTHONPATH": str(Path(campus_logistics.__file__).parents[1])}
    started = subprocess.run([sys.executable, "-m", "campus_logistics", "warehouse", "start"], env=env,
                             capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stderr
    postmaster = psutil.Process(int((pgdata / "postmaster.pid").read_text().split()[0]))
    try:
        stopped = subprocess.run([sys.executable, "-m", "campus_logistics", "warehouse", "stop"], env=env,
                                 capture_output=True, text=True, timeout=120)
        assert stopped.returncode == 0, stopped.stderr
        assert stopped.stdout.strip() == "stopped"
        try:
            postmaster.wait(10)  # reaped by its parent once it exited
        except psutil.TimeoutExpired:
            pass
        assert not postmaster.is_running() or postmaster.status() == psutil.STATUS_ZOMBIE
        assert not (pgdata / "postmaster.pid").exists()
        again = subprocess.run([sys.executable, "-m", "campus_logistics", "warehouse", "stop"], env=env,
                               capture_output=True, text=True, timeout=120)
        assert again.returncode == 0 and again.stdout.startswith("not running"), again.stderr
    finally:
        if postmaster.is_running():
            postmaster.kill()


@pytest.mark.embedded_only
def test_warehouse_stop_fails_when_the_postmaster_keeps_running(tmp_path):
    """A postmaster that survives pg_ctl and SIGINT makes `warehouse stop` exit 1 saying so (and `make
    clean`, which runs it first, stops before deleting var/); a stale postmaster.pid is "not running"."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import campus_logistics

    pgdata = tmp_path / "wh"
    pgdata.mkdir()
    fake = tmp_path / "postgres"  # a process named like a postmaster that ignores the shutdown signals
    fake.symlink_to(sys.executable)
    proc = subprocess.Popen([str(fake), "-c", "import signal, time\n"
                             "for s in (signal.SIGINT, signal.SIGTERM): signal.signal(s, signal.SIG_IGN)\n"
                             "time.sleep(120)"])
    try:
        (pgdata / "postmaster.pid").write_text(f"{proc.pid}\n{pgdata}\n0\n5432\n\nlocalhost\n0 0\nready\n")
        env = {**os.environ, "CAMPUS_LOGISTICS_PGDATA": str(pgdata), "CAMPUS_LOGISTICS_WAREHOUSE_STOP_TIMEOUT_S": "4",
               "PYTHONPATH": str(Path(campus_logistics.__file__).parents[1])}
        out = subprocess.run([sys.executable, "-m", "campus_logistics", "warehouse", "stop"], env=env,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 1, out.stdout + out.stderr
        assert "still running" in out.stderr and "stopped" not in out.stdout
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()
    out = subprocess.run([sys.executable, "-m", "campus_logistics", "warehouse", "stop"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("not running"), out.stderr
