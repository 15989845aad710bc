"""campus_logistics.lineage_events: dataset names by OpenLineage's conventions, the tables each feed
and KPI group touches read from their own code, and lineage that can never fail a load."""

from __future__ import annotations

import importlib
import inspect
import logging
import re
import sys
from pathlib import Path

import pytest

from campus_logistics import lineage_events as le


def test_a_table_is_named_by_host_port_database_schema_table_without_the_login():
    url = "postgresql://etl_admin:<password>@Warehouse.Example:6543/campus?sslmode=require"
    assert le.table_uri(url, "core.canteen_txn") == "postgres://warehouse.example:6543/campus/core/canteen_txn"
    # the embedded server's socket URL: no port given, PostgreSQL's
    socket_url = "postgresql://postgres@localhost/cl_demo?host=/work/var/warehouse"
    assert le.table_uri(socket_url, "mart.kpi_value") == "postgres://localhost:5432/cl_demo/mart/kpi_value"


def test_the_provider_turns_the_uris_into_openlineage_datasets():
    from airflow.providers.common.io.assets.file import convert_asset_to_openlineage as file_dataset
    from airflow.providers.postgres.assets.postgres import convert_asset_to_openlineage as table_dataset
    from airflow.sdk import Asset

    f = file_dataset(Asset(uri=le.file_uri("/srv/landing/canteen/canteen_20010301.csv", host="landing")), None)
    assert (f.namespace, f.name) == ("file://landing", "/srv/landing/canteen/canteen_20010301.csv")
    t = table_dataset(Asset(uri=le.table_uri("postgresql://u:p@db:5432/campus", "core.staff_month")), None)
    assert (t.namespace, t.name) == ("postgres://db:5432", "campus.core.staff_month")
    # a path Airflow's ASCII-only asset URIs could not hold is percent-encoded, not refused
    assert le.file_uri("/srv/落地区/x.csv", host="h") == "file://h/srv/%E8%90%BD%E5%9C%B0%E5%8C%BA/x.csv"
    Asset(uri=le.file_uri("/srv/落地区/x.csv", host="h"))


def test_the_landing_host_is_a_setting(monkeypatch, tmp_path):
    monkeypatch.setenv("CAMPUS_LOGISTICS_LINEAGE_LANDING_HOST", "Landing-Zone.campus")
    assert le.file_uri(tmp_path / "a.csv").startswith("file://landing-zone.campus/")
    from campus_logistics.errors import SettingInvalid

    monkeypatch.setenv("CAMPUS_LOGISTICS_LINEAGE_LANDING_HOST", "bad/host")
    with pytest.raises(SettingInvalid, match="CAMPUS_LOGISTICS_LINEAGE_LANDING_HOST"):
        le.landing_host()


_WRITES = re.compile(r'(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|copy_table\(cur,\s*")\s*(core\.[a-z_]+)\b(?!\s*\()', re.I)


def test_each_feed_lists_exactly_the_core_tables_its_code_writes():
    from campus_logistics.feeds import get_feed
    from campus_logistics.paths import PUBLISH_SQL_DIR
    from campus_logistics.registry import FEEDS

    for name in FEEDS:
        feed = get_feed(name)
        source = inspect.getsource(importlib.import_module(type(feed).__module__))
        if feed.spec.publish_sql:  # include/sql/publish/<feed>.sql
            source += (PUBLISH_SQL_DIR / feed.spec.publish_sql).read_text(encoding="utf-8")
        assert set(feed.spec.tables) == set(_WRITES.findall(source)), name


def test_a_kpi_group_reads_the_core_tables_of_its_sql_and_writes_its_mart_tables():
    read, written = le.group_tables(le.group_sql("canteen"))  # canteen.sql and canteen_refresh.sql
    assert read == ["core.canteen_day_change", "core.canteen_txn", "core.canteen_txn_key", "core.enrolment"]
    assert written == ["mart.canteen_daily", "mart.canteen_outlet_meal"]
    read, written = le.group_tables(le.group_sql("utilities"))
    assert read == ["core.meter", "core.meter_daily", "core.meter_file", "core.tariff", "core.utility_baseline"]
    assert written == []
    # comments and function calls are not tables
    assert le.group_tables(["-- from core.ghost\nSELECT core.ensure_month_partitions('x'), a FROM core.real"]) == (
        ["core.real"], [])


def test_without_a_transport_nothing_is_collected(monkeypatch):
    import airflow.sdk  # noqa: F401 - as in a task process

    for key in [k for k in __import__("os").environ if k.startswith(("AIRFLOW__OPENLINEAGE__", "OPENLINEAGE_"))]:
        monkeypatch.delenv(key)
    assert le._collector() is None
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__TRANSPORT", '{"type": "console"}')
    assert le._collector() is not None
    monkeypatch.setitem(sys.modules, "airflow.providers.openlineage", None)  # the provider not installed
    assert le._collector() is None
    le.record_load("postgresql://u@db/campus", [Path("/x.csv")], ("core.canteen_txn",))  # and nothing raises


def test_lineage_is_collected_and_its_errors_never_reach_the_load(monkeypatch, caplog, tmp_path):
    from airflow.sdk.lineage import HookLineageCollector

    collector = HookLineageCollector()
    monkeypatch.setattr(le, "_collector", lambda: collector)
    monkeypatch.setenv("CAMPUS_LOGISTICS_LINEAGE_LANDING_HOST", "landing")
    url = "postgresql://u:p@db:5432/campus"
    f = tmp_path / "canteen" / "canteen_20010301.csv"
    le.record_load(url, [f], ("core.canteen_txn",), ref_files=[(tmp_path / "ref" / "outlets.csv", "core.outlet")])
    le.record_load(url, [f], ("core.canteen_txn",))  # the same datasets again count once
    got = collector.collected_assets
    assert [a.asset.uri for a in got.inputs] == [f"file://landing{tmp_path}/ref/outlets.csv", f"file://landing{f}"]
    outputs = [a.asset.uri for a in got.outputs]
    assert outputs[:3] == ["postgres://db:5432/campus/core/canteen_txn", "postgres://db:5432/campus/core/outlet",
                           "postgres://db:5432/campus/core/ref_file"]
    assert "postgres://db:5432/campus/quality/validation_result" in outputs
    assert not any("u:p" in u for u in outputs)

    monkeypatch.setenv("CAMPUS_LOGISTICS_LINEAGE_LANDING_HOST", "bad/host")  # fails inside lineage only
    with caplog.at_level(logging.WARNING, logger="campus_logistics.lineage_events"):
        le.record_load(url, [f], ("core.canteen_txn",))
    assert "could not record the lineage" in caplog.text
