"""Degree days and the baseline regression (kpis/utility_baselines.py), worked out by hand."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

from campus_logistics.kpis.utility_baselines import degree_days, fit_line, month_degree_days, weather_fits


def test_degree_days_heating_below_18_cooling_above_26():
    # 10 °C → 8 heating; 18, 20 and 26 → 0; 30 → 4 cooling: 12
    assert degree_days([D(10), D(18), D(20), D(30), D(26)]) == D(12)


def test_month_degree_days_need_every_day():
    feb = {date(2001, 2, 1) + timedelta(days=i): D(16) for i in range(28)}
    assert month_degree_days(date(2001, 2, 1), feb) == D(56)  # 28 days × (18 − 16)
    del feb[date(2001, 2, 14)]
    assert month_degree_days(date(2001, 2, 1), feb) is None


def test_least_squares_with_residuals_that_cancel():
    # x = 1..12, y = 3 + 2x + e with e = +1, −1, −1, +1 per group of four: Σe = 0 and Σx·e = 0
    # (1 − 2 − 3 + 4 = 0, 5 − 6 − 7 + 8 = 0, 9 − 10 − 11 + 12 = 0), so the fit is exactly a = 3, b = 2
    xs = [D(x) for x in range(1, 13)]
    e = [1, -1, -1, 1] * 3
    ys = [3 + 2 * x + d for x, d in zip(xs, e)]
    assert fit_line(xs, ys) == (D(3), D(2))


def test_least_squares_two_groups():
    # six months at DD 0 averaging 10, six at DD 1 averaging 16: the line through the means, a = 10, b = 6
    xs = [D(0)] * 6 + [D(1)] * 6
    ys = [D(v) for v in (9, 11, 10, 10, 10, 10, 15, 17, 16, 16, 16, 16)]
    assert fit_line(xs, ys) == (D(10), D(6))


def test_no_fit_when_degree_days_are_all_equal():
    assert fit_line([D(5)] * 12, [D(v) for v in range(12)]) is None


# 2000 (a leap year), one constant temperature per month, and its degree days:
# Jan 3 °C 31 × 15 = 465, Feb 5 °C 29 × 13 = 377, Mar 10 °C 31 × 8 = 248, Apr 16 °C 30 × 2 = 60, May 20 °C 0,
# Jun 28 °C 30 × 2 = 60, Jul 30 °C 31 × 4 = 124, Aug 29 °C 31 × 3 = 93, Sep 24 °C 0, Oct 18 °C 0,
# Nov 11 °C 30 × 7 = 210, Dec 5 °C 31 × 13 = 403
TEMPS_2000 = [3, 5, 10, 16, 20, 28, 30, 29, 24, 18, 11, 5]
DD_2000 = [465, 377, 248, 60, 0, 60, 124, 93, 0, 0, 210, 403]


def _temps(year, by_month):
    out, d = {}, date(year, 1, 1)
    while d.year == year:
        out[d] = D(by_month[d.month - 1])
        d += timedelta(days=1)
    return out


def test_weather_fits_over_the_baseline_year():
    temps = _temps(2000, TEMPS_2000)
    assert [month_degree_days(date(2000, m, 1), temps) for m in range(1, 13)] == [D(v) for v in DD_2000]
    # electricity = 500 + 2·DD exactly; water = 40 + 0.05·DD exactly → the fit returns those lines
    baseline = {("electricity", m): D(500 + 2 * dd) for m, dd in zip(range(1, 13), DD_2000)}
    baseline |= {("water", m): D(40) + D("0.05") * dd for m, dd in zip(range(1, 13), DD_2000)}
    fits = weather_fits(baseline, 2000, temps)
    assert fits["electricity"] == (D(500), D(2))
    a, b = fits["water"]
    assert abs(a - 40) < D("1e-20") and abs(b - D("0.05")) < D("1e-20")
    # a baseline month missing → that utility cannot be fitted; a day missing → nothing can
    del baseline[("water", 7)]
    assert set(weather_fits(baseline, 2000, temps)) == {"electricity"}
    del temps[date(2000, 7, 4)]
    assert weather_fits(baseline, 2000, temps) == {}
    assert weather_fits(baseline, None, temps) == {}
