"""The *read* step: a landed file opened through the landing gate and streamed as pandas batches.

Every reader is gated (the file fails as a whole when unusable), streams batches carrying ``_row``
(where the row is in the file) and sets ``rows_read`` and ``checksum`` (SHA-256 of the bytes read)
as it goes: ``CsvReader`` for CSV exports, ``XlsxReader`` for workbooks. Nothing here knows a feed.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable, Iterator, Sequence
from xml.etree.ElementTree import ParseError

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from ..errors import FileRejected, shown
from ..faults import fault_point
from .validate import ROW

BLOCK_SIZE = 8 << 20  # bytes of CSV per batch: bounded memory whatever the file size


@dataclass(frozen=True)
class LandingFile:
    feed: str
    path: Path
    period: date  # the day, first day of the month, or wave date the file covers
    root: Path | None = None  # the landing directory (default: the feed folder's parent)
    name: str = field(init=False, compare=False)  # the file's name

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", self.path.name)

    @property
    def landing(self) -> Path:
        return self.root if self.root is not None else self.path.parent.parent

    def open(self):
        """The file opened for reading through the landing gate (no links, nothing outside landing)."""
        return open_landed(self.feed, self.path, self.landing)


def open_landed(feed: str, path: Path, landing: Path):
    """Open a landed file for binary reading, refusing (before a byte is read) a symbolic link, anything
    that is not a regular file (rule ``regular_file``) and anything that resolves outside the landing
    directory, e.g. through a symlinked feed or ref/ folder (rule ``inside_landing``).

    The file is opened with O_NOFOLLOW and checked again on the open descriptor, so a link swapped in
    after the check is refused too. The link's target is never named: it may be a secret's path.
    """
    def reject(rule: str, detail: str) -> FileRejected:
        return FileRejected(feed, path.name, rule, detail, rows_read=0)

    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise reject("regular_file", "the file vanished before it could be read") from None
    if stat.S_ISLNK(st.st_mode):
        raise reject("regular_file", "the file is a symbolic link; landed files must be regular files "
                                     "(links are never followed)")
    if not stat.S_ISREG(st.st_mode):
        raise reject("regular_file", "not a regular file (a directory, pipe or device)")
    root = os.path.realpath(landing)
    if os.path.commonpath([root, os.path.realpath(path)]) != root:
        raise reject("inside_landing", "the file resolves outside the landing directory "
                                       "(a symlinked folder?); nothing outside it is read")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:  # ELOOP: replaced by a link since the check
        raise reject("regular_file", "the file changed into a link or vanished before it could be read") from None
    fst = os.fstat(fd)
    if not stat.S_ISREG(fst.st_mode) or (fst.st_dev, fst.st_ino) != (st.st_dev, st.st_ino):
        os.close(fd)
        raise reject("regular_file", "the file was replaced by something else while it was opened")
    return os.fdopen(fd, "rb")


class ChecksumTap:
    """A read-only file wrapper hashing (SHA-256) exactly the bytes read through it: the checksum a
    file's reconciliation stores is that of the content that was loaded, even if the file is
    rewritten meanwhile."""

    def __init__(self, f):
        self._f = f
        self._hash = hashlib.sha256()
        self.closed = False

    def read(self, n: int = -1) -> bytes:
        block = self._f.read(n)
        self._hash.update(block)
        return block

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True  # the underlying file belongs to the caller

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def content_checksum(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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

    def __init__(self, feed: str, lf, spec):
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
                if not any(r >= next_rec for r in invalid_seen):  # no row of the batch was skipped
                    recs = range(next_rec, next_rec + n)
                    next_rec += n
                else:
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
        if not due and breaks is None and isinstance(recs, range):  # the common batch: one line per record
            return np.arange(recs.start, recs.stop, dtype=np.int64) + self.extra
        if breaks is None:
            breaks = [0] * len(recs)
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


def _newlines(batch: pa.RecordBatch) -> list[int] | None:
    """Line breaks inside each row's values (quoted multi-line fields); None when no value holds one
    (the common case, found by a plain substring search before any regex)."""
    import pyarrow.compute as pc

    total = None
    for col in batch.columns:
        if not (pc.any(pc.match_substring(col, "\n")).as_py() or pc.any(pc.match_substring(col, "\r")).as_py()):
            continue
        n = pc.count_substring_regex(col, r"\r\n|\r|\n")
        total = n if total is None else pc.add(total, n)
    return total.to_pylist() if total is not None else None


def _arrow_reason(exc: Exception) -> str:
    """pyarrow's parse error without the row text it quotes (a row's values must not reach a message)."""
    return ": ".join(str(exc).split(": ")[:2])


def nullify(df: pd.DataFrame, columns: Sequence[str]) -> None:
    """Strip whitespace; empty strings become missing values (so not-null rules see them)."""
    for c in columns:
        s = df[c].str.strip()
        df[c] = s.where(s != "", None)


# --- workbooks ---------------------------------------------------------------------------------

# what a corrupt or cut-off workbook raises while its sheets are read
UNREADABLE = (zipfile.BadZipFile, zlib.error, EOFError, ParseError)


def blank(v) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def col_letter(i: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(i + 1)


class XlsxReader:
    """The one data sheet of an ``.xlsx`` workbook, streamed (openpyxl read-only) in batches of
    ``batch`` rows.

    Gate (the file fails as a whole): a regular file inside landing, not 0 bytes (``not_empty``), a
    readable workbook (``xlsx_readable``, also when a sheet turns out corrupt while read), at most one
    sheet holding data (``one_sheet``), a header row (the first non-blank row) that ``header`` accepts,
    no value in a column without a header (``header``), and at least one data row (``not_empty``).

    ``header(reader, row_no, names)`` gets the header's stripped texts ('' for a blank cell) and
    returns {frame column: sheet column index}, or raises (``reader.reject``); ``row_noun`` names a
    data row in the rejection of a sheet without one. Each batch has
    ``_row`` (the sheet row number) and those columns, holding the cells' values as openpyxl gives
    them. Blank rows are not rows.
    """

    def __init__(self, feed: str, lf, header: Callable[["XlsxReader", int, list[str]], dict[str, int]],
                 batch: int = 20_000, row_noun: str = "data row"):
        self.feed, self.lf, self.header, self.batch, self.row_noun = feed, lf, header, batch, row_noun
        self.rows_read = 0
        self.malformed: list[tuple[int, str]] = []  # a sheet has no row with the wrong number of fields
        self.checksum = ""
        self.title = ""

    def reject(self, rule: str, detail: str, **counts) -> FileRejected:
        return FileRejected(self.feed, self.lf.name, rule, detail, **counts)

    def cell(self, col: int, row: int) -> str:
        return f"sheet {shown(self.title)}, cell {col_letter(col)}{row}"

    def gate_rows(self) -> list[tuple[int, str, str]]:
        return []

    def batches(self) -> Iterator[pd.DataFrame]:
        wb = None
        try:
            wb, ws = self._open()
            yield from self._frames(ws)
        except UNREADABLE as exc:
            raise self._unreadable(exc) from None
        finally:
            if wb is not None:
                wb.close()

    def _unreadable(self, exc: Exception) -> FileRejected:
        return self.reject("xlsx_readable", f"the workbook cannot be read ({type(exc).__name__}: {exc}); "
                                            "a cut-off or corrupt export?", rows_read=self.rows_read)

    def _open(self):
        from openpyxl import load_workbook
        from openpyxl.utils.exceptions import InvalidFileException

        with self.lf.open() as f:
            raw = f.read()  # a workbook is read at random offsets: hash the bytes it is parsed from
        self.checksum = content_checksum(raw)
        if not raw:
            raise self.reject("not_empty", "the file is empty (0 bytes)", rows_read=0)
        try:
            wb = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
        except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError, EOFError) as exc:
            raise self.reject("xlsx_readable", f"not a readable .xlsx workbook ({type(exc).__name__}: {exc}); "
                                               "a cut-off or corrupt export?") from None
        try:
            sheets = wb.worksheets
            if not sheets:
                raise self.reject("not_empty", "the workbook has no sheet", rows_read=0)
            for ws in sheets:
                ws.reset_dimensions()  # do not trust the dimension the exporter wrote
            used = [ws for ws in sheets if any(any(not blank(v) for v in row) for row in ws.iter_rows(values_only=True))]
            if len(used) > 1:
                raise self.reject("one_sheet", "more than one sheet holds data: "
                                  + ", ".join(shown(ws.title) for ws in used) + " (the export has exactly one)")
        except BaseException:
            wb.close()
            raise
        ws = used[0] if used else sheets[0]
        self.title = ws.title
        return wb, ws

    def _frames(self, ws) -> Iterator[pd.DataFrame]:
        rows_iter = enumerate(ws.iter_rows(values_only=True), start=1)
        for row_no, cells in rows_iter:
            if any(not blank(v) for v in cells):
                names = ["" if blank(v) else str(v).strip() for v in cells]
                columns = self.header(self, row_no, names)
                break
        else:
            raise self.reject("not_empty", f"sheet {shown(self.title)} has no header row and no data", rows_read=0)
        width = len(names)
        unnamed = [i for i, n in enumerate(names) if not n]
        batch: list[tuple] = []
        lines: list[int] = []
        for row_no, cells in rows_iter:
            if all(blank(v) for v in cells):
                continue
            if len(cells) < width:
                cells = tuple(cells) + (None,) * (width - len(cells))
            for i in [*unnamed, *range(width, len(cells))]:
                if not blank(cells[i]):
                    raise self.reject("header", f"{self.cell(i, row_no)} holds a value (not shown) but its column "
                                                "has no header", rows_read=self.rows_read)
            batch.append(cells)
            lines.append(row_no)
            self.rows_read += 1
            if len(batch) >= self.batch:
                yield self._frame(batch, lines, columns)
                batch, lines = [], []
        if batch:
            yield self._frame(batch, lines, columns)
        if self.rows_read == 0:
            raise self.reject("not_empty", f"sheet {shown(self.title)} has a header but no {self.row_noun}", rows_read=0)

    @staticmethod
    def _frame(batch: list[tuple], lines: list[int], columns: dict[str, int]) -> pd.DataFrame:
        df = pd.DataFrame({ROW: np.asarray(lines, dtype="int64")})
        for name, i in columns.items():
            df[name] = pd.Series([cells[i] for cells in batch], dtype="object")
        return df
