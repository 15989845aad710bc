"""Rotate the pseudonymisation key: re-key every stored pseudonym in one transaction.

A pseudonym is HMAC(key, identifier) and cannot be turned back into its identifier, so the
identifiers come from the landing files (the only place they exist): every identifier a file
holds — and, for a malformed line, every field, as the quarantine pseudonymised all fields the
identifier may have shifted into — is mapped old pseudonym → new pseudonym, and the pseudonyms in
``core.canteen_txn``, ``core.staff_month`` and the quarantine are replaced. A stored pseudonym
with no identifier in the landing files (a file archived away) stops the rotation before anything
changed: nothing may be left under the old key. The key fingerprint is replaced in the same
transaction, so loads with the old key are refused from the commit on (docs/security.md).
"""

from __future__ import annotations

import csv
import io
import logging
import re
from pathlib import Path

from .errors import ConfigurationError, FileRejected
from .load.read import open_landed
from .pseudonym import Pseudonymiser
from .warehouse import connect

log = logging.getLogger(__name__)

HEX64 = re.compile(r"\b[0-9a-f]{64}\b")
# (feed, folder, file glob, encoding, identifier column, number of columns)
SOURCES = [
    ("canteen", "canteen", "canteen_*.csv", "gb18030", 1, 9),
    ("staff", "staff", "staff_*.csv", "utf-8-sig", 1, 7),
]
# (table, pseudonym column)
COLUMNS = [("core.canteen_txn", "card_hash"), ("core.staff_month", "staff_hash")]


def identifiers(landing: Path) -> set[str]:
    """Every value a pseudonym may have been made of, from the landing files."""
    values: set[str] = set()
    for _feed, folder, pattern, encoding, col, width in SOURCES:
        for path in sorted((Path(landing) / folder).glob(pattern)):
            try:  # the loads' gate: a link or a file outside the landing directory was never loaded
                raw = open_landed(_feed, path, Path(landing))
            except FileRejected as exc:
                log.warning("%s", exc)
                continue
            with io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline="") as f:
                rows = csv.reader(f)
                next(rows, None)
                for row in rows:
                    if len(row) == width:
                        values.add(row[col].strip())
                    else:
                        values.update(v.strip() for v in row)
    values.discard("")
    return values


def rotate(landing: Path | str, old: Pseudonymiser, new: Pseudonymiser, *, url: str | None = None) -> dict:
    """Re-key the warehouse at ``url`` from ``old`` to ``new``; returns counts of what changed."""
    if old.fingerprint == new.fingerprint:
        raise ConfigurationError("the new pseudonymisation key is the same as the old one")
    raw = identifiers(Path(landing))
    mapping = {old(v): new(v) for v in raw}
    stats: dict[str, int] = {"identifiers": len(raw)}
    with connect(url) as conn:
        cur = conn.cursor()
        # no load may write while the pseudonyms change (loads check the key row FOR SHARE)
        row = cur.execute("SELECT fingerprint FROM quality.pseudonym_key FOR UPDATE").fetchone()
        if row is not None and row[0] != old.fingerprint:
            raise ConfigurationError("the old key given is not the key this warehouse's pseudonyms were made with")
        cur.execute("LOCK TABLE core.canteen_txn, core.staff_month, quality.rejected_rows IN SHARE ROW EXCLUSIVE MODE")
        cur.execute("CREATE TEMP TABLE _rekey (old text PRIMARY KEY, new text NOT NULL) ON COMMIT DROP")
        with cur.copy("COPY _rekey (old, new) FROM STDIN") as copy:
            for o, n in mapping.items():
                copy.write_row((o, n))
        for table, column in COLUMNS:
            cur.execute(f"SELECT count(DISTINCT {column}) FROM {table} t WHERE NOT EXISTS "
                        f"(SELECT 1 FROM _rekey m WHERE m.old = t.{column})")
            unknown = cur.fetchone()[0]
            if unknown:
                raise ConfigurationError(
                    f"{unknown} pseudonym(s) in {table}.{column} match no identifier in the landing files under "
                    f"{landing}: every file ever loaded must be there to rotate (nothing was changed)")
            cur.execute(f"UPDATE {table} t SET {column} = m.new FROM _rekey m WHERE m.old = t.{column}")
            stats[table] = cur.rowcount
        stats["quality.rejected_rows"] = _rekey_quarantine(cur, mapping, landing)
        cur.execute("""INSERT INTO quality.pseudonym_key (fingerprint) VALUES (%s)
                       ON CONFLICT (singleton) DO UPDATE SET fingerprint = EXCLUDED.fingerprint""", (new.fingerprint,))
    log.info("pseudonyms re-keyed: %s", stats)
    return stats


def _rekey_quarantine(cur, mapping: dict[str, str], landing) -> int:
    feeds = [s[0] for s in SOURCES]
    rows = cur.execute("SELECT id, record::text FROM quality.rejected_rows WHERE feed = ANY(%s)", (feeds,)).fetchall()
    changed: list[tuple[int, str]] = []
    unknown = 0

    def swap(m: re.Match) -> str:
        nonlocal unknown
        if m.group(0) not in mapping:
            unknown += 1
            return m.group(0)
        return mapping[m.group(0)]

    for rid, text in rows:
        new_text = HEX64.sub(swap, text)
        if new_text != text:
            changed.append((rid, new_text))
    if unknown:
        raise ConfigurationError(
            f"{unknown} pseudonym(s) in quality.rejected_rows match no identifier in the landing files under "
            f"{landing}: every file ever loaded must be there to rotate (nothing was changed)")
    if changed:
        cur.execute("CREATE TEMP TABLE _rekey_rows (id bigint PRIMARY KEY, record jsonb NOT NULL) ON COMMIT DROP")
        with cur.copy("COPY _rekey_rows (id, record) FROM STDIN") as copy:
            for rid, text in changed:
                copy.write_row((rid, text))
        cur.execute("UPDATE quality.rejected_rows r SET record = n.record FROM _rekey_rows n WHERE n.id = r.id")
    return len(changed)
