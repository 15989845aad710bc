"""Utilities baselines normalised for enrolment and weather (``mart.utility_baseline_adjusted``).

The naive conservation saving compares this month's school-paid consumption with the same calendar
month's pre-reform quantity. Two adjusted baselines sit beside it, each correcting for one thing:

* **per student**: baseline quantity × students enrolled this month ÷ ``utility_baseline_students``
  (``ref/baselines.csv``). Without that key the figure is absent, never 0.
* **weather** (in the spirit of IPMVP Option C): per utility, baseline monthly quantity = a + b·DD,
  fitted by least squares over the 12 months of ``utility_baseline_year``, where DD (degree days) of
  a month = Σ over its days of max(0, 18 − t) + max(0, t − 26), t the day's mean temperature in °C
  (``ref/temperature.csv``). The adjusted baseline is a + b·DD of the reporting month, never below
  0. Absent when a month of the baseline year or the reporting month lacks a day's temperature, a
  baseline month is missing, or the baseline year's degree days are all equal (no slope to fit).
  Not scaled per student: the baseline year's enrolment is one number, so a fit cannot separate
  the two effects, and each figure answers one question.

The arithmetic is plain Decimal (no floats); the ``before`` hook of the utilities group refreshes
the touched months, and ``include/sql/kpi/utilities.sql`` prices the quantities.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from decimal import Decimal
from typing import Iterable, Sequence

HDD_BASE = Decimal(18)  # °C: heating degree days below
CDD_BASE = Decimal(26)  # °C: cooling degree days above
STUDENTS_KEY = "utility_baseline_students"
YEAR_KEY = "utility_baseline_year"
UTILITIES = ("electricity", "water")


def degree_days(temps: Iterable[Decimal]) -> Decimal:
    """Σ max(0, 18 − t) + max(0, t − 26) over daily mean temperatures t."""
    zero = Decimal(0)
    return sum((max(zero, HDD_BASE - t) + max(zero, t - CDD_BASE) for t in temps), zero)


def month_days(month: date) -> list[date]:
    n = calendar.monthrange(month.year, month.month)[1]
    return [month + timedelta(days=i) for i in range(n)]


def month_degree_days(month: date, temps: dict[date, Decimal]) -> Decimal | None:
    """The month's degree days, or None when any of its days has no temperature."""
    days = month_days(month)
    if any(d not in temps for d in days):
        return None
    return degree_days(temps[d] for d in days)


def fit_line(xs: Sequence[Decimal], ys: Sequence[Decimal]) -> tuple[Decimal, Decimal] | None:
    """Least squares y = a + b·x: (a, b); None with fewer than 2 points or all x equal."""
    n = len(xs)
    if n < 2 or n != len(ys):
        return None
    sx, sy = sum(xs, Decimal(0)), sum(ys, Decimal(0))
    sxx = sum((x * x for x in xs), Decimal(0))
    sxy = sum((x * y for x, y in zip(xs, ys)), Decimal(0))
    den = n * sxx - sx * sx
    if den == 0:
        return None
    b = (n * sxy - sx * sy) / den
    return (sy - b * sx) / n, b


def weather_fits(baseline: dict[tuple[str, int], Decimal], year: int | None,
                 temps: dict[date, Decimal]) -> dict[str, tuple[Decimal, Decimal]]:
    """Per utility: (a, b) fitted over the baseline year's 12 months (utilities that can be fitted)."""
    if year is None:
        return {}
    dds = [month_degree_days(date(year, m, 1), temps) for m in range(1, 13)]
    if None in dds:
        return {}
    fits = {}
    for u in UTILITIES:
        ys = [baseline.get((u, m)) for m in range(1, 13)]
        if None in ys:
            continue
        fit = fit_line(dds, ys)
        if fit is not None:
            fits[u] = fit
    return fits


def _baseline_year(value: Decimal | None) -> int | None:
    return int(value) if value is not None and value == value.to_integral_value() else None


def refresh(cur, days: list[date], run_id: str | None) -> int:
    """Recompute the adjusted baselines of the months of ``days`` (the utilities group's ``before`` hook)."""
    months = sorted({d.replace(day=1) for d in days})
    if not months:
        return 0
    cur.execute("DELETE FROM mart.utility_baseline_adjusted WHERE month = ANY(%s)", (months,))
    cur.execute("SELECT utility, month_of_year, quantity FROM core.utility_baseline")
    baseline = {(u, int(m)): q for u, m, q in cur.fetchall()}
    if not baseline:
        return 0
    cur.execute("SELECT key, value FROM core.baseline WHERE key = ANY(%s)", ([STUDENTS_KEY, YEAR_KEY],))
    keys = dict(cur.fetchall())
    base_students = keys.get(STUDENTS_KEY)
    if base_students is not None and base_students <= 0:
        base_students = None
    year = _baseline_year(keys.get(YEAR_KEY))
    cur.execute("SELECT month, students FROM core.enrolment WHERE month = ANY(%s)", (months,))
    students = dict(cur.fetchall())
    temps: dict[date, Decimal] = {}
    spans = [(m, month_days(m)[-1]) for m in months]
    if year is not None:
        spans.append((date(year, 1, 1), date(year, 12, 31)))
    for lo, hi in spans:
        cur.execute("SELECT day, mean_temp_c FROM core.temperature WHERE day BETWEEN %s AND %s", (lo, hi))
        temps.update(cur.fetchall())
    fits = weather_fits(baseline, year, temps)
    rows = []
    for m in months:
        dd = month_degree_days(m, temps)
        n = students.get(m)
        for u in UTILITIES:
            qty = baseline.get((u, m.month))
            if qty is None:
                continue
            per_student = qty * n / base_students if n is not None and base_students is not None else None
            a, b = fits.get(u, (None, None))
            weather = max(Decimal(0), a + b * dd) if a is not None and dd is not None else None
            rows.append((m, u, qty, n, base_students, per_student, dd, a, b, weather, run_id))
    cur.executemany(
        """INSERT INTO mart.utility_baseline_adjusted (month, utility, baseline_qty, students, baseline_students,
               per_student_qty, degree_days, fit_intercept, fit_slope, weather_qty, run_id)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""", rows)
    return len(rows)
