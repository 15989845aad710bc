"""A full, comparable snapshot of the warehouse's data: every table of every layer, row by row.

Lineage and clock columns (run ids, load times, serial ids) differ between two runs that store the
same data, so they are left out; everything else is compared exactly. Partitioned tables are read
through their parent.
"""

from __future__ import annotations

import psycopg

LAYERS = ("staging", "core", "quality", "mart", "ref")
VOLATILE = {"run_id", "id", "loaded_at", "reconciled_at", "computed_at", "rejected_at", "validated_at", "applied_at", "warned_at"}
VOLATILE_IN = {("mart", "kpi_definition", "updated_at")}
# one row per run and file by design: a killed run adds none, a retry adds its own
HISTORY = {("quality", "file_reconciliation_history")}
# a day is marked once per statement that changed it: what counts is which days are marked
DISTINCT = {("core", "canteen_day_change"): "day"}


def tables(conn) -> list[tuple[str, str]]:
    return conn.execute(
        """SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p') AND NOT c.relispartition
           ORDER BY 1, 2""", (list(LAYERS),)).fetchall()


def snapshot(url: str, *, history: bool = True) -> dict[str, list[tuple]]:
    out: dict[str, list[tuple]] = {}
    with psycopg.connect(url, options="-c TimeZone=Asia/Shanghai") as conn:
        for schema, table in tables(conn):
            if not history and (schema, table) in HISTORY:
                continue
            cols = [c for (c,) in conn.execute(
                """SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s
                   ORDER BY ordinal_position""", (schema, table))
                if c not in VOLATILE and (schema, table, c) not in VOLATILE_IN]
            select = ", ".join(f'"{c}"' for c in cols)
            if (schema, table) in DISTINCT:
                select = f'DISTINCT "{DISTINCT[schema, table]}"'
            rows = conn.execute(f'SELECT {select} FROM "{schema}"."{table}"').fetchall()
            out[f"{schema}.{table}"] = sorted(rows, key=repr)
    return out


def diff(a: dict, b: dict) -> str:
    """A short description of how two snapshots differ ('' when equal)."""
    lines = []
    for t in sorted(set(a) | set(b)):
        ra, rb = a.get(t, []), b.get(t, [])
        if ra != rb:
            only_a = [r for r in ra if r not in rb][:3]
            only_b = [r for r in rb if r not in ra][:3]
            lines.append(f"{t}: {len(ra)} vs {len(rb)} rows; only left {only_a}; only right {only_b}")
    return "\n".join(lines)
