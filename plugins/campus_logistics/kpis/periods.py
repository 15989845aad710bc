"""Which days a KPI run recomputes, and the periods those days fall in.

Plain functions of plain values (no Airflow, no database), so the KPI DAG's ``periods`` task is a
thin call and the rules are unit-tested on their own:

* a triggered run recomputes exactly the days each load reported in its asset event's extra
  (``{"feed": …, "days": [...]}``): each KPI group then runs for the days of the feeds it reads;
* a manual run names ``days`` (a list), or a ``start``/``end`` range, and optionally ``feeds``
  (the groups to recompute; all when empty), or ``days_by_feed`` as the loads reported them;
  hand-made days and ranges are checked first (``run_params``: real calendar days, bounded);
* days given both ways are merged into one list, for the groups of every feed named.

A run's ``conf`` wins over its ``params`` key by key, as for the feed DAGs.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Iterable, Mapping


def _get(conf: Mapping, params: Mapping, key: str):
    return conf.get(key) or params.get(key)


def run_days(conf: Mapping | None = None, params: Mapping | None = None,
             event_extras: Iterable[Mapping | None] = ()) -> dict:
    """The KPI run's spec: ``{"days_by_feed": {feed: [days]}}`` when only loads named days, else
    ``{"days": [days], "feeds": [feeds] or None}`` (None: every group). Days are ISO strings, sorted.

    ``event_extras`` are the triggering asset events' extras; RunRejected for a hand-made list or
    range outside the calendar or longer than a run may be.
    """
    conf, params = conf or {}, params or {}
    days: set[str] = set(_get(conf, params, "days") or [])
    if days:
        from ..run_params import check_days

        check_days(days)  # a hand-made list: real days in the calendar, at most a run's span
    feeds_seen: set[str] = set(_get(conf, params, "feeds") or [])
    start, end = _get(conf, params, "start"), _get(conf, params, "end")
    if start:
        from ..run_params import check_range

        d, last = check_range(start, end or start)  # bounded, ordered, in the calendar
        while d <= last:
            days.add(d.isoformat())
            d += timedelta(days=1)
    by_feed: dict[str, set[str]] = {}
    for extra in event_extras:
        extra = extra or {}
        if extra.get("feed"):
            by_feed.setdefault(extra["feed"], set()).update(extra.get("days") or [])
    for feed, feed_days in (conf.get("days_by_feed") or {}).items():
        by_feed.setdefault(feed, set()).update(feed_days)
    if by_feed and not days:
        return {"days_by_feed": {f: sorted(d) for f, d in sorted(by_feed.items())}}
    for feed_days in by_feed.values():
        days.update(feed_days)
    feeds_seen.update(by_feed)
    return {"days": sorted(days), "feeds": sorted(feeds_seen) or None}


def spec_days(spec: Mapping) -> list[str]:
    """Every day of a run's spec (``run_days``' result), sorted ISO strings."""
    if "days_by_feed" in spec:
        return sorted(set().union(*map(set, spec["days_by_feed"].values())))
    return list(spec["days"])


def next_start(grain: str, d: date) -> date:
    """The start of the period after the one starting at ``d``."""
    if grain in ("day", "wave"):
        return d + timedelta(days=1)
    if grain == "month":
        return (d.replace(day=28) + timedelta(days=4)).replace(day=1)
    return date(d.year + 1, 1, 1)


def periods_for(days: Iterable[date | str]) -> dict[str, list[date]]:
    """The periods the days fall in, per grain: the days themselves (``day``, and ``wave`` for survey
    waves, dated by their day), their months and their years, each sorted."""
    days = sorted({date.fromisoformat(d) if isinstance(d, str) else d for d in days})
    return {
        "day": days,
        "wave": days,
        "month": sorted({d.replace(day=1) for d in days}),
        "year": sorted({date(d.year, 1, 1) for d in days}),
    }
