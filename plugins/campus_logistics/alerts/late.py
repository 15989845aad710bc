"""Late feed files: a daily feed's file for day D is due in the landing directory by
``CAMPUS_LOGISTICS_FEED_DUE_HOUR`` o'clock (Asia/Shanghai, default 6) on day D+1; per feed,
``CAMPUS_LOGISTICS_FEED_DUE_HOUR_<FEED>`` (e.g. ``..._METERS=9``) overrides it.

The feed DAGs' ``late`` sensor pokes :func:`poke` before loading a scheduled interval: it waits
while files are missing but not yet due, alerts (once per file, via ``quality.alert_log``) the
files past their due hour, and then lets the load run, which records them as missing.
A monthly feed's file is due likewise on the day after the month's last day. A run whose only
failures are files missing past due fails for good, without retries (:func:`only_missing_past_due`).
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from ..settings import TIME_ZONE, current
from . import SUBJECT_PREFIX, Alert, send
from .targets import record

KIND = "late_feed"
TIMEZONE = TIME_ZONE
DUE_HOUR_ENV = "CAMPUS_LOGISTICS_FEED_DUE_HOUR"
MISSING_RULE = "file_present"  # the rule a run records for an expected file not in the landing directory


def due_hour(feed: str) -> int:
    """Hours after its period's end a ``feed`` file is due (settings: 0-47)."""
    return current().due_hour(feed)


def due_at(day: date, hour: int) -> datetime:
    """When the file for ``day`` is due: ``hour`` o'clock on the next day, Shanghai time."""
    import pendulum

    return pendulum.datetime(day.year, day.month, day.day, tz=TIMEZONE).add(days=1, hours=hour)


def missing_files(feed: str, landing: Path | str, start: date, end: date, now: datetime) -> tuple[list, list]:
    """(late, pending): expected files not in the landing directory, past and not yet past their due time."""
    from ..registry import SPECS

    f = SPECS[feed]
    hour = due_hour(feed)
    _, missing = f.files(Path(landing), start, end)
    late, pending = [], []
    for name in missing:
        due = due_at(f.period_of(name), hour)
        (late if now >= due else pending).append((name, due))
    return late, pending


def poke(feed: str, landing: Path | str, start: date, end: date, *, now: datetime | None = None,
         url: str | None = None, run_id: str | None = None) -> bool:
    """One sensor poke: True when the load may run (nothing missing, or everything missing is late)."""
    import pendulum

    now = now or pendulum.now(TIMEZONE)
    late, pending = missing_files(feed, landing, start, end, now)
    if late:
        alert_late(feed, landing, late, url=url, run_id=run_id)
    return not pending


def alert_late(feed: str, landing, late: list, *, url: str | None = None, run_id: str | None = None) -> list[str]:
    """Alert the late files not alerted before; return their names."""
    from ..warehouse import connect

    keys = {f"{feed}|{name}": (name, due) for name, due in late}
    with connect(url) as conn:
        rows = conn.execute("SELECT alert_key FROM quality.alert_log WHERE kind = %s AND alert_key = ANY(%s) AND failed = '{}'",
                            (KIND, list(keys))).fetchall()
    new = {k: v for k, v in keys.items() if k not in {r[0] for r in rows}}
    if not new:
        return []
    lines = [f"{name}: 应于 {due.strftime('%Y-%m-%d %H:%M')}（北京时间）前到达 / due by {due.isoformat()}"
             for name, due in new.values()]
    body = (f"数据文件迟到 / Late feed files: feed {feed}, landing {landing}/{feed}\n\n" + "\n".join(lines)
            + (f"\n\nRun: {run_id}" if run_id else ""))
    alert = Alert(KIND, f"{SUBJECT_PREFIX} 数据文件迟到 late feed: {feed} ({len(new)} file(s))", body,
                  {"feed": feed, "files": [{"file": n, "due": d.isoformat()} for n, d in new.values()]})
    delivery = send(alert)
    record(url, KIND, list(new), alert, delivery)
    return [name for name, _ in new.values()]




def period_due_at(feed: str, name: str) -> datetime | None:
    """When a feed's file is due: the due hour on the day after the last day it covers (a monthly
    file, the month's last day), Shanghai time; None for a file without a fixed period (waves)."""
    import calendar

    from ..registry import SPECS

    f = SPECS[feed]
    period = f.period_of(name)
    if period is None or f.cadence not in ("day", "month"):
        return None
    if f.cadence == "month":
        period = period.replace(day=calendar.monthrange(period.year, period.month)[1])
    return due_at(period, due_hour(feed))


def only_missing_past_due(result: dict, *, now: datetime | None = None) -> bool:
    """Whether a load's only failures are files missing past their due time: waiting or retrying
    cannot make them appear, so the run fails for good (a redelivery is loaded by a new run)."""
    import pendulum

    now = now or pendulum.now(TIMEZONE)
    rejected = result.get("rejected") or []
    if not rejected:
        return False
    for r in rejected:
        due = period_due_at(result["feed"], r["file"]) if r.get("rule") == MISSING_RULE else None
        if due is None or now < due:
            return False
    return True


def missing_not_yet_due(result: dict, *, now: datetime | None = None) -> list[str]:
    """The files a load found missing that may still come (not past their due time, or without a
    fixed one): a run failing on them is retried, any other rejected file fails it for good."""
    import pendulum

    now = now or pendulum.now(TIMEZONE)
    pending = []
    for r in result.get("rejected") or []:
        if r.get("rule") == MISSING_RULE:
            due = period_due_at(result["feed"], r["file"])
            if due is None or now < due:
                pending.append(r["file"])
    return pending
