"""DAG shapes, built from the package so DAG files stay one-liners with no business logic.

Parsing must stay fast and secret-free: nothing here imports pandas, Great Expectations or
psycopg, or reads a connection or variable; tasks import the package's modules when they run.

* a **feed DAG** per feed: ``interval`` → ``partitions`` → ``load_partition`` (mapped) → ``load`` → ``check``.
  Scheduled runs use a data-interval timetable in Asia/Shanghai (one day, or one month, per run);
  a manual run may carry ``start``/``end`` in its params, so a year of history is one run, not 365
  (``interval`` checks that range and the ``landing`` param first: ``run_params``), split into
  months, one mapped ``load_partition`` each, that the workers load in parallel (``backfill``:
  chained for a feed whose days depend on the previous day). ``load`` merges the partitions'
  results and publishes the asset ``campus_logistics://feeds/<feed>`` with the days it changed as the event's
  extra; ``check`` builds the Data Docs pages of all the run's loads once, then fails the run if any
  file was rejected or missing (after the good files
  were published, so their KPIs still refresh); it is retried only while a missing file may still
  come (not yet due), otherwise it fails for good. Two runs of a feed may run at once.
  Daily feeds wait first in a ``late`` sensor: a scheduled run waits for the interval's files
  until their due hour and alerts the late ones (``alerts/late.py``).
* the **KPI DAG**, scheduled on those assets: it recomputes exactly the days carried by the
  triggering events (or by its params for a manual run), never "the logical date"; then
  ``report`` writes the affected months' and years' finance reports and ``targets`` alerts KPIs
  outside ``ref/targets.csv``.
* every task's ``on_failure_callback`` sends an alert (``alerts.on_task_failure``).
* a task raising a ``PermanentError`` (errors.py: a rejected file, bad parameters or settings)
  fails without retries (AirflowFailException); any other failure keeps the task's retries.
"""

from __future__ import annotations

import functools
from datetime import timedelta

from campus_logistics.backfill import DEFAULT_UNIT, UNITS, partitions

from .registry import SPECS
from .settings import TIME_ZONE, current

OWNER = "data-office"
TAGS = {"feed", "kpi", "campus-logistics", "daily", "monthly", "wave", "reference"}
# Retries (for retryable failures): 2 after 5 minutes in production. A test of the distributed
# engine shortens them with CAMPUS_LOGISTICS_TASK_RETRIES / CAMPUS_LOGISTICS_RETRY_DELAY_S (read
# at parse time: plain environment, never a connection or variable).
DEFAULT_ARGS = {
    "owner": OWNER,
    "retries": current().task_retries,
    "retry_delay": timedelta(seconds=current().retry_delay_s),
}
TIMEZONE = TIME_ZONE
LATE_POKE_INTERVAL_S = 600
LATE_TIMEOUT_S = 2 * 24 * 3600  # the due hour is at most 47 h after the interval's last day
# Two runs of a feed at once: a manual backfill never queues behind a scheduled run waiting in
# `late` for a file not yet due. Loads stay exactly-once: each file is loaded under an advisory
# lock on (feed, file), and a file loaded twice replaces itself.
FEED_MAX_ACTIVE_RUNS = 2

UNPAUSE_DOC = {
    "daily": """
#### Unpausing
Unpausing starts one scheduled run, for yesterday (catchup is off: earlier days are not loaded;
trigger a backfill with `start`/`end` for them), then one run a day at 00:00 Asia/Shanghai. Its
`late` sensor waits for the day's file until its due hour (06:00 on the next day, Asia/Shanghai;
`CAMPUS_LOGISTICS_FEED_DUE_HOUR`). A file still missing then is past due: `check` fails at once,
without retries, naming the file. Up to two runs of this DAG run at once, so a manual backfill
starts beside a scheduled run; it waits (state *queued*) only while two runs are already running.
""",
    "monthly": """
#### Unpausing
Unpausing starts one scheduled run, for last month (catchup is off: earlier months are not
loaded; trigger a backfill with `start`/`end` for them), then one run on the 1st of each month at
00:00 Asia/Shanghai. A month's file is due at 06:00 on the 1st of the next month (Asia/Shanghai;
`CAMPUS_LOGISTICS_FEED_DUE_HOUR`): missing after that, `check` fails at once, without retries,
naming the file. Up to two runs of this DAG run at once, so a manual backfill starts beside a
scheduled run; it waits (state *queued*) only while two runs are already running.
""",
    "wave": """
#### Unpausing
Unpausing starts one scheduled run, for yesterday (catchup is off: earlier waves are not loaded;
trigger a backfill with `start`/`end` for them), then one run a day at 00:00 Asia/Shanghai, each
loading the survey waves dated in its interval (none expected on most days, so none is missing).
Up to two runs of this DAG run at once, so a manual backfill starts beside a scheduled run; it
waits (state *queued*) only while two runs are already running.
""",
    "kpi": """
#### Unpausing
Unpausing starts no run by itself: the DAG runs when a feed's load publishes its asset afterwards
(loads while it was paused are not queued for it: trigger it by hand with `start`/`end` for
those days). One run at a time, so two recomputes never race on the same periods; a run waits
(state *queued*) while the previous one is running.
""",
}


