"""settings.py: every CAMPUS_LOGISTICS_* variable parsed and checked in one place, re-read when the
environment changes, documented in docs/settings.md; no other module reads them. No database."""

from __future__ import annotations

import ast
import dataclasses
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from campus_logistics import settings
from campus_logistics.errors import ConfigurationError, PermanentError, SettingInvalid
from campus_logistics.settings import Settings

REPO = Path(__file__).resolve().parents[2]
PACKAGES = [REPO / "plugins" / "campus_logistics", REPO / "plugins" / "campus_logistics_tools"]


def test_defaults_when_nothing_is_set():
    s = Settings.from_environ({})
    assert s.pgdata == REPO / "var" / "warehouse" and s.sql_dir == REPO / "include" / "sql"
    assert s.warehouse_url is None and s.landing is None and s.landing_roots == ()
    assert s.warehouse_stop_timeout_s == 60.0
    assert (s.max_run_days, s.calendar_start, s.feed_due_hour) == (366, date(2000, 1, 1), 6)
    assert (s.task_retries, s.retry_delay_s) == (2, 300.0)
    assert (s.late_window_days, s.max_ticket_age_days, s.survey_window_days) == (31, 366, 92)
    assert s.max_canteen_amount == Decimal("10000.00") and s.max_ledger_amount == Decimal("1000000000.00")
    assert s.max_staff_cost == Decimal("1000000.00") and s.max_meter_reading == Decimal("1000000000")
    assert s.report_dir == REPO / "var" / "reports" and s.report_formats == (".xlsx", ".html")
    assert (s.data_docs, s.data_docs_dir, s.data_docs_keep) == (True, REPO / "var" / "data_docs", 500)
    assert s.alert_smtp_conn == "smtp_alerts" and s.alert_email_to == () and s.alert_webhook_url is None
    assert (s.fault_point, s.fault_ready, s.fault_pause_before_commit) == (None, None, None)
    assert s.due_hour("meters") == 6 and s.time_zone == "Asia/Shanghai"


def test_values_are_parsed_to_their_types():
    env = {
        "CAMPUS_LOGISTICS_MAX_CANTEEN_AMOUNT_YUAN": " 12.50 ",  # surrounding blanks do not count
        "CAMPUS_LOGISTICS_CALENDAR_START": "2001-02-03",
        "CAMPUS_LOGISTICS_LANDING_ROOTS": "/srv/a::/srv/b",
        "CAMPUS_LOGISTICS_REPORT_FORMATS": "HTML",
        "CAMPUS_LOGISTICS_DATA_DOCS": "off",
        "CAMPUS_LOGISTICS_ALERT_EMAIL_TO": "a@example.edu, b@example.edu,",
        "CAMPUS_LOGISTICS_FAULT_POINT": "mid_copy@2:block",
        "CAMPUS_LOGISTICS_FAULT_PAUSE_BEFORE_COMMIT": "canteen:1.5:/tmp/flag:x",
        "CAMPUS_LOGISTICS_FEED_DUE_HOUR": "8",
        "CAMPUS_LOGISTICS_FEED_DUE_HOUR_METERS": "30",
        "CAMPUS_LOGISTICS_TASK_RETRIES": "0",
        "CAMPUS_LOGISTICS_RETRY_DELAY_S": "0.5",
        "CAMPUS_LOGISTICS_LATE_WINDOW_DAYS": "",  # empty: unset
    }
    s = Settings.from_environ(env)
    assert s.max_canteen_amount == Decimal("12.50") and isinstance(s.max_canteen_amount, Decimal)
    assert s.calendar_start == date(2001, 2, 3)
    assert s.landing_roots == (Path("/srv/a"), Path("/srv/b"))
    assert s.report_formats == (".html",) and s.data_docs is False
    assert s.alert_email_to == ("a@example.edu", "b@example.edu")
    assert s.fault_point == ("mid_copy", 2, "block")
    assert s.fault_pause_before_commit == ("canteen", 1.5, Path("/tmp/flag:x"))
    assert s.due_hour("meters") == 30 and s.due_hour("canteen") == 8 and s.due_hour("METERS") == 30
    assert (s.task_retries, s.retry_delay_s) == (0, 0.5)
    assert s.late_window_days == 31


