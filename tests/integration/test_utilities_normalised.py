"""Utilities savings normalised for enrolment and for weather, beside the naive one (fixtures_meters.py).

March 2001 of the meters scenario: school-paid electricity 286 kWh, water 6 m³ (see test_feed_meters.py);
tariff on 1 March: electricity 0.50, water 2.00; 1,000 students enrolled (the minimal ref).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

from campus_logistics.kpis.compute import recompute
from campus_logistics.pipeline import run_feed
from tests.fixtures import write_csv
from tests.fixtures_meters import write_meter_ref, write_scenario

MAR, Y2001 = date(2001, 3, 1), date(2001, 1, 1)
NAIVE, PER_STUDENT, WEATHER = ("utilities_conservation_saved_yuan", "utilities_conservation_saved_per_student_yuan",
                               "utilities_conservation_saved_weather_yuan")
# 2000, one temperature per month, and its degree days (heating base 18 °C, cooling base 26 °C):
# Jan 3 °C 31 × 15 = 465, Feb 5 °C 29 × 13 = 377, Mar 10 °C 31 × 8 = 248, Apr 16 °C 30 × 2 = 60, May 20 °C 0,
# Jun 28 °C 30 × 2 = 60, Jul 30 °C 31 × 4 = 124, Aug 29 °C 31 × 3 = 93, Sep 24 °C 0, Oct 18 °C 0,
# Nov 11 °C 30 × 7 = 210, Dec 5 °C 31 × 13 = 403
TEMPS_2000 = [3, 5, 10, 16, 20, 28, 30, 29, 24, 18, 11, 5]
DD_2000 = [465, 377, 248, 60, 0, 60, 124, 93, 0, 0, 210, 403]
# baselines exactly 500 + 2·DD kWh and 40 + 0.05·DD m³: March 500 + 496 = 996 kWh, 40 + 12.4 = 52.4 m³
BASELINE_12 = [("electricity", m, str(500 + 2 * dd)) for m, dd in zip(range(1, 13), DD_2000)] + \
              [("water", m, str(D(40) + D("0.05") * dd)) for m, dd in zip(range(1, 13), DD_2000)]


def _run(landing):
    result = run_feed("meters", landing, MAR, date(2001, 3, 3), run_id="t")
    assert result.rejected == []
    recompute(days_by_feed={"meters": result.affected_days}, run_id="t")


def _values(sql, grain="month", period=MAR):
    rows = sql("SELECT kpi_code, value, baseline FROM mart.kpi_value WHERE unit_code = 'campus' AND grain = %s "
               "AND period_start = %s AND kpi_code = ANY(%s)", (grain, period, [NAIVE, PER_STUDENT, WEATHER]))
    return {k: (v, b) for k, v, b in rows}


def _baselines(landing, *rows):
    write_csv(landing / "ref" / "baselines.csv", ["key", "value", "note"], rows)


def _temperatures(landing, march_2001=6, skip=()):
    rows, d = [], date(2000, 1, 1)
    while d.year == 2000:
        rows.append((d.isoformat(), TEMPS_2000[d.month - 1]))
        d += timedelta(days=1)
    rows += [(f"2001-03-{i:02d}", march_2001) for i in range(1, 32) if f"2001-03-{i:02d}" not in skip]
    write_csv(landing / "ref" / "temperature.csv", ["date", "mean_temp_c"], rows)


def test_without_the_new_ref_data_only_the_naive_saving(landing, sql):
    write_scenario(landing)
    _run(landing)
    # (1000 − 286) × 0.50 + (50 − 6) × 2.00 = 445.00 (test_feed_meters); the other two are absent, never 0
    assert _values(sql) == {NAIVE: (D("445.00"), D("600.00"))}
    assert sql("SELECT utility, baseline_qty, per_student_qty, weather_qty FROM mart.utility_baseline_adjusted "
               "ORDER BY utility") == [("electricity", D(1000), None, None), ("water", D(50), None, None)]


def test_enrolment_normalised_saving(landing, sql):
    write_scenario(landing)
    _baselines(landing, ("utility_baseline_students", "800", "改革前在校生"))
    _run(landing)
    # scale 1000 students ÷ 800 = 1.25: electricity 1000 × 1.25 = 1250, water 50 × 1.25 = 62.5
    # (1250 − 286) × 0.50 + (62.5 − 6) × 2.00 = 482 + 113 = 595.00; baseline 625 + 125 = 750.00
    got = _values(sql)
    assert got[PER_STUDENT] == (D("595.00"), D("750.00"))
    assert got[NAIVE] == (D("445.00"), D("600.00"))  # unchanged
    assert WEATHER not in got
    # the year = Σ of its months (only March): the same
    assert _values(sql, "year", Y2001)[PER_STUDENT] == (D("595.00"), D("750.00"))


def test_weather_adjusted_saving(landing, sql):
    write_scenario(landing)
    write_meter_ref(landing, baseline=BASELINE_12)
    _baselines(landing, ("utility_baseline_year", "2000", "基准年"))
    _temperatures(landing)
    _run(landing)
    # fit over 2000: exactly a = 500, b = 2 (kWh) and a = 40, b = 0.05 (m³). March 2001 at 6 °C: DD = 31 × 12 = 372
    # adjusted: 500 + 744 = 1244 kWh, 40 + 18.6 = 58.6 m³
    # (1244 − 286) × 0.50 + (58.6 − 6) × 2.00 = 479 + 105.2 = 584.20; baseline 622 + 117.2 = 739.20
    # naive against March's 996 kWh and 52.4 m³: (996 − 286) × 0.50 + (52.4 − 6) × 2.00 = 355 + 92.8 = 447.80
    got = _values(sql)
    assert got[WEATHER] == (D("584.20"), D("739.20"))
    assert got[NAIVE] == (D("447.80"), D("602.80"))  # baseline money 996 × 0.50 + 52.4 × 2.00 = 498 + 104.8 = 602.80
    assert PER_STUDENT not in got
    (row,) = sql("""SELECT baseline_qty, degree_days, fit_intercept, fit_slope, weather_qty
                    FROM mart.utility_baseline_adjusted WHERE month = %s AND utility = 'electricity'""", (MAR,))
    assert [D(v).normalize() for v in row] == [D(996), D(372), D(500), D(2), D(1244)]
    # the report views show both beside the naive figure
    (view,) = sql("""SELECT "节约水电费（元）", "按气温调整基准水电费（元）", "按气温调整节约水电费（元）", "按在校生折算节约水电费（元）"
                     FROM mart.report_monthly_utilities WHERE "月份" = %s""", (MAR,))
    assert view == (D("447.80"), D("739.20"), D("584.20"), None)
    (year,) = sql("""SELECT "按气温调整节约水电费（元）" FROM mart.report_annual_utilities WHERE "年度" = 2001""")
    assert year == (D("584.20"),)


def test_weather_saving_absent_when_a_day_has_no_temperature(landing, sql):
    write_scenario(landing)
    write_meter_ref(landing, baseline=BASELINE_12)
    _baselines(landing, ("utility_baseline_year", "2000", ""), ("utility_baseline_students", "1000", ""))
    _temperatures(landing, skip=("2001-03-17",))
    _run(landing)
    got = _values(sql)
    assert WEATHER not in got
    # 1000 ÷ 1000 students: the per-student saving equals the naive one
    assert got[PER_STUDENT] == got[NAIVE] == (D("447.80"), D("602.80"))
