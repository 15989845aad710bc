"""Alerts: through a real SMTP conversation (the Airflow SMTP provider's hook) and a real HTTP
POST, to servers these tests start on 127.0.0.1; KPI targets from core.target; late daily files;
and one real Airflow run proving the kpi DAG's report and targets tasks and a task-failure alert.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pendulum
import psycopg
import pytest

from campus_logistics.alerts import Alert, AlertDeliveryFailed, send
from tests.alert_servers import SMTPServer, WebhookServer, serve, stop

TO = "data-office@campus.invalid, finance@campus.invalid"


@pytest.fixture
def smtp_server():
    server = serve(SMTPServer())
    yield server
    stop(server)


@pytest.fixture
def webhook():
    server = serve(WebhookServer())
    yield server
    stop(server)


@pytest.fixture
def alert_env(monkeypatch, smtp_server, webhook):
    conn = {"conn_type": "smtp", "host": "127.0.0.1", "port": smtp_server.port,
            "extra": {"disable_tls": True, "disable_ssl": True, "from_email": "airflow@campus.invalid",
                      "retry_limit": 0, "timeout": 10}}
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_ALERTS", json.dumps(conn))
    monkeypatch.setenv("CAMPUS_LOGISTICS_ALERT_EMAIL_TO", TO)
    monkeypatch.setenv("CAMPUS_LOGISTICS_ALERT_WEBHOOK_URL", webhook.url)
    return smtp_server, webhook


def test_an_alert_is_mailed_through_the_smtp_provider_and_posted_to_the_webhook(alert_env):
    smtp_server, webhook = alert_env
    alert = Alert("task_failure", "[campus-logistics] 任务失败 task failed: feed_meters.load",
                  "Error: <bad> & 坏文件", {"dag_id": "feed_meters"})
    delivery = send(alert)
    assert delivery.sent == ["log", "email", "webhook"] and delivery.ok

    ((sender, recipients, msg),) = smtp_server.messages
    assert sender == "airflow@campus.invalid"
    assert recipients == ["data-office@campus.invalid", "finance@campus.invalid"]
    assert msg["Subject"] == "[campus-logistics] 任务失败 task failed: feed_meters.load"
    assert msg["X-Campus-Logistics-Alert"] == "task_failure"
    html = msg.get_body(("html",)).get_content()
    assert "Error: &lt;bad&gt; &amp; 坏文件" in html

    ((path, ctype, payload),) = webhook.posts
    assert path == "/hooks/alerts" and ctype.startswith("application/json")
    assert payload == {"source": "campus-logistics", "kind": "task_failure", "subject": alert.subject,
                       "text": "Error: <bad> & 坏文件", "details": {"dag_id": "feed_meters"}}


def test_a_failing_channel_does_not_stop_the_others(alert_env):
    smtp_server, webhook = alert_env
    webhook.status = 500
    delivery = send(Alert("late_feed", "s", "b"))
    assert delivery.sent == ["log", "email"]
    assert list(delivery.failed) == ["webhook"] and "500" in delivery.failed["webhook"]
    assert len(smtp_server.messages) == 1


def test_without_configuration_alerts_only_go_to_the_log(monkeypatch, caplog):
    assert send(Alert("late_feed", "subject-x", "body-y")).sent == ["log"]
    assert "subject-x" in caplog.text and "body-y" in caplog.text


def _kpi(conn, code, unit, grain, period, value, unit_of="rate"):
    conn.execute("""INSERT INTO mart.kpi_value (kpi_code, unit_code, grain, period_start, value, unit)
                    VALUES (%s, %s, %s, %s, %s, %s)
                    ON CONFLICT (kpi_code, unit_code, grain, period_start) DO UPDATE SET value = EXCLUDED.value""",
                 (code, unit, grain, period, value, unit_of))


def test_kpi_targets_alert_each_breach_once(warehouse, sql, alert_env):
    from campus_logistics.alerts.targets import check_targets

    smtp_server, webhook = alert_env
    with psycopg.connect(warehouse) as conn:
        conn.cursor().executemany("INSERT INTO core.target (kpi_code, unit_code, bound, value) VALUES (%s, %s, %s, %s)", [
            ("satisfaction_rate", "utilities", "min", "0.90"),
            ("repair_on_time_rate", "utilities", "min", "0.95"),
            ("work_orders_open", "campus", "max", "10"),
        ])
        _kpi(conn, "repair_on_time_rate", "utilities", "month", "2001-07-01", "0.9")  # below 0.95
        _kpi(conn, "repair_on_time_rate", "campus", "month", "2001-07-01", "0.5")  # no target for campus
        _kpi(conn, "repair_on_time_rate", "utilities", "month", "2001-06-01", "0.8")  # not a checked period
        _kpi(conn, "satisfaction_rate", "utilities", "wave", "2001-07-10", "0.92")  # meets its target
        _kpi(conn, "satisfaction_rate", "utilities", "wave", "2001-07-20", "0.85")  # below 0.90
        _kpi(conn, "work_orders_open", "campus", "month", "2001-07-01", "12", "count")  # above 10
        _kpi(conn, "work_orders_open", "utilities", "month", "2001-07-01", "12", "count")  # no target

    result = check_targets(["2001-07-10", "2001-07-20"], run_id="run-1")
    assert result["breaches"] == 3 and result["channels"] == ["log", "email", "webhook"]
    ((_, _, payload),) = webhook.posts
    assert payload["kind"] == "kpi_target"
    assert payload["details"]["breaches"] == [
        {"kpi_code": "repair_on_time_rate", "unit_code": "utilities", "grain": "month", "period_start": "2001-07-01",
         "value": "0.9", "bound": "min", "target": "0.95"},
        {"kpi_code": "work_orders_open", "unit_code": "campus", "grain": "month", "period_start": "2001-07-01",
         "value": "12", "bound": "max", "target": "10"},
        {"kpi_code": "satisfaction_rate", "unit_code": "utilities", "grain": "wave", "period_start": "2001-07-20",
         "value": "0.85", "bound": "min", "target": "0.90"},
    ]
    assert "维修及时率" in payload["text"] or "repair_on_time_rate" in payload["text"]
    assert len(smtp_server.messages) == 1

    # The same values again: nothing new to say.
    assert check_targets(["2001-07-10", "2001-07-20"])["alerted"] == []
    assert len(webhook.posts) == 1
    # A recompute that changes a breaching value alerts that breach anew.
    with psycopg.connect(warehouse) as conn:
        _kpi(conn, "repair_on_time_rate", "utilities", "month", "2001-07-01", "0.91")
    assert check_targets(["2001-07-15"])["alerted"] == ["repair_on_time_rate|utilities|month|2001-07-01|0.91"]
    assert len(webhook.posts) == 2
    assert sql("SELECT count(*), bool_and(channels = '{log,email,webhook}') FROM quality.alert_log WHERE kind = 'kpi_target'") \
        == [(4, True)]

    # An undelivered alert fails the check (and is tried again next time).
    with psycopg.connect(warehouse) as conn:
        _kpi(conn, "repair_on_time_rate", "utilities", "month", "2001-07-01", "0.92")
    webhook.status = 503
    with pytest.raises(AlertDeliveryFailed, match="webhook"):
        check_targets(["2001-07-15"])
    webhook.status = 204
    assert check_targets(["2001-07-15"])["alerted"] == ["repair_on_time_rate|utilities|month|2001-07-01|0.92"]


def test_a_daily_file_missing_after_its_due_hour_is_alerted_once(warehouse, landing, alert_env, monkeypatch):
    from campus_logistics.alerts.late import due_hour, poke
    from tests.fixtures import purchase, write_canteen

    smtp_server, webhook = alert_env
    write_canteen(landing, "2001-03-01", [purchase("T1", "C1", "2001-03-01 12:00:00")])
    start, end = date(2001, 3, 1), date(2001, 3, 2)
    at = lambda hm: pendulum.parse(f"2001-03-03T{hm}:00", tz="Asia/Shanghai")  # noqa: E731

    # The file for 2 March is due at 06:00 on 3 March (Shanghai): before that, the sensor waits.
    assert poke("canteen", landing, start, end, now=at("05:59")) is False
    assert webhook.posts == []
    assert poke("canteen", landing, start, end, now=at("06:00"), run_id="scheduled__x") is True
    ((_, _, payload),) = webhook.posts
    assert payload["kind"] == "late_feed"
    assert payload["details"] == {"feed": "canteen", "files": [{"file": "canteen_20010302.csv",
                                                                "due": "2001-03-03T06:00:00+08:00"}]}
    assert len(smtp_server.messages) == 1
    assert poke("canteen", landing, start, end, now=at("07:00")) is True  # already alerted
    assert len(webhook.posts) == 1

    monkeypatch.setenv("CAMPUS_LOGISTICS_FEED_DUE_HOUR", "8")
    monkeypatch.setenv("CAMPUS_LOGISTICS_FEED_DUE_HOUR_METERS", "10")
    assert (due_hour("canteen"), due_hour("meters")) == (8, 10)
    write_canteen(landing, "2001-03-02", [purchase("T2", "C1", "2001-03-02 12:00:00")])
    assert poke("canteen", landing, start, end, now=at("05:00")) is True  # everything is there


def test_targets_csv_is_loaded_from_ref(warehouse, landing, sql):
    from campus_logistics.reference import load_reference
    from tests.fixtures import write_csv

    write_csv(landing / "ref" / "targets.csv", ["kpi_code", "unit_code", "bound", "value"],
              [("satisfaction_rate", "utilities", "min", "0.90"), ("work_orders_open", "campus", "max", "10")])
    with psycopg.connect(warehouse) as conn:
        assert "targets.csv" in load_reference(conn, landing)
    assert sql("SELECT kpi_code, unit_code, bound, value FROM core.target ORDER BY 1") == [
        ("satisfaction_rate", "utilities", "min", Decimal("0.90")), ("work_orders_open", "campus", "max", Decimal("10"))]


@pytest.mark.embedded_only  # one real Airflow run of the kpi DAG is enough for both passes
def test_kpi_dag_writes_the_reports_and_alerts_targets_and_a_failed_task_alerts(warehouse, landing, alert_env,
                                                                               monkeypatch, tmp_path):
    from openpyxl import load_workbook

    from campus_logistics_tools.airflow_runtime import DagRunFailed, run_dag
    from campus_logistics.pipeline import run_feed
    from tests.fixtures import write_csv
    from tests.fixtures_monthly import ledger_jan, write_ledger

    smtp_server, webhook = alert_env
    monkeypatch.setenv("CAMPUS_LOGISTICS_REPORT_DIR", str(tmp_path / "reports"))
    write_csv(landing / "ref" / "targets.csv", ["kpi_code", "unit_code", "bound", "value"],
              [("centre_surplus_yuan", "campus", "min", "0")])
    write_ledger(landing, "2001-01", ledger_jan())
    loaded = run_feed("ledger", landing, date(2001, 1, 1), date(2001, 1, 31), run_id="test-ledger")
    assert loaded.affected_days

    result = run_dag("kpi", {"days": loaded.affected_days, "feeds": ["ledger"]})
    assert result.task_states == {"periods": "success", "recompute": "success", "report": "success",
                                  "targets": "success"}
    written = sorted(result.xcoms["report"]["written"])
    assert [p.rsplit("/", 1)[1] for p in written] == ["reform_report_2001-01.html", "reform_report_2001-01.xlsx",
                                                      "reform_report_2001.html", "reform_report_2001.xlsx"]
    assert "中心积累资金" in (tmp_path / "reports" / "reform_report_2001.html").read_text(encoding="utf-8")
    # January's campus books by hand: revenue 50,000.00 + 20,000.00; cost 30,000.00 + 12,000.50 + 2 × 15,000.00.
    ws = load_workbook(tmp_path / "reports" / "reform_report_2001.xlsx")["中心经营与社会资金"]
    header, *rows = [list(r) for r in ws.iter_rows(values_only=True)]
    campus = {r[0] if isinstance(r[0], str) else r[0].date(): r for r in rows if r[1] == "全校"}  # units by name (mart.unit)
    for period in (date(2001, 1, 1), "全年"):
        row = campus[period]
        assert [Decimal(str(row[header.index(c)])) for c in ("中心收入（元）", "中心支出（元）", "中心积累资金（元）")] \
            == [Decimal("70000.00"), Decimal("72000.50"), Decimal("-2000.50")]
    assert result.xcoms["targets"]["breaches"] == 1
    ((_, _, payload),) = webhook.posts
    assert payload["details"]["breaches"][0]["value"] == "-2000.50"

    # A task that fails (here: no landing directory anywhere) alerts through every channel.
    monkeypatch.delenv("CAMPUS_LOGISTICS_LANDING", raising=False)
    with pytest.raises(DagRunFailed):
        run_dag("feed_ledger", {"start": "2001-01-01", "end": "2001-01-31"})
    failure = webhook.posts[-1][2]
    assert failure["kind"] == "task_failure"
    assert (failure["details"]["dag_id"], failure["details"]["task_id"]) == ("feed_ledger", "interval")
    assert "no landing directory" in failure["details"]["error"]
    assert smtp_server.messages[-1][2]["Subject"] == "[campus-logistics] 任务失败 task failed: feed_ledger.interval"
