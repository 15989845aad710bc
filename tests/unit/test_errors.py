"""The error tree: which failures Airflow retries and which fail a task for good; the one warehouse
``connect`` mapping an unreachable warehouse to WarehouseUnavailable. No database."""

from __future__ import annotations

import inspect
import socket

import pendulum
import pytest

from campus_logistics import errors
from campus_logistics.errors import (CampusLogisticsError, ConfigurationError, FeedRunFailed, FileRejected,
                                     FilesNotYetDue, MigrationRefused, PermanentError, RetryableError,
                                     RunRejected, SettingInvalid, UsageError, WarehouseRefused,
                                     WarehouseUnavailable, is_permanent)


def _rejected(file="canteen_20010305.csv", rule="encoding"):
    return FileRejected("canteen", file, rule, "not UTF-8", rows_read=3)


@pytest.mark.parametrize("exc, permanent", [
    (_rejected(), True),
    (FeedRunFailed("canteen", [_rejected()]), True),
    (RunRejected("range_order", "end before start"), True),
    (UsageError("month must be 1–12"), True),
    (ConfigurationError("no key"), True),
    (SettingInvalid([("CAMPUS_LOGISTICS_MAX_RUN_DAYS", "x", "a positive whole number")]), True),
    (MigrationRefused("V001 changed"), True),
    (WarehouseRefused("password authentication failed"), True),
    (WarehouseUnavailable("connection refused"), False),
    (FilesNotYetDue(FeedRunFailed("canteen", [_rejected(rule="file_present")]), ["canteen_20010305.csv"]), False),
    (ValueError("not ours"), False),  # unknown to the project: Airflow's retries apply
    (RuntimeError("not ours"), False),
])
def test_classification(exc, permanent):
    assert is_permanent(exc) is permanent
    if isinstance(exc, CampusLogisticsError):
        assert isinstance(exc, PermanentError) is permanent
        assert isinstance(exc, RetryableError) is (not permanent)


def test_existing_exceptions_keep_their_builtin_bases():
    from campus_logistics_tools.airflow_runtime import DagNotFound, DagRunFailed
    from campus_logistics.alerts import AlertDeliveryFailed
    from campus_logistics.warehouse import WarehouseStopFailed

    assert issubclass(AlertDeliveryFailed, RetryableError) and issubclass(AlertDeliveryFailed, RuntimeError)
    assert issubclass(WarehouseStopFailed, PermanentError) and issubclass(WarehouseStopFailed, RuntimeError)
    assert issubclass(DagRunFailed, PermanentError) and issubclass(DagRunFailed, RuntimeError)
    assert issubclass(DagNotFound, PermanentError) and issubclass(DagNotFound, LookupError)
    assert issubclass(MigrationRefused, RuntimeError) and issubclass(SettingInvalid, ValueError)
    assert issubclass(UsageError, ValueError)
    # every project error is under the root, and no class is both retryable and permanent
    for cls in vars(errors).values():
        if isinstance(cls, type) and issubclass(cls, Exception) and cls.__module__ == errors.__name__:
            assert issubclass(cls, CampusLogisticsError), cls
            assert not (issubclass(cls, RetryableError) and issubclass(cls, PermanentError)), cls


def test_a_permanent_error_fails_the_task_without_retries():
    from airflow.sdk.exceptions import AirflowFailException

    from campus_logistics.dag_factory import _fails_for_good_when_permanent

    def load(spec: dict, **context) -> dict:
        raise spec["raise"]

    wrapped = _fails_for_good_when_permanent(load)
    assert inspect.signature(wrapped) == inspect.signature(load)  # Airflow passes the same arguments
    with pytest.raises(AirflowFailException) as failed:
        wrapped({"raise": _rejected()})
    assert isinstance(failed.value.__cause__, FileRejected)
    assert "FileRejected: feed 'canteen', file 'canteen_20010305.csv': rule 'encoding' failed" in str(failed.value)
    assert "failed without retries" in str(failed.value)
    for retried in (WarehouseUnavailable("down"), KeyError("x")):
        with pytest.raises(type(retried)):
            wrapped({"raise": retried})


def _result(*rejected):
    return {"feed": "canteen", "rejected": [{"file": f, "rule": r, "detail": "d"} for f, r in rejected]}