@pytest.mark.parametrize("name, bad", [
    ("LATE_WINDOW_DAYS", "0"), ("LATE_WINDOW_DAYS", "-3"), ("LATE_WINDOW_DAYS", "1.5"),
    ("LATE_WINDOW_DAYS", "３１"),  # full-width digits
    ("MAX_TICKET_AGE_DAYS", "abc"), ("SURVEY_WINDOW_DAYS", "1e3"),
    ("MAX_LEDGER_AMOUNT_YUAN", "0"), ("MAX_LEDGER_AMOUNT_YUAN", "-1"), ("MAX_LEDGER_AMOUNT_YUAN", "NaN"),
    ("MAX_LEDGER_AMOUNT_YUAN", "Infinity"), ("MAX_STAFF_MONTHLY_COST_YUAN", "1,000"),
    ("MAX_METER_READING", "ten"),
    ("MAX_RUN_DAYS", "0"), ("CALENDAR_START", "2001-02-30"), ("CALENDAR_START", "20010203"),
    ("FEED_DUE_HOUR", "48"), ("FEED_DUE_HOUR", "-1"), ("FEED_DUE_HOUR_CANTEEN", "x"),
    ("TASK_RETRIES", "-1"), ("RETRY_DELAY_S", "-5"), ("RETRY_DELAY_S", "inf"),
    ("WAREHOUSE_STOP_TIMEOUT_S", "0"), ("DATA_DOCS", "maybe"), ("DATA_DOCS_KEEP", "0"),
    ("REPORT_FORMATS", "pdf"), ("REPORT_FORMATS", "xlsx,csv"),
    ("FAULT_POINT", "no_such_point"), ("FAULT_POINT", "mid_copy@0"), ("FAULT_POINT", "mid_copy:explode"),
    ("FAULT_PAUSE_BEFORE_COMMIT", "canteen:soon:/tmp/f"), ("FAULT_PAUSE_BEFORE_COMMIT", "canteen:5"),
])
def test_a_bad_value_is_refused_naming_its_variable(name, bad):
    var = "CAMPUS_LOGISTICS_" + name
    with pytest.raises(SettingInvalid) as refused:
        Settings.from_environ({var: bad})
    assert refused.value.variables == [var]
    assert str(refused.value).startswith(f"setting {var} must be ")
    # a configuration error: permanent, and still a ValueError for callers that catch those
    assert isinstance(refused.value, ConfigurationError) and isinstance(refused.value, PermanentError)
    assert isinstance(refused.value, ValueError)


def test_every_bad_variable_is_named_at_once():
    with pytest.raises(SettingInvalid) as refused:
        Settings.from_environ({"CAMPUS_LOGISTICS_MAX_RUN_DAYS": "many", "CAMPUS_LOGISTICS_DATA_DOCS_KEEP": "-1",
                               "CAMPUS_LOGISTICS_LATE_WINDOW_DAYS": "7"})
    assert refused.value.variables == ["CAMPUS_LOGISTICS_MAX_RUN_DAYS", "CAMPUS_LOGISTICS_DATA_DOCS_KEEP"]
    assert "'many'" in str(refused.value) and "'-1'" in str(refused.value)


def test_secrets_are_not_shown():
    s = Settings.from_environ({"CAMPUS_LOGISTICS_PSEUDONYM_KEY": "k3y-Of-sixteen-bytes!",
                               "CAMPUS_LOGISTICS_WAREHOUSE_URL": "postgresql://u:" + "pw-in-url" + "@db/x",
                               "CAMPUS_LOGISTICS_ALERT_WEBHOOK_URL": "https://hooks.example/t0ken"})
    assert s.pseudonym_key == "k3y-Of-sixteen-bytes!"
    text = repr(s)
    assert "k3y-Of" not in text and "pw-in-url" not in text and "t0ken" not in text


def test_settings_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.current().max_run_days = 1  # type: ignore[misc]


def test_current_follows_the_environment(monkeypatch):
    monkeypatch.delenv("CAMPUS_LOGISTICS_MAX_RUN_DAYS", raising=False)
    first = settings.current()
    assert settings.current() is first  # unchanged environment: not parsed again
    monkeypatch.setenv("CAMPUS_LOGISTICS_MAX_RUN_DAYS", "31")
    assert settings.current().max_run_days == 31
    monkeypatch.setenv("CAMPUS_LOGISTICS_MAX_RUN_DAYS", "bogus")
    with pytest.raises(SettingInvalid, match="CAMPUS_LOGISTICS_MAX_RUN_DAYS"):
        settings.current()
    monkeypatch.delenv("CAMPUS_LOGISTICS_MAX_RUN_DAYS")
    assert settings.current().max_run_days == 366
    monkeypatch.setenv("UNRELATED_VARIABLE_FOR_THIS_TEST", "x")
    assert settings.current() == first


