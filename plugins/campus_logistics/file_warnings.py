"""Warnings on landed files that do not fail a load but deserve a look (``quality.file_warning``):

* ``same_content_as_other_file`` — a loaded file's content is byte for byte another file's of the
  same feed (day 4's file delivered again as day 5's: its rows collapse as duplicates, 0 loaded);
* ``unexpected_file_name`` — a file in the feed's folder whose name is not the feed's pattern (a
  stray copy such as ``canteen_20010305 (1).csv``): it is never loaded, so it is named instead; the
  same for a name in ``ref/`` that is no reference file (recorded under feed ``ref``).

A run replaces the warnings of what it looked at (its loaded files; the folder's strays), so
re-running an interval leaves the table as one run did. Warnings travel with the run result (kept
short whatever the folder holds), the DAG's check task log, the CLI and the Data quality page.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from .errors import shown

log = logging.getLogger(__name__)
SAME_CONTENT = "same_content_as_other_file"
UNEXPECTED_NAME = "unexpected_file_name"
MAX_LISTED = 20  # warnings carried in a run result (XCom); the table holds them all


def unexpected_files(spec, landing: str | Path) -> list[str]:
    """Names in the feed's folder that are not the feed's file pattern (sub-folders aside)."""
    folder = Path(landing) / spec.folder
    if not folder.is_dir():
        return []
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries
                      if not e.is_dir(follow_symlinks=False) and not spec.pattern.match(e.name))


def unexpected_ref_files(landing: str | Path) -> list[str]:
    """Names in ref/ that are no reference file (``outlets (1).csv``, ``meters.csv.bak``): never read."""
    from .reference import REF_FILES

    folder = Path(landing) / "ref"
    if not folder.is_dir():
        return []
    known = {spec.name for spec in REF_FILES}
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if not e.is_dir(follow_symlinks=False) and e.name not in known)


def record_file_warnings(conn, feed, outcomes, strays: list[str], run_id: str | None,
                         ref_strays: list[str] = ()) -> list[dict]:
    """Replace the warnings of the run's loaded files and of the feed's (and ref/'s) stray files;
    return them (ref/'s under feed ``ref``)."""
    found: list[tuple[str, str, str]] = []
    for outcome in outcomes:
        conn.execute("DELETE FROM quality.file_warning WHERE feed = %s AND file = %s AND code = %s",
                     (feed.name, outcome.file, SAME_CONTENT))
        twins = [r[0] for r in conn.execute(
            """SELECT file FROM quality.file_reconciliation WHERE feed = %s AND checksum = %s AND file <> %s
               ORDER BY file""", (feed.name, outcome.checksum, outcome.file)).fetchall()]
        if twins and outcome.checksum:
            found.append((outcome.file, SAME_CONTENT,
                          f"its content is byte for byte that of {', '.join(twins)} (the same file delivered again "
                          f"under another name?); its rows count as duplicates of that file's"))
    pattern = feed.name_pattern
    found += [(name, UNEXPECTED_NAME, f"the name is not the feed's pattern {pattern}: the file is not loaded "
                                      "(a stray copy? rename it to load it, or remove it)") for name in strays]
    _replace(conn, feed.name, found, run_id)
    ref = [(name, UNEXPECTED_NAME, "not a reference file name: the file is never read (a stray copy? rename it "
                                   "to replace the reference file, or remove it)") for name in ref_strays]
    _replace(conn, "ref", ref, run_id)
    return ([{"file": f, "code": c, "detail": d} for f, c, d in found]
            + [{"feed": "ref", "file": f, "code": c, "detail": d} for f, c, d in ref])


def _replace(conn, feed_name: str, found: list[tuple[str, str, str]], run_id: str | None) -> None:
    """Insert ``found`` after dropping the feed's previous stray-name warnings (the folder's state now)."""
    conn.execute("DELETE FROM quality.file_warning WHERE feed = %s AND code = %s", (feed_name, UNEXPECTED_NAME))
    for file, code, detail in found:
        conn.execute(
            """INSERT INTO quality.file_warning (feed, file, code, detail, run_id, warned_at)
               VALUES (%s, %s, %s, %s, %s, now())
               ON CONFLICT (feed, file, code) DO UPDATE SET detail = EXCLUDED.detail, run_id = EXCLUDED.run_id,
                   warned_at = EXCLUDED.warned_at""",
            (feed_name, file, code, detail, run_id),
        )


def listed(warnings: list[dict]) -> list[dict]:
    """The warnings a run result carries: at most MAX_LISTED, then one line counting the rest."""
    if len(warnings) <= MAX_LISTED:
        return warnings
    rest = len(warnings) - MAX_LISTED
    return warnings[:MAX_LISTED] + [{"file": "", "code": "more", "detail": f"{rest} more warning(s) in quality.file_warning"}]


def warning_line(feed: str, w: dict) -> str:
    """A warning as a log or terminal line: the file name escaped and cut (it comes from the folder)."""
    return f"feed {w.get('feed', feed)!r}, file {shown(w['file'], 80)}: {w['code']}: {w['detail']}"


def log_warnings(result: dict) -> None:
    """The DAG's check task: every warning of the load in the task log (they do not fail the run)."""
    for w in result.get("warnings", []):
        log.warning("%s", warning_line(result["feed"], w))
