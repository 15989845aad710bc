"""Every ``CAMPUS_LOGISTICS_*`` setting the package reads, parsed and checked in one place, and the
project's time zone.

``current()`` is the one way to read them: a frozen :class:`Settings` built from the environment.
It is rebuilt whenever a ``CAMPUS_LOGISTICS_*`` variable changed since the last call (tests set
them per test), so callers ask for it where they use a value instead of keeping a copy. A value
that cannot be parsed or is out of bounds raises :class:`~campus_logistics.errors.SettingInvalid`
naming the variable; an empty variable counts as unset. docs/settings.md lists them all (a test
checks it against :func:`markdown_table`; ``python -m campus_logistics.settings`` prints it).

Nothing here imports Airflow, pandas or psycopg: DAG files read settings at parse time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Callable, Mapping

from .errors import SettingInvalid

# Every time in the project (schedules, file days, SQL sessions, reports) is Shanghai time.
TIME_ZONE = "Asia/Shanghai"
PREFIX = "CAMPUS_LOGISTICS_"
REPO_ROOT = Path(__file__).resolve().parents[2]
REPORT_FORMATS = (".xlsx", ".html")  # what reports/ can write
FAULT_ACTIONS = ("kill", "block")


def tz():
    """:data:`TIME_ZONE` as a pendulum time zone."""
    import pendulum

    return pendulum.timezone(TIME_ZONE)


def sql_time_zone_option() -> str:
    """libpq ``options`` that put a session in :data:`TIME_ZONE`."""
    return f"-c TimeZone={TIME_ZONE}"


# --- parsers: raw (stripped, non-empty) text -> value; ValueError(what was expected) otherwise ---

def _text(raw: str) -> str:
    return raw


def _path(raw: str) -> Path:
    return Path(raw).expanduser()


def _int(lo: int, hi: int | None = None) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        expected = f"a whole number from {lo} to {hi}" if hi is not None else (
            "a positive whole number" if lo == 1 else f"a whole number of at least {lo}")
        if not (raw.isascii() and raw.isdigit()):
            raise ValueError(expected)
        value = int(raw)
        if value < lo or (hi is not None and value > hi):
            raise ValueError(expected)
        return value
    parse.expected = (f"{lo}–{hi}" if hi is not None else f"≥ {lo}")
    return parse


def _seconds(*, positive: bool) -> Callable[[str], float]:
    expected = "a positive number of seconds" if positive else "a number of seconds, 0 or more"

    def parse(raw: str) -> float:
        try:
            value = float(raw) if raw.isascii() else float("nan")
        except ValueError:
            raise ValueError(expected) from None
        if not (value > 0 if positive else value >= 0) or value == float("inf"):
            raise ValueError(expected)
        return value
    parse.expected = "seconds > 0" if positive else "seconds ≥ 0"
    return parse


def _amount(raw: str) -> Decimal:
    """A positive finite decimal (a plausibility bound); money stays Decimal."""
    try:
        value = Decimal(raw) if raw.isascii() else None
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or not value > 0:
        raise ValueError("a positive number")
    return value


_amount.expected = "decimal > 0"


def _day(raw: str) -> date:
    import re

    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw, re.ASCII):
            return date.fromisoformat(raw)
    except ValueError:
        pass
    raise ValueError("a date YYYY-MM-DD")


_day.expected = "YYYY-MM-DD"


def _switch(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("on", "1", "true", "yes"):
        return True
    if lowered in ("off", "0", "false", "no"):
        return False
    raise ValueError("on or off")


_switch.expected = "on / off"


def _paths(raw: str) -> tuple[Path, ...]:
    return tuple(Path(p.strip()).expanduser() for p in raw.split(os.pathsep) if p.strip())


_paths.expected = f"directories separated by {os.pathsep!r}"


def _addresses(raw: str) -> tuple[str, ...]:
    return tuple(a.strip() for a in raw.split(",") if a.strip())


_addresses.expected = "comma-separated addresses"


def _host_name(raw: str) -> str:
    import re

    if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?", raw, re.ASCII):
        raise ValueError("a host name (letters, digits, '.' and '-')")
    return raw.lower()


_host_name.expected = "host name"


def _report_formats(raw: str) -> tuple[str, ...]:
    out = tuple("." + s.strip().lstrip(".").lower() for s in raw.split(",") if s.strip())
    if not out or any(s not in REPORT_FORMATS for s in out):
        raise ValueError(f"a comma-separated list of {', '.join(s[1:] for s in REPORT_FORMATS)}")
    return out


_report_formats.expected = "xlsx,html (any of)"


def _fault_point(raw: str) -> tuple[str, int, str]:
    """``<point>[@<n>][:<action>]`` (faults.py) -> (point, n, action)."""
    from .faults import POINTS

    name, _, action = raw.partition(":")
    name, _, nth = name.partition("@")
    if name not in POINTS:
        raise ValueError(f"<point>[@<n>][:kill|block]: unknown fault point {name!r}; known: {sorted(POINTS)}")
    if nth and not (nth.isascii() and nth.isdigit() and int(nth) >= 1):
        raise ValueError(f"<point>[@<n>][:kill|block] with n a positive whole number, not {nth!r}")
    if (action or "kill") not in FAULT_ACTIONS:
        raise ValueError(f"<point>[@<n>][:kill|block], not action {action!r}")
    return name, int(nth or 1), action or "kill"


_fault_point.expected = "<point>[@<n>][:kill|block]"


def _pause(raw: str) -> tuple[str, float, Path]:
    """``<feed>:<seconds>:<flag file>`` -> (feed, seconds, flag)."""
    parts = raw.split(":", 2)
    try:
        seconds = float(parts[1])
    except (IndexError, ValueError):
        seconds = -1.0
    if len(parts) != 3 or not parts[0] or not parts[2] or not 0 <= seconds < float("inf"):
        raise ValueError("<feed>:<seconds>:<flag file>")
    return parts[0], seconds, Path(parts[2])


_pause.expected = "<feed>:<seconds>:<flag file>"

for _p, _e in ((_text, "text"), (_path, "path")):
    _p.expected = _e


def _setting(name: str, parse: Callable[[str], object], default, doc: str, *, group: str,
             default_doc: str | None = None, secret: bool = False):
    """A dataclass field read from ``CAMPUS_LOGISTICS_<name>``."""
    return field(metadata={"env": PREFIX + name, "parse": parse, "default": default, "doc": doc, "group": group,
                           "default_doc": default_doc, "secret": secret}, repr=not secret)


DUE_HOUR_ENV = PREFIX + "FEED_DUE_HOUR"


@dataclass(frozen=True)
class Settings:
    """The package's settings, each from its ``CAMPUS_LOGISTICS_*`` variable or its default."""

    # warehouse
    warehouse_url: str | None = _setting(
        "WAREHOUSE_URL", _text, None, "PostgreSQL URL of the warehouse", group="warehouse",
        default_doc="the Airflow connection `warehouse`, else the embedded server", secret=True)
    pgdata: Path = _setting("PGDATA", _path, REPO_ROOT / "var" / "warehouse",
                            "data directory of the embedded server", group="warehouse",
                            default_doc="`<repo>/var/warehouse`")
    warehouse_stop_timeout_s: float = _setting(
        "WAREHOUSE_STOP_TIMEOUT_S", _seconds(positive=True), 60.0,
        "how long stopping the embedded server may take before it fails", group="warehouse")
    sql_dir: Path = _setting("SQL_DIR", _path, REPO_ROOT / "include" / "sql",
                             "the SQL files (migrations, KPIs), for images that move `include/`; read at import",
                             group="warehouse", default_doc="`<repo>/include/sql`")
    # runs
    landing: Path | None = _setting("LANDING", _path, None, "the deployment's landing directory", group="runs",
                                    default_doc="none: a run must name its `landing`")
    landing_roots: tuple[Path, ...] = _setting(
        "LANDING_ROOTS", _paths, (), "directories a run's landing may be in", group="runs",
        default_doc="`CAMPUS_LOGISTICS_LANDING` and `<repo>/var/landing`")
    max_run_days: int = _setting("MAX_RUN_DAYS", _int(1), 366, "most days one manual run may span", group="runs")
    calendar_start: date = _setting("CALENDAR_START", _day, date(2000, 1, 1),
                                    "first day of the reference calendar (runs end today at the latest)",
                                    group="runs")
    feed_due_hour: int = _setting("FEED_DUE_HOUR", _int(0, 47), 6,
                                  "hour after a file's period ends when the file is due; "
                                  "`CAMPUS_LOGISTICS_FEED_DUE_HOUR_<FEED>` sets one feed's", group="runs")
    task_retries: int = _setting("TASK_RETRIES", _int(0), 2,
                                 "retries of a task failing for a retryable reason; read at DAG parse time",
                                 group="runs")
    retry_delay_s: float = _setting("RETRY_DELAY_S", _seconds(positive=False), 300.0,
                                    "delay before a retry; read at DAG parse time", group="runs")
    worker_name: str | None = _setting(
        "WORKER_NAME", _text, None, "the name a worker records as `task_instance.hostname` "
        "(with `worker_identity.hostname` as Airflow's hostname callable)", group="runs",
        default_doc="the host's FQDN")
    # plausibility bounds (a value beyond one is quarantined under its rule)
    late_window_days: int = _setting("LATE_WINDOW_DAYS", _int(1), 31,
                                     "days before its file's day a canteen transaction may be dated",
                                     group="bounds")
    max_ticket_age_days: int = _setting("MAX_TICKET_AGE_DAYS", _int(1), 366,
                                        "days before its file's day a work order's earliest time may lie",
                                        group="bounds")
    survey_window_days: int = _setting("SURVEY_WINDOW_DAYS", _int(1), 92,
                                       "days a survey answer may be submitted before or after its wave's date",
                                       group="bounds")
    max_canteen_amount: Decimal = _setting("MAX_CANTEEN_AMOUNT_YUAN", _amount, Decimal("10000.00"),
                                           "largest amount (yuan, absolute) of one canteen transaction",
                                           group="bounds")
    max_ledger_amount: Decimal = _setting("MAX_LEDGER_AMOUNT_YUAN", _amount, Decimal("1000000000.00"),
                                          "largest amount (yuan) of one ledger line", group="bounds")
    max_staff_cost: Decimal = _setting("MAX_STAFF_MONTHLY_COST_YUAN", _amount, Decimal("1000000.00"),
                                       "largest monthly cost (yuan) of one person", group="bounds")
    max_meter_reading: Decimal = _setting("MAX_METER_READING", _amount, Decimal("1000000000"),
                                          "largest register reading of a meter (before the multiplier)",
                                          group="bounds")
    # pseudonymisation
    pseudonym_key: str | None = _setting(
        "PSEUDONYM_KEY", _text, None, "the pseudonymisation key (docs/security.md)", group="security",
        default_doc="the Airflow variable `pseudonym_secret_key`", secret=True)
    # outputs
    report_dir: Path = _setting("REPORT_DIR", _path, REPO_ROOT / "var" / "reports",
                                "where the finance reports are written", group="outputs",
                                default_doc="`<repo>/var/reports`")
    report_formats: tuple[str, ...] = _setting("REPORT_FORMATS", _report_formats, REPORT_FORMATS,
                                               "report formats the pipeline writes", group="outputs",
                                               default_doc="`xlsx,html`")
    data_docs: bool = _setting("DATA_DOCS", _switch, True, "save each load's GX results; build Data Docs once per feed DAG run",
                               group="outputs", default_doc="`on`")
    data_docs_dir: Path = _setting("DATA_DOCS_DIR", _path, REPO_ROOT / "var" / "data_docs",
                                   "where the Data Docs are built", group="outputs",
                                   default_doc="`<repo>/var/data_docs`")
    data_docs_keep: int = _setting("DATA_DOCS_KEEP", _int(1), 500, "validation results the Data Docs keep",
                                   group="outputs")
    vendor_dir: Path = _setting("VENDOR_DIR", _path, REPO_ROOT / "include" / "vendor" / "data_docs",
                                "vendored CSS/JS of the Data Docs; read at import", group="outputs",
                                default_doc="`<repo>/include/vendor/data_docs`")
    lineage_landing_host: str | None = _setting(
        "LINEAGE_LANDING_HOST", _host_name, None,
        "host of the landing files' OpenLineage namespace `file://<host>` (one name for a landing zone "
        "every worker mounts; docs/lineage.md)", group="outputs", default_doc="this machine's host name")
    # alerts
    alert_smtp_conn: str = _setting("ALERT_SMTP_CONN", _text, "smtp_alerts",
                                    "Airflow connection the alert e-mails are sent through", group="alerts")
    alert_email_to: tuple[str, ...] = _setting(
        "ALERT_EMAIL_TO", _addresses, (), "alert e-mail recipients", group="alerts",
        default_doc="the Airflow variable `alert_email_to`")
    alert_webhook_url: str | None = _setting(
        "ALERT_WEBHOOK_URL", _text, None, "URL alerts are posted to", group="alerts",
        default_doc="the Airflow variable `alert_webhook_url`", secret=True)
    # fault injection (tests only; unset in production)
    fault_point: tuple[str, int, str] | None = _setting(
        "FAULT_POINT", _fault_point, None, "where a load process dies or blocks (faults.py)", group="faults")
    fault_ready: Path | None = _setting("FAULT_READY", _path, None,
                                        "file a process blocked at its fault point writes", group="faults")
    fault_pause_before_commit: tuple[str, float, Path] | None = _setting(
        "FAULT_PAUSE_BEFORE_COMMIT", _pause, None, "a feed's first commit sleeps inside its transaction",
        group="faults")
    # per-feed due hours: CAMPUS_LOGISTICS_FEED_DUE_HOUR_<FEED> (any feed name)
    feed_due_hours: Mapping[str, int] = field(default_factory=dict)
    # fixed, not a setting: the data, the schedules and the SQL sessions are all in this zone
    time_zone: str = field(default=TIME_ZONE, init=False)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """Settings from ``environ`` (default ``os.environ``); SettingInvalid names every bad variable."""
        environ = os.environ if environ is None else environ
        values, problems = {}, []
        for f in setting_fields():
            meta = f.metadata
            raw = (environ.get(meta["env"]) or "").strip()
            if not raw:
                values[f.name] = meta["default"]
                continue
            try:
                values[f.name] = meta["parse"](raw)
            except ValueError as exc:
                problems.append((meta["env"], None if meta["secret"] else raw, str(exc)))
        hours = {}
        for key, raw in environ.items():
            if key.startswith(DUE_HOUR_ENV + "_") and raw.strip():
                try:
                    hours[key[len(DUE_HOUR_ENV) + 1:].lower()] = _int(0, 47)(raw.strip())
                except ValueError as exc:
                    problems.append((key, raw.strip(), str(exc)))
        if problems:
            raise SettingInvalid(problems)
        return cls(**values, feed_due_hours=hours)

    def due_hour(self, feed: str) -> int:
        """The hour after its period's end a ``feed`` file is due (its own setting, else the common one)."""
        return self.feed_due_hours.get(feed.lower(), self.feed_due_hour)


