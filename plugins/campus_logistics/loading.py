"""The write–audit–publish load path shared by every feed.

A file is loaded inside ONE transaction:

1. *write*: valid rows are COPY'd into a temporary stage table, rejected rows into a temporary
   quarantine table (both vanish with the transaction);
2. *audit*: duplicates are collapsed or quarantined in SQL, and file-level rules (too many bad
   rows, …) are checked on the whole staged file;
3. *publish*: the file's previous rows in ``core`` are replaced by the staged ones, its
   quarantine rows and reconciliation are replaced, and the transaction commits.

A crash or a rejected file anywhere before the commit leaves the warehouse as it was.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Iterable, Sequence

import pyarrow as pa
import pyarrow.csv as pacsv

from .faults import fault_point

QUARANTINE = "_quarantine"
COLLAPSED = "_collapsed"  # the lines collapsed as duplicates, and the line each repeats
DUPLICATE_SAMPLE = 20  # collapsed lines kept per file (quality.duplicate_row) for the audit trail


@dataclass
class FileOutcome:
    """What loading one file did; small and JSON-able (it travels through XCom)."""

    feed: str
    file: str
    checksum: str = ""  # SHA-256 of the bytes the load read, set once the file is read
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_duplicate: int = 0
    rule_counts: dict[str, int] = field(default_factory=dict)
    affected_days: set[date] = field(default_factory=set)

    def count_rule(self, rule: str, n: int = 1) -> None:
        if n:
            self.rule_counts[rule] = self.rule_counts.get(rule, 0) + n

    def check(self) -> None:
        total = self.rows_loaded + self.rows_quarantined + self.rows_duplicate
        if total != self.rows_read:
            raise AssertionError(
                f"reconciliation broken for {self.feed}/{self.file}: read {self.rows_read} != "
                f"loaded {self.rows_loaded} + quarantined {self.rows_quarantined} + duplicates {self.rows_duplicate}"
            )

    def summary(self) -> dict:
        return {
            "feed": self.feed, "file": self.file, "rows_read": self.rows_read,
            "rows_loaded": self.rows_loaded, "rows_quarantined": self.rows_quarantined,
            "rows_duplicate": self.rows_duplicate, "rules": dict(sorted(self.rule_counts.items())),
        }


def open_landed(feed: str, path: Path, landing: Path):
    """Open a landed file for binary reading, refusing (before a byte is read) a symbolic link, anything
    that is not a regular file (rule ``regular_file``) and anything that resolves outside the landing
    directory, e.g. through a symlinked feed or ref/ folder (rule ``inside_landing``).

    The file is opened with O_NOFOLLOW and checked again on the open descriptor, so a link swapped in
    after the check is refused too. The link's target is never named: it may be a secret's path.
    """
    from .errors import FileRejected

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


def copy_frame(cur, table: str, columns: Sequence[str], df) -> int:
    """COPY the named columns of a pandas DataFrame into ``table`` via Arrow's CSV writer.

    Values must already be strings (or None) in the form PostgreSQL parses: money as exact
    decimal text, so nothing passes through a binary float.
    """
    if len(df) == 0:
        return 0
    table_pa = pa.Table.from_pandas(df[list(columns)], preserve_index=False)
    buf = io.BytesIO()
    pacsv.write_csv(table_pa, buf, write_options=pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    cols = ", ".join(f'"{c}"' for c in columns)
    data = buf.getbuffer()
    half = len(data) // 2
    with cur.copy(f"COPY {table} ({cols}) FROM STDIN (FORMAT csv)") as copy:
        copy.write(data[:half])
        fault_point("mid_copy")
        copy.write(data[half:])
    return len(df)


def create_quarantine(cur) -> None:
    cur.execute(
        f"CREATE TEMP TABLE {QUARANTINE} (row_number integer NOT NULL, rule text NOT NULL, record jsonb NOT NULL)"
        " ON COMMIT DROP"
    )
    cur.execute(f"CREATE TEMP TABLE {COLLAPSED} (row_number integer NOT NULL, kept_row integer) ON COMMIT DROP")


def collapsed_rows(cur, rows: Iterable[tuple[int, int | None]]) -> None:
    """Record lines collapsed as duplicates: (line, line of the identical row kept)."""
    with cur.copy(f"COPY {COLLAPSED} (row_number, kept_row) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def quarantine_rows(cur, rows: Iterable[tuple[int, str, dict]]) -> int:
    """Add rejected rows: (row number, rule ids joined by ', ', record with personal fields pseudonymised)."""
    n = 0
    with cur.copy(f"COPY {QUARANTINE} (row_number, rule, record) FROM STDIN") as copy:
        for row_number, rule, record in rows:
            copy.write_row((row_number, rule, json.dumps(record, ensure_ascii=False, default=str)))
            n += 1
    return n


def publish_quality(cur, outcome: FileOutcome, run_id: str | None) -> None:
    """Replace the file's quarantine rows and reconciliation (current + history)."""
    outcome.check()
    cur.execute("DELETE FROM quality.rejected_rows WHERE feed = %s AND file = %s", (outcome.feed, outcome.file))
    cur.execute(
        f"""INSERT INTO quality.rejected_rows (feed, file, row_number, rule, record, run_id)
            SELECT %s, %s, row_number, rule, record, %s FROM {QUARANTINE} ORDER BY row_number""",
        (outcome.feed, outcome.file, run_id),
    )
    cur.execute("DELETE FROM quality.duplicate_row WHERE feed = %s AND file = %s", (outcome.feed, outcome.file))
    cur.execute(
        f"""INSERT INTO quality.duplicate_row (feed, file, row_number, kept_row, run_id)
            SELECT %s, %s, row_number, min(kept_row), %s FROM {COLLAPSED}
            GROUP BY row_number ORDER BY row_number LIMIT {DUPLICATE_SAMPLE}""",
        (outcome.feed, outcome.file, run_id),
    )
    values = (outcome.feed, outcome.file, outcome.rows_read, outcome.rows_loaded, outcome.rows_quarantined,
              outcome.rows_duplicate, outcome.checksum, run_id)
    cur.execute(
        """INSERT INTO quality.file_reconciliation
               (feed, file, rows_read, rows_loaded, rows_quarantined, rows_duplicate, checksum, run_id, reconciled_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, now())
           ON CONFLICT (feed, file) DO UPDATE SET rows_read = EXCLUDED.rows_read,
               rows_loaded = EXCLUDED.rows_loaded, rows_quarantined = EXCLUDED.rows_quarantined,
               rows_duplicate = EXCLUDED.rows_duplicate, checksum = EXCLUDED.checksum,
               run_id = EXCLUDED.run_id, reconciled_at = EXCLUDED.reconciled_at""",
        values,
    )
    cur.execute(
        """INSERT INTO quality.file_reconciliation_history
               (feed, file, rows_read, rows_loaded, rows_quarantined, rows_duplicate, checksum, run_id, reconciled_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, clock_timestamp())""",
        values,
    )


