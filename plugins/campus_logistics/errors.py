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

    def __init__(self, feed: str, rejected: list[FileRejected]):
        self.feed, self.rejected = feed, rejected
        lines = "\n".join(f"  - {e}" for e in rejected)
        super().__init__(f"feed {feed!r}: {len(rejected)} file(s) rejected, nothing of them was loaded:\n{lines}")


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
