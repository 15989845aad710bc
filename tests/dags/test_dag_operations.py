"""Operating the feed DAGs: a run whose only failures are files missing past their due time fails
for good (no retries, so it does not hold its slot for the retry delays), any other failure keeps
its retries; real Airflow (``dag.test()`` with the DAG's retries kept), real PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pendulum
import pytest

from campus_logistics.alerts.late import only_missing_past_due, period_due_at
from tests.fixtures import purchase, write_canteen

SHANGHAI = "Asia/Shanghai"


def _missing(feed: str, *files: str, rule: str = "file_present") -> dict:
    return {"feed": feed, "rejected": [{"file": f, "rule": rule} for f in files]}


def test_due_times_of_daily_and_monthly_files(monkeypatch):
    monkeypatch.delenv("CAMPUS_LOGISTICS_FEED_DUE_HOUR", raising=False)
    monkeypatch.delenv("CAMPUS_LOGISTICS_FEED_DUE_HOUR_CANTEEN", raising=False)
    monkeypatch.delenv("CAMPUS_LOGISTICS_FEED_DUE_HOUR_STAFF", raising=False)
    # day D: 06:00 on D+1; a month: 06:00 on the 1st of the next month (the day after its last day)
    assert period_due_at("canteen", "canteen_20010306.csv") == pendulum.datetime(2001, 3, 7, 6, tz=SHANGHAI)
    assert period_due_at("staff", "staff_200102.csv") == pendulum.datetime(2001, 3, 1, 6, tz=SHANGHAI)
    assert period_due_at("staff", "staff_200112.csv") == pendulum.datetime(2002, 1, 1, 6, tz=SHANGHAI)
    monkeypatch.setenv("CAMPUS_LOGISTICS_FEED_DUE_HOUR_CANTEEN", "9")
    assert period_due_at("canteen", "canteen_20010306.csv") == pendulum.datetime(2001, 3, 7, 9, tz=SHANGHAI)


def test_only_files_missing_past_due_are_final(monkeypatch):
    monkeypatch.delenv("CAMPUS_LOGISTICS_FEED_DUE_HOUR", raising=False)
    monkeypatch.delenv("CAMPUS_LOGISTICS_FEED_DUE_HOUR_CANTEEN", raising=False)
    before, after = pendulum.datetime(2001, 3, 7, 5, 59, tz=SHANGHAI), pendulum.datetime(2001, 3, 7, 6, tz=SHANGHAI)
    assert only_missing_past_due(_missing("canteen", "canteen_20010306.csv"), now=after)
    assert not only_missing_past_due(_missing("canteen", "canteen_20010306.csv"), now=before)  # may still come
    both = _missing("canteen", "canteen_20010306.csv")
    both["rejected"].append({"file": "canteen_20010305.csv", "rule": "encoding"})
    assert not only_missing_past_due(both, now=after)  # a rejected file: the usual failure, with retries
    assert not only_missing_past_due({"feed": "canteen", "rejected": []}, now=after)


def _run_keeping_retries(dag_id: str, conf: dict) -> dict[str, tuple[str, int]]:
    """One manual run through ``dag.test()`` with the DAG's own retries (their delay shortened so a
    retried task costs a second, not five minutes); (state, try_number) of every task."""
    from campus_logistics_tools import airflow_runtime as rt

    rt.prepare_airflow_env()
    rt.ensure_metadata_db()
    from airflow.utils.session import create_session

    dag = rt.load_dag(dag_id)
    assert {t.task_id: t.retries for t in dag.tasks}["check"] == 2
    for t in dag.tasks:
        t.retry_delay = timedelta(seconds=1)
    dagrun = dag.test(run_conf=conf)
    with create_session() as session:
        return {ti.task_id: (str(getattr(ti.state, "value", ti.state)), ti.try_number)
                for ti in dagrun.get_task_instances(session=session)}


@pytest.mark.embedded_only  # real Airflow runs; the warehouse side is covered by the feed tests
def test_check_of_a_run_with_a_file_missing_past_due_fails_without_retry(landing, warehouse, sql, monkeypatch):
    monkeypatch.setenv("CAMPUS_LOGISTICS_LANDING", str(landing))  # the deployment's landing (run_params)
    # 5 March delivered, 6 March never: long past its due time (06:00 on 7 March 2001)
    write_canteen(landing, "2001-03-05", [purchase("A1", "10001", "2001-03-05 07:30:00", amount="5.00")])
    states = _run_keeping_retries("feed_canteen", {"start": "2001-03-05", "end": "2001-03-06",
                                                   "landing": str(landing)})
    assert states["load"] == ("success", 1)
    assert states["check"] == ("failed", 1)  # not up_for_retry, no second try
    assert sql("SELECT count(*) FROM core.canteen_txn")[0][0] == 1  # the delivered day is published


@pytest.mark.embedded_only
def test_check_of_a_run_with_a_file_not_yet_due_keeps_its_retries(landing, warehouse, monkeypatch):
    monkeypatch.setenv("CAMPUS_LOGISTICS_LANDING", str(landing))  # the deployment's landing (run_params)
    # today's file is due tomorrow at 06:00: it may still come, so check is retried
    today = pendulum.now(SHANGHAI).date().isoformat()
    states = _run_keeping_retries("feed_canteen", {"start": today, "end": today, "landing": str(landing)})
    assert states["load"] == ("success", 1)
    assert states["check"] == ("failed", 3)  # the first try and its two retries
