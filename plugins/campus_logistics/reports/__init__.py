"""Finance reports: monthly and annual workbooks over the ``mart.report_*`` views, and HTML pages
with charts over ``mart.kpi_value``.

``data.py`` reads a :class:`~.data.Report` for the workbook; ``html.py`` reads its own figures
(``figures.py``). The output file's suffix chooses the format (``WRITERS``).
"""

from __future__ import annotations

import os
from pathlib import Path


def _write_xlsx(year: int, month: int | None, url: str | None, path: Path) -> None:
    from .data import load_report
    from .excel import write

    write(load_report(year, month, url=url), path)


def _write_html(year: int, month: int | None, url: str | None, path: Path) -> None:
    from ..warehouse import resolve_url
    from .html import write_html_report  # the charts read mart.kpi_value themselves

    write_html_report(resolve_url(url), year, month, path)


# output suffix -> writer(year, month, url, path)
WRITERS = {".xlsx": _write_xlsx, ".html": _write_html}
REPORT_DIR_ENV = "CAMPUS_LOGISTICS_REPORT_DIR"
REPORT_FORMATS_ENV = "CAMPUS_LOGISTICS_REPORT_FORMATS"


def report_dir() -> Path:
    from ..settings import current

    return current().report_dir


def report_formats() -> list[str]:
    """Suffixes the pipeline writes (``CAMPUS_LOGISTICS_REPORT_FORMATS``, default ``xlsx,html``)."""
    from ..settings import current

    return list(current().report_formats)


def writer_for(path: Path | str):
    suffix = Path(path).suffix.lower()
    if suffix not in WRITERS:
        from ..errors import UsageError

        raise UsageError(f"unsupported report format {suffix or '(none)'!r} for {path}: "
                         f"use one of {', '.join(sorted(WRITERS))}")
    return WRITERS[suffix]


def write_report(out: Path | str, year: int, month: int | None = None, *, url: str | None = None) -> Path:
    """Write the monthly (``month`` given) or annual report to ``out``; the format follows its suffix."""
    out = Path(out)
    writer = writer_for(out)  # fail on a bad suffix before querying
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    try:
        writer(year, month, url, tmp)
        os.replace(tmp, out)  # readers never see a half-written file
    finally:
        tmp.unlink(missing_ok=True)
    return out


def report_name(year: int, month: int | None, suffix: str) -> str:
    return f"reform_report_{year}{'' if month is None else f'-{month:02d}'}{suffix}"


def write_period_reports(months, years, *, out_dir: Path | str | None = None, url: str | None = None) -> list[str]:
    """The pipeline's reports: every affected month (dates) and year (ints or dates), in every configured format."""
    out_dir = Path(out_dir) if out_dir else report_dir()
    years = {y if isinstance(y, int) else y.year for y in years}
    written = []
    for suffix in report_formats():
        writer_for(f"x{suffix}")
        for m in sorted(set(months)):
            written.append(str(write_report(out_dir / report_name(m.year, m.month, suffix), m.year, m.month, url=url)))
        for y in sorted(years):
            written.append(str(write_report(out_dir / report_name(y, None, suffix), y, url=url)))
    return written
