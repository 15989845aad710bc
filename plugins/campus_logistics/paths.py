"""Where the project's non-Python files live, found relative to the package.

In Airflow tasks ``plugins/`` is on ``sys.path`` but ``include/`` is not, so SQL is located from
this file: ``<repo>/plugins/campus_logistics`` → ``<repo>/include/sql``. ``CAMPUS_LOGISTICS_SQL_DIR``
overrides it for images that put ``include/`` elsewhere.
"""

from __future__ import annotations

from .settings import REPO_ROOT, current  # noqa: F401 - REPO_ROOT: where the other modules find it

SQL_DIR = current().sql_dir  # read once, at import: a deployment's layout does not change at run time
MIGRATIONS_DIR = SQL_DIR / "migrations"
KPI_SQL_DIR = SQL_DIR / "kpi"


def kpi_sql(name: str) -> str:
    return (KPI_SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


PUBLISH_SQL_DIR = SQL_DIR / "publish"