def spec_doc(spec) -> str:
    """The feed's spec as the DAG's docs show it."""
    lines = [f"\n#### Spec\n* files: `{spec.folder}/{spec.name_pattern}` ({spec.format}"
             + (f", {spec.encoding.upper()}" if spec.format == "csv" else "") + f"), schedule `{spec.cron}`"]
    if spec.columns:
        kinds = dict(spec.types)
        lines.append("* columns: " + ", ".join(f"`{c}`" + (f" ({kinds[c]})" if c in kinds else "") for c in spec.columns))
    if spec.duplicate_key:
        lines.append(f"* one row per {', '.join(spec.duplicate_key)}: identical repeats collapse, differing ones "
                     f"are quarantined (`{spec.duplicate_conflict}`)")
    if spec.publish_sql:
        lines.append(f"* published by `include/sql/publish/{spec.publish_sql}`")
    return "\n".join(lines) + "\n"


def on_task_failure(context) -> None:
    """Every task's failure callback; the alerts package is imported only when a task fails."""
    from campus_logistics.alerts import on_task_failure as alert

    alert(context)


DEFAULT_ARGS["on_failure_callback"] = on_task_failure


def feed_asset_uri(feed: str) -> str:
    return f"campus_logistics://feeds/{feed}"


def _interval_from_context(context) -> tuple[str, str]:
    """[start, end] (inclusive dates) of the run: explicit params win over the data interval."""
    import pendulum

    params = context.get("params") or {}
    conf = (getattr(context.get("dag_run"), "conf", None) or {})
    start = conf.get("start") or params.get("start")
    end = conf.get("end") or params.get("end")
    if start:
        return str(start), str(end or start)
    lo, hi = context.get("data_interval_start"), context.get("data_interval_end")
    if lo is None or hi is None or lo == hi:
        from campus_logistics.errors import UsageError

        raise UsageError(
            "this run has no data interval and no 'start'/'end' params: trigger it with "
            '{"start": "YYYY-MM-DD", "end": "YYYY-MM-DD"}'
        )
    lo = pendulum.instance(lo).in_timezone(TIMEZONE)
    hi = pendulum.instance(hi).in_timezone(TIMEZONE).subtract(microseconds=1)
    return lo.date().isoformat(), hi.date().isoformat()


def _landing(context) -> str:
    params = context.get("params") or {}
    conf = (getattr(context.get("dag_run"), "conf", None) or {})
    landing = conf.get("landing") or params.get("landing") or current().landing
    if not landing:
        from campus_logistics.errors import UsageError

        raise UsageError("no landing directory: set CAMPUS_LOGISTICS_LANDING or pass 'landing' in the run's params")
    return str(landing)


def _checked_run_params(context, start: str, end: str, manual: bool) -> dict:
    """A manual run's range and landing checked before anything is read (``run_params``); whether
    its ``ref/`` may replace the warehouse's reference data."""
    from campus_logistics.run_params import check_landing, check_range, is_default_landing, truthy

    if manual:
        check_range(start, end)
    landing = _landing(context)
    resolved = check_landing(landing)
    params = context.get("params") or {}
    conf = (getattr(context.get("dag_run"), "conf", None) or {})
    explicit = truthy(conf.get("replace_reference", params.get("replace_reference")))
    return {"landing": str(resolved), "replace_reference": explicit or is_default_landing(resolved)}


