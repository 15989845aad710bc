"""One shape for every feed: find its files → gate the file → read in chunks → validate rows with
Great Expectations → quarantine the bad ones → stage, audit and publish in one transaction.

A concrete feed says where its files are and what a good row looks like; the rest is here.
"""

from __future__ import annotations

import logging
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Iterator, Sequence

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from ..errors import FileRejected
from ..faults import fault_point
from ..pseudonym import verify_key
from ..loading import FileOutcome
from ..validation import ROW

log = logging.getLogger(__name__)

BLOCK_SIZE = 8 << 20  # bytes of CSV per batch: bounded memory whatever the file size


@dataclass(frozen=True)
class LandingFile:
    feed: str
    path: Path
    period: date  # the day, first day of the month, or wave date the file covers

    @property
    def name(self) -> str:
        return self.path.name


@dataclass
class LoadContext:
    """What a feed needs while loading: the run, the warehouse connection, ref data, the key."""

    run_id: str | None
    conn: object  # psycopg.Connection, inside the file's transaction
    pseudonymise: object  # Pseudonymiser
    today: date


@dataclass
class LoadEnv:
    """What a run gives a feed to load its files with."""

    url: str
    run_id: str | None
    pseudonymise: object
    today: date

    def connect(self):
        import psycopg

        return psycopg.connect(self.url, options="-c TimeZone=Asia/Shanghai")


def daterange(start: date, end: date) -> Iterator[date]:
    d = start
    while d <= end:
        yield d
        d += timedelta(days=1)


def month_starts(start: date, end: date) -> list[date]:
    out, d = [], start.replace(day=1)
    while d <= end:
        out.append(d)
        d = (d.replace(day=28) + timedelta(days=4)).replace(day=1)
    return out


class Feed(ABC):
    name: str
    folder: str
    cadence: str  # 'day', 'month' or 'wave'
    prefix: str
    suffix: str

    @property
    def _pattern(self) -> re.Pattern:
        digits = {"day": 8, "month": 6, "wave": 8}[self.cadence]
        # ASCII digits: \d also matches full-width ones
        return re.compile(rf"^{re.escape(self.prefix)}([0-9]{{{digits}}}){re.escape(self.suffix)}$")

    def period_of(self, filename: str) -> date | None:
        m = self._pattern.match(filename)
        if not m:
            return None
        s = m.group(1)
        try:
            return date(int(s[:4]), int(s[4:6]), int(s[6:8]) if len(s) == 8 else 1)
        except ValueError:
            return None

    def expected_name(self, period: date) -> str:
        stamp = period.strftime("%Y%m%d" if self.cadence != "month" else "%Y%m")
        return f"{self.prefix}{stamp}{self.suffix}"

    def files(self, landing: Path, start: date, end: date) -> tuple[list[LandingFile], list[str]]:
        """The files this feed owns for [start, end] (inclusive), and the expected ones missing."""
        folder = Path(landing) / self.folder
        if self.cadence == "wave":
            found = []
            for p in sorted(folder.glob(f"{self.prefix}*{self.suffix}")) if folder.is_dir() else []:
                period = self.period_of(p.name)
                if period and start <= period <= end:
                    found.append(LandingFile(self.name, p, period))
            return found, []
        periods = list(daterange(start, end)) if self.cadence == "day" else month_starts(start, end)
        found, missing = [], []
        for period in periods:
            p = folder / self.expected_name(period)
            (found.append(LandingFile(self.name, p, period)) if p.is_file() else missing.append(p.name))
        return found, missing

    def load_file(self, lf: LandingFile, ctx: LoadContext) -> FileOutcome:
        """Load one file inside ``ctx.conn``'s open transaction; raise FileRejected to refuse it.

        Feeds that load file by file implement this; StagedFeed feeds implement its hooks instead.
        """
        raise TypeError(f"feed {self.name!r} implements neither load_file nor the StagedFeed hooks")

    def load_files(self, files: list[LandingFile], env: LoadEnv) -> tuple[list[FileOutcome], list[FileRejected]]:
        """Load each file in its own transaction under an advisory lock on (feed, file)."""
        outcomes, rejected = [], []
        for lf in files:
            try:
                with env.connect() as conn:
                    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s), hashtext(%s))", (self.name, lf.name))
                    verify_key(conn, env.pseudonymise)
                    if lf.period > env.today:
                        raise FileRejected(self.name, lf.name, "not_in_future",
                                           f"the file is for {lf.period}, after today ({env.today})")
                    outcomes.append(self.load_file(lf, LoadContext(run_id=env.run_id, conn=conn,
                                                                   pseudonymise=env.pseudonymise, today=env.today)))
                    fault_point("before_commit")
            except FileRejected as exc:
                rejected.append(exc)
        return outcomes, rejected


