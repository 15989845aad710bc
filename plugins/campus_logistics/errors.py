"""Errors a data engineer reads in the Airflow UI: always feed, file, rule and counts.

One tree, split by what a retry can do::

    CampusLogisticsError
    ├── RetryableError        the same task may succeed later: Airflow retries it
    │   ├── WarehouseUnavailable   the warehouse cannot be reached (down, restarting, full)
    │   ├── FilesNotYetDue         a run's files are missing but may still come before their due time
    │   └── AlertDeliveryFailed    (alerts) a channel refused an alert
    └── PermanentError        retrying cannot help: the task fails at once, without retries
        ├── FileRejected, FeedRunFailed   a file is unusable / a run's files were rejected
        ├── RunRejected, UsageError       a run's parameters or a call are wrong
        └── ConfigurationError            missing or unsafe configuration
            ├── SettingInvalid            a CAMPUS_LOGISTICS_* variable cannot be parsed
            ├── MigrationRefused          an applied migration's file changed
            └── WarehouseRefused          the warehouse answered but refused the login or database

The DAG factory turns a PermanentError into Airflow's AirflowFailException; any other exception
(a RetryableError, or one the project does not know) keeps the task's retries.
"""

from __future__ import annotations


class CampusLogisticsError(Exception):
    """Base of the project's errors."""

    retryable: bool | None = None  # None: the project cannot tell; Airflow's retries apply


class RetryableError(CampusLogisticsError):
    """A failure that may go away by itself: the task is retried."""

    retryable = True


class PermanentError(CampusLogisticsError):
    """A failure no retry can fix (bad file, bad parameters, bad configuration)."""

    retryable = False


def is_permanent(exc: BaseException) -> bool:
    """Whether retrying the task that raised ``exc`` cannot help."""
    return isinstance(exc, CampusLogisticsError) and exc.retryable is False


class WarehouseUnavailable(RetryableError):
    """The warehouse cannot be reached (refused, timed out, starting up, too many connections)."""


class UsageError(PermanentError, ValueError):
    """A function or task was called with arguments it cannot work with."""


class FileRejected(PermanentError):
    """A whole file is unusable: nothing of it is loaded and the task fails."""

    def __init__(self, feed: str, file: str, rule: str, detail: str, *, rows_read: int | None = None,
                 rows_bad: int | None = None):
        self.feed, self.file, self.rule, self.detail = feed, file, rule, detail
        self.rows_read, self.rows_bad = rows_read, rows_bad
        counts = ""
        if rows_read is not None:
            counts = f" (rows read: {rows_read}" + (f", rows failing: {rows_bad}" if rows_bad is not None else "") + ")"
        super().__init__(f"feed {feed!r}, file {file!r}: rule {rule!r} failed{counts}: {detail}")


class FeedRunFailed(PermanentError):
    """One or more files of a run were rejected (the good ones were still loaded)."""

    MAX_LISTED = 20  # the message goes to logs, alerts and the UI: bounded whatever the run's range

    def __init__(self, feed: str, rejected: list[FileRejected], *, omitted: int = 0):
        self.feed, self.rejected = feed, rejected
        total = len(rejected) + omitted
        lines = "\n".join(f"  - {e}" for e in rejected[:self.MAX_LISTED])
        if total > self.MAX_LISTED:
            lines += f"\n  … and {total - self.MAX_LISTED} more (the load task's log lists them)"
        super().__init__(f"feed {feed!r}: {total} file(s) rejected, nothing of them was loaded:\n{lines}")


class FilesNotYetDue(RetryableError):
    """A run failed only because of files that may still come: its check is retried."""

    def __init__(self, failure: FeedRunFailed, pending: list[str]):
        self.failure, self.pending = failure, pending
        shown_files = ", ".join(pending[:5]) + (f" … ({len(pending)} in all)" if len(pending) > 5 else "")
        super().__init__(f"{failure}\n(not yet due, may still come: {shown_files}; retried)")


class ConfigurationError(PermanentError):
    """Missing or unsafe configuration (e.g. no pseudonymisation key in production)."""


class SettingInvalid(ConfigurationError, ValueError):
    """One or more ``CAMPUS_LOGISTICS_*`` variables cannot be parsed or are out of bounds."""

    def __init__(self, problems: list[tuple[str, str | None, str]]):
        # (variable, raw value or None for a secret, what it must be)
        self.problems = problems
        self.variables = [p[0] for p in problems]
        super().__init__("; ".join(
            f"setting {var} must be {expected}" + (f", not {raw[:60]!r}" if raw is not None else "")
            for var, raw, expected in problems))


class MigrationRefused(ConfigurationError, RuntimeError):
    """The warehouse's applied migrations disagree with the files (one changed after it was applied)."""


class WarehouseRefused(ConfigurationError):
    """The warehouse answered but refused the connection (login, password, database): fix the settings."""


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


class RunRejected(PermanentError):
    """A run's parameters (date range, landing directory) are refused before anything is read."""

    def __init__(self, rule: str, detail: str):
        self.rule, self.detail = rule, detail
        super().__init__(f"run parameters rejected: rule {rule!r} failed: {detail}")
