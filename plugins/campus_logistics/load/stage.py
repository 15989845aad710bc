"""The *stage* step: a file's good rows COPY'd into a temporary stage table, its bad rows into a
temporary quarantine table, both inside the file's transaction (they vanish with it)."""

from __future__ import annotations

import io
import json
from typing import Iterable, Sequence

import pyarrow as pa
import pyarrow.csv as pacsv

from ..faults import fault_point

QUARANTINE = "_quarantine"
COLLAPSED = "_collapsed"  # the lines collapsed as duplicates, and the line each repeats


def copy_frame(cur, table: str, columns: Sequence[str], df) -> int:
    """COPY the named columns of a pandas DataFrame into ``table`` via Arrow's CSV writer.

    Values must already be strings (or None) in the form PostgreSQL parses: money as exact
    decimal text, so nothing passes through a binary float.
    """
    if len(df) == 0:
        return 0
    return copy_table(cur, table, pa.Table.from_pandas(df[list(columns)], preserve_index=False), fault=True)


def copy_table(cur, table: str, data: pa.Table, *, fault: bool = False) -> int:
    """COPY an Arrow table into ``table`` (columns by name) through Arrow's CSV writer; a stage
    COPY (``fault``) passes the ``mid_copy`` fault point half-way."""
    buf = io.BytesIO()
    pacsv.write_csv(data, buf, write_options=pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    cols = ", ".join(f'"{c}"' for c in data.column_names)
    text = buf.getbuffer()
    half = len(text) // 2 if fault else len(text)
    with cur.copy(f"COPY {table} ({cols}) FROM STDIN (FORMAT csv)") as copy:
        copy.write(text[:half])
        if fault:
            fault_point("mid_copy")
            copy.write(text[half:])
    return data.num_rows


def create_quarantine(cur, table: str = QUARANTINE) -> None:
    cur.execute(
        f"CREATE TEMP TABLE {table} (row_number integer NOT NULL, rule text NOT NULL, record jsonb NOT NULL)"
        " ON COMMIT DROP"
    )
    if table == QUARANTINE:  # the file's own quarantine: its collapsed lines beside it
        cur.execute(f"CREATE TEMP TABLE {COLLAPSED} (row_number integer NOT NULL, kept_row integer) ON COMMIT DROP")


def quarantine_rows(cur, rows: Iterable[tuple[int, str, dict]], table: str = QUARANTINE) -> int:
    """Add rejected rows: (row number, rule ids joined by ', ', record with personal fields pseudonymised)."""
    n = 0
    with cur.copy(f"COPY {table} (row_number, rule, record) FROM STDIN") as copy:
        for row_number, rule, record in rows:
            copy.write_row((row_number, rule, json.dumps(record, ensure_ascii=False, default=str)))
            n += 1
    return n
