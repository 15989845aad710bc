"""The one KPI catalog: what every KPI is, and which SQL computes it.

The same entries fill ``mart.kpi_definition`` and drive the computation, so the documentation a
finance office reads cannot drift from what the code computes.

A *group* is one SQL file in ``include/sql/kpi/`` that returns long-format rows
``(kpi_code, unit_code, period_start, value, baseline)`` for a grain and a list of period starts.
Annual rows follow one rule per ``kind`` (kpis.md): ``flow`` = sum of the year's stored monthly
values, ``stock`` = the last month of the year with data, ``rate`` = recomputed by the group's SQL
over the whole year's events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

GRAINS = ("day", "month", "wave", "year")
KINDS = ("flow", "stock", "rate")
INPUT_OPS = ("+", "-", "/", "of")


@dataclass(frozen=True)
class KPI:
    code: str
    name_zh: str
    name_en: str
    unit: str  # yuan, persons, rate, kWh, m3, count, stage, …
    kind: str  # flow | stock | rate
    grains: tuple[str, ...]
    formula: str
    sources: tuple[str, ...]
    group: str
    # Other KPIs this one is computed from or read against (the audit trail shows their stored values
    # for the same unit, grain and period): (op, code), op "+" / "-" / "/" the arithmetic in order
    # (value = +a − b …, or +a ÷ b), "of" a KPI it is part of or compared with (its baseline, its whole).
    inputs: tuple[tuple[str, str], ...] = ()

    def __post_init__(self):
        assert self.kind in KINDS, self.code
        assert set(self.grains) <= set(GRAINS), self.code
        assert all(op in INPUT_OPS for op, _ in self.inputs), self.code


@dataclass(frozen=True)
class Group:
    """One SQL file computing several KPIs from the same facts."""

    name: str
    feeds: tuple[str, ...]  # feeds whose loads make this group's periods stale
    base_grains: tuple[str, ...]  # grains the SQL computes (year included when it recomputes rates)
    kpis: tuple[KPI, ...] = field(default_factory=tuple)
    before: Callable | None = None  # (cursor, touched days, run_id) -> rows: refreshes tables the SQL reads
    after: Callable | None = None  # (cursor, touched days, run_id) -> rows: refreshes drill-down tables


def kpi(group: str, sources: tuple[str, ...], code: str, name_zh: str, name_en: str, unit: str, kind: str,
        grains: tuple[str, ...], formula: str, inputs: tuple[tuple[str, str], ...] = ()) -> KPI:
    return KPI(code, name_zh, name_en, unit, kind, grains, formula, sources, group, inputs)


def _load_groups() -> tuple[Group, ...]:
    from importlib import import_module

    from ..registry import GROUP_MODULES

    return tuple(import_module(f"{__package__}.{m}").GROUP for m in GROUP_MODULES)


GROUPS: tuple[Group, ...] = _load_groups()


def all_kpis() -> list[KPI]:
    return [k for g in GROUPS for k in g.kpis]


def by_code() -> dict[str, KPI]:
    return {k.code: k for k in all_kpis()}


def groups_for_feeds(feeds) -> list[Group]:
    feeds = set(feeds)
    return [g for g in GROUPS if feeds & set(g.feeds)]


# Whether a rise is good news, per KPI: +1 up is good (savings, satisfaction, on-time rates),
# -1 up is bad (costs, school-borne consumption, open work orders), 0 neutral (norms, volumes
# billed on). The Reform KPIs page colours its change arrows by it.
DIRECTION: dict[str, int] = {
    "canteen_revenue_yuan": 1, "canteen_transactions": 1, "canteen_avg_ticket_yuan": 0, "canteen_diners": 1,
    "canteen_capture_rate": 1,
    "electricity_kwh_school": -1, "water_m3_school": -1, "electricity_kwh_billed": 0, "water_m3_billed": 0,
    "utilities_conservation_saved_yuan": 1, "utilities_conservation_saved_per_student_yuan": 1,
    "utilities_conservation_saved_weather_yuan": 1, "utilities_recovered_yuan": 1, "utilities_saved_total_yuan": 1,
    "meters_reporting_rate": 1,
    "work_orders_completed": 1, "response_on_time_rate": 1, "repair_on_time_rate": 1, "first_time_fix_rate": 1,
    "repair_rating_avg": 1, "work_orders_open": -1,
    "satisfaction_rate": 1, "satisfaction_responses": 1,
    "admin_norm_headcount": 0, "admin_headcount": -1, "admin_posts_saved": 1, "cook_norm_headcount": 0,
    "cooks_borne_by_centre": 1, "jobs_provided": 1, "jobs_school_transfer": 1, "jobs_social_hire": 1,
    "personnel_cost_saved_transfer_yuan": 1, "personnel_cost_saved_cooks_yuan": 1, "personnel_cost_saved_yuan": 1,
    "reform_stage": 1,
    "centre_revenue_yuan": 1, "centre_cost_yuan": -1, "centre_surplus_yuan": 1, "social_capital_in_yuan": 1,
    "social_capital_share": 1, "capex_yuan": 0,
}

# The topic a KPI is shown under, by its group: (中文, English), in the pages' order.
TOPIC: dict[str, tuple[str, str]] = {
    "staffing": ("人员与经费", "Staffing and personnel savings"),
    "books": ("中心财务", "Centre finances"),
    "utilities": ("水电", "Water and electricity"),
    "canteen": ("饮食服务", "Catering"),
    "repairs": ("维修服务", "Repairs"),
    "satisfaction": ("满意度", "Satisfaction"),
}


# Flow KPIs projected to the year's end as of each month-end (kpis/projection.py, mart.kpi_projection):
# the year totals the case study projects ("预计年积累资金15万元以上") and the savings a finance office
# is asked to forecast. Each must be a monthly flow in yuan (the year total is the sum of the months).
PROJECTED: tuple[str, ...] = (
    "centre_surplus_yuan",
    "centre_revenue_yuan",
    "personnel_cost_saved_yuan",
    "utilities_saved_total_yuan",
    "canteen_revenue_yuan",
)


def projected_kpis(groups=None) -> list[KPI]:
    """The projected KPIs of ``groups`` (all groups when None)."""
    kpis = [k for g in (GROUPS if groups is None else groups) for k in g.kpis]
    return [k for k in kpis if k.code in PROJECTED]


def direction(code: str) -> int:
    return DIRECTION.get(code, 0)


def topic(code: str) -> tuple[str, str]:
    """(中文, English) topic of a KPI; a KPI of an unknown group under its group's name."""
    group = by_code()[code].group if code in by_code() else "other"
    return TOPIC.get(group, (group, group))


# KPI.unit → (Chinese label, English label) for whatever a reader sees: table headers, chart titles.
MEASURE_LABELS = {
    "yuan": ("元", "yuan"),
    "kWh": ("千瓦时", "kWh"),
    "m3": ("立方米", "m³"),
    "persons": ("人", "persons"),
    "count": ("笔", "count"),
    "rate": ("%", "%"),
    "score": ("分", "points"),
    "stage": ("阶段", "stage"),
}


def measure_label(unit: str, lang: str = "zh") -> str:
    """The reader's name of a KPI's unit of measure (the code itself when unknown)."""
    zh, en = MEASURE_LABELS.get(unit, (unit, unit))
    return zh if lang == "zh" else en


def _check_projected() -> None:
    known = by_code()
    for code in PROJECTED:
        k = known[code]
        assert k.kind == "flow" and k.unit == "yuan" and {"month", "year"} <= set(k.grains), code


_check_projected()
