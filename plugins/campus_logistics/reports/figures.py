"""The figures the charts and pages show, read from ``mart.kpi_value`` / ``mart.kpi_definition``.

Every function takes an open psycopg connection and returns plain Python values (Decimal for
numbers, as stored), so the HTML report and the Airflow UI page draw the same figures.
A period is a year (``month=None``: annual rows where the KPI has them) or one month.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Iterator

SAVINGS = ("personnel_cost_saved_yuan", "utilities_saved_total_yuan")
UNIT_RATES = ("satisfaction_rate", "repair_on_time_rate")
CAPTURE = "canteen_capture_rate"


@contextmanager
def connection(conn_or_url) -> Iterator:
    """Use a psycopg connection as given, or open (and close) one for a URL / None (resolved)."""
    if conn_or_url is not None and hasattr(conn_or_url, "execute"):
        yield conn_or_url
        return
    from ..warehouse import connect

    with connect(conn_or_url) as conn:
        yield conn


def months_of(year: int, month: int | None) -> list[date]:
    """The months a report's trend charts cover: the whole year, or January up to ``month``."""
    return [date(year, m, 1) for m in range(1, (month or 12) + 1)]


def period_bounds(year: int, month: int | None) -> tuple[date, date]:
    if month is None:
        return date(year, 1, 1), date(year + 1, 1, 1)
    return date(year, month, 1), (date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1))


def unit_names(conn) -> dict[str, str]:
    """unit_code → Chinese name, from the unit dimension (sub-centres' latest names, 全校, 校外承租户)."""
    return dict(conn.execute("SELECT code, name_zh FROM mart.unit").fetchall())


def definitions(conn) -> dict[str, dict]:
    rows = conn.execute("SELECT kpi_code, name_zh, name_en, unit, kind FROM mart.kpi_definition").fetchall()
    return {r[0]: {"name_zh": r[1], "name_en": r[2], "unit": r[3], "kind": r[4]} for r in rows}


def monthly_series(conn, codes, unit_code: str, months: list[date]) -> dict[str, list[Decimal | None]]:
    """{code: [value per month or None]} for monthly rows of one unit."""
    rows = conn.execute("""SELECT kpi_code, period_start, value FROM mart.kpi_value
                           WHERE kpi_code = ANY(%s) AND unit_code = %s AND grain = 'month'
                             AND period_start = ANY(%s)""", (list(codes), unit_code, months)).fetchall()
    got = {(c, p): v for c, p, v in rows}
    return {c: [got.get((c, m)) for m in months] for c in codes}


@dataclass
class UtilityBaseline:
    baseline: list[Decimal | None]  # the month's baseline consumption priced at the month's tariff
    actual: list[Decimal | None]    # what the school-paid consumption cost at the same tariff


def utility_bill_vs_baseline(conn, months: list[date]) -> UtilityBaseline:
    """From ``utilities_conservation_saved_yuan``: baseline (its ``baseline``) and baseline − saved."""
    rows = conn.execute("""SELECT period_start, baseline, value FROM mart.kpi_value
                           WHERE kpi_code = 'utilities_conservation_saved_yuan' AND unit_code = 'campus'
                             AND grain = 'month' AND period_start = ANY(%s)""", (months,)).fetchall()
    got = {p: (b, v) for p, b, v in rows}
    base = [got[m][0] if m in got else None for m in months]
    actual = [(got[m][0] - got[m][1]) if m in got and got[m][0] is not None else None for m in months]
    return UtilityBaseline(base, actual)


def rate_by_unit(conn, code: str, year: int, month: int | None) -> list[tuple[str, Decimal]]:
    """[(unit_code, rate)] for the period, campus last.

    Year: the annual row (rates recomputed over the year). Month: the monthly row; satisfaction
    (grain ``wave``) takes the latest wave of the period, falling back to the year's latest wave
    up to the month's end when the month itself held none."""
    lo, hi = period_bounds(year, month)
    if month is None:
        rows = conn.execute("""SELECT unit_code, value FROM mart.kpi_value WHERE kpi_code = %s AND grain = 'year'
                               AND period_start = %s""", (code, lo)).fetchall()
    elif code == "satisfaction_rate":
        rows = conn.execute("""SELECT DISTINCT ON (unit_code) unit_code, value FROM mart.kpi_value
                               WHERE kpi_code = %s AND grain = 'wave' AND period_start >= %s AND period_start < %s
                               ORDER BY unit_code, period_start DESC""", (code, date(year, 1, 1), hi)).fetchall()
    else:
        rows = conn.execute("""SELECT unit_code, value FROM mart.kpi_value WHERE kpi_code = %s AND grain = 'month'
                               AND period_start = %s""", (code, lo)).fetchall()
    return sorted(rows, key=lambda r: (r[0] == "campus", r[0]))


