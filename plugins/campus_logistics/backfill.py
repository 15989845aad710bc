"""A feed run's range split into partitions that Celery workers load in parallel.

A manual run over a range (a year's backfill) is split into calendar months (``partition`` param:
``month``, the default; ``week``; or ``none`` for one partition); the feed DAG maps one
``load_partition`` task instance over each (Airflow dynamic task mapping), so N workers load N
months at once. A scheduled run is one partition: its interval is one day or one month already.

Exactly-once across partitions and workers: partitions are disjoint and a file belongs to exactly
one of them (``partition_files``: a monthly feed's file to its month's partition, which is why a
monthly feed is never split finer than by month). Two loads of the same file — two runs over
overlapping ranges, or a retried partition beside the one it replaces — serialise on the
transaction-scoped advisory lock on (feed, file), and a file loaded again replaces itself.

Feeds whose files depend on the previous period (``FeedSpec.sequential``): a meters day is judged
against the previous day's last readings, read from the warehouse when that day is loaded. Two
partitions in parallel would each see the other's boundary day as "not loaded" (neither has
committed), so the later month's first day would be judged against the landing file instead and
never re-judged. Their partitions are chained: one at a time, in map-index (date) order
(``max_active_tis_per_dagrun=1``), each after the previous one committed — the same warehouse as
one task, with a month's retry granularity, but no parallelism within the feed.

``merge`` folds the partitions' results into the one result ``check``, the alerts, the CLI and the
KPI asset event read: totals over every file (rows read = loaded + quarantined + duplicates), every
rejection (the missing files of all partitions as consecutive ranges), every affected day.

Plain functions, no Airflow and no pandas at import: ``dag_factory`` calls them at parse time.
"""

from __future__ import annotations

from datetime import date, timedelta


UNITS = ("month", "week", "none")
DEFAULT_UNIT = "month"
TOTAL_KEYS = ("rows_read", "rows_loaded", "rows_quarantined", "rows_duplicate")


def _day(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _next_month(d: date) -> date:
    return date(d.year + d.month // 12, d.month % 12 + 1, 1)


def partitions(start, end, *, unit: str = DEFAULT_UNIT, cadence: str = "day", manual: bool = True) -> list[dict]:
    """[start, end] (inclusive) as consecutive, disjoint ``{"start", "end"}`` ISO ranges covering it.

    ``month``: calendar months (the first and last may be partial); ``week``: ISO weeks (Monday to
    Sunday), except for a monthly feed (``cadence="month"``), which is split by month at the finest;
    ``none`` or a scheduled run (``manual=False``): one partition."""
    lo, hi = _day(start), _day(end)
    if hi < lo:
        raise ValueError(f"end {hi} is before start {lo}")
    if unit not in UNITS:
        raise ValueError(f"partition {unit!r} is not one of {', '.join(UNITS)}")
    if not manual or unit == "none":
        return [{"start": lo.isoformat(), "end": hi.isoformat()}]
    if unit == "week" and cadence == "month":
        unit = "month"
    out, first = [], lo
    while first <= hi:
        nxt = _next_month(first) if unit == "month" else first + timedelta(days=7 - first.weekday())
        last = min(nxt - timedelta(days=1), hi)
        out.append({"start": first.isoformat(), "end": last.isoformat()})
        first = nxt
    return out


def partition_files(feed, landing, parts: list[dict]) -> list[list[str]]:
    """The names of the files (present or missing) each partition of ``feed`` loads."""
    out = []
    for p in parts:
        found, missing = feed.spec.files(landing, _day(p["start"]), _day(p["end"]))
        out.append(sorted([lf.name for lf in found] + list(missing)))
    return out


def load_partition(feed: str, spec: dict, part: dict, *, run_id: str) -> dict:
    """One partition's load (``pipeline.run_feed``), its missing files listed by name (``missing``)
    so that ``merge`` reports them as ranges across partitions, not one range per partition."""
    from pathlib import Path

    from .pipeline import bounded_result, run_feed
    from .registry import SPECS

    start, end = _day(part["start"]), _day(part["end"])
    result = run_feed(feed, spec["landing"], start, end, run_id=run_id, allow_missing=True,
                      replace_reference=spec.get("replace_reference", True),
                      build_docs=False).as_dict()  # the run's check task builds the Data Docs once
    result["missing"] = SPECS[feed].files(Path(spec["landing"]), start, end)[1]
    return bounded_result(result)


def merge(feed: str, spec: dict, results: list[dict], *, landing=None) -> dict:
    """The partitions' results (``load_partition``'s, in any order) as one run's result."""
    from pathlib import Path

    from .pipeline import bounded_result

    results = sorted((r for r in results if r), key=lambda r: r["start"])
    files: list[dict] = []
    totals = {"files": 0, **{k: 0 for k in TOTAL_KEYS}}
    file_rejected: list[dict] = []
    ref_rejected: dict[tuple, dict] = {}
    missing: list[str] = []
    days: set[str] = set()
    ref_reloaded: list[str] = []
    warnings: list[dict] = []
    omitted = {"files": 0, "rejected": 0, "warnings": 0}
    for r in results:
        files += r.get("files") or []
        t = r.get("totals") or {}
        totals["files"] += t.get("files", len(r.get("files") or []))
        for k in TOTAL_KEYS:
            totals[k] += t.get(k, sum(f.get(k) or 0 for f in r.get("files") or []))
        for rej in r.get("rejected") or []:
            if str(rej.get("file", "")).startswith("ref/"):  # the same refusal, seen by every partition
                ref_rejected.setdefault((rej["file"], rej.get("rule")), rej)
            else:
                file_rejected.append(rej)
        missing += r.get("missing") or []
        days.update(r.get("affected_days") or [])
        ref_reloaded += [f for f in r.get("ref_reloaded") or [] if f not in ref_reloaded]
        warnings += r.get("warnings") or []
        for key in omitted:
            omitted[key] += r.get(f"{key}_omitted") or 0
    missing_rejected = []
    if missing:
        from .pipeline import missing_rejections
        from .registry import SPECS

        missing_rejected = [{"file": e.file, "rule": e.rule, "detail": e.detail, "rows_read": e.rows_read,
                             "rows_bad": e.rows_bad, "message": str(e)}
                            for e in missing_rejections(SPECS[feed], Path(landing or spec["landing"]),
                                                        sorted(missing))]
    merged = {"feed": feed, "start": spec["start"], "end": spec["end"], "partitions": len(results),
              "files": files, "affected_days": sorted(days), "ref_reloaded": ref_reloaded,
              "rejected": file_rejected + missing_rejected + list(ref_rejected.values()), "warnings": warnings}
    out = bounded_result(merged)
    out["totals"] = totals  # over every file of every partition, not only the entries kept
    for key, n in omitted.items():
        if n:
            out[f"{key}_omitted"] = (out.get(f"{key}_omitted") or 0) + n
    return out
