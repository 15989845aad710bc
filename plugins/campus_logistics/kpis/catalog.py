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

    def __post_init__(self):
        assert self.kind in KINDS, self.code
        assert set(self.grains) <= set(GRAINS), self.code


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
        grains: tuple[str, ...], formula: str) -> KPI:
    return KPI(code, name_zh, name_en, unit, kind, grains, formula, sources, group)


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
