"""``make bench``: throughput, parse time, memory and wall time, measured side by side in one run.

Every figure is measured here, on this machine, in one process tree, against a fresh embedded
warehouse (or ``--warehouse``), as min/median/max of ``--reps`` repetitions, and written to
``<out>/results.md`` and ``<out>/results.json``. Nothing here is asserted: the report says whether
each target was met.

Comparisons (rows/s, and ratios):

* the **limit**: a bare ``COPY`` of the same rows as a ready UTF-8 CSV into a table of the same
  shape with its primary key (no parsing, no checks);
* the **naive pipeline** a user would write: ``pd.read_csv`` + Great Expectations on the frame +
  ``df.to_sql``;
* **ours**: the feed end to end as a feed DAG's load task runs it (decode → gate → validate →
  pseudonymise → COPY → audit → publish → reconcile, the validations saved for the Data Docs); the
  Data Docs pages, built once per DAG run by its ``check`` task, are timed on their own beside it.

``--backfill`` adds a big-university quarter's backfill through real Celery workers (the
distributed engine of ``cluster.py``: API server, scheduler, DAG processor, workers, Redis), timed
with 1 and with 2 workers; ``--only-backfill`` runs that section alone.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIG_START = date(2024, 9, 2)  # a Monday in term


# --- helpers ---------------------------------------------------------------------------------------

def stats(values: list[float]) -> dict:
    return {"min": min(values), "median": statistics.median(values), "max": max(values), "n": len(values)}


def machine_info(url: str) -> dict:
    import psycopg

    info = {"python": platform.python_version(), "platform": platform.platform(), "cores": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?")
        with open("/proc/meminfo") as f:
            info["memory_gib"] = round(int(f.readline().split()[1]) / 1024 / 1024, 1)
    except OSError:  # not Linux: the report says "?" for CPU and memory
        pass
    with psycopg.connect(url) as conn:
        info["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]
    from importlib.metadata import version

    for pkg in ("apache-airflow", "great-expectations", "pandas", "pyarrow", "psycopg"):
        info[pkg] = version(pkg)
    return info


class Databases:
    """Fresh databases on one server, dropped at the end."""

    def __init__(self, admin_url: str):
        self.admin_url, self.created = admin_url, []

    def fresh(self, migrate_it: bool = True) -> str:
        import uuid
        from urllib.parse import urlsplit, urlunsplit

        import psycopg

        name = f"bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        p = urlsplit(self.admin_url)
        url = urlunsplit((p.scheme, p.netloc, f"/{name}", p.query, p.fragment))
        if migrate_it:
            from campus_logistics.migrations import migrate

            migrate(url)
        return url

    def drop_all(self) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            for name in self.created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.clear()


def _rows_in(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(1 for _ in f) - 1


# --- 1 & 2: throughput against the limit and the naive pipeline ----------------------------------

CANTEEN_DDL = """CREATE TABLE bare (txn_id text PRIMARY KEY, card text, holder text, at timestamp, outlet text,
                 terminal text, amount numeric(12,2), kind text, orig text)"""
METERS_DDL = """CREATE TABLE bare (meter_id text, read_at timestamptz, reading numeric, status text,
                PRIMARY KEY (meter_id, read_at))"""


def bare_copy(dbs: Databases, path: Path, encoding: str, ddl: str, reps: int) -> list[float]:
    """The ingest limit: COPY of the same rows, already UTF-8, into a table of the same shape."""
    import psycopg

    data = path.read_bytes().decode(encoding).encode("utf-8")
    out = []
    for _ in range(reps):
        url = dbs.fresh(migrate_it=False)
        with psycopg.connect(url) as conn:
            conn.execute(ddl)
            conn.commit()
            t = time.perf_counter()
            with conn.cursor().copy("COPY bare FROM STDIN (FORMAT csv, HEADER true)") as copy:
                copy.write(data)
            conn.commit()
            out.append(time.perf_counter() - t)
    return out


def naive(dbs: Databases, path: Path, encoding: str, reps: int, expectations) -> list[float]:
    """What a user would otherwise write: read_csv, a GX suite on the frame, to_sql."""
    import great_expectations as gx
    import pandas as pd
    import sqlalchemy as sa

    ctx = gx.get_context(mode="ephemeral")
    batch = ctx.data_sources.add_pandas("naive").add_dataframe_asset("naive").add_batch_definition_whole_dataframe("b")
    suite = ctx.suites.add(gx.ExpectationSuite(name="naive", expectations=expectations()))
    vd = ctx.validation_definitions.add(gx.ValidationDefinition(name="naive", data=batch, suite=suite))
    out = []
    for _ in range(reps):
        url = dbs.fresh(migrate_it=False).replace("postgresql://", "postgresql+psycopg://", 1)
        engine = sa.create_engine(url)
        t = time.perf_counter()
        df = pd.read_csv(path, encoding=encoding, dtype=str)
        vd.run(batch_parameters={"dataframe": df}, result_format={"result_format": "SUMMARY"})
        df.to_sql("naive", engine, if_exists="append", index=False, chunksize=10_000)
        out.append(time.perf_counter() - t)
        engine.dispose()
    return out


def ours(dbs: Databases, landing: Path, feed: str, day: date, reps: int) -> tuple[list[float], list[float], bool]:
    """The load as a feed DAG's load task runs it, and then (timed apart) the Data Docs pages its
    ``check`` task builds once per run. A day of a feed that judges a day against the previous one
    (meters) is timed as its scheduled run meets it: the previous day loaded before (not timed)."""
    from campus_logistics import quality_docs
    from campus_logistics.pipeline import run_feed
    from campus_logistics.registry import SPECS

    previous = day - timedelta(days=1)
    warm = SPECS[feed].sequential and bool(SPECS[feed].files(landing, previous, previous)[0])
    out, docs = [], []
    for i in range(reps):
        url = dbs.fresh()
        if warm:
            run_feed(feed, landing, previous, previous, run_id=f"bench_prev_{i}", url=url, build_docs=False)
        t = time.perf_counter()
        result = run_feed(feed, landing, day, day, run_id=f"bench_{i}", url=url, build_docs=False)
        out.append(time.perf_counter() - t)
        if result.rejected:
            raise RuntimeError(f"bench run of {feed} rejected files: {result.rejected}")
        t = time.perf_counter()
        quality_docs.build(f"bench_{i}")
        docs.append(time.perf_counter() - t)
    return out, docs, warm


def _canteen_expectations():
    import great_expectations.expectations as gxe

    return [gxe.ExpectColumnValuesToNotBeNull(column="流水号"), gxe.ExpectColumnValuesToNotBeNull(column="卡号"),
            gxe.ExpectColumnValuesToBeInSet(column="身份", value_set=["学生", "教职工", "其他"]),
            gxe.ExpectColumnValuesToMatchStrftimeFormat(column="交易时间", strftime_format="%Y-%m-%d %H:%M:%S"),
            gxe.ExpectColumnValuesToNotBeNull(column="商户名称"),
            gxe.ExpectColumnValuesToMatchRegex(column="交易金额", regex=r"^-?[0-9]+(?:\.[0-9]{1,2})?$"),
            gxe.ExpectColumnValuesToBeInSet(column="交易类型", value_set=["消费", "冲正", "退款"]),
            gxe.ExpectColumnValuesToBeUnique(column="流水号")]


def _meters_expectations():
    import great_expectations.expectations as gxe

    return [gxe.ExpectColumnValuesToNotBeNull(column="meter_id"), gxe.ExpectColumnValuesToNotBeNull(column="read_at"),
            gxe.ExpectColumnValuesToMatchRegex(column="reading", regex=r"^[0-9]+(?:\.[0-9]+)?$"),
            gxe.ExpectColumnValuesToBeInSet(column="status", value_set=["ok", "estimated", "replaced"])]


def throughput(dbs: Databases, landing: Path, feed: str, reps: int) -> dict:
    folder = {"canteen": "canteen", "meters": "meters"}[feed]
    day = BIG_START
    path = landing / folder / f"{folder}_{day:%Y%m%d}.csv"
    rows = _rows_in(path)
    enc, ddl, exps = (("gb18030", CANTEEN_DDL, _canteen_expectations) if feed == "canteen"
                      else ("utf-8", METERS_DDL, _meters_expectations))
    limit = bare_copy(dbs, path, enc, ddl, reps)
    naive_t = naive(dbs, path, enc, reps, exps)
    ours_t, docs_t, warm = ours(dbs, landing, feed, day, reps)
    rate = lambda ts: rows / statistics.median(ts)  # noqa: E731
    return {"rows": rows, "bare_copy_s": stats(limit), "naive_s": stats(naive_t), "ours_s": stats(ours_t),
            "data_docs_s": stats(docs_t), "previous_day_loaded": warm,
            "bare_copy_rows_per_s": rate(limit), "naive_rows_per_s": rate(naive_t), "ours_rows_per_s": rate(ours_t),
            "ours_vs_copy": rate(ours_t) / rate(limit), "ours_vs_naive": rate(ours_t) / rate(naive_t)}


# --- 3: parse and import time ---------------------------------------------------------------------

def parse_times(reps: int) -> dict:
    probe = """
