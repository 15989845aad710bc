"""Who may do what in the warehouse: ``finance_reader`` reads ``mart`` and nothing else and writes
nowhere; the pipeline itself needs no superuser (a plain role owning its database runs the
migrations, loads and KPIs)."""

from __future__ import annotations

import uuid
from datetime import date

import psycopg
import pytest

from tests.conftest import _with_db, drop_database
from tests.fixtures import purchase, reversal, write_canteen

pytestmark = pytest.mark.server_only  # server-independent: one pass


def _as_finance_reader(url: str, query: str):
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET ROLE finance_reader")
        cur = conn.execute(query)
        return cur.fetchall() if cur.description else None


def _tables(sql, schemas) -> list[str]:
    return [f"{s}.{t}" for s, t in sql(
        """SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relkind IN ('r', 'p', 'v', 'm') AND n.nspname = ANY(%s) ORDER BY 1, 2""", (list(schemas),))]


def test_finance_reader_reads_every_mart_table_and_nothing_else(warehouse, sql):
    sql("CREATE TABLE staging.probe (x int)")  # staging holds no table of its own between loads
    layers = [s for (s,) in sql("SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%%' "
                                "AND nspname NOT IN ('information_schema', 'mart', 'public')")]
    assert {"staging", "core", "quality"} <= set(layers)
    closed = _tables(sql, layers)
    assert len(closed) > 20  # every table of core, quality, staging, partitions included
    for table in closed:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            _as_finance_reader(warehouse, f"SELECT 1 FROM {table} LIMIT 1")
    mart = _tables(sql, ["mart"])
    assert {"mart.kpi_value", "mart.kpi_definition", "mart.canteen_daily"} <= set(mart)
    for table in mart:
        assert _as_finance_reader(warehouse, f"SELECT count(*) FROM {table}")[0][0] >= 0


@pytest.mark.parametrize("statement", [
    "INSERT INTO {t} SELECT * FROM {t} LIMIT 0",
    "UPDATE {t} SET {c} = {c}",
    "DELETE FROM {t}",
    "TRUNCATE {t}",
    "CREATE TABLE {s}.evil (x int)",
    "CREATE VIEW {s}.evil AS SELECT 1 AS x",
    "CREATE FUNCTION {s}.evil() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "ALTER TABLE {t} ADD COLUMN evil int",
    "DROP TABLE {t}",
])
def test_finance_reader_writes_nowhere(statement, warehouse, sql):
    """Every kind of write, in every schema the warehouse has (mart and public included)."""
    targets = {"mart": ("mart.kpi_value", "value"), "core": ("core.outlet", "operator"),
               "quality": ("quality.rejected_rows", "rule"), "staging": ("staging.probe", "x"),
               "public": ("public.probe", "x")}
    sql("CREATE TABLE staging.probe (x int)")
    sql("CREATE TABLE public.probe (x int)")
    for schema, (table, column) in targets.items():
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            _as_finance_reader(warehouse, statement.format(t=table, c=column, s=schema))


def test_pipeline_runs_as_a_plain_role_owning_its_database(pg_admin_url, landing, monkeypatch):
    """No superuser, no CREATEROLE, no CREATEDB: migrations, a load and the KPIs as the database's owner
    (``finance_reader`` is a cluster-wide role an administrator creates once; it exists here)."""
    from urllib.parse import urlsplit, urlunsplit

    from campus_logistics.kpis.compute import recompute
    from campus_logistics.migrations import migrate
    from campus_logistics.pipeline import run_feed

    role, db = f"cl_owner_{uuid.uuid4().hex[:8]}", f"cl_plain_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'finance_reader') "
                     "THEN CREATE ROLE finance_reader NOLOGIN; END IF; END $$")
        conn.execute(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS')
        conn.execute(f'CREATE DATABASE "{db}" OWNER "{role}"')
    parts = urlsplit(_with_db(pg_admin_url, db))
    url = urlunsplit((parts.scheme, f"{role}@{parts.netloc.rsplit('@', 1)[-1]}", parts.path, parts.query, ""))
    monkeypatch.setenv("CAMPUS_LOGISTICS_WAREHOUSE_URL", url)
    try:
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user"
                                ).fetchone() == (role, False)
        assert migrate(url)
        write_canteen(landing, "2001-03-05", [
            purchase("A1", "10001", "2001-03-05 07:30:00", amount="5.00"),
            purchase("A2", "10002", "2001-03-05 12:00:00", outlet="第二食堂", amount="8.50"),
        ])
        write_canteen(landing, "2001-03-06", [
            reversal("B1", "10002", "2001-03-06 08:00:00", orig="A2", amount="-8.50", outlet="第二食堂"),
        ])
        result = run_feed("canteen", landing, date(2001, 3, 5), date(2001, 3, 6), url=url)
        assert not result.rejected
        recompute(days_by_feed={"canteen": result.affected_days}, url=url)
        with psycopg.connect(url) as conn:
            got = conn.execute("SELECT value FROM mart.kpi_value WHERE kpi_code = 'canteen_revenue_yuan' "
                               "AND unit_code = 'campus' AND grain = 'day' AND period_start = '2001-03-05'").fetchone()
        # and the finance role reads what the plain owner made, and only that
        assert _as_finance_reader(_with_db(pg_admin_url, db), "SELECT count(*) FROM mart.kpi_value")[0][0] > 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            _as_finance_reader(_with_db(pg_admin_url, db), "SELECT count(*) FROM core.canteen_txn")
        assert str(got[0]) == "5.00"  # 5.00 + 8.50 − 8.50 (reversed the next day)
    finally:
        drop_database(pg_admin_url, db)
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')
