"""A run's parameters, checked before anything is read.

Whoever may trigger a DAG chooses a manual run's ``start``, ``end`` and ``landing``; none of them
may make a run unbounded or read outside the landing zone:

* the date range (``check_range``): real ``YYYY-MM-DD`` dates, start not after end, inside the
  reference calendar (from ``CAMPUS_LOGISTICS_CALENDAR_START``, default 2000-01-01, to today in
  Asia/Shanghai), at most ``CAMPUS_LOGISTICS_MAX_RUN_DAYS`` days (default 366) — rule
  ``range_dates_valid``, ``range_order``, ``range_calendar`` or ``range_max_days``;
* the landing directory (``check_landing``): it must resolve inside an allowed root
  (``CAMPUS_LOGISTICS_LANDING_ROOTS``, os.pathsep-separated; default: the deployment's landing
  ``CAMPUS_LOGISTICS_LANDING`` and the project's ``var/landing``) — rule ``landing_allowed``;
* its ``ref/`` replaces the warehouse-wide reference data only from the default landing, or when
  the run says so (``replace_reference``; ``reference.load_reference``, rule ``ref_replace_explicit``).
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pendulum

from .errors import RunRejected
from .settings import REPO_ROOT, TIME_ZONE, current

TZ = TIME_ZONE
ENV_MAX_DAYS = "CAMPUS_LOGISTICS_MAX_RUN_DAYS"
ENV_CALENDAR_START = "CAMPUS_LOGISTICS_CALENDAR_START"
ENV_LANDING_ROOTS = "CAMPUS_LOGISTICS_LANDING_ROOTS"
ENV_LANDING = "CAMPUS_LOGISTICS_LANDING"
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)  # no full-width digits, no week dates, no times


def parse_day(value, name: str) -> date:
    """``value`` as a date; RunRejected (rule ``range_dates_valid``) for anything but YYYY-MM-DD."""
    text = str(value).strip()
    try:
        if _DAY.fullmatch(text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise RunRejected("range_dates_valid", f"{name} {text[:40]!r} is not a date YYYY-MM-DD")


def max_run_days() -> int:
    return current().max_run_days


def calendar_start() -> date:
    return current().calendar_start


def check_range(start, end, *, today: date | None = None) -> tuple[date, date]:
    """[start, end] as dates once they are a bounded, ordered range inside the reference calendar."""
    first, last = parse_day(start, "start"), parse_day(end, "end")
    if last < first:
        raise RunRejected("range_order", f"end {last} is before start {first}")
    lo, hi = calendar_start(), today or pendulum.now(TZ).date()
    if first < lo or last > hi:
        raise RunRejected("range_calendar", f"{first}…{last} is outside the reference calendar {lo}…{hi} "
                                            f"({ENV_CALENDAR_START} to today, {TZ})")
    days, limit = (last - first).days + 1, max_run_days()
    if days > limit:
        raise RunRejected("range_max_days", f"{first}…{last} spans {days} days, more than {limit} "
                                            f"({ENV_MAX_DAYS}); split it into several runs")
    return first, last


def check_days(days, *, today: date | None = None) -> list[date]:
    """A manual KPI run's list of days: each a date in the calendar, no more than a run's span."""
    days = list(days)
    if len(days) > max_run_days():
        raise RunRejected("range_max_days", f"{len(days)} days listed, more than {max_run_days()} ({ENV_MAX_DAYS})")
    out = [parse_day(d, "day") for d in days]
    lo, hi = calendar_start(), today or pendulum.now(TZ).date()
    outside = [d for d in out if not lo <= d <= hi]
    if outside:
        raise RunRejected("range_calendar", f"{len(outside)} listed day(s), e.g. {outside[0]}, outside the "
                                            f"reference calendar {lo}…{hi}")
    return out


def landing_roots() -> list[Path]:
    """The directories a run's landing may be in (each resolved: links followed once, here)."""
    s = current()
    roots = s.landing_roots or [p for p in (s.landing, REPO_ROOT / "var" / "landing") if p]
    return [Path(p).expanduser().resolve() for p in roots]


def check_landing(path) -> Path:
    """The landing directory, resolved, once it is inside an allowed root (RunRejected otherwise)."""
    resolved = Path(str(path)).expanduser().resolve()
    roots = landing_roots()
    if not any(resolved == root or root in resolved.parents for root in roots):
        raise RunRejected("landing_allowed", f"landing directory {str(path)[:200]!r} is outside the allowed "
                                             f"landing roots {[str(r) for r in roots]} ({ENV_LANDING_ROOTS})")
    return resolved


def is_default_landing(path) -> bool:
    """Whether ``path`` is the deployment's own landing directory (``CAMPUS_LOGISTICS_LANDING``)."""
    default = current().landing
    return default is not None and Path(str(path)).expanduser().resolve() == default.resolve()


def truthy(value) -> bool:
    """A run-conf flag: JSON true, or the text true/1/yes (a conf typed by hand)."""
    return value is True or str(value).strip().lower() in ("true", "1", "yes")
