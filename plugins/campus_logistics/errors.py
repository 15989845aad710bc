"""Errors a data engineer reads in the Airflow UI: always feed, file, rule and counts."""

from __future__ import annotations


class CampusLogisticsError(Exception):
    """Base of the project's errors."""


class FileRejected(CampusLogisticsError):
    """A whole file is unusable: nothing of it is loaded and the task fails."""

    def __init__(self, feed: str, file: str, rule: str, detail: str, *, rows_read: int | None = None,
                 rows_bad: int | None = None):
        self.feed, self.file, self.rule, self.detail = feed, file, rule, detail
        self.rows_read, self.rows_bad = rows_read, rows_bad
        counts = ""
        if rows_read is not None:
            counts = f" (rows read: {rows_read}" + (f", rows failing: {rows_bad}" if rows_bad is not None else "") + ")"
        super().__init__(f"feed {feed!r}, file {file!r}: rule {rule!r} failed{counts}: {detail}")


class FeedRunFailed(CampusLogisticsError):
    """One or more files of a run were rejected (the good ones were still loaded)."""

    MAX_LISTED = 20  # the message goes to logs, alerts and the UI: bounded whatever the run's range

    def __init__(self, feed: str, rejected: list[FileRejected], *, omitted: int = 0):
        self.feed, self.rejected = feed, rejected
        total = len(rejected) + omitted
        lines = "\n".join(f"  - {e}" for e in rejected[:self.MAX_LISTED])
        if total > self.MAX_LISTED:
            lines += f"\n  … and {total - self.MAX_LISTED} more (the load task's log lists them)"
        super().__init__(f"feed {feed!r}: {total} file(s) rejected, nothing of them was loaded:\n{lines}")


class ConfigurationError(CampusLogisticsError):
    """Missing or unsafe configuration (e.g. no pseudonymisation key in production)."""


_MARKUP = str.maketrans({"<": "\\x3c", ">": "\\x3e", "&": "\\x26"})


def shown(value: object, limit: int = 40) -> str:
    """A name taken from a file (a column header, a sheet title) as an error message may show it:
    control and format characters removed, markup characters escaped, cut to ``limit`` characters,
    quoted. Messages travel to logs, XCom, alerts and Data Docs; they must never carry a field value."""
    import unicodedata

    text = "".join(ch for ch in str(value) if unicodedata.category(ch)[0] != "C")
    if len(text) > limit:
        text = text[:limit] + "…"
    return repr(text).translate(_MARKUP)


class RunRejected(CampusLogisticsError):
    """A run's parameters (date range, landing directory) are refused before anything is read."""

    def __init__(self, rule: str, detail: str):
        self.rule, self.detail = rule, detail
        super().__init__(f"run parameters rejected: rule {rule!r} failed: {detail}")
