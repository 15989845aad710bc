"""``FeedSpec``: what a feed is, as data — where its files land and how they are named, when it
runs, what its files hold, which rules check them, how duplicates are told apart and which SQL
publishes them. Import-light (no pandas): DAG files read specs at parse time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Iterator

DIGITS = {"day": 8, "month": 6, "wave": 8}  # the period stamp in a file's name
CADENCE_TAGS = {"day": "daily", "month": "monthly", "wave": "wave"}


@dataclass(frozen=True)
class FeedSpec:
    name: str
    feed_class: str  # "module:Class" under campus_logistics.feeds: the feed's domain hooks
    tables: tuple[str, ...]  # the core tables its loads write (their OpenLineage outputs)
    folder: str  # landing/<folder>/
    prefix: str  # a file is <prefix><YYYYMMDD or YYYYMM><suffix>
    suffix: str
    cadence: str  # 'day', 'month' or 'wave' (a wave file is found by its date, never missing)
    cron: str  # when the feed DAG runs (Asia/Shanghai)
    format: str  # 'csv', 'json' or 'xlsx'
    encoding: str = "utf-8"  # 'utf-8' (a BOM is allowed) or 'gb18030'
    columns: tuple[str, ...] = ()  # the header a CSV file must have, in the export's order
    types: tuple[tuple[str, str], ...] = ()  # (column, what a good value is) as the rules check it
    rules: tuple[str, ...] = ()  # the row rules' ids (quality.rejected_rows.rule)
    duplicate_key: tuple[str, ...] = ()  # the staged columns identifying a row ('' = none: all rows load)
    duplicate_content: tuple[str, ...] = ()  # compared among rows of one key: same → collapsed
    duplicate_conflict: str = "duplicate_id_conflict"  # the rule quarantining differing rows of a key
    plausible: tuple[tuple[str, str], ...] = ()  # (column, the limits.py bound it must stay within)
    publish_sql: str | None = None  # include/sql/publish/<file>, run by the feed's publish hook
    sequential: bool = False  # a period depends on the previous one: partitions load one at a time
    suite: str = ""  # the Great Expectations suite of the row rules (default: the feed's name)
    # derived once (plain attributes, not properties: read for every file)
    pattern: re.Pattern = field(init=False, repr=False, compare=False)  # a file's name; ASCII digits only
    name_pattern: str = field(init=False, compare=False)  # as people read it, e.g. canteen_YYYYMMDD.csv

    def __post_init__(self) -> None:
        derived = {
            "suite": self.suite or self.name,
            # ASCII digits: \d also matches full-width ones
            "pattern": re.compile(rf"^{re.escape(self.prefix)}([0-9]{{{DIGITS[self.cadence]}}}){re.escape(self.suffix)}$"),
            "name_pattern": f"{self.prefix}{'YYYYMM' if self.cadence == 'month' else 'YYYYMMDD'}{self.suffix}",
        }
        for name, value in derived.items():
            object.__setattr__(self, name, value)

    @property
    def cadence_tag(self) -> str:
        return CADENCE_TAGS[self.cadence]

    def period_of(self, filename: str) -> date | None:
        m = self.pattern.match(filename)
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

    def files(self, landing: Path, start: date, end: date) -> tuple[list, list[str]]:
        """The files this feed owns for [start, end] (inclusive), as ``read.LandingFile``, and the
        expected ones missing."""
        from .read import LandingFile

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