import json, time
t = time.perf_counter()
from campus_logistics_tools.airflow_runtime import prepare_airflow_env
prepare_airflow_env()
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=%r)
print(json.dumps({s.file.rsplit('/', 1)[-1]: s.duration.total_seconds() if hasattr(s.duration, 'total_seconds')
                  else float(s.duration) for s in bag.dagbag_stats}))
""" % str(REPO / "dags")
    per_file: dict[str, list[float]] = {}
    for _ in range(reps):
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
        for name, secs in json.loads(out.stdout.strip().splitlines()[-1]).items():
            per_file.setdefault(name, []).append(secs)
    imports = {}
    for module in ("campus_logistics", "campus_logistics.dag_factory", "campus_logistics.pipeline"):
        ts = []
        for _ in range(reps):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
            ts.append(time.perf_counter() - t)
        imports[module] = stats(ts)
    base = []
    for _ in range(reps):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        base.append(time.perf_counter() - t)
    return {"dag_parse_s": {k: stats(v) for k, v in sorted(per_file.items())}, "import_s": imports,
            "interpreter_start_s": stats(base)}


# --- 4: peak memory -------------------------------------------------------------------------------

def _write_big_canteen_day(src: Path, dst: Path, copies: int) -> int:
    """``copies`` × the rows of ``src`` with unique ids (流水号 and 原流水号 prefixed per copy)."""
    with open(src, "rb") as f:
        header = f.readline()
        lines = f.read().splitlines()
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(dst, "wb") as out:
        out.write(header)
        for k in range(copies):
            prefix = f"R{k}-".encode()
            buf = []
            for line in lines:
                fields = line.split(b",")
                fields[0] = prefix + fields[0]
                if fields[-1].strip():
                    fields[-1] = prefix + fields[-1]
                buf.append(b",".join(fields))
            out.write(b"\r\n".join(buf) + b"\r\n")
    return len(lines) * copies


def peak_rss(dbs: Databases, landing_1day: Path, sizes: list[int], workdir: Path) -> dict:
    """Peak RSS (MiB) of a child process loading one canteen day of each size."""
    src = landing_1day / "canteen" / f"canteen_{BIG_START:%Y%m%d}.csv"
    base_rows = _rows_in(src)
    results = {}
    for size in sizes:
        copies = max(1, round(size / base_rows))
        land = workdir / f"rss_{size}"
        shutil.copytree(landing_1day / "ref", land / "ref", dirs_exist_ok=True)
        rows = _write_big_canteen_day(src, land / "canteen" / src.name, copies)
        url = dbs.fresh()
        code = ("import sys, time; from datetime import date; from campus_logistics.pipeline import run_feed; "
                f"t=time.perf_counter(); r=run_feed('canteen', {str(land)!r}, date({BIG_START.year}, {BIG_START.month}, "
                f"{BIG_START.day}), date({BIG_START.year}, {BIG_START.month}, {BIG_START.day}), run_id='rss', url={url!r}); "
                "print(time.perf_counter()-t); sys.exit(1 if r.rejected else 0)")
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = float(proc.stdout.read().strip() or "nan")
        results[str(size)] = {"rows": rows, "peak_rss_mib": usage.ru_maxrss / 1024, "seconds": elapsed,
                              "rows_per_s": rows / elapsed if elapsed else None, "ok": status == 0}
        shutil.rmtree(land, ignore_errors=True)
    return results


# --- 5 & 6: wall times ----------------------------------------------------------------------------

def cli_run(landing: Path, start: date, end: date, url: str) -> float:
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "campus_logistics", "run", "--landing", str(landing), "--start",
                          start.isoformat(), "--end", end.isoformat(), "--warehouse", url],
                         capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if out.returncode != 0:
        raise RuntimeError(f"run failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return elapsed


def kpi_recompute(url: str, days: list[date], reps: int, changed: list[date] = ()) -> dict:
    """Seconds to recompute every KPI group over ``days``; before each repetition the ``changed``
    days are marked as a load of their transactions marks them."""
    import psycopg

    from campus_logistics.kpis.compute import recompute
    from campus_logistics.registry import FEEDS

    ts = []
    for _ in range(reps):
        with psycopg.connect(url) as conn:
            for d in changed:
                conn.execute("INSERT INTO core.canteen_day_change (day) VALUES (%s)", (d,))
        t = time.perf_counter()
        recompute(days_by_feed={f: days for f in FEEDS}, url=url, run_id="bench")
        ts.append(time.perf_counter() - t)
    return {"days": len(days), **stats(ts)}


def replicate_year(url: str, start: date) -> dict:
    """Fill the eleven months after ``start``'s month with copies of that loaded month, server-side.

    Loading a year at big-university scale through the feeds takes longer than the benchmark may;
    what a KPI recompute costs depends on the rows in the warehouse, not on how they came. The
    copies shift every date by whole months and suffix every id, so the year has twelve months of
    canteen transactions (with their key rows) and daily meter consumption. The smaller feeds
    (tickets, rosters, ledger) keep their one month.
    """
    import psycopg

    with psycopg.connect(url) as conn:
        first = start.replace(day=1)
        month = {"lo": first, "hi": (first + timedelta(days=32)).replace(day=1)}
        cols = [r[0] for r in conn.execute(
            """SELECT column_name FROM information_schema.columns WHERE table_schema = 'core'
               AND table_name = 'meter_daily' ORDER BY ordinal_position""")]
        conn.execute("SELECT core.ensure_canteen_partitions(%s, (%s::date + interval '12 months')::date)",
                     (first, first))
        for k in range(1, 12):
            shift = f"interval '{k} months'"
            conn.execute(
                f"""INSERT INTO core.canteen_txn (txn_id, card_hash, holder_type, txn_time, txn_date, outlet_code,
                        unit_code, terminal, amount_yuan, txn_type, orig_txn_id, source_file, run_id)
                    SELECT txn_id || '~{k}', card_hash, holder_type, txn_time + {shift}, (txn_date + {shift})::date,
                           outlet_code, unit_code, terminal, amount_yuan, txn_type, orig_txn_id || '~{k}',
                           source_file || '~{k}', run_id
                    FROM core.canteen_txn WHERE txn_date >= %(lo)s AND txn_date < %(hi)s""",
                month)
            conn.execute(
                f"""INSERT INTO core.canteen_txn_key (txn_id, txn_date, source_file, txn_type, orig_txn_id)
                    SELECT txn_id || '~{k}', (txn_date + {shift})::date, source_file || '~{k}', txn_type,
                           orig_txn_id || '~{k}'
                    FROM core.canteen_txn_key WHERE txn_date >= %(lo)s AND txn_date < %(hi)s AND txn_id NOT LIKE '%%~%%'""",
                month)
            shifted = {"day": f"(day + {shift})::date"}
            for c in ("first_read_at", "last_read_at", "prev_read_at"):
                shifted[c] = f"{c} + {shift}"
            conn.execute(
                f"""INSERT INTO core.meter_daily ({', '.join(cols)})
                    SELECT {', '.join(shifted.get(c, c) for c in cols)}
                    FROM core.meter_daily WHERE day >= %(lo)s AND day < %(hi)s
                    ON CONFLICT DO NOTHING""",
                month)
            conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")
    return _counts(url)


def throughput_section(args, dbs: Databases, work: Path) -> dict:
    """One big-university day (kept in ``work/big_day`` for the later sections): canteen and meters
    end to end beside bare COPY and the naive pipeline."""
    from campus_logistics_tools.generate import generate

    day = work / "big_day"
    generate("scale", day, scale=args.students, days=1, start=BIG_START)
    print("throughput…", flush=True)
    out = {"throughput_when": time.strftime("%Y-%m-%d %H:%M %Z"),
           "canteen": throughput(dbs, day, "canteen", args.reps), "meters": throughput(dbs, day, "meters", args.reps)}
    dbs.drop_all()
    return out


def kpi_section(args, dbs: Databases, work: Path) -> dict:
    """``--kpi-days`` of the big university loaded through the feeds, their month recomputed; then
    (``--kpi-year``) that month replicated into a year and the year recomputed."""
    from campus_logistics.pipeline import run_feed
    from campus_logistics.registry import FEEDS
    from campus_logistics_tools.generate import generate

    print(f"KPI recompute over {args.kpi_days} days…", flush=True)
    span = work / "big_span"
    generate("scale", span, scale=args.students, days=args.kpi_days, start=BIG_START)
    url = dbs.fresh()
    end = BIG_START + timedelta(days=args.kpi_days - 1)
    for feed in FEEDS:
        run_feed(feed, span, BIG_START, end, run_id="bench", url=url, allow_missing=True)
    shutil.rmtree(span, ignore_errors=True)
    month = [d for d in (BIG_START + timedelta(i) for i in range(args.kpi_days)) if d.month == BIG_START.month]
    kpi = {"when": time.strftime("%Y-%m-%d %H:%M %Z"), "loaded_days": args.kpi_days,
           "one_month": kpi_recompute(url, month, args.reps, changed=month)}
    if args.kpi_year:
        print("KPI recompute over a year…", flush=True)
        first = BIG_START.replace(day=1)
        kpi["month_rows"] = _counts(url)
        kpi["year_rows"] = replicate_year(url, first)
        year = [first + timedelta(i) for i in range((first.replace(year=first.year + 1) - first).days)]
        kpi["one_year"] = kpi_recompute(url, year, 1)  # every day new: every day's rows rescanned
        # the year again with one day changed (e.g. a manual run over the year after a late file):
        # that day rescanned, the others aggregated from their stored daily rows
        mid = year[len(year) // 2]
        kpi["one_year_incremental"] = kpi_recompute(url, year, args.reps, changed=[mid])
        # what a day's load then costs: that day, its month and year (from the stored daily rows)
        kpi["one_day_in_year"] = kpi_recompute(url, [mid], args.reps, changed=[mid])
    return kpi


def _counts(url: str) -> dict:
    import psycopg

    with psycopg.connect(url) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("core.canteen_txn", "core.canteen_txn_key", "core.meter_daily")}


# --- 7: a quarter's backfill through Celery workers ------------------------------------------------

def _redis_up(host: str = "127.0.0.1", port: int = 6379) -> bool:
    try:
        import redis

        client = redis.Redis(host=host, port=port, socket_connect_timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # no Redis, no broker: the section is reported as not measured
        return False


def backfill_once(admin_url: str, landing: Path, start: date, end: date, workers: int, workdir: Path,
                  timeout: float = 3600) -> dict:
    """Every feed DAG triggered for [start, end] at once on a fresh cluster with ``workers`` Celery
    workers of one task slot each; seconds from the triggers until the last run ended."""
    import httpx

    from campus_logistics.registry import SPECS

    from .cluster import Cluster

    cluster = Cluster(admin_url, workdir, landing, worker_concurrency=1,
                      extra_env={"CAMPUS_LOGISTICS_TASK_RETRIES": "0"})
    feeds = [f for f, spec in SPECS.items() if (landing / spec.folder).is_dir()]
    dags = [f"feed_{f}" for f in feeds]
    try:
        cluster.up(workers=tuple(f"w{i + 1}" for i in range(workers)), timeout=300)
        deadline = time.monotonic() + 300
        while not all(cluster.api("GET", f"/dags/{d}").status_code == 200 for d in dags):
            if time.monotonic() > deadline:
                raise TimeoutError("the DAG processor did not serialise the feed DAGs\n" + cluster.diagnostics())
            time.sleep(1)
        for d in dags:
            cluster.api("PATCH", f"/dags/{d}", json={"is_paused": False}).raise_for_status()
        conf = {"start": start.isoformat(), "end": end.isoformat()}
        t0 = time.perf_counter()
        runs = {}
        for d in dags:
            r = cluster.api("POST", f"/dags/{d}/dagRuns", json={"logical_date": None, "conf": conf})
            r.raise_for_status()
            runs[d] = r.json()["dag_run_id"]
        states: dict[str, str] = {}
        while len(states) < len(runs):
            if time.perf_counter() - t0 > timeout:
                raise TimeoutError(f"backfill not finished after {timeout:.0f} s: {states}\n" + cluster.diagnostics())
            for d, run in runs.items():
                if d not in states:
                    try:
                        state = cluster.api("GET", f"/dags/{d}/dagRuns/{run}").json()["state"]
                    except httpx.HTTPError:  # an API server slow to answer under load: ask again
                        continue
                    if state in ("success", "failed"):
                        states[d] = state
            time.sleep(1)
        seconds = time.perf_counter() - t0
        hosts: dict[str, dict[str, int]] = {}
        for d, run in runs.items():
            r = cluster.api("GET", f"/dags/{d}/dagRuns/{run}/taskInstances/load_partition/listMapped")
            for ti in r.json().get("task_instances", []):
                per = hosts.setdefault(d[5:], {})
                per[ti["hostname"] or "?"] = per.get(ti["hostname"] or "?", 0) + 1
        import psycopg

        with psycopg.connect(cluster.warehouse_url) as conn:
            rows = dict(conn.execute("""SELECT feed, sum(rows_read) FROM quality.file_reconciliation
                                        GROUP BY feed""").fetchall())
            sizes = {"database": conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]}
            for table in ("core.canteen_txn", "core.canteen_txn_key", "core.meter_reading"):
                sizes[table] = int(conn.execute(  # a partitioned table's size is its partitions'
                    """SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c
                       WHERE c.oid = %s::regclass
                          OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = %s::regclass)""",
                    (table, table)).fetchone()[0])
                sizes[f"{table} rows"] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        return {"workers": workers, "seconds": seconds, "states": {d[5:]: s for d, s in states.items()},
                "partitions_by_worker": hosts, "rows_read": {f: int(n) for f, n in rows.items()}, "sizes": sizes}
    finally:
        cluster.close()


def backfill_quarter(admin_url: str, work: Path, students: int, days: int, workers: list[int],
                     save=None) -> dict:
    """A big-university quarter (``days`` from the first of BIG_START's month) backfilled with each
    number of workers in ``workers``, each on a fresh cluster and a fresh warehouse."""
    from .generate import generate

    if not _redis_up():
        return {"skipped": "no Redis at 127.0.0.1:6379 (the Celery broker)"}
    start = BIG_START.replace(day=1)
    end = start + timedelta(days=days - 1)
    landing = work / "backfill_quarter"
    generate("scale", landing, scale=students, days=days, start=start)
    out = {"when": time.strftime("%Y-%m-%d %H:%M %Z"), "students": students, "start": start.isoformat(),
           "end": end.isoformat(), "days": days,
           "rows": {f: sum(_rows_in(p) for p in (landing / f).glob("*.csv")) for f in ("canteen", "meters")},
           "runs": []}
    for n in workers:
        print(f"  {n} worker(s)…", flush=True)
        out["runs"].append(backfill_once(admin_url, landing, start, end, n, work / f"cluster_{n}"))
        if save:
            save(out)  # each figure is kept as soon as it is measured
    shutil.rmtree(landing, ignore_errors=True)
    return out


# --- report ---------------------------------------------------------------------------------------

TARGETS = [
    ("canteen end to end ≥ 0.5 × bare COPY", lambda r: r["canteen"]["ours_vs_copy"] >= 0.5),
    ("canteen end to end ≥ 3 × naive pipeline", lambda r: r["canteen"]["ours_vs_naive"] >= 3),
    ("meters end to end ≥ 0.5 × bare COPY", lambda r: r["meters"]["ours_vs_copy"] >= 0.5),
    ("meters end to end ≥ 3 × naive pipeline", lambda r: r["meters"]["ours_vs_naive"] >= 3),
    ("every DAG file parses in < 0.3 s", lambda r: all(v["median"] < 0.3 for v in r["parse"]["dag_parse_s"].values())),
    ("peak RSS < 1 GiB on the largest day", lambda r: max(v["peak_rss_mib"] for v in r["rss"].values()) < 1024),
    ("one-year seed scenario < 2 min", lambda r: r["seed_year_s"] < 120 if r.get("seed_year_s") else None),
    ("big-university day, all feeds + KPIs < 60 s", lambda r: r["big_day_s"] < 60 if r.get("big_day_s") else None),
    ("big-university year of KPIs recomputed < 60 s (incremental: one changed day rescanned)",
     lambda r: (r["kpi"]["one_year_incremental"]["median"] < 60
                if r.get("kpi", {}).get("one_year_incremental") else None)),
]


def _f(x, unit=""):
    return f"{x:,.0f}{unit}" if x >= 100 else f"{x:,.2f}{unit}"


def write_report(results: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
    m = results["machine"]
    apart = _apart(results)
    lines = ["# Benchmark results", "",
             f"Measured {results['when']} by `make bench` ({results['args']}), in one run on one machine"
             f"{' (the backfill section, re-run apart, names its own)' if apart else ''}: {_machine_line(m)} "
             f"({results['warehouse_kind']}); Python {m['python']}, Airflow {m['apache-airflow']}, "
             f"GX {m['great-expectations']}, pandas {m['pandas']}, pyarrow {m['pyarrow']}.", "",
             "Times are min / median / max over the repetitions; rates use the median.", "", "## Targets", ""]
    for label, check in TARGETS:
        try:
            ok = check(results)
        except (KeyError, TypeError, ValueError):
            ok = None
        lines.append(f"- {'met' if ok else ('not measured' if ok is None else 'NOT met')}: {label}")
    for feed in ("canteen", "meters"):
        r = results.get(feed)
        if not r:
            continue
        lines += ["", f"## {feed}: one big-university day ({r['rows']:,} rows)", "",
                  *([f"Measured {results['throughput_when']}.", ""] if results.get("throughput_when") else []),
                  "| path | seconds (min / median / max) | rows/s | vs bare COPY |", "|---|---|---|---|"]
        for key, label in (("bare_copy", "bare COPY of a ready UTF-8 CSV (the limit)"),
                           ("naive", "naive: pd.read_csv + GX + to_sql"), ("ours", "ours: the feed end to end (a load task)")):
            s = r[f"{key}_s"]
            rate = r[f"{key}_rows_per_s"]
            lines.append(f"| {label} | {s['min']:.2f} / {s['median']:.2f} / {s['max']:.2f} | {_f(rate)} | "
                         f"{rate / r['bare_copy_rows_per_s']:.2f}× |")
        lines.append(f"\nOurs vs the naive pipeline: **{r['ours_vs_naive']:.1f}×**; vs the limit: **{r['ours_vs_copy']:.2f}×**.")
        if r.get("previous_day_loaded"):
            lines.append("Ours is the day as its scheduled run meets it: the previous day loaded before (not timed), "
                         "so the day is judged against the warehouse's last readings; a first day whose previous "
                         "day is only in the landing also reads and judges that file.")
        d = r.get("data_docs_s")
        if d:
            lines.append(f"The run's Data Docs pages, built once per DAG run by its `check` task (not in the load): "
                         f"{d['min']:.2f} / {d['median']:.2f} / {d['max']:.2f} s.")
    p = results.get("parse")
    if p:
        lines += ["", "## DAG parse time (Airflow's DagBag stats) and cold imports", "", "| file | seconds (median) |", "|---|---|"]
        lines += [f"| `dags/{k}` | {v['median']:.3f} |" for k, v in p["dag_parse_s"].items()]
        lines += [f"| `import {k}` (includes {p['interpreter_start_s']['median']:.3f} s interpreter start) | "
                  f"{v['median']:.3f} |" for k, v in p["import_s"].items()]
    if results.get("rss"):
        lines += ["", "## Peak memory of the canteen feed (one day in one file)", "", "| rows | peak RSS | seconds | rows/s |",
                  "|---|---|---|---|"]
        lines += [f"| {v['rows']:,} | {v['peak_rss_mib']:,.0f} MiB | {v['seconds']:.1f} | {_f(v['rows_per_s'] or 0)} |"
                  for v in results["rss"].values()]
    lines += ["", "## Wall times", ""]
    if results.get("seed_year_s"):
        lines.append(f"- one-year seed scenario through `python -m campus_logistics run` (every feed DAG + KPI DAG): "
                     f"**{results['seed_year_s']:.1f} s**")
    if results.get("big_day_s"):
        lines.append(f"- one big-university day ({results['big_students']:,} students), all feeds + KPIs through "
                     f"`python -m campus_logistics run`: **{results['big_day_s']:.1f} s**")
    k = results.get("kpi")
    if k:
        lines += ["", "## KPI recompute at big-university scale", "",
                  (f"Measured {k['when']}. " if k.get("when") else "")
                  + f"{k['loaded_days']} days of the big university loaded through the feeds"
                  + ("; for the year, that month replicated server-side into twelve (rows: "
                     + ", ".join(f"{t} {n:,}" for t, n in k["year_rows"].items()) + ")" if k.get("year_rows") else "")
                  + ". Every KPI group, every grain of the periods (days, months, the year).", "",
                  "| periods | days | seconds (min / median / max) |", "|---|---|---|"]
        for label, what in (("one_month", "one month, every day new"), ("one_year", "one year, every day new"),
                            ("one_year_incremental", "one year, one day changed since the last run"),
                            ("one_day_in_year", "one changed day (its day, month and year)")):
            v = k.get(label)
            if v:
                lines.append(f"| {what} | {v['days']} | {v['min']:.2f} / {v['median']:.2f} / {v['max']:.2f} |")
    lines += _backfill_report(results.get("backfill"), apart)
    (out / "results.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _machine_line(m: dict) -> str:
    return f"{m.get('cpu', '?')}, {m['cores']} cores, {m.get('memory_gib', '?')} GiB; PostgreSQL {m['postgresql']}"


def _apart(results: dict) -> bool:
    """Whether the backfill section was measured on another machine than the rest."""
    b = results.get("backfill") or {}
    return bool(b.get("machine")) and _machine_line(b["machine"]) != _machine_line(results["machine"])


def _backfill_report(b: dict | None, apart: bool = False) -> list[str]:
    if not b:
        return []
    if b.get("skipped"):
        return ["", "## A quarter's backfill through Celery workers", "", f"Not measured: {b['skipped']}."]
    lines = ["", f"## A quarter's backfill through Celery workers ({b['students']:,} students, {b['start']}…{b['end']})",
             "", f"Measured {b['when']}. Every feed DAG triggered at once for the {b['days']} days ({b['rows']['canteen']:,} canteen rows, "
             f"{b['rows']['meters']:,} meter readings), each split into one mapped `load_partition` a month; "
             "workers of one task slot each, on a fresh cluster (API server, scheduler, DAG processor, Redis) "
             "and warehouse per line. Seconds from the triggers until the last run ended."
             + (f" Measured apart from the sections above, on another machine: {_machine_line(b['machine'])}."
                if apart else ""),
             "", "| workers | seconds | speed-up | run states | canteen partitions by worker |", "|---|---|---|---|---|"]
    base = b["runs"][0]["seconds"] if b["runs"] else None
    for r in b["runs"]:
        states = ", ".join(f"{f} {s}" for f, s in sorted(r["states"].items()) if s != "success") or "all success"
        by = ", ".join(f"{h}: {n}" for h, n in sorted(r["partitions_by_worker"].get("canteen", {}).items()))
        lines.append(f"| {r['workers']} | {r['seconds']:.1f} | {base / r['seconds']:.2f}× | {states} | {by} |")
    sizes = b["runs"][-1].get("sizes") if b["runs"] else None
    if sizes:
        mib = 1024 * 1024
        per = {t: sizes[t] / sizes[f"{t} rows"] for t in ("core.canteen_txn", "core.canteen_txn_key",
                                                          "core.meter_reading") if sizes.get(f"{t} rows")}
        lines += ["", f"Warehouse after the quarter: {sizes['database'] / mib:,.0f} MiB in all; "
                  + "; ".join(f"`{t}` {sizes[t] / mib:,.0f} MiB ({v:,.0f} bytes a row with its indexes)"
                              for t, v in per.items()) + "."]
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m campus_logistics_tools.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(REPO / "bench"))
    p.add_argument("--students", type=int, default=40_000, help="size of the big university")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--rss-sizes", default="1000000,10000000", help="canteen rows in one day, comma-separated")
    p.add_argument("--kpi-days", type=int, default=31, help="days of big-university data loaded through the feeds "
                   "for the KPI recompute (0: skip)")
    p.add_argument("--kpi-year", type=int, default=1, help="1: also time a one-year recompute, the loaded month "
                   "replicated server-side into twelve (0: skip)")
    p.add_argument("--skip-seed", action="store_true", help="do not run the one-year seed scenario")
    p.add_argument("--only", choices=("kpi", "throughput"),
                   help="run only this section (kpi: the KPI recompute; throughput: canteen and meters against "
                        "bare COPY and the naive pipeline)")
    p.add_argument("--warehouse", help="admin URL of a PostgreSQL server (default: a fresh embedded one)")
    p.add_argument("--backfill", action="store_true", help="also time a big-university quarter's backfill through "
                   "Celery workers (needs Redis at 127.0.0.1:6379)")
    p.add_argument("--only-backfill", action="store_true", help="run only the backfill section")
    p.add_argument("--backfill-students", type=int, default=40_000,
                   help="size of the backfilled university (default: the big university)")
    p.add_argument("--backfill-days", type=int, default=91, help="days backfilled (a quarter)")
    p.add_argument("--backfill-workers", default="1,2", help="numbers of Celery workers to time, comma-separated")
    args = p.parse_args(argv)

    os.environ.setdefault("CAMPUS_LOGISTICS_PSEUDONYM_KEY", "bench-" + os.urandom(16).hex())
    work = Path(tempfile.mkdtemp(prefix="cl-bench-"))
    from campus_logistics_tools.generate import generate
    from campus_logistics.warehouse import start_embedded, stop_embedded

    pgdata = work / "pgdata"
    admin = args.warehouse or start_embedded(pgdata)
    os.environ["CAMPUS_LOGISTICS_WAREHOUSE_URL"] = admin
    dbs = Databases(admin)
    results: dict = {"when": time.strftime("%Y-%m-%d %H:%M %Z"), "args": " ".join(argv or sys.argv[1:]) or "defaults",
                     "warehouse_kind": "server" if args.warehouse else "embedded", "big_students": args.students}
    try:
        machine = results["machine"] = machine_info(admin)
        if args.only_backfill or args.only:  # the other sections' figures of the last full run are kept
            previous = Path(args.out) / "results.json"
            if previous.is_file():
                results = json.loads(previous.read_text(encoding="utf-8"))

        def save_backfill(b: dict) -> None:
            # measured apart from the other sections, perhaps on another machine: the report says which
            results["backfill"] = {**b, "machine": machine}
            if args.only_backfill:
                write_report(results, Path(args.out))

        if args.backfill or args.only_backfill:
            print("quarter backfill through Celery workers…", flush=True)
            save_backfill(backfill_quarter(admin, work, args.backfill_students, args.backfill_days,
                                           [int(n) for n in args.backfill_workers.split(",") if n], save_backfill))
        if args.only == "kpi":
            results["kpi"] = kpi_section(args, dbs, work)
        if args.only == "throughput":
            results.update(throughput_section(args, dbs, work))
        if args.only_backfill or args.only:
            write_report(results, Path(args.out))
            print((Path(args.out) / "results.md").read_text(encoding="utf-8"))
            return 0
        day = work / "big_day"
        results.update(throughput_section(args, dbs, work))
        print("parse times…", flush=True)
        results["parse"] = parse_times(args.reps)
        print("peak memory…", flush=True)
        sizes = [int(s) for s in args.rss_sizes.split(",") if s]
        results["rss"] = peak_rss(dbs, day, sizes, work)
        dbs.drop_all()
        if not args.skip_seed:
            print("seed year…", flush=True)
            seed = work / "seed"
            generate("seed", seed)
            results["seed_year_s"] = cli_run(seed, date(2001, 1, 1), date(2001, 12, 31), dbs.fresh())
            dbs.drop_all()
            shutil.rmtree(seed, ignore_errors=True)
        print("big-university day…", flush=True)
        results["big_day_s"] = cli_run(day, BIG_START, BIG_START, dbs.fresh())
        dbs.drop_all()
        if args.kpi_days:
            results["kpi"] = kpi_section(args, dbs, work)
        write_report(results, Path(args.out))
        print((Path(args.out) / "results.md").read_text(encoding="utf-8"))
    finally:
        dbs.drop_all()
        if not args.warehouse:
            stop_embedded(pgdata)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