# --- CSV reading shared by the CSV feeds -------------------------------------------------------

@dataclass
class CsvSpec:
    columns: Sequence[str]
    encoding: str = "utf-8"  # 'utf-8' (a BOM is allowed) or 'gb18030'


class CsvReader:
    """Streams a CSV file as pandas batches of strings, after the file-level gate.

    Gate (the file fails as a whole): the encoding, the header (required columns present, no
    unknown columns), at least one data row, and no truncated last line. Rows with the wrong
    number of fields are reported in ``malformed`` (line number, raw text) for quarantine.
    Every batch carries ``_row``, the row's line number in the file (header = line 1).
    """

    def __init__(self, feed: str, lf: LandingFile, spec: CsvSpec):
        self.feed, self.lf, self.spec = feed, lf, spec
        self.malformed: list[tuple[int, str]] = []
        self.blank_lines = 0
        self.rows_read = 0

    def _reject(self, rule: str, detail: str, **counts) -> FileRejected:
        return FileRejected(self.feed, self.lf.name, rule, detail, **counts)

    def _check_encoding_and_header(self) -> None:
        with open(self.lf.path, "rb") as f:
            head = f.read(64 * 1024)
        if not head.strip():
            raise self._reject("not_empty", "the file is empty (no header, no rows)", rows_read=0)
        first = head.split(b"\n", 1)[0].rstrip(b"\r")
        enc = self.spec.encoding
        if enc == "gb18030":
            if head.startswith(b"\xef\xbb\xbf"):
                raise self._reject("encoding", "file is UTF-8 (it has a UTF-8 BOM); this feed must be GB18030/GBK")
            try:
                header = first.decode("gb18030")
            except UnicodeDecodeError as exc:
                raise self._reject("encoding", f"header is not valid GB18030: {exc}") from None
            if not set(self.spec.columns) & set(self._split(header)):
                try:
                    if set(self.spec.columns) & set(self._split(first.decode("utf-8"))):
                        raise self._reject("encoding", "file is UTF-8; this feed must be GB18030/GBK")
                except UnicodeDecodeError:
                    pass
        else:
            if first.startswith(b"\xef\xbb\xbf"):
                first = first[3:]
            try:
                header = first.decode("utf-8")
            except UnicodeDecodeError:
                raise self._reject("encoding", "header is not valid UTF-8 (GBK/GB18030 export?); this feed must be UTF-8") from None
        cols = self._split(header)
        self._check_no_nul()
        missing = [c for c in self.spec.columns if c not in cols]
        extra = [c for c in cols if c not in self.spec.columns]
        dup = sorted({c for c in cols if cols.count(c) > 1})
        if missing or extra or dup:
            parts = []
            if missing:
                parts.append(f"missing column(s) {missing}")
            if extra:
                parts.append(f"unexpected column(s) {extra}")
            if dup:
                parts.append(f"duplicated column(s) {dup}")
            raise self._reject("header", "; ".join(parts) + f" (expected {list(self.spec.columns)})")
        self.header = cols

    def _check_no_nul(self) -> None:
        """A NUL byte never occurs in a text export (a corrupt transfer, a binary file) and PostgreSQL
        text cannot hold one: the file fails, naming the line. One pass over the bytes, in blocks."""
        line, pos = 1, -1
        with open(self.lf.path, "rb") as f:
            for block in iter(lambda: f.read(BLOCK_SIZE), b""):
                pos = block.find(b"\x00")
                if pos >= 0:
                    line += block.count(b"\n", 0, pos)
                    break
                line += block.count(b"\n")
        if pos >= 0:
            raise self._reject("no_nul_bytes", f"line {line} holds a NUL byte (0x00): a corrupt or binary export, "
                               "not text (PostgreSQL text cannot hold it)")

    @staticmethod
    def _split(line: str) -> list[str]:
        import csv

        return [c.strip() for c in next(csv.reader([line]), [])]

    def _ends_with_newline(self) -> bool:
        with open(self.lf.path, "rb") as f:
            f.seek(0, 2)
            if f.tell() == 0:
                return False
            f.seek(-1, 2)
            return f.read(1) in (b"\n", b"\r")

    def batches(self) -> Iterator[pd.DataFrame]:
        self._check_encoding_and_header()
        fault_point("after_gate")

        def on_invalid(row):
            self.malformed.append((int(row.number) if row.number is not None else -1, row.text))
            return "skip"

        read_opts = pacsv.ReadOptions(
            encoding="utf8" if self.spec.encoding == "utf-8" else self.spec.encoding,
            block_size=BLOCK_SIZE, use_threads=False, column_names=self.header, skip_rows=1,
        )
        parse_opts = pacsv.ParseOptions(invalid_row_handler=on_invalid, ignore_empty_lines=False,
                                        newlines_in_values=False)
        conv_opts = pacsv.ConvertOptions(column_types={c: pa.string() for c in self.header},
                                         strings_can_be_null=False, quoted_strings_can_be_null=False)
        invalid_seen: set[int] = set()
        next_line = 2  # line 1 is the header
        try:
            reader = pacsv.open_csv(self.lf.path, read_options=read_opts, parse_options=parse_opts,
                                    convert_options=conv_opts)
            for batch in reader:
                invalid_seen.update(n for n, _ in self.malformed)
                n = batch.num_rows
                if n == 0:
                    continue
                lines = []
                while len(lines) < n:
                    if next_line not in invalid_seen:
                        lines.append(next_line)
                    next_line += 1
                df = batch.to_pandas()
                df[ROW] = lines
                df.columns = [c.strip() if isinstance(c, str) else c for c in df.columns]
                blank = (df[list(self.header)] == "").all(axis=1)
                if blank.any():
                    self.blank_lines += int(blank.sum())
                    df = df[~blank]
                self.rows_read += len(df)
                if len(df):
                    yield df.reset_index(drop=True)
        except (UnicodeDecodeError, pa.ArrowInvalid) as exc:
            if isinstance(exc, UnicodeDecodeError) or any(w in str(exc).lower() for w in ("decode", "invalid utf8")):
                raise self._reject("encoding", f"not valid {self.spec.encoding}: {exc}", rows_read=self.rows_read) from None
            raise self._reject("parseable", f"CSV could not be parsed: {exc}", rows_read=self.rows_read) from None
        # the last malformed row of a file that does not end with a newline is a cut-off export
        if self.malformed and not self._ends_with_newline():
            last_line = max(n for n, _ in self.malformed)
            if last_line > next_line - 1:
                raise self._reject(
                    "truncated", f"last line {last_line} is incomplete and the file does not end with a newline "
                    "(the export was cut off)", rows_read=self.rows_read + len(self.malformed),
                )
        self.rows_read += len(self.malformed)
        if self.rows_read == 0:
            raise self._reject("not_empty", "the file has a header but no data rows", rows_read=0)


def nullify(df: pd.DataFrame, columns: Sequence[str]) -> None:
    """Strip whitespace; empty strings become missing values (so not-null rules see them)."""
    for c in columns:
        s = df[c].str.strip()
        df[c] = s.where(s != "", None)
