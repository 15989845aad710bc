"""Unit-of-measure labels for the pages (元, 千瓦时, …), by ``mart.kpi_definition.unit``.

Kept here until the KPI catalog carries its own labels (``kpis.catalog.measure_label``), which the
pages then use instead.
"""

from __future__ import annotations

LABELS: dict[str, tuple[str, str]] = {
    "yuan": ("元", "yuan"), "rate": ("%", "percent"), "persons": ("人", "persons"), "kWh": ("千瓦时", "kWh"),
    "m3": ("立方米", "m³"), "count": ("个", "count"), "score": ("分", "points"), "stage": ("阶段", "stage"),
}


def measure_label(unit: str) -> str:
    """The label a finance officer reads: 元, 千瓦时, %, …; an unknown unit as stored."""
    try:
        from ..kpis.catalog import measure_label as catalog_label  # the catalog's own, once it has one
    except ImportError:
        return LABELS.get(unit, (unit, unit))[0]
    return catalog_label(unit)