def test_check_retries_only_while_a_missing_file_may_still_come(monkeypatch):
    from campus_logistics.dag_factory import _raise_for_rejections

    monkeypatch.delenv("CAMPUS_LOGISTICS_FEED_DUE_HOUR", raising=False)
    monkeypatch.delenv("CAMPUS_LOGISTICS_FEED_DUE_HOUR_CANTEEN", raising=False)
    tomorrow = pendulum.now("Asia/Shanghai").add(days=1).format("YYYYMMDD")  # due the day after, 06:00
    _raise_for_rejections(_result())  # nothing rejected: no error
    with pytest.raises(FeedRunFailed):  # missing since 2001: long past due
        _raise_for_rejections(_result(("canteen_20010306.csv", "file_present")))
    with pytest.raises(FeedRunFailed):  # a rejected file does not get better by retrying
        _raise_for_rejections(_result(("canteen_20010305.csv", "encoding")))
    with pytest.raises(FilesNotYetDue) as pending:
        _raise_for_rejections(_result(("canteen_20010305.csv", "encoding"),
                                      (f"canteen_{tomorrow}.csv", "file_present")))
    assert pending.value.pending == [f"canteen_{tomorrow}.csv"]
    assert isinstance(pending.value.__cause__, FeedRunFailed)
    assert "canteen_20010305.csv" in str(pending.value)  # the rejected file is still named


def test_every_task_of_the_dags_is_wrapped():
    from airflow.sdk.exceptions import AirflowFailException

    from campus_logistics.dag_factory import feed_dag

    dag = feed_dag("canteen", doc_md="test")
    assert {t.task_id for t in dag.tasks} == {"interval", "late", "partitions", "load_partition", "load", "check"}
    interval = dag.get_task("interval")
    with pytest.raises(AirflowFailException, match="range_order"):  # RunRejected: permanent
        interval.python_callable(params={"start": "2001-03-06", "end": "2001-03-05", "landing": "/nowhere"})


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_warehouse_is_retryable():
    from campus_logistics.warehouse import connect

    port = _closed_port()
    with pytest.raises(WarehouseUnavailable) as unavailable:
        connect("postgresql://someone:" + "pw-never-shown" + f"@127.0.0.1:{port}/campus", connect_timeout=5)
    assert f"127.0.0.1:{port}/campus" in str(unavailable.value)
    assert "pw-never-shown" not in str(unavailable.value)
    assert not is_permanent(unavailable.value)


def test_a_mapped_task_is_wrapped_too():
    """Backfill partitions are mapped tasks: each mapped instance fails for good on a PermanentError."""
    from airflow.sdk import DAG, task
    from airflow.sdk.exceptions import AirflowFailException

    from campus_logistics.dag_factory import _permanent_errors_fail_for_good

    with DAG("mapped_probe", schedule=None) as dag:

        @task
        def part(month: str) -> None:
            raise RunRejected("range_order", f"{month}: end before start")

        part.expand(month=["2001-01", "2001-02"])
    _permanent_errors_fail_for_good(dag)
    instance = dag.get_task("part").unmap({"op_kwargs": {"month": "2001-02"}})
    with pytest.raises(AirflowFailException, match="2001-02: end before start"):
        instance.python_callable(month="2001-02")


def test_the_command_line_names_a_bad_setting_or_an_unreachable_warehouse(monkeypatch, capsys):
    from campus_logistics.cli import main

    port = _closed_port()
    assert main(["kpis", "--year", "2001", "--warehouse", f"postgresql://someone@127.0.0.1:{port}/campus"]) == 2
    assert f"error: the warehouse at 127.0.0.1:{port}/campus cannot be reached" in capsys.readouterr().err
    monkeypatch.setenv("CAMPUS_LOGISTICS_WAREHOUSE_URL", f"postgresql://someone@127.0.0.1:{port}/campus")
    monkeypatch.setenv("CAMPUS_LOGISTICS_MAX_RUN_DAYS", "a year")
    assert main(["kpis", "--year", "2001"]) == 2  # the settings are read before the warehouse is looked for
    assert "error: setting CAMPUS_LOGISTICS_MAX_RUN_DAYS must be a positive whole number, not 'a year'" \
        in capsys.readouterr().err
