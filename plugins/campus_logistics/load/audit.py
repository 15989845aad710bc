"""The *audit* step: duplicates in a staged file collapsed (counted) or quarantined, in SQL."""

from __future__ import annotations

from typing import Sequence

from .publish import FileOutcome
from .stage import COLLAPSED, QUARANTINE


def collapse_duplicates(cur, *, stage: str, key: str | Sequence[str], content: Sequence[str], outcome: FileOutcome,
                        line: str = "_line", record: str | None = None, conflict_rule: str = "duplicate_id_conflict",
                        keep_first: bool = True, split: Sequence[tuple[str, Sequence[str]]] = (),
                        file: str | None = None, core: str | None = None, key_table: str | None = None,
                        partition_column: str | None = None, quarantine: str = QUARANTINE,
                        collapsed: str | None = COLLAPSED) -> None:
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
    partition column) instead of one per partition of ``core``. Quarantined rows go to ``quarantine``;
    collapsed lines, with the line each repeats, to ``collapsed`` (None: not recorded).
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
            cur.execute(f"""INSERT INTO {quarantine} (row_number, rule, record)
                            SELECT s.{line}, %s, {record} FROM {stage} s JOIN _dups d ON {on} WHERE {cond}""",
                        (rule,))
            quarantined += cur.rowcount
            outcome.count_rule(rule, cur.rowcount)
        outcome.rows_quarantined += quarantined
        if collapsed:
            cur.execute(f"""INSERT INTO {collapsed} (row_number, kept_row)
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
        cur.execute(f"INSERT INTO _dups (_line, h, first_h, rn, first_line) "
                    f"SELECT s.{line}, {row}, {core_row}, 1, NULL FROM {owned}", (file,))
    cur.execute(
        f"""INSERT INTO {quarantine} (row_number, rule, record)
            SELECT s.{line}, %s, {record}
            FROM {stage} s JOIN (SELECT DISTINCT _line FROM _dups WHERE h <> first_h) d ON d._line = s.{line}""",
        (conflict_rule,),
    )
    conflicts = cur.rowcount
    cur.execute("SELECT count(DISTINCT _line) FROM _dups WHERE h = first_h AND _line NOT IN "
                "(SELECT _line FROM _dups WHERE h <> first_h)")
    same = cur.fetchone()[0]
    if collapsed:
        cur.execute(f"""INSERT INTO {collapsed} (row_number, kept_row)
                        SELECT DISTINCT ON (_line) _line, first_line FROM _dups
                        WHERE h = first_h AND _line NOT IN (SELECT _line FROM _dups WHERE h <> first_h)
                        ORDER BY _line, first_line""")
    cur.execute(f"DELETE FROM {stage} WHERE {line} IN (SELECT _line FROM _dups)")
    outcome.rows_quarantined += conflicts
    outcome.rows_duplicate += same
    outcome.count_rule(conflict_rule, conflicts)
    outcome.count_rule("duplicate_collapsed", same)
    cur.execute("DROP TABLE _dups")
