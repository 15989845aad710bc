"""Utilities KPIs (meters/, ref/meters.csv, ref/tariffs.csv, ref/utility_baseline.csv).

Computed by ``include/sql/kpi/utilities.sql`` from ``core.meter_daily`` (consumption per meter and
day; NULL = unknown, left out of sums, never counted as 0). A meter's payer and utility come from
``ref/meters.csv``; the tariff of a day is the one in force that day (latest ``effective_from`` on
or before it). Consumption and money are flows (annual = Σ months); the reporting rate is
recomputed over the year's meter-days.

Baselines: the school-paid consumption KPIs carry, at grain month, the month's pre-reform
quantity from ``ref/utility_baseline.csv`` (annual: Σ of the months with data);
``utilities_conservation_saved_yuan`` carries the baseline *money* (Σ baseline quantity × the
tariff of the month's first day), so value ÷ baseline is the share saved. The per-student and
weather-adjusted savings price the baselines of ``mart.utility_baseline_adjusted``
(``utility_baselines.py``, refreshed before the SQL runs) the same way.
"""

from __future__ import annotations

from .catalog import Group, kpi
from .utility_baselines import refresh as refresh_adjusted_baselines

SRC = ("meters", "ref/meters.csv", "ref/tariffs.csv", "ref/utility_baseline.csv")
SRC_STUDENTS = SRC + ("ref/enrolment.csv", "ref/baselines.csv")
SRC_WEATHER = SRC + ("ref/temperature.csv", "ref/baselines.csv")
DMY = ("day", "month", "year")
MY = ("month", "year")


def _k(code, zh, en, unit, kind, grains, formula, inputs=()):
    return kpi("utilities", SRC, code, zh, en, unit, kind, grains, formula, inputs)


GROUP = Group("utilities", ("meters",), DMY, (
    _k("electricity_kwh_school", "学校承担用电量", "School-paid electricity", "kWh", "flow", DMY,
       "Σ known daily consumption (register difference × multiplier) of electricity meters with payer = school "
       "(campus); baseline (monthly) = the month's pre-reform quantity from ref/utility_baseline.csv"),
    _k("water_m3_school", "学校承担用水量", "School-paid water", "m3", "flow", DMY,
       "Σ known daily consumption of water meters with payer = school (campus); baseline (monthly) = the "
       "month's pre-reform quantity from ref/utility_baseline.csv"),
    _k("electricity_kwh_billed", "计费回收用电量", "Billed electricity", "kWh", "flow", DMY,
       "Σ known daily consumption of electricity meters billed to a unit or tenant (payer ≠ school), "
       "per paying unit and campus"),
    _k("water_m3_billed", "计费回收用水量", "Billed water", "m3", "flow", DMY,
       "Σ known daily consumption of water meters billed to a unit or tenant (payer ≠ school), "
       "per paying unit and campus"),
    _k("utilities_conservation_saved_yuan", "节约水电费", "Utilities conservation saving", "yuan", "flow", MY,
       "monthly, campus: Σ over utilities of (baseline quantity for the calendar month − school-paid "
       "consumption) × tariff in force on the month's first day; negative when consumption rose; "
       "baseline = Σ baseline quantity × that tariff"),
    kpi("utilities", SRC_STUDENTS, "utilities_conservation_saved_per_student_yuan", "按在校生折算节约水电费",
        "Utilities conservation saving, enrolment-normalised", "yuan", "flow", MY,
        "monthly, campus: as utilities_conservation_saved_yuan, with each utility's baseline quantity scaled by "
        "students enrolled this month ÷ utility_baseline_students (ref/baselines.csv); absent without that key "
        "or the month's enrolment; baseline = Σ scaled baseline quantity × tariff of the month's first day"),
    kpi("utilities", SRC_WEATHER, "utilities_conservation_saved_weather_yuan", "按气温调整节约水电费",
        "Utilities conservation saving, weather-adjusted", "yuan", "flow", MY,
        "monthly, campus: as utilities_conservation_saved_yuan, against an adjusted baseline a + b·DD per utility: "
        "DD = degree days of the month (Σ max(0, 18 − t) + max(0, t − 26) over its days' mean temperatures, "
        "ref/temperature.csv), a and b fitted by least squares over the 12 months of utility_baseline_year; "
        "absent when a day's temperature of those months is missing"),
    _k("utilities_recovered_yuan", "回收水电费", "Utilities charges recovered", "yuan", "flow", DMY,
       "Σ billed consumption (payer ≠ school) × the tariff in force that day, per paying unit and campus"),
    _k("utilities_saved_total_yuan", "水电费节约合计", "Utilities saved in total", "yuan", "flow", MY,
       "utilities_conservation_saved_yuan + utilities_recovered_yuan (campus, monthly)",
       (("+", "utilities_conservation_saved_yuan"), ("+", "utilities_recovered_yuan"))),
    _k("meters_reporting_rate", "表计数据完整率", "Meter reporting rate", "rate", "rate", DMY,
       "daily: meters with a usable (plausible, not quarantined) reading that day ÷ meters in ref/meters.csv; "
       "month and year: Σ reporting meter-days ÷ (meters × days loaded in the period)"),
), before=refresh_adjusted_baselines)
