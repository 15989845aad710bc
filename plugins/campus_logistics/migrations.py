"""Versioned schema migrations from ``include/sql/migrations/V<nnn>__<name>.sql``.

Applied in version order, each in its own transaction, under an advisory lock so concurrent
tasks never race; already-applied versions are skipped (idempotent). A changed file that was
already applied is an error: migrations are append-only.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import MigrationRefused
from .paths import MIGRATIONS_DIR
from .warehouse import connect

_LOCK_KEY = 0x43414D50  # 'CAMP'
_NAME = re.compile(r"^V(\d{3,})__([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        m = _NAME.match(path.name)
        if not m:
            raise ValueError(f"migration file name must be V<nnn>__<name>.sql: {path.name}")
        found.append(Migration(int(m.group(1)), m.group(2), path))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"duplicate migration versions in {directory}")
    return sorted(found, key=lambda m: m.version)


def migrate(url: str | None = None) -> list[int]:
    """Apply pending migrations; return the versions applied by this call."""
    applied_now: list[int] = []
    with connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.execute("CREATE SCHEMA IF NOT EXISTS quality")
            conn.execute(
                """CREATE TABLE IF NOT EXISTS quality.schema_migration (
                       version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            done = dict(conn.execute("SELECT version, checksum FROM quality.schema_migration").fetchall())
            for mig in discover():
                if mig.version in done:
                    if done[mig.version] != mig.checksum:
                        raise MigrationRefused(
                            f"migration V{mig.version:03d} {mig.name} changed after it was applied; "
                            "add a new migration instead"
                        )
                    continue
                with conn.transaction():
                    conn.execute(mig.sql)
                    conn.execute(
                        "INSERT INTO quality.schema_migration (version, name, checksum) VALUES (%s, %s, %s)",
                        (mig.version, mig.name, mig.checksum),
                    )
                applied_now.append(mig.version)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied_now
