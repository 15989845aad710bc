"""The feed DAGs map ``load_partition`` over a manual range's months and ``load`` merges them;
meters' months are chained. Real Airflow runs through ``dag.test()``, real PostgreSQL."""

from __future__ import annotations

import re

import pytest


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
    from campus_logistics_tools import airflow_runtime as rt

    rt.prepare_airflow_env()
    return {d: rt.load_dag(d) for d in ("feed_canteen", "feed_meters", "feed_staff", "feed_surveys")}


@pytest.mark.embedded_only
def test_a_two_month_canteen_run_loads_one_partition_a_month(landing, warehouse, sql, monkeypatch, tmp_path):
    from campus_logistics_tools.airflow_runtime import DagRunFailed, run_dag
    from tests.fixtures import purchase, write_canteen

    monkeypatch.setenv("CAMPUS_LOGISTICS_LANDING", str(landing))
    monkeypatch.setenv("CAMPUS_LOGISTICS_DATA_DOCS_DIR", str(tmp_path / "docs"))
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
    # each partition saved its validations; check built the run's pages once, before failing the run
    run_dir = re.sub(r"[^A-Za-z0-9_.-]+", "_", result.run_id).strip("_")
    saved = sorted(p.name for p in (tmp_path / "docs" / "results").rglob("*.json") if run_dir in p.parts)
    pages = sorted(p.name for p in (tmp_path / "docs" / "site" / "validations").rglob("*.html") if run_dir in p.parts)
    assert len(saved) == 2 and len(pages) == 2, (saved, pages)  # one GX window per partition
    assert run_dir in (tmp_path / "docs" / "site" / "index.html").read_text(encoding="utf-8")


@pytest.mark.embedded_only
def test_meters_across_a_month_end_in_partitions_equal_one_load(tmp_path, pg_admin_url, template_db, monkeypatch):
    """Day 1 March is judged against 28 February's last readings whether the run is one partition or
    two (February, then March, chained): the same warehouse."""
    from campus_logistics_tools.airflow_runtime import run_dag
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
