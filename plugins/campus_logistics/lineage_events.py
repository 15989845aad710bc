"""OpenLineage lineage of what the loads and the KPI recompute read and wrote, known only at run time.

The Airflow OpenLineage provider's listener emits a START and a COMPLETE (or FAIL) event for every
task instance. A TaskFlow task declares no datasets, so the provider takes them from Airflow's
*hook lineage collector*, which this module fills from where they are known:

* the load runner (``pipeline.run_feed``, a feed DAG's ``load_partition``): the landing files it
  opened (and the ``ref/`` files it reloaded) → the feed's core tables, the reference tables and
  the quality tables;
* the KPI recompute (the ``kpi`` DAG's ``recompute``): the core tables its groups' SQL reads →
  ``mart.kpi_value``, ``mart.kpi_definition`` and the mart tables the groups refresh.

Datasets follow OpenLineage's naming: a file is namespace ``file://<host>``, name its absolute path
(host ``CAMPUS_LOGISTICS_LINEAGE_LANDING_HOST``, default this machine's name: set one name when
every worker mounts the same landing zone); a table is namespace ``postgres://<host>:<port>``, name
``<database>.<schema>.<table>``, from the warehouse URL (never its login or password).

Off unless the provider is installed and configured (``[openlineage] transport``): then every
function here is a no-op, and outside an Airflow task process (no ``airflow.sdk`` imported) too.
Lineage never fails a load: any error here is logged and swallowed.
"""

from __future__ import annotations

import logging
import re
import socket
import sys
from pathlib import Path
from typing import Callable, Iterable
from urllib.parse import quote, unquote, urlsplit

log = logging.getLogger(__name__)

QUALITY_TABLES = ("quality.validation_result", "quality.file_reconciliation",
                  "quality.file_reconciliation_history", "quality.rejected_rows", "quality.file_warning")
KPI_TABLES = ("mart.kpi_value", "mart.kpi_definition")


class _Source:
    """The collector's lineage context: entries of one context count once (the collector dedups)."""

    def __init__(self, name: str) -> None:
        self.name = name


LOAD = _Source("campus_logistics.pipeline")
KPIS = _Source("campus_logistics.kpis")


def landing_host() -> str:
    from .settings import current

    return current().lineage_landing_host or socket.gethostname() or "localhost"


def file_uri(path: Path | str, host: str | None = None) -> str:
    """``file://<host>/<absolute path>``: the provider turns it into namespace ``file://<host>``."""
    absolute = Path(path).absolute().as_posix()
    return f"file://{host or landing_host()}{quote(absolute, safe='/')}"


def table_uri(url: str, table: str) -> str:
    """``postgres://<host>:<port>/<database>/<schema>/<table>`` of a warehouse table (no login)."""
    parts = urlsplit(url)
    host = (parts.hostname or "localhost").lower()
    port = parts.port or 5432
    database = unquote(parts.path.lstrip("/")) or "postgres"
    schema, _, name = table.partition(".")
    return f"postgres://{host}:{port}/{quote(database, safe='')}/{schema}/{name}"


def _collector():
    """Airflow's hook lineage collector when OpenLineage is on in this task process, else None."""
    if "airflow.sdk" not in sys.modules:  # not an Airflow task: nobody would read what we collect
        return None
    try:
        from airflow.providers.openlineage import conf
    except ImportError:
        return None
    if conf.is_disabled():
        return None
    from airflow.providers.common.compat.lineage.hook import get_hook_lineage_collector

    return get_hook_lineage_collector()


def _record(source: _Source, datasets: Callable[[], tuple[list[str], list[str]]]) -> None:
    """Add the (inputs, outputs) URIs ``datasets()`` returns, when OpenLineage is on."""
    try:
        collector = _collector()
        if collector is None:
            return
        inputs, outputs = datasets()
        for uri in inputs:
            collector.add_input_asset(context=source, uri=uri)
        for uri in outputs:
            collector.add_output_asset(context=source, uri=uri)
    except Exception:  # noqa: BLE001 - lineage is an observer: it never fails the work it observes
        log.warning("OpenLineage: could not record the lineage of %s", source.name, exc_info=True)


def record_load(url: str, files: Iterable[Path], tables: Iterable[str], *,
                ref_files: Iterable[tuple[Path, str]] = ()) -> None:
    """A load read ``files`` (and ``ref_files``: (path, table) of each reloaded reference file) and
    wrote ``tables``, the reference tables and the quality tables."""

    def datasets():
        refs = list(ref_files)
        # the few ref files first: the collector keeps at most [lineage] max_assets_per_collector
        inputs = [file_uri(p) for p, _ in refs] + [file_uri(p) for p in files]
        written = dict.fromkeys([*tables, *(t for _, t in refs), *(["core.ref_file"] if refs else []),
                                 *QUALITY_TABLES])
        return inputs, [table_uri(url, t) for t in written]

    _record(LOAD, datasets)


_COMMENT = re.compile(r"--[^\n]*")
_TABLE = re.compile(r"\b(core|mart)\.([a-z_][a-z0-9_]*)\b(?!\s*\()")  # not a function: core.f(
_WRITTEN = re.compile(r"\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+(mart\.[a-z_][a-z0-9_]*)", re.IGNORECASE)


def group_tables(sql_texts: Iterable[str]) -> tuple[list[str], list[str]]:
    """(core tables read, mart tables written) by a KPI group's SQL."""
    read, written = set(), set()
    for text in sql_texts:
        text = _COMMENT.sub("", text)
        read |= {f"core.{name}" for schema, name in _TABLE.findall(text) if schema == "core"}
        written |= {t.lower() for t in _WRITTEN.findall(text)}
    return sorted(read), sorted(written)


def group_sql(group: str) -> list[str]:
    """A KPI group's SQL: ``<group>.sql`` and the ``<group>_*.sql`` its hooks run."""
    from .paths import KPI_SQL_DIR

    paths = [KPI_SQL_DIR / f"{group}.sql", *sorted(KPI_SQL_DIR.glob(f"{group}_*.sql"))]
    return [p.read_text(encoding="utf-8") for p in paths if p.is_file()]


def record_kpis(url: str | None, groups: Iterable[str]) -> None:
    """The KPI groups that ran read their core tables and wrote the KPI tables and their mart tables."""

    def datasets():
        from .warehouse import resolve_url

        target = resolve_url(url)
        read, written = group_tables(text for g in groups for text in group_sql(g))
        return ([table_uri(target, t) for t in read],
                [table_uri(target, t) for t in dict.fromkeys([*KPI_TABLES, *written])])

    _record(KPIS, datasets)


def forget() -> None:
    """Empty the collector after a task instance's events were sent, so that the next task run in
    the same process (``dag.test``, the ``run`` command) reports only its own datasets."""
    getter = sys.modules.get("airflow.sdk.lineage")
    clear = getattr(getattr(getter, "get_hook_lineage_collector", None), "cache_clear", None)
    if clear is not None:
        clear()