def test_the_old_accessors_read_the_settings(monkeypatch):
    from campus_logistics import limits, run_params
    from campus_logistics.alerts.late import due_hour

    monkeypatch.setenv("CAMPUS_LOGISTICS_MAX_METER_READING", "5000")
    monkeypatch.setenv("CAMPUS_LOGISTICS_MAX_RUN_DAYS", "10")
    monkeypatch.setenv("CAMPUS_LOGISTICS_FEED_DUE_HOUR_STAFF", "12")
    monkeypatch.delenv("CAMPUS_LOGISTICS_FEED_DUE_HOUR", raising=False)
    assert limits.max_meter_reading() == Decimal("5000")
    assert run_params.max_run_days() == 10
    assert (due_hour("staff"), due_hour("canteen")) == (12, 6)


def test_docs_list_every_setting_as_the_dataclass_does():
    page = (REPO / "docs" / "settings.md").read_text(encoding="utf-8")
    table = re.search(r"<!-- settings-table:begin -->\n(.*)\n<!-- settings-table:end -->", page, re.S)
    assert table, "docs/settings.md has lost its generated table's markers"
    assert table.group(1) == settings.markdown_table(), (
        "docs/settings.md is out of date: paste `python -m campus_logistics.settings` between its markers")
    for f in settings.setting_fields():
        assert f.metadata["env"] in page


# Variables named in the package that are not settings (written for child processes, or the test
# harness's own hand-over between processes).
NOT_SETTINGS = {"CAMPUS_LOGISTICS_TEST_AIRFLOW_HOME"}


def _code_files():
    for package in PACKAGES:
        for path in sorted(package.rglob("*.py")):
            if path != PACKAGES[0] / "settings.py":
                yield path, ast.parse(path.read_text(encoding="utf-8"))


def _docstrings(tree) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def test_every_variable_named_in_the_package_is_a_setting():
    known = {f.metadata["env"] for f in settings.setting_fields()}
    named = set()
    for _path, tree in _code_files():
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                named |= {m for m in re.findall(r"CAMPUS_LOGISTICS_[A-Z0-9_]*[A-Z0-9](?![A-Z0-9_])", node.value)
                          if not m.startswith(settings.DUE_HOUR_ENV + "_")}
    assert named - known - NOT_SETTINGS == set()


def test_no_module_but_settings_reads_a_campus_logistics_variable():
    """``os.environ.get(...)``, ``os.getenv(...)`` or ``os.environ[...]`` read with a name (or a
    module constant holding one) that is a CAMPUS_LOGISTICS_* variable."""
    offenders = []
    for path, tree in _code_files():
        constants = {t.id: n.value.value for n in ast.walk(tree) if isinstance(n, ast.Assign)
                     and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
                     for t in n.targets if isinstance(t, ast.Name)}

        def names_variable(arg, constants=constants) -> bool:
            value = arg.value if isinstance(arg, ast.Constant) else constants.get(getattr(arg, "id", None), "")
            if isinstance(arg, ast.JoinedStr):
                value = "".join(str(v.value) for v in arg.values if isinstance(v, ast.Constant))
            return isinstance(value, str) and value.startswith("CAMPUS_LOGISTICS_") and value not in NOT_SETTINGS

        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and node.args and names_variable(node.args[0]):
                func = ast.unparse(node.func)
                if func in ("os.environ.get", "os.getenv", "environ.get", "os.environ.setdefault"):
                    if func != "os.environ.setdefault":
                        offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
            if (isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load)
                    and ast.unparse(node.value) in ("os.environ", "environ") and names_variable(node.slice)):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert offenders == []


def test_the_time_zone_is_named_only_in_settings():
    """No code but settings.py spells the zone out: as a value, in SQL or in session options."""
    offenders = []
    for path, tree in _code_files():
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
                    and (node.value == "Asia/Shanghai" or "'Asia/Shanghai'" in node.value
                         or "TimeZone=Asia/Shanghai" in node.value)):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert offenders == []
    assert settings.sql_time_zone_option() == "-c TimeZone=Asia/Shanghai"
    assert settings.tz().name == "Asia/Shanghai"


def test_the_report_formats_accepted_are_the_ones_reports_can_write():
    from campus_logistics.reports import WRITERS

    assert sorted(settings.REPORT_FORMATS) == sorted(WRITERS) == [".html", ".xlsx"]
