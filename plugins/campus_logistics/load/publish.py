"""The *publish* step: a file's outcome (its reconciliation), its quality records, and the feed's
publish SQL (``include/sql/publish/<feed>.sql``) run inside the file's transaction."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from datetime import date

from .stage import COLLAPSED, QUARANTINE

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


def statements(sql: str) -> list[tuple[str | None, str]]:
    """A publish SQL file's statements (each ends with ``;`` at the end of a line), each with the name
    a ``-- result: <name>`` line gives its rows (else None); whole-line comments dropped."""
    out = []
    for text in re.split(r";[ \t]*$", sql, flags=re.MULTILINE):
        lines = text.strip().splitlines()
        names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("-- result:")]
        code = "\n".join(line for line in lines if not line.lstrip().startswith("--")).strip()
        if code:
            out.append((names[0] if names else None, code))
    return out


@functools.cache
def _publish_sql(name: str) -> str:
    from ..paths import PUBLISH_SQL_DIR

    return (PUBLISH_SQL_DIR / name).read_text(encoding="utf-8")


def run_publish_sql(cur, spec, params: dict) -> dict[str, list[tuple]]:
    """Run the feed's ``include/sql/publish/<file>`` statement by statement in the file's transaction;
    returns the rows of the statements marked ``-- result: <name>``, by name."""
    results = {}
    for name, code in statements(_publish_sql(spec.publish_sql)):
        cur.execute(code, params)
        if name:
            results[name] = cur.fetchall()
    return results
