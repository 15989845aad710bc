"""The one load loop: read → validate → stage → audit → publish, each file in its own transaction.

A Great Expectations run costs ~0.2 s whatever its size, so validating a year of small daily files
one by one costs more than loading them. The runner therefore validates *windows* of rows drawn
from several consecutive files in one GX run (every row keyed by a window-wide ``_key``), then
stages and publishes each file in its own transaction under an advisory lock on (feed, file). A
file bigger than a window is streamed: its transaction stays open while its batches are validated
and staged window by window, so memory is bounded by the window, not the file.

A feed is a ``FeedSpec`` (data) and a ``Feed`` supplying the domain hooks: its reference data, the
columns its rules check, how to stage good rows, and how to audit and publish the staged file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Iterator, Protocol

import pandas as pd

from ..errors import FileRejected
from ..faults import fault_point, pause_before_commit
from ..pseudonym import verify_key
from .publish import FileOutcome, publish_quality, record_validation
from .read import CsvReader, LandingFile
from .spec import FeedSpec
from .stage import create_quarantine, quarantine_rows
from .validate import ROW, Rule, validator

KEY = "_key"


@dataclass
class LoadContext:
    """What a feed needs while loading a file: the run, the warehouse connection, the key."""

    run_id: str | None
    conn: object  # psycopg.Connection, inside the file's transaction
    pseudonymise: object  # Pseudonymiser
    today: date


@dataclass
class LoadEnv:
    """What a run gives the runner to load files with."""

    url: str
    run_id: str | None
    pseudonymise: object
    today: date

    def connect(self):
        from ..warehouse import connect

        return connect(self.url)


class Reader(Protocol):
    rows_read: int
    malformed: list[tuple[int, str]]
    checksum: str  # of the bytes read, once batches() is exhausted

    def batches(self) -> Iterator[pd.DataFrame]: ...

    def gate_rows(self) -> list[tuple[int, str, str]]: ...  # (line, rule, raw text) the reader quarantines


class Feed:
    """A feed's domain hooks around its ``spec``; the runner does the rest."""

    spec: FeedSpec
    name: str  # the spec's
    # a window never grows past this, but for one read batch: a big day's read block (~100,000 canteen
    # rows, ``read.BLOCK_SIZE``) and its file's small tail validate in one GX run, not two
    window_rows = 150_000

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if "spec" in cls.__dict__:
            cls.name = cls.spec.name

    def reference(self, conn) -> Any:
        """Reference data the rules and staging need (read once per run)."""
        return None

    def rules(self, ref) -> list[Rule]:
        raise NotImplementedError

    def rules_key(self, ref) -> tuple:
        """Distinguishes suites whose rules depend on reference data (e.g. the known outlets)."""
        return ()

    def open_reader(self, lf: LandingFile) -> Reader:
        """The file-level gate; raise FileRejected for a file that is unusable as a whole."""
        return CsvReader(self.name, lf, self.spec)

    def prepare(self, df: pd.DataFrame, lf: LandingFile, ref) -> pd.DataFrame:
        """Derive (vectorised) the columns the rules check, per batch of one file."""
        return df

    def prepare_window(self, df: pd.DataFrame, ref) -> pd.DataFrame:
        """Derive columns on a whole window (the prepared batches of its files concatenated, ``_key``
        numbering its rows), so per-call pandas overhead is paid once a window, not once a file.
        Must keep every row in its order: each batch is then staged from its rows of the result."""
        return df

    def begin(self, cur, lf: LandingFile, ref, ctx: LoadContext) -> None:
        """Create the file's temporary stage table(s)."""

    def stage(self, cur, good: pd.DataFrame, lf: LandingFile, ref, ctx: LoadContext) -> None:
        """Transform (pseudonymise, type) the good rows of a batch and COPY them into the stage."""
        raise NotImplementedError

    def quarantine_record(self, row: dict, ctx: LoadContext) -> dict:
        """The offending record as stored in quality.rejected_rows (personal fields pseudonymised)."""
        raise NotImplementedError

    def malformed_record(self, text: str, ctx: LoadContext) -> dict:
        """A row with the wrong number of fields, as stored (personal fields pseudonymised)."""
        raise NotImplementedError

    def publish(self, cur, lf: LandingFile, outcome: FileOutcome, ref, ctx: LoadContext) -> None:
        """Audit the staged file, replace its rows in core, set rows_loaded and affected_days."""
        raise NotImplementedError

    def statistics(self, outcome: FileOutcome) -> dict:
        """The file's statistics as quality.validation_result records them."""
        return {"rows_read": outcome.rows_read, "rows_quarantined": outcome.rows_quarantined,
                "rows_duplicate": outcome.rows_duplicate}

    def after_publish(self, cur, lf: LandingFile, outcome: FileOutcome, ref, ctx: LoadContext) -> None:
        """Work in the file's transaction once its rows and quality are published (e.g. re-deriving
        what later files built on this one); may add to ``outcome.affected_days``."""


