"""Year-end projections (预计全年) of the flow KPIs the catalog lists in ``PROJECTED``.

As of the end of each month M of a year that has a value at M, per KPI and unit:

* ``ytd`` = Σ the year's monthly values through M; k = how many of those months have a value;
  r = 12 − k months are forecast (later months, and any gap before M).
* **seasonal** (按上年季节性), when the prior year has all 12 months: the year is taken as a
  multiple c of the prior year, c = ytd ÷ P_e, where P_e = the prior year's sum over the k months
  with a value and P_r over the r others; forecast = c × P_r. It needs c > 0 (P_e ≠ 0 and of
  ytd's sign): a multiple that is negative or undefined says nothing about the months to come, so
  the run rate is used instead and ``method_note`` says why.
* **run rate** (按已过月份平均): forecast = mean of the k values × r.
* **80% prediction interval** of the year total (two-sided, Student t with k − 1 degrees of freedom,
  k ≥ 2; none with one month): run rate: forecast ± t·s·√(r + r²/k), s the standard deviation of
  the k values (the variance of a sum of r future months plus that of the estimated mean);
  seasonal: forecast ± t·s_e·√(r + k·(P_r/P_e)²), s_e² = Σ (x_i − c·p_i)² ÷ (k − 1), the same
  reasoning for x_i = c·p_i + ε_i (it equals the run-rate formula when the prior year is flat).
  With r = 0 the interval is the actual itself.

Decimal arithmetic throughout; stored values are rounded half-up to 2 decimals (yuan).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Iterable

# two-sided 80% interval: t quantile 0.90 for 1..11 degrees of freedom
T90 = {1: "3.078", 2: "1.886", 3: "1.638", 4: "1.533", 5: "1.476", 6: "1.440", 7: "1.415", 8: "1.397",
       9: "1.383", 10: "1.372", 11: "1.363"}

SEASONAL, RUN_RATE = "seasonal", "run_rate"
METHOD_ZH = {SEASONAL: "按上年季节性", RUN_RATE: "按已过月份平均"}
NOTE_PRIOR_NOT_POSITIVE = "上年对应月份合计为零或与本年累计异号，季节性倍数无意义，改按已过月份平均"


@dataclass(frozen=True)
class Projection:
    months_actual: int
    ytd: Decimal
    projected: Decimal
    low: Decimal | None
    high: Decimal | None
    method: str
    note: str | None = None


def _t(df: int) -> Decimal:
    return Decimal(T90[df])


def _interval(forecast: Decimal, ytd: Decimal, half: Decimal | None):
    if half is None:
        return None, None
    return ytd + forecast - half, ytd + forecast + half


def project(values: dict[int, Decimal], as_of: int, prior: dict[int, Decimal] | None = None) -> Projection | None:
    """The projection as of month ``as_of`` from ``values`` {month: value} of the year; ``prior`` =
    the prior year's {month: value} (used only when it has all 12 months). None without a value at as_of."""
    if as_of not in values:
        return None
    elapsed = sorted(m for m in values if 1 <= m <= as_of)
    xs = [values[m] for m in elapsed]
    k, ytd = len(xs), sum(xs, Decimal(0))
    r = 12 - k
    rest = [m for m in range(1, 13) if m not in elapsed]
    note = None
    if prior is not None and all(m in prior for m in range(1, 13)):
        pe = sum((prior[m] for m in elapsed), Decimal(0))
        pr = sum((prior[m] for m in rest), Decimal(0))
        if pe != 0 and ytd / pe > 0:
            c = ytd / pe
            forecast = c * pr
            half = None
            if k >= 2:
                se2 = sum(((x - c * prior[m]) ** 2 for m, x in zip(elapsed, xs)), Decimal(0)) / (k - 1)
                half = _t(k - 1) * (se2 * (r + k * (pr / pe) ** 2)).sqrt()
            low, high = _interval(forecast, ytd, half)
            return Projection(k, ytd, ytd + forecast, low, high, SEASONAL)
        note = NOTE_PRIOR_NOT_POSITIVE
    mean = ytd / k
    forecast = mean * r
    half = None
    if k >= 2:
        s2 = sum(((x - mean) ** 2 for x in xs), Decimal(0)) / (k - 1)
        half = _t(k - 1) * (s2 * (r + Decimal(r * r) / k)).sqrt()
    low, high = _interval(forecast, ytd, half)
    return Projection(k, ytd, ytd + forecast, low, high, RUN_RATE, note)


def project_year(values: dict[int, Decimal], prior: dict[int, Decimal] | None = None) -> dict[int, Projection]:
    """{as_of month: projection} for every month of the year that has a value."""
    return {m: p for m in range(1, 13) if (p := project(values, m, prior)) is not None}


def _yuan(v: Decimal | None) -> Decimal | None:
    return None if v is None else v.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def refresh(cur, codes: Iterable[str], years: Iterable[int], run_id: str | None) -> int:
    """Replace the projections of ``codes`` for ``years`` from the stored monthly values (idempotent)."""
    codes, years = sorted(set(codes)), sorted(set(years))
    if not codes or not years:
        return 0
    cur.execute("DELETE FROM mart.kpi_projection WHERE kpi_code = ANY(%s) AND year = ANY(%s)", (codes, years))
    wanted = sorted(set(years) | {y - 1 for y in years})
    cur.execute("""SELECT kpi_code, unit_code, extract(year FROM period_start)::int, extract(month FROM period_start)::int,
                          value
                   FROM mart.kpi_value WHERE grain = 'month' AND kpi_code = ANY(%s) AND value IS NOT NULL
                     AND extract(year FROM period_start)::int = ANY(%s)""", (codes, wanted))
    monthly: dict[tuple[str, str, int], dict[int, Decimal]] = {}
    for code, unit, y, m, v in cur.fetchall():
        monthly.setdefault((code, unit, y), {})[m] = v
    rows = []
    for (code, unit, y), values in sorted(monthly.items()):
        if y not in years:
            continue
        for m, p in project_year(values, monthly.get((code, unit, y - 1))).items():
            rows.append((code, unit, y, date(y, m, 1), p.months_actual, p.ytd, _yuan(p.projected), _yuan(p.low),
                         _yuan(p.high), p.method, p.note, run_id))
    cur.executemany(
        """INSERT INTO mart.kpi_projection (kpi_code, unit_code, year, as_of_month, months_actual, ytd, projected,
               low, high, method, method_note, run_id)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""", rows)
    return len(rows)
