"""One shape for every feed: find its files → gate the file → read in chunks → validate rows with
Great Expectations → quarantine the bad ones → stage, audit and publish in one transaction.

A concrete feed says where its files are and what a good row looks like; the rest is here.
"""

from __future__ import annotations

import logging
import re
from abc import ABC
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Iterator, Sequence

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from ..errors import FileRejected, shown
from ..faults import fault_point
from ..pseudonym import verify_key
from ..loading import ChecksumTap, FileOutcome, open_landed
from ..validation import ROW

log = logging.getLogger(__name__)

BLOCK_SIZE = 8 << 20  # bytes of CSV per batch: bounded memory whatever the file size


@dataclass(frozen=True)
class LandingFile:
    feed: str
    path: Path
    period: date  # the day, first day of the month, or wave date the file covers
    root: Path | None = None  # the landing directory (default: the feed folder's parent)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def landing(self) -> Path:
        return self.root if self.root is not None else self.path.parent.parent

    def open(self):
        """The file opened for reading through the landing gate (no links, nothing outside landing)."""
        return open_landed(self.feed, self.path, self.landing)


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
        from ..warehouse import connect

        return connect(self.url)


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
    tables: tuple[str, ...]  # the core tables its loads write (their OpenLineage outputs)
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
                    found.append(LandingFile(self.name, p, period, Path(landing)))
            return found, []
        periods = list(daterange(start, end)) if self.cadence == "day" else month_starts(start, end)
        found, missing = [], []
        for period in periods:
            p = folder / self.expected_name(period)
            # a link (even a dangling one), a pipe or a folder is found, so the gate refuses it by name
            present = p.exists() or p.is_symlink()
            (found.append(LandingFile(self.name, p, period, Path(landing))) if present else missing.append(p.name))
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

    Gate (the file fails as a whole): a regular file inside the landing directory, the encoding, a
    header row (``header_present``), the header (required columns present, no unknown columns), at
    least one data row, and no truncated last line. Rows with the wrong number of fields are
    reported in ``malformed`` (line number, raw text) for quarantine, rows with no value at all (a
    blank line, ``,,,,``) in ``empty`` (rule ``empty_row``). Every batch carries ``_row``, the
    physical line number in the file of the row's first line (header = line 1), also after quoted
    multi-line fields. The file is opened once; ``checksum`` is the SHA-256 of the bytes parsed.
    """

    def __init__(self, feed: str, lf: LandingFile, spec: CsvSpec):
        self.feed, self.lf, self.spec = feed, lf, spec
        self.malformed: list[tuple[int, str]] = []
        self.empty: list[tuple[int, str]] = []
        self.rows_read = 0
        self.checksum = ""

    def _reject(self, rule: str, detail: str, **counts) -> FileRejected:
        return FileRejected(self.feed, self.lf.name, rule, detail, **counts)

    def gate_rows(self) -> list[tuple[int, str, str]]:
        """(line, rule, raw text) of the rows the gate itself quarantines, in line order."""
        rows = [(n, "malformed_row", t) for n, t in self.malformed] + [(n, "empty_row", t) for n, t in self.empty]
        return sorted(rows)

    def count_gate_rules(self, outcome) -> None:
        outcome.count_rule("malformed_row", len(self.malformed))
        outcome.count_rule("empty_row", len(self.empty))

    def _check_encoding_and_header(self, f) -> None:
        f.seek(0)
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
                raise self._reject("encoding", f"header is not valid GB18030: {exc.reason} at byte {exc.start}") from None
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
        self._check_no_nul(f)
        self._check_header(cols)
        self.header = cols

    def _check_header(self, cols: list[str]) -> None:
        """The header row must name the spec's columns. Only column names are ever shown, escaped and
        cut: a first line that names none of them is a data row (the header is missing), and its
        values (card numbers, staff ids) must not reach a log, an alert or the quality tables."""
        named = len(set(self.spec.columns) & set(cols))
        if named < max(1, len(self.spec.columns) // 2):  # a wrong header still names most columns
            raise self._reject("header_present", f"the file has no header row: its first line names {named} of the "
                               f"{len(self.spec.columns)} expected columns {list(self.spec.columns)} (a data row? "
                               "it is not shown)", rows_read=0)
        missing = [c for c in self.spec.columns if c not in cols]
        extra = [c for c in cols if c not in self.spec.columns]
        dup = sorted({c for c in cols if cols.count(c) > 1})
        if missing or extra or dup:
            parts = []
            if missing:
                parts.append(f"missing column(s) {missing}")
            if extra:
                parts.append(f"unexpected column(s) [{', '.join(shown(c) for c in extra[:10])}"
                             + (f", … {len(extra) - 10} more]" if len(extra) > 10 else "]"))
            if dup:
                parts.append(f"duplicated column(s) [{', '.join(shown(c) for c in dup[:10])}]")
            raise self._reject("header", "; ".join(parts) + f" (expected {list(self.spec.columns)})")

    def _check_no_nul(self, f) -> None:
        """A NUL byte never occurs in a text export (a corrupt transfer, a binary file) and PostgreSQL
        text cannot hold one: the file fails, naming the line. One pass over the bytes, in blocks."""
        line, pos = 1, -1
        f.seek(0)
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

    @staticmethod
    def _ends_with_newline(f) -> bool:
        f.seek(0, 2)
        if f.tell() == 0:
            return False
        f.seek(-1, 2)
        return f.read(1) in (b"\n", b"\r")

    def batches(self) -> Iterator[pd.DataFrame]:
        with self.lf.open() as f:
            yield from self._batches(f)

    def _batches(self, f) -> Iterator[pd.DataFrame]:
        self._check_encoding_and_header(f)
        fault_point("after_gate")
        invalid: list[tuple[int, str]] = []  # (record number, text) reported since the last batch

        def on_invalid(row):
            invalid.append((int(row.number) if row.number is not None else -1, row.text))
            return "skip"

        read_opts = pacsv.ReadOptions(
            encoding="utf8" if self.spec.encoding == "utf-8" else self.spec.encoding,
            block_size=BLOCK_SIZE, use_threads=False, column_names=self.header, skip_rows=1,
        )
        parse_opts = pacsv.ParseOptions(invalid_row_handler=on_invalid, ignore_empty_lines=False,
                                        newlines_in_values=True)
        conv_opts = pacsv.ConvertOptions(column_types={c: pa.string() for c in self.header},
                                         strings_can_be_null=False, quoted_strings_can_be_null=False)
        invalid_seen: set[int] = set()
        self._lines = _LineCounter()
        next_rec = 2  # records as pyarrow numbers them: the header is record 1
        f.seek(0)
        tap = ChecksumTap(f)
        try:
            reader = pacsv.open_csv(tap, read_options=read_opts, parse_options=parse_opts, convert_options=conv_opts)
            for batch in reader:
                invalid_seen.update(r for r, _ in invalid)
                n = batch.num_rows
                recs = []
                while len(recs) < n:
                    if next_rec not in invalid_seen:
                        recs.append(next_rec)
                    next_rec += 1
                lines = self._lines.physical(recs, _newlines(batch), invalid, self.malformed)
                if n == 0:
                    continue
                df = batch.to_pandas()
                df[ROW] = lines
                df.columns = [c.strip() if isinstance(c, str) else c for c in df.columns]
                empty = df[self.header[0]].str.strip() == ""  # cheap first: rows whose first field is empty
                if empty.any():
                    empty[empty] = pd.concat([df.loc[empty, c].str.strip() == "" for c in self.header], axis=1).all(axis=1)
                if empty.any():
                    self.empty += [(int(line), "," * (len(self.header) - 1)) for line in df.loc[empty, ROW]]
                    df = df[~empty]
                self.rows_read += n
                if len(df):
                    yield df.reset_index(drop=True)
            self._lines.physical([], [], invalid, self.malformed, final=True)
        except (UnicodeDecodeError, pa.ArrowInvalid) as exc:
            if isinstance(exc, UnicodeDecodeError) or any(w in str(exc).lower() for w in ("decode", "invalid utf8")):
                raise self._reject("encoding", f"not valid {self.spec.encoding}", rows_read=self.rows_read) from None
            raise self._reject("parseable", f"CSV could not be parsed: {_arrow_reason(exc)}",
                               rows_read=self.rows_read) from None
        self.checksum = tap.hexdigest()
        # the last malformed row of a file that does not end with a newline is a cut-off export
        if self.malformed and not self._ends_with_newline(f):
            if self._lines.last_invalid_rec > next_rec - 1:
                raise self._reject(
                    "truncated", f"last line {max(n for n, _ in self.malformed)} is incomplete and the file does not "
                    "end with a newline (the export was cut off)", rows_read=self.rows_read + len(self.malformed),
                )
        self.rows_read += len(self.malformed)
        if self.rows_read == 0:
            raise self._reject("not_empty", "the file has a header but no data rows", rows_read=0)


class _LineCounter:
    """Maps pyarrow's record numbers to physical line numbers: a record holding quoted line breaks
    spans several lines, and every later record starts that much further down the file."""

    def __init__(self):
        self.extra = 0  # line breaks inside the records mapped so far
        self.last_invalid_rec = 0

    def physical(self, recs: list[int], breaks, invalid: list[tuple[int, str]], malformed: list,
                 final: bool = False) -> list[int]:
        """Line numbers of a batch's records ``recs``; maps (and removes from ``invalid``) the invalid
        records up to the batch's last one (all of them when ``final``) into ``malformed``."""
        limit = float("inf") if final else (max(recs) if recs else 0)
        due = [(r, t) for r, t in invalid if r <= limit]
        invalid[:] = [(r, t) for r, t in invalid if r > limit]
        events = sorted([(r, b, None) for r, b in zip(recs, breaks)]
                        + [(r, _count_breaks(t), t) for r, t in due], key=lambda e: e[0])
        lines = []
        for rec, b, text in events:
            line = rec + self.extra
            if text is None:
                lines.append(line)
            else:
                malformed.append((line, text))
                self.last_invalid_rec = max(self.last_invalid_rec, rec)
            self.extra += b
        return lines


def _count_breaks(text: str) -> int:
    return len(re.findall(r"\r\n|\r|\n", text))


def _newlines(batch: pa.RecordBatch) -> list[int]:
    """Line breaks inside each row's values (quoted multi-line fields)."""
    import pyarrow.compute as pc

    total = None
    for col in batch.columns:
        n = pc.count_substring_regex(col, r"\r\n|\r|\n")
        total = n if total is None else pc.add(total, n)
    return total.to_pylist() if total is not None else [0] * batch.num_rows


def _arrow_reason(exc: Exception) -> str:
    """pyarrow's parse error without the row text it quotes (a row's values must not reach a message)."""
    return ": ".join(str(exc).split(": ")[:2])


def nullify(df: pd.DataFrame, columns: Sequence[str]) -> None:
    """Strip whitespace; empty strings become missing values (so not-null rules see them)."""
    for c in columns:
        s = df[c].str.strip()
        df[c] = s.where(s != "", None)