@dataclass
class _Pending:
    lf: LandingFile
    outcome: FileOutcome
    reader: Reader | None = None
    frames: list[pd.DataFrame] = field(default_factory=list)
    done: bool = False
    conn: Any = None
    ctx: LoadContext | None = None


# --- the steps ---------------------------------------------------------------------------------------

def gate_period(feed: Feed, lf: LandingFile, today: date) -> None:
    if lf.period > today:
        raise FileRejected(feed.name, lf.name, "not_in_future", f"the file is for {lf.period}, after today ({today})")


def begin_file(feed: Feed, p: _Pending, conn, env: LoadEnv, ref) -> None:
    """The file's transaction: its advisory lock, the key check, its quarantine and stage tables."""
    p.conn = conn
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s), hashtext(%s))", (feed.name, p.lf.name))
    verify_key(conn, env.pseudonymise)
    # a file's statements touch one file's rows: parallel workers cost more to start than they save,
    # and so does JIT (0.87 s of a 1.1 s audit query on a 100,000-row day, compiling its plan)
    conn.execute("SET LOCAL max_parallel_workers_per_gather = 0")
    conn.execute("SET LOCAL jit = off")
    p.ctx = LoadContext(run_id=env.run_id, conn=conn, pseudonymise=env.pseudonymise, today=env.today)
    cur = conn.cursor()
    create_quarantine(cur)
    feed.begin(cur, p.lf, ref, p.ctx)


def validate_window(feed: Feed, window: list[_Pending], check, ref) -> dict[int, list[str]]:
    """One GX run over the window's batches; each batch becomes its rows of the prepared window.
    Returns the failing rows' rules by ``_key``."""
    frames = [df for p in window for df in p.frames]
    if not frames:
        return {}
    offset = 0
    for df in frames:
        df[KEY] = range(offset, offset + len(df))
        offset += len(df)
    whole = feed.prepare_window(pd.concat(frames, ignore_index=True), ref)
    if len(whole) != offset:
        raise RuntimeError(f"{feed.name}: prepare_window must keep every row of the window")
    result = check.validate(whole, key=KEY, files=[p.lf.name for p in window])
    if result.schema_errors:  # the header gate makes this a programming error, not bad data
        raise RuntimeError(f"{feed.name}: rules could not be evaluated: {result.schema_errors}")
    start = 0
    for p in window:
        for i, df in enumerate(p.frames):
            p.frames[i] = whole.iloc[start:start + len(df)]
            start += len(df)
    return result.failures


def stage_batch(feed: Feed, cur, df: pd.DataFrame, failures: dict, p: _Pending, ref) -> None:
    """Quarantine a validated batch's failing rows, stage its good ones."""
    bad_mask = df[KEY].isin(failures.keys())
    if bad_mask.any():
        bad = df[bad_mask]
        columns = feed.spec.columns if feed.spec.format == "csv" else bad.columns
        cols = [c for c in columns if c in bad.columns and not c.startswith("_")]
        rows = []
        for rec, key, line in zip(bad[cols].to_dict("records"), bad[KEY], bad[ROW]):
            rules = failures[int(key)]
            for rule in rules:
                p.outcome.count_rule(rule)
            clean = {k: (None if _isna(v) else v) for k, v in rec.items()}
            rows.append((int(line), ", ".join(rules), feed.quarantine_record(clean, p.ctx)))
        p.outcome.rows_quarantined += quarantine_rows(cur, rows)
    good = df[~bad_mask]
    if len(good):
        feed.stage(cur, good, p.lf, ref, p.ctx)