def feed_dag(feed: str, *, doc_md: str, description: str | None = None, start_date=None):
    """A feed DAG: interval → partitions → load_partition (mapped) → load → check; its schedule and
    cadence are the feed's spec's (``registry.SPECS``)."""
    import pendulum
    from airflow.sdk import DAG, Asset, Param, task
    from airflow.timetables.interval import CronDataIntervalTimetable

    spec = SPECS[feed]
    cron, cadence_tag = spec.cron, spec.cadence_tag
    asset = Asset(feed_asset_uri(feed), extra={"feed": feed})
    with DAG(
        dag_id=f"feed_{feed}",
        schedule=CronDataIntervalTimetable(cron, timezone=TIMEZONE),
        start_date=start_date or pendulum.datetime(2000, 7, 1, tz=TIMEZONE),
        catchup=False,
        max_active_runs=FEED_MAX_ACTIVE_RUNS,
        default_args=DEFAULT_ARGS,
        tags=["campus-logistics", "feed", cadence_tag],
        description=description,
        doc_md=doc_md + spec_doc(spec) + UNPAUSE_DOC[cadence_tag],
        params={
            "start": Param(None, type=["null", "string"], format="date",
                           description="first day to load (manual runs); default: the data interval"),
            "end": Param(None, type=["null", "string"], format="date", description="last day to load, inclusive"),
            "landing": Param(None, type=["null", "string"], description="landing directory (default: CAMPUS_LOGISTICS_LANDING)"),
            "replace_reference": Param(False, type="boolean",
                                       description="let a non-default landing's ref/ replace the warehouse's reference data"),
            "partition": Param(DEFAULT_UNIT, enum=list(UNITS),
                               description="a manual range is loaded in parallel partitions of this size "
                                           "(one mapped load_partition each)"),
        },
    ) as dag:

        @task(task_id="interval")
        def interval(**context) -> dict:
            start, end = _interval_from_context(context)
            params = context.get("params") or {}
            conf = (getattr(context.get("dag_run"), "conf", None) or {})
            manual = bool(conf.get("start") or params.get("start"))
            # the landing, resolved, once inside an allowed root; the range, once bounded
            unit = conf.get("partition") or params.get("partition") or DEFAULT_UNIT
            return {"start": start, "end": end, "manual": manual, "partition": unit,
                    **_checked_run_params(context, start, end, manual)}

        @task(task_id="partitions")
        def split(spec: dict) -> list[dict]:
            """The run's range as the partitions load_partition is mapped over (one for a scheduled run)."""
            return partitions(spec["start"], spec["end"], unit=spec["partition"], manual=spec["manual"],
                              cadence="month" if cadence_tag == "monthly" else "day")

        @task(task_id="load_partition", max_active_tis_per_dagrun=1 if spec.sequential else None)
        def load_partition(spec: dict, part: dict, **context) -> dict:
            from campus_logistics.backfill import load_partition as run

            return run(feed, spec, part, run_id=context["run_id"])

        @task(task_id="load", outlets=[asset])
        def load(spec: dict, results, **context) -> dict:
            """Every partition's result as the run's one result, and one asset event for all its days."""
            from campus_logistics.backfill import merge

            result = merge(feed, spec, list(results))
            context["outlet_events"][asset].extra = {"feed": feed, "days": result["affected_days"]}
            return result

        @task(task_id="check")
        def check(result: dict, **context) -> dict:
            from campus_logistics.file_warnings import log_warnings
            from campus_logistics.pipeline import build_data_docs

            build_data_docs(context["run_id"])  # once for all the run's loads, before a rejection fails it
            log_warnings(result)  # warnings do not fail the run; they are named in its log
            _raise_for_rejections(result)
            files = (result.get("totals") or {}).get("files", len(result["files"]))  # ``files`` is capped
            return {"files": files, "days": len(result["affected_days"])}

        spec = interval()
        if cadence_tag == "daily":

            @task.sensor(task_id="late", poke_interval=LATE_POKE_INTERVAL_S, timeout=LATE_TIMEOUT_S,
                         mode="reschedule")
            def late(spec: dict, **context) -> bool:
                """Scheduled runs wait for the day's files until they are due, then alert the late ones."""
                if spec.get("manual"):
                    return True  # a backfill loads what is there; check reports what is missing
                from datetime import date

                from campus_logistics.alerts.late import poke

                return poke(feed, spec["landing"], date.fromisoformat(spec["start"]), date.fromisoformat(spec["end"]),
                            run_id=context["run_id"])

            gate = late(spec)
            parts = load_partition.partial(spec=spec).expand(part=split(spec))
            gate >> parts
        else:
            parts = load_partition.partial(spec=spec).expand(part=split(spec))
        check(load(spec, parts))
    return _permanent_errors_fail_for_good(dag)