def record_validation(conn_or_cur, feed: str, file: str, suite: str, success: bool, statistics: dict,
                      failed_rules: dict, run_id: str | None) -> None:
    conn_or_cur.execute(
        """INSERT INTO quality.validation_result (feed, file, suite, success, statistics, failed_rules, run_id, validated_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s, now())
           ON CONFLICT (feed, file) DO UPDATE SET suite = EXCLUDED.suite, success = EXCLUDED.success,
               statistics = EXCLUDED.statistics, failed_rules = EXCLUDED.failed_rules,
               run_id = EXCLUDED.run_id, validated_at = EXCLUDED.validated_at""",
        (feed, file, suite, success, json.dumps(statistics), json.dumps(failed_rules, ensure_ascii=False), run_id),
    )


def collapse_duplicates(cur, *, stage: str, key: str | Sequence[str], content: Sequence[str], outcome: FileOutcome,
                        line: str = "_line", record: str | None = None, conflict_rule: str = "duplicate_id_conflict",
                        keep_first: bool = True, split: Sequence[tuple[str, Sequence[str]]] = (),
                        file: str | None = None, core: str | None = None, key_table: str | None = None,
                        partition_column: str | None = None) -> None:
    """The audit step that leaves one staged row per ``key`` (a column or several), the row with the
    lowest ``line`` (its line in the file) first.

    Rows of one key with the same ``content`` are duplicates collapsed (counted, not loaded). Rows
    that differ are conflicts: with ``keep_first`` the first occurrence wins and every later
    differing row is quarantined with ``conflict_rule``; without it every row of the key is
    quarantined, with the first rule of ``split`` (rule, columns) whose columns differ among them,
    else ``conflict_rule``. A quarantined row is stored as ``record``, an SQL expression over the
    stage row ``s`` (default: the row without ``line`` and ``run_id``).

    With ``key_table``, keys other files already put in ``core`` count as earlier occurrences too
    (event feeds whose rows never change once written): ``key_table`` holds ``key``,
    ``partition_column`` and ``source_file`` of every loaded row, so each is one probe by (key,
    partition column) instead of one per partition of ``core``.
    """
    keys = [key] if isinstance(key, str) else list(key)
    group, by = ", ".join(keys), ", ".join(f"s.{k}" for k in keys)
    on = " AND ".join(f"d.{k} = s.{k}" for k in keys)
    row = "md5(ROW(" + ", ".join(f"s.{c}" for c in content) + ")::text)"
    record = record or f"to_jsonb(s) - '{line}' - 'run_id'"
    if not keep_first:
        variants = [f"count(DISTINCT md5(ROW({', '.join(f's.{c}' for c in cols)})::text)) AS v{i}"
                    for i, (_, cols) in enumerate(split)]
        cur.execute(f"""CREATE TEMP TABLE _dups ON COMMIT DROP AS
                        SELECT {by}, min(s.{line}) AS first_line,
                               {", ".join([*variants, f"count(DISTINCT {row}) AS variants"])}
                        FROM {stage} s GROUP BY {by} HAVING count(*) > 1""")
        same = [f"d.v{i} = 1" for i in range(len(split))]
        checks = [(rule, " AND ".join([*same[:i], f"d.v{i} > 1"])) for i, (rule, _) in enumerate(split)]
        quarantined = 0
        for rule, cond in [*checks, (conflict_rule, " AND ".join([*same, "d.variants > 1"]))]:
            cur.execute(f"""INSERT INTO {QUARANTINE} (row_number, rule, record)
                            SELECT s.{line}, %s, {record} FROM {stage} s JOIN _dups d ON {on} WHERE {cond}""",
                        (rule,))
            quarantined += cur.rowcount
            outcome.count_rule(rule, cur.rowcount)
        outcome.rows_quarantined += quarantined
        cur.execute(f"""INSERT INTO {COLLAPSED} (row_number, kept_row)
                        SELECT s.{line}, d.first_line FROM {stage} s JOIN _dups d ON {on}
                        WHERE d.variants = 1 AND s.{line} <> d.first_line""")
        cur.execute(f"DELETE FROM {stage} s USING _dups d WHERE {on} AND (d.variants > 1 OR s.{line} <> d.first_line)")
        collapsed = cur.rowcount - quarantined
        outcome.rows_duplicate += collapsed
        outcome.count_rule("duplicate_collapsed", collapsed)
        cur.execute("DROP TABLE _dups")
        return
    # only keys seen twice in the file, or already owned by another file, need comparing
    cur.execute(
        f"""CREATE TEMP TABLE _dups ON COMMIT DROP AS
            SELECT s.{line} AS _line, {row} AS h, first_value({row}) OVER w AS first_h,
                   row_number() OVER w AS rn, first_value(s.{line}) OVER w AS first_line
            FROM {stage} s
            WHERE ({by}) IN (SELECT {group} FROM {stage} GROUP BY {group} HAVING count(*) > 1)
            WINDOW w AS (PARTITION BY {by} ORDER BY s.{line})"""
    )
    cur.execute("DELETE FROM _dups WHERE rn = 1")
    if key_table:
        # earlier files already own these keys: compare with what they loaded
        core_row = "md5(ROW(" + ", ".join(f"c.{c}" for c in content) + ")::text)"
        owned = (f"{stage} s JOIN {key_table} k ON {' AND '.join(f'k.{k} = s.{k}' for k in keys)} AND k.source_file <> %s "
                 f"JOIN {core} c ON {' AND '.join(f'c.{k} = k.{k}' for k in keys)} "
                 f"AND c.{partition_column} = k.{partition_column}")
        cur.execute(f"INSERT INTO _dups (_line, h, first_h, rn, first_line) SELECT s.{line}, {row}, {core_row}, 1, NULL FROM {owned}",
                    (file,))
    cur.execute(
        f"""INSERT INTO {QUARANTINE} (row_number, rule, record)
            SELECT s.{line}, %s, {record}
            FROM {stage} s JOIN (SELECT DISTINCT _line FROM _dups WHERE h <> first_h) d ON d._line = s.{line}""",
        (conflict_rule,),
    )
    conflicts = cur.rowcount
    cur.execute("SELECT count(DISTINCT _line) FROM _dups WHERE h = first_h AND _line NOT IN "
                "(SELECT _line FROM _dups WHERE h <> first_h)")
    same = cur.fetchone()[0]
    cur.execute(f"""INSERT INTO {COLLAPSED} (row_number, kept_row)
                    SELECT DISTINCT ON (_line) _line, first_line FROM _dups
                    WHERE h = first_h AND _line NOT IN (SELECT _line FROM _dups WHERE h <> first_h)
                    ORDER BY _line, first_line""")
    cur.execute(f"DELETE FROM {stage} WHERE {line} IN (SELECT _line FROM _dups)")
    outcome.rows_quarantined += conflicts
    outcome.rows_duplicate += same
    outcome.count_rule(conflict_rule, conflicts)
    outcome.count_rule("duplicate_collapsed", same)
    cur.execute("DROP TABLE _dups")
