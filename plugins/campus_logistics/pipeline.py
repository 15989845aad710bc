"""Run a feed over an interval: the package-level entry point every feed DAG task calls.

Each file is loaded in its own transaction under an advisory lock on (feed, file), so two runs
of the same interval never interleave; a rejected file does not stop the others, and the run
fails at the end naming every rejected or missing file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pendulum

from .errors import FeedRunFailed, FileRejected
from .feeds import get_feed
from .load.publish import record_validation
from .load.runner import LoadEnv, load_files
from .migrations import migrate
from .pseudonym import pseudonymiser, verify_key
from .reference import concerns, load_reference
from .settings import TIME_ZONE
from .warehouse import connect, resolve_url

log = logging.getLogger(__name__)
TZ = TIME_ZONE


@dataclass
class FeedRunResult:
    feed: str
    start: str
    end: str
    files: list[dict] = field(default_factory=list)
    affected_days: list[str] = field(default_factory=list)
    ref_reloaded: list[str] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)  # quality.file_warning rows of this run (capped)

    def as_dict(self) -> dict:
        return {"feed": self.feed, "start": self.start, "end": self.end, "files": self.files,
                "affected_days": self.affected_days, "ref_reloaded": self.ref_reloaded,
                "rejected": self.rejected, "warnings": self.warnings}


def raise_for_rejections(result: dict) -> None:
    """Fail (after the good files were published) when any file was rejected or missing."""
    if result.get("rejected"):
        raise FeedRunFailed(result["feed"], [
            FileRejected(result["feed"], r["file"], r["rule"], r["detail"], rows_read=r.get("rows_read"),
                         rows_bad=r.get("rows_bad"))
            for r in result["rejected"]
        ], omitted=result.get("rejected_omitted") or 0)


XCOM_MAX_ENTRIES = 50  # per list: a year of daily files must not make a megabyte XCom


def bounded_result(result: dict, limit: int = XCOM_MAX_ENTRIES) -> dict:
    """A run result small enough for XCom whatever the range: totals over every file, then at most
    ``limit`` entries of each list of records (``files``, ``rejected``, …) and ``<list>_omitted``."""
    out = dict(result)
    files = result.get("files") or []
    out["totals"] = {"files": len(files), **{k: sum(f.get(k) or 0 for f in files) for k in
                                            ("rows_read", "rows_loaded", "rows_quarantined", "rows_duplicate")}}
    for key, value in result.items():
        if isinstance(value, list) and len(value) > limit and all(isinstance(v, dict) for v in value):
            out[key], out[f"{key}_omitted"] = value[:limit], len(value) - limit
    return out


def missing_ranges(spec, names: list[str]) -> list[tuple[list[str], str]]:
    """Missing files grouped into runs of consecutive periods: ``(names, "first…last (n days)")``."""
    groups: list[list[tuple[date, str]]] = []
    for name in names:
        period = spec.period_of(name)
        prev = groups[-1][-1][0] if groups else None
        if period and prev and _next_period(spec, prev) == period:
            groups[-1].append((period, name))
        else:
            groups.append([(period, name)])
    unit = "months" if spec.cadence == "month" else "days"
    out = []
    for g in groups:
        lo, hi = g[0][0], g[-1][0]
        label = (f"{_period_text(spec, lo)}…{_period_text(spec, hi)} ({len(g)} {unit})" if lo and len(g) > 1
                 else g[0][1])
        out.append(([n for _, n in g], label))
    return out


def _next_period(spec, d: date) -> date:
    from datetime import timedelta

    if spec.cadence == "month":
        return date(d.year + d.month // 12, d.month % 12 + 1, 1)
    return d + timedelta(days=1)


def _period_text(spec, d: date) -> str:
    return d.strftime("%Y-%m") if spec.cadence == "month" else d.isoformat()


def missing_rejections(spec, landing: Path, names: list[str]) -> list[FileRejected]:
    """One ``file_present`` rejection per run of consecutive missing files, not one per file."""
    where = f"expected in {Path(landing) / spec.folder} for the run's interval but not found"
    out = []
    for group, label in missing_ranges(spec, names):
        if len(group) == 1:
            out.append(FileRejected(spec.name, group[0], "file_present", where))
        else:
            out.append(FileRejected(spec.name, f"{group[0]}…{group[-1]}", "file_present",
                                    f"{label}: {len(group)} files {where}"))
    return out


def is_embedded(url: str) -> bool:
    """Whether ``url`` is the embedded demo warehouse (the only one allowed a generated key)."""
    from .warehouse import default_pgdata

    return str(default_pgdata()) in url


def _data_docs(feed_name: str, run_id: str, pseudo, build: bool) -> None:
    """This load's validations saved for the Data Docs (and their pages built, unless the run's
    ``check`` task builds them once for all its loads); never fails a load that succeeded."""
    from . import quality_docs

    try:
        quality_docs.save(feed_name, run_id, pseudo)
        if build:
            quality_docs.build(run_id)
    except Exception:  # the data is loaded and reconciled; the docs are a view of it
        log.warning("Data Docs for %s (run %s) could not be saved or built", feed_name, run_id, exc_info=True)


def build_data_docs(run_id: str) -> None:
    """The Data Docs pages of every load of ``run_id`` (a feed DAG's ``check``); never fails the run."""
    from . import quality_docs

    try:
        quality_docs.build(run_id)
    except Exception:  # the data is loaded and reconciled; the docs are a view of it
        log.warning("Data Docs for run %s could not be built", run_id, exc_info=True)


def _file_warnings(url: str, spec, landing: Path, outcomes, run_id: str) -> list[dict]:
    """Record the run's file warnings (a file delivered again under another name, a stray name)."""
    from .file_warnings import listed, record_file_warnings, unexpected_files, unexpected_ref_files

    with connect(url) as conn:
        return listed(record_file_warnings(conn, spec, outcomes, unexpected_files(spec, landing), run_id,
                                           unexpected_ref_files(landing)))


def _record_ref_results(url: str, rejected: list[FileRejected], run_id: str) -> None:
    """Refused ref files' validation results, under feed 'ref' (where refused files are recorded).
    A ref file refused before and not now was corrected (or put back as loaded): its refusal is
    replaced by a success."""
    with connect(url) as conn:
        refused_before = {f for (f,) in conn.execute(
            "SELECT file FROM quality.validation_result WHERE feed = 'ref' AND NOT success").fetchall()}
        for name in sorted(refused_before - {e.file for e in rejected}):
            record_validation(conn, "ref", name, "ref", True, {}, {}, run_id)
        for exc in rejected:
            log.error("%s", exc)
            record_validation(conn, "ref", exc.file, "ref", False,
                              {"rows_read": exc.rows_read, "rows_failing": exc.rows_bad}, {exc.rule: exc.detail}, run_id)


def _record_lineage(url: str, feed, landing: Path, files, ref_reloaded: list[str]) -> None:
    """OpenLineage: the files this load opened and the tables it wrote (a no-op unless enabled)."""
    from .lineage_events import record_load
    from .reference import REF_FILES

    ref_tables = {spec.name: spec.table for spec in REF_FILES}
    record_load(url, [lf.path for lf in files], feed.spec.tables,
                ref_files=[(landing / "ref" / name, ref_tables[name]) for name in ref_reloaded if name in ref_tables])


def run_feed(feed_name: str, landing: str | Path, start: date, end: date, *, run_id: str | None = None,
             url: str | None = None, allow_missing: bool = False, replace_reference: bool = True,
             build_docs: bool = True) -> FeedRunResult:
    """Load every file of ``feed_name`` for [start, end]; rejected files are listed, not raised.

    ``replace_reference=False`` (a run from a landing other than the deployment's own): a ``ref/``
    file that differs from the warehouse's fails the run (``ref_replace_explicit``) before any load.
    ``build_docs=False`` (a feed DAG's load task): the validations are saved for the Data Docs, whose
    pages the run's ``check`` task builds once.
    """
    feed = get_feed(feed_name)
    run_id = run_id or f"direct__{pendulum.now('UTC').isoformat()}"  # lineage even outside Airflow
    url = resolve_url(url)
    migrate(url)
    landing = Path(landing)
    result = FeedRunResult(feed_name, start.isoformat(), end.isoformat())
    pseudo = pseudonymiser(allow_embedded_fallback=is_embedded(url))
    today = pendulum.now(TZ).date()
    ref_rejected: list[FileRejected] = []
    try:
        with connect(url) as conn:
            verify_key(conn, pseudo)  # a wrong key fails the run before anything is read
            result.ref_reloaded = load_reference(conn, landing, run_id, needed_by=feed_name, rejected=ref_rejected,
                                                 replace=replace_reference)
    except FileRejected as exc:  # a ref file this feed cannot run without: recorded, then the run fails
        if exc.feed == "ref":
            _record_ref_results(url, ref_rejected + [exc], run_id)
        raise
    _record_ref_results(url, ref_rejected, run_id)
    files, missing = feed.spec.files(landing, start, end)
    env = LoadEnv(url=url, run_id=run_id, pseudonymise=pseudo, today=today)
    outcomes, rejected = load_files(feed, files, env)
    _record_lineage(url, feed, landing, files, result.ref_reloaded)
    _data_docs(feed_name, run_id, pseudo, build_docs)
    result.warnings = _file_warnings(url, feed.spec, landing, outcomes, run_id)
    affected: set[date] = set()
    for outcome in outcomes:
        affected |= outcome.affected_days
        result.files.append(outcome.summary())
        log.info("%s/%s: read %d, loaded %d, quarantined %d, duplicates %d", feed_name, outcome.file,
                 outcome.rows_read, outcome.rows_loaded, outcome.rows_quarantined, outcome.rows_duplicate)
    for exc in rejected:
        log.error("%s", exc)
        with connect(url) as conn:
            record_validation(conn, feed_name, exc.file, feed_name, False,
                              {"rows_read": exc.rows_read, "rows_failing": exc.rows_bad},
                              {exc.rule: exc.detail}, run_id)
    if missing and not allow_missing:
        rejected.extend(missing_rejections(feed.spec, landing, missing))
    # a refused ref file this feed uses fails its run too (it loaded with the reference data in force)
    rejected.extend(FileRejected(feed_name, f"ref/{e.file}", e.rule, e.detail, rows_read=e.rows_read,
                                 rows_bad=e.rows_bad) for e in ref_rejected if concerns(e.file, feed_name))
    result.affected_days = sorted(d.isoformat() for d in affected)
    result.rejected = [{"file": e.file, "rule": e.rule, "detail": e.detail, "rows_read": e.rows_read,
                        "rows_bad": e.rows_bad, "message": str(e)} for e in rejected]
    return result