def kpi_dag(feeds: list[str], *, doc_md: str, description: str | None = None, start_date=None):
    """The KPI DAG: recompute exactly the days the triggering loads changed."""
    import pendulum
    from airflow.sdk import DAG, Asset, Param, task

    assets = [Asset(feed_asset_uri(f), extra={"feed": f}) for f in feeds]
    schedule = assets[0]
    for a in assets[1:]:
        schedule = schedule | a
    with DAG(
        dag_id="kpi",
        schedule=schedule,
        start_date=start_date or pendulum.datetime(2000, 7, 1, tz=TIMEZONE),
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["campus-logistics", "kpi"],
        description=description,
        doc_md=doc_md + UNPAUSE_DOC["kpi"],
        params={
            "days": Param([], type="array", description="days whose KPIs to recompute (manual runs)"),
            "start": Param(None, type=["null", "string"], format="date", description="or: first day of a range"),
            "end": Param(None, type=["null", "string"], format="date", description="last day of the range, inclusive"),
            "feeds": Param([], type="array", description="feeds whose KPI groups to recompute (default: all)"),
            "days_by_feed": Param({}, type="object", description="{feed: [days]} as the feed loads reported them"),
        },
    ) as dag:

        @task(task_id="periods")
        def periods(**context) -> dict:
            from campus_logistics.kpis.periods import run_days

            conf = (getattr(context.get("dag_run"), "conf", None) or {})
            events = (context.get("triggering_asset_events") or {}).values()
            return run_days(conf, context.get("params"), (event.extra for evs in events for event in evs))

        @task(task_id="recompute")
        def recompute(spec: dict, **context) -> dict:
            from campus_logistics.kpis.compute import recompute as run

            if "days_by_feed" in spec:
                return run(days_by_feed=spec["days_by_feed"], run_id=context["run_id"])
            return run(spec["days"], feeds=spec["feeds"], run_id=context["run_id"])

        @task(task_id="report")
        def report(spec: dict, summary: dict) -> dict:
            """The finance reports of every month and year the recompute touched."""
            from campus_logistics.kpis.periods import periods_for, spec_days
            from campus_logistics.reports import report_dir, write_period_reports

            periods = periods_for(spec_days(spec))
            written = write_period_reports(periods["month"], periods["year"])
            return {"dir": str(report_dir()), "written": written}

        @task(task_id="targets")
        def targets(spec: dict, summary: dict, **context) -> dict:
            """Alert the recomputed months and waves whose KPIs are outside ref/targets.csv."""
            from campus_logistics.alerts.targets import check_targets
            from campus_logistics.kpis.periods import spec_days

            return check_targets(spec_days(spec), run_id=context["run_id"])

        spec = periods()
        summary = recompute(spec)
        report(spec, summary)
        targets(spec, summary)
    return _permanent_errors_fail_for_good(dag)


def _raise_for_rejections(result: dict) -> None:
    """FeedRunFailed (permanent) for a run with rejected or missing files, unless a missing file
    may still come before its due time: then FilesNotYetDue, and the check is retried."""
    from campus_logistics.alerts.late import missing_not_yet_due
    from campus_logistics.errors import FeedRunFailed, FilesNotYetDue
    from campus_logistics.pipeline import raise_for_rejections

    try:
        raise_for_rejections(result)
    except FeedRunFailed as exc:
        pending = missing_not_yet_due(result)
        if pending:
            raise FilesNotYetDue(exc, pending) from exc
        raise


def _fails_for_good_when_permanent(fn):
    """A task callable whose PermanentError becomes AirflowFailException: retrying cannot help, so
    the run ends now instead of holding its slot for the retry delays."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        from campus_logistics.errors import PermanentError

        try:
            return fn(*args, **kwargs)
        except PermanentError as exc:
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(f"{type(exc).__name__}: {exc}\n(retrying cannot help: failed without "
                                       "retries)") from exc
    return run


def _permanent_errors_fail_for_good(dag):
    """Wrap every task's callable (plain or mapped) with :func:`_fails_for_good_when_permanent`."""
    for t in dag.tasks:
        if getattr(t, "python_callable", None) is not None:
            t.python_callable = _fails_for_good_when_permanent(t.python_callable)
        elif "python_callable" in (getattr(t, "partial_kwargs", None) or {}):
            t.partial_kwargs["python_callable"] = _fails_for_good_when_permanent(t.partial_kwargs["python_callable"])
    return dag