def capture_by_month(conn, months: list[date]) -> dict[str, list[Decimal | None]]:
    """{unit_code: [monthly capture rate per month]} for every unit that has one (campus first)."""
    rows = conn.execute("""SELECT unit_code, period_start, value FROM mart.kpi_value
                           WHERE kpi_code = %s AND grain = 'month' AND period_start = ANY(%s)""",
                        (CAPTURE, months)).fetchall()
    units = sorted({u for u, _, _ in rows}, key=lambda u: (u != "campus", u))
    got = {(u, p): v for u, p, v in rows}
    return {u: [got.get((u, m)) for m in months] for u in units}


@dataclass
class LatestKpi:
    kpi_code: str
    unit_code: str
    grain: str
    period_start: date
    value: Decimal
    unit: str
    baseline: Decimal | None
    previous: Decimal | None
    history: list[Decimal]  # up to 12 latest values, oldest first


def latest_per_unit(conn, history: int = 12) -> list[LatestKpi]:
    """For each KPI and unit: its latest monthly (or survey-wave) value, the one before, the trend."""
    rows = conn.execute("""
        SELECT kpi_code, unit_code, grain, period_start, value, unit, baseline
        FROM (SELECT v.*, row_number() OVER (PARTITION BY kpi_code, unit_code, grain
                                             ORDER BY period_start DESC) AS rn
              FROM mart.kpi_value v WHERE grain IN ('month', 'wave')) x
        WHERE rn <= %s
        ORDER BY kpi_code, unit_code, grain, period_start""", (history,)).fetchall()
    out: dict[tuple, LatestKpi] = {}
    for code, unit_code, grain, period, value, unit, baseline in rows:
        key = (code, unit_code, grain)
        item = out.get(key)
        if item is None:
            out[key] = LatestKpi(code, unit_code, grain, period, value, unit, baseline, None, [value])
        else:
            item.previous, item.value, item.period_start, item.baseline = item.value, value, period, baseline
            item.history.append(value)
    return sorted(out.values(), key=lambda k: (k.unit_code != "campus", k.unit_code, k.kpi_code))


def period_kpis(conn, year: int, month: int | None) -> list[tuple]:
    """(kpi_code, unit_code, value, unit, baseline) for the period: annual rows, or the month's."""
    lo, hi = period_bounds(year, month)
    if month is None:
        return conn.execute("""SELECT kpi_code, unit_code, value, unit, baseline FROM mart.kpi_value
                               WHERE grain = 'year' AND period_start = %s ORDER BY unit_code <> 'campus', unit_code, kpi_code""",
                            (lo,)).fetchall()
    return conn.execute("""SELECT kpi_code, unit_code, value, unit, baseline FROM mart.kpi_value
                           WHERE grain = 'month' AND period_start = %s ORDER BY unit_code <> 'campus', unit_code, kpi_code""",
                        (lo,)).fetchall()


@dataclass
class ProjectionRow:
    kpi_code: str
    unit_code: str
    as_of: date
    months_actual: int
    ytd: Decimal
    projected: Decimal
    low: Decimal | None
    high: Decimal | None
    method: str
    note: str | None
    actual: Decimal | None  # the year's row in mart.kpi_value: Σ of the months loaded


def projections(conn, year: int, as_of: date | None = None, unit: str | None = "campus") -> list[ProjectionRow]:
    """Year-end projections (mart.kpi_projection) of ``year``: as of ``as_of`` (every month when None),
    of ``unit`` (every unit when None); beside the year's actual so far."""
    rows = conn.execute(
        """SELECT p.kpi_code, p.unit_code, p.as_of_month, p.months_actual, p.ytd, p.projected, p.low, p.high,
                  p.method, p.method_note, y.value
           FROM mart.kpi_projection p
           LEFT JOIN mart.kpi_value y ON y.kpi_code = p.kpi_code AND y.unit_code = p.unit_code AND y.grain = 'year'
                                     AND y.period_start = make_date(p.year, 1, 1)
           WHERE p.year = %(year)s AND (%(as_of)s::date IS NULL OR p.as_of_month = %(as_of)s::date)
             AND (%(unit)s::text IS NULL OR p.unit_code = %(unit)s::text)
           ORDER BY p.unit_code <> 'campus', p.unit_code, p.kpi_code, p.as_of_month""",
        {"year": year, "as_of": as_of, "unit": unit}).fetchall()
    return [ProjectionRow(*r) for r in rows]