def publish_file(feed: Feed, p: _Pending, ref) -> None:
    """The reader's own quarantine, the feed's audit and publish, the file's quality records."""
    cur = p.conn.cursor()
    gate = p.reader.gate_rows()
    if gate:
        p.outcome.rows_quarantined += quarantine_rows(cur, (
            (line, rule, feed.malformed_record(text, p.ctx)) for line, rule, text in gate))
        for _, rule, _ in gate:
            p.outcome.count_rule(rule)
    p.outcome.rows_read = p.reader.rows_read
    p.outcome.checksum = p.reader.checksum
    fault_point("before_publish")
    feed.publish(cur, p.lf, p.outcome, ref, p.ctx)
    statistics = feed.statistics(p.outcome)
    publish_quality(cur, p.outcome, p.ctx.run_id)
    record_validation(cur, feed.name, p.lf.name, feed.spec.suite, p.outcome.rows_quarantined == 0,
                      statistics, p.outcome.rule_counts, p.ctx.run_id)
    feed.after_publish(cur, p.lf, p.outcome, ref, p.ctx)


def checker(feed: Feed, ref):
    return validator(feed.spec.suite, feed.rules(ref), key=feed.rules_key(ref))


# --- the loops ---------------------------------------------------------------------------------------

def load_files(feed: Feed, files: list[LandingFile], env: LoadEnv) -> tuple[list[FileOutcome], list[FileRejected]]:
    """Load ``files`` in order, each in its own committed transaction; a rejected file is rolled back
    and listed, the others go on."""
    with env.connect() as conn:
        ref = feed.reference(conn)
    check = checker(feed, ref)
    window: list[_Pending] = []
    outcomes: list[FileOutcome] = []
    rejected: list[FileRejected] = []
    idle: list = []  # a committed file's connection: the next file's transaction reuses its session

    def drop(p: _Pending, exc: FileRejected) -> None:
        if p.conn is not None:
            p.conn.rollback()
            p.conn.close()
        if p in window:
            window.remove(p)
        rejected.append(exc)

    def flush() -> None:
        failures = validate_window(feed, window, check, ref)
        for p in list(window):
            try:
                if (p.frames or p.done) and p.conn is None:
                    begin_file(feed, p, idle.pop() if idle else env.connect(), env, ref)
                if p.frames:
                    cur = p.conn.cursor()
                    for df in p.frames:
                        stage_batch(feed, cur, df, failures, p, ref)
                    p.frames.clear()
                if p.done:
                    publish_file(feed, p, ref)
                    pause_before_commit(feed.name, p.lf.name)  # no-op unless a test injects a fault
                    fault_point("before_commit")
                    p.conn.commit()
                    idle.append(p.conn)
                    p.conn = None
                    outcomes.append(p.outcome)
                    window.remove(p)
            except FileRejected as exc:
                drop(p, exc)

    pending_rows = 0
    for lf in files:
        p = _Pending(lf, FileOutcome(feed.name, lf.name))
        window.append(p)
        try:
            gate_period(feed, lf, env.today)
            p.reader = feed.open_reader(lf)
            for df in p.reader.batches():
                # flushed before the batch that would take the window past window_rows: each GX run
                # costs ~0.2 s whatever its size, so windows are as full as the bound allows
                if pending_rows and pending_rows + len(df) > feed.window_rows:
                    flush()
                    pending_rows = 0
                p.frames.append(feed.prepare(df, lf, ref))
                pending_rows += len(df)
            p.done = True
        except FileRejected as exc:
            drop(p, exc)
    flush()
    for conn in idle:
        conn.close()
    return outcomes, rejected


def load_file(feed: Feed, lf: LandingFile, ref, ctx: LoadContext) -> FileOutcome:
    """Load one file inside ``ctx.conn``'s open transaction, validated batch by batch: the same steps
    for a file a hook reloads within another file's transaction (a meters day re-judged when its
    previous day changed). Takes the file's advisory lock; raises FileRejected."""
    ctx.conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s), hashtext(%s))", (feed.name, lf.name))
    p = _Pending(lf, FileOutcome(feed.name, lf.name), conn=ctx.conn, ctx=ctx)
    cur = ctx.conn.cursor()
    create_quarantine(cur)
    feed.begin(cur, lf, ref, ctx)
    check = checker(feed, ref)
    p.reader = feed.open_reader(lf)
    for df in p.reader.batches():
        p.frames = [feed.prepare(df, lf, ref)]
        failures = validate_window(feed, [p], check, ref)
        stage_batch(feed, cur, p.frames[0], failures, p, ref)
    publish_file(feed, p, ref)
    return p.outcome


def _isna(v) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False
