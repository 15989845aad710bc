"""``StagedFeed``: the read → validate → stage → audit → publish shape, with validation windows.

A Great Expectations run costs ~0.2 s whatever its size, so validating a year of small daily files
one by one costs more than loading them. A StagedFeed therefore validates *windows* of rows drawn
from several consecutive files in one GX run (every row keyed by a window-wide ``_key``), then
stages and publishes each file in its own transaction as before. A file bigger than a window is
streamed: its transaction stays open while its batches are validated and staged window by window,
so memory is bounded by the window, not the file.

A concrete feed supplies the hooks: how to open a file (the gate), how to derive the columns its
rules check, the rules, how to stage good rows, and how to audit and publish the staged file.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from dataclasses import dataclass, field
from typing import Any, Iterator, Protocol

import pandas as pd

from ..errors import FileRejected
from ..faults import fault_point, pause_before_commit
from ..loading import FileOutcome, create_quarantine, publish_quality, quarantine_rows, record_validation
from ..pseudonym import verify_key
from ..validation import ROW, Rule, validator
from ..warehouse import connect
from .base import Feed, LandingFile, LoadContext, LoadEnv

log = logging.getLogger(__name__)
KEY = "_key"


class Reader(Protocol):
    rows_read: int
    malformed: list[tuple[int, str]]
    checksum: str  # of the bytes read, once batches() is exhausted

    def batches(self) -> Iterator[pd.DataFrame]: ...

    def gate_rows(self) -> list[tuple[int, str, str]]: ...  # (line, rule, raw text) the reader quarantines


@dataclass
class _Pending:
    lf: LandingFile
    outcome: FileOutcome
    reader: Reader | None = None
    frames: list[pd.DataFrame] = field(default_factory=list)
    done: bool = False
    conn: Any = None
    ctx: LoadContext | None = None


class StagedFeed(Feed):
    suite: str  # the GX suite name
    window_rows = 100_000

    # --- hooks ---------------------------------------------------------------------------------
    def reference(self, conn) -> Any:
        """Reference data the rules and staging need (read once per run)."""
        return None

    @abstractmethod
    def rules(self, ref) -> list[Rule]: ...

    def rules_key(self, ref) -> tuple:
        """Distinguishes suites whose rules depend on reference data (e.g. the known outlets)."""
        return ()

    @abstractmethod
    def open_reader(self, lf: LandingFile) -> Reader:
        """The file-level gate; raise FileRejected for a file that is unusable as a whole."""

    @abstractmethod
    def prepare(self, df: pd.DataFrame, lf: LandingFile, ref) -> pd.DataFrame:
        """Derive (vectorised) the columns the rules check."""

    def prepare_window(self, df: pd.DataFrame, ref) -> pd.DataFrame:
        """Derive columns on a whole window (the prepared batches of its files concatenated, ``_key``
        numbering its rows), so per-call pandas overhead is paid once a window, not once a file.
        Must keep every row in its order: each batch is then staged from its rows of the result."""
        return df

    @abstractmethod
    def begin(self, cur, lf: LandingFile, ref, ctx: LoadContext) -> None:
        """Create the file's temporary stage table(s)."""

    @abstractmethod
    def stage(self, cur, good: pd.DataFrame, lf: LandingFile, ref, ctx: LoadContext) -> None:
        """Transform (pseudonymise, type) the good rows of a batch and COPY them into the stage."""

    @abstractmethod
    def quarantine_record(self, row: dict, ctx: LoadContext) -> dict:
        """The offending record as stored in quality.rejected_rows (personal fields pseudonymised)."""

    @abstractmethod
    def malformed_record(self, text: str, ctx: LoadContext) -> dict:
        """A row with the wrong number of fields, as stored (personal fields pseudonymised)."""

    @abstractmethod
    def publish(self, cur, lf: LandingFile, outcome: FileOutcome, ref, ctx: LoadContext) -> None:
        """Audit the staged file, replace its rows in core, set rows_loaded and affected_days."""

    def statistics(self, outcome: FileOutcome) -> dict:
        """The file's statistics as quality.validation_result records them."""
        return {"rows_read": outcome.rows_read, "rows_quarantined": outcome.rows_quarantined,
                "rows_duplicate": outcome.rows_duplicate}

    def after_publish(self, cur, lf: LandingFile, outcome: FileOutcome, ref, ctx: LoadContext) -> None:
        """Work in the file's transaction once its rows and quality are published (e.g. re-deriving
        what later files built on this one); may add to ``outcome.affected_days``."""

    # --- the loader ----------------------------------------------------------------------------
    def load_files(self, files: list[LandingFile], env: LoadEnv) -> tuple[list[FileOutcome], list[FileRejected]]:
        with connect(env.url) as conn:
            ref = self.reference(conn)
        check = validator(self.suite, self.rules(ref), key=self.rules_key(ref))
        quarantine_columns = list(self.spec.columns) if hasattr(self, "spec") else None
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

        def open_txn(p: _Pending) -> None:
            p.conn = idle.pop() if idle else env.connect()
            p.conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s), hashtext(%s))", (self.name, p.lf.name))
            verify_key(p.conn, env.pseudonymise)
            # a file's audit queries touch a few thousand rows: parallel workers cost more to start
            p.conn.execute("SET LOCAL max_parallel_workers_per_gather = 0")
            p.ctx = LoadContext(run_id=env.run_id, conn=p.conn, pseudonymise=env.pseudonymise, today=env.today)
            cur = p.conn.cursor()
            create_quarantine(cur)
            self.begin(cur, p.lf, ref, p.ctx)

        def flush() -> None:
            frames = [(p, df) for p in window for df in p.frames]
            failures: dict[int, list[str]] = {}
            if frames:
                offset = 0
                for _, df in frames:
                    df[KEY] = range(offset, offset + len(df))
                    offset += len(df)
                whole = self.prepare_window(pd.concat([df for _, df in frames], ignore_index=True), ref)
                if len(whole) != offset:
                    raise RuntimeError(f"{self.name}: prepare_window must keep every row of the window")
                result = check.validate(whole, key=KEY, files=[p.lf.name for p in window])
                if result.schema_errors:  # the header gate makes this a programming error, not bad data
                    raise RuntimeError(f"{self.name}: rules could not be evaluated: {result.schema_errors}")
                failures = result.failures
                start = 0  # each batch becomes its rows of the window (with what prepare_window derived)
                for p in window:
                    for i, df in enumerate(p.frames):
                        p.frames[i] = whole.iloc[start:start + len(df)]
                        start += len(df)
            for p in list(window):
                try:
                    if (p.frames or p.done) and p.conn is None:
                        open_txn(p)
                    if p.frames:
                        cur = p.conn.cursor()
                        for df in p.frames:
                            self._stage_batch(cur, df, failures, p, ref, quarantine_columns)
                        p.frames.clear()
                    if p.done:
                        self._finish(p, ref)
                        idle.append(p.conn)
                        p.conn = None
                        outcomes.append(p.outcome)
                        window.remove(p)
                except FileRejected as exc:
                    drop(p, exc)

        pending_rows = 0
        for lf in files:
            p = _Pending(lf, FileOutcome(self.name, lf.name))
            window.append(p)
            try:
                if lf.period > env.today:
                    raise FileRejected(self.name, lf.name, "not_in_future",
                                       f"the file is for {lf.period}, after today ({env.today})")
                p.reader = self.open_reader(lf)
                for df in p.reader.batches():
                    # a full window is flushed only when more rows follow, so the end of a file
                    # never becomes a GX run of its own (each run costs ~0.2 s whatever its size)
                    if pending_rows >= self.window_rows:
                        flush()
                        pending_rows = 0
                    p.frames.append(self.prepare(df, lf, ref))
                    pending_rows += len(df)
                p.done = True
            except FileRejected as exc:
                drop(p, exc)
        flush()
        for conn in idle:
            conn.close()
        return outcomes, rejected

    def _stage_batch(self, cur, df: pd.DataFrame, failures: dict, p: _Pending, ref, columns) -> None:
        bad_mask = df[KEY].isin(failures.keys())
        if bad_mask.any():
            bad = df[bad_mask]
            cols = [c for c in (columns or bad.columns) if c in bad.columns and not c.startswith("_")]
            rows = []
            for rec, key, line in zip(bad[cols].to_dict("records"), bad[KEY], bad[ROW]):
                rules = failures[int(key)]
                for rule in rules:
                    p.outcome.count_rule(rule)
                clean = {k: (None if _isna(v) else v) for k, v in rec.items()}
                rows.append((int(line), ", ".join(rules), self.quarantine_record(clean, p.ctx)))
            p.outcome.rows_quarantined += quarantine_rows(cur, rows)
        good = df[~bad_mask]
        if len(good):
            self.stage(cur, good, p.lf, ref, p.ctx)

    def _finish(self, p: _Pending, ref) -> None:
        cur = p.conn.cursor()
        gate = p.reader.gate_rows()
        if gate:
            p.outcome.rows_quarantined += quarantine_rows(cur, (
                (line, rule, self.malformed_record(text, p.ctx)) for line, rule, text in gate))
            for _, rule, _ in gate:
                p.outcome.count_rule(rule)
        p.outcome.rows_read = p.reader.rows_read
        p.outcome.checksum = p.reader.checksum
        fault_point("before_publish")
        self.publish(cur, p.lf, p.outcome, ref, p.ctx)
        publish_quality(cur, p.outcome, p.ctx.run_id)
        record_validation(cur, self.name, p.lf.name, self.suite, p.outcome.rows_quarantined == 0,
                          self.statistics(p.outcome), p.outcome.rule_counts, p.ctx.run_id)
        self.after_publish(cur, p.lf, p.outcome, ref, p.ctx)
        pause_before_commit(self.name, p.lf.name)  # no-op unless a test injects a fault
        fault_point("before_commit")
        p.conn.commit()


def _isna(v) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False