def setting_fields():
    """The dataclass fields read from a variable, in declaration order."""
    return [f for f in fields(Settings) if "env" in f.metadata]


def env_names() -> list[str]:
    """Every variable a setting is read from (the per-feed due hours as ``..._<FEED>``)."""
    return [f.metadata["env"] for f in setting_fields()] + [DUE_HOUR_ENV + "_<FEED>"]


_cache: tuple[tuple, Settings] | None = None


def current() -> Settings:
    """The settings of the environment as it is now (rebuilt when a ``CAMPUS_LOGISTICS_*`` changed)."""
    global _cache
    environ = os.environ
    key = tuple(sorted((k, environ[k]) for k in environ if k.startswith(PREFIX)))  # values of ours only
    cached = _cache
    if cached is not None and cached[0] == key:
        return cached[1]
    built = Settings.from_environ(dict(key))
    _cache = (key, built)
    return built


def _default_text(f) -> str:
    meta = f.metadata
    if meta["default_doc"]:
        return meta["default_doc"]
    default = meta["default"]
    return "unset" if default is None else f"`{default}`"


def markdown_table() -> str:
    """docs/settings.md's table, generated from the dataclass."""
    rows = ["| Variable | Group | Accepts | Default | What it sets |", "|---|---|---|---|---|"]
    for f in setting_fields():
        meta = f.metadata
        accepts = getattr(meta["parse"], "expected", "").replace("|", "\\|")
        accepts = f"`{accepts}`" if "<" in accepts else accepts
        rows.append(f"| `{meta['env']}` | {meta['group']} | {accepts} | {_default_text(f)} | {meta['doc']} |")
    rows.append(f"| `{DUE_HOUR_ENV}_<FEED>` | runs | 0–47 | `{DUE_HOUR_ENV}` | one feed's due hour "
                "(e.g. `..._METERS`) |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
