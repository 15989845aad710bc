"""Recompute KPIs for exactly the periods a load touched, and refresh ``mart.kpi_definition``.

Given the days a load changed, the affected periods are those days (grain ``day``), their months
(``month``), their years (``year``) and, for survey waves, the wave dates (``wave``). Each group's
SQL runs per grain; its rows replace the group's rows for those periods in one transaction (a
KPI that became absent, e.g. a rate with no denominator, disappears). Annual flows and stocks are
then rolled up from the stored monthly values (kpis.md: sums and last month), annual rates come
from the SQL over the whole year's events.
"""

from __future__ import annotations

import json
import logging
from datetime import date
from typing import Iterable

from ..faults import fault_point
from ..paths import kpi_sql
from ..warehouse import connect
from . import projection
from .catalog import GROUPS, KPI, Group, all_kpis, projected_kpis
from .periods import next_start, periods_for

log = logging.getLogger(__name__)

_LOCK = "campus_logistics.kpi"


def _rounded(kpi: KPI) -> str:
    if kpi.unit == "yuan":
        return "round(v.value, 2)"
    if kpi.unit == "rate":
        return "trim_scale(round(v.value, 6))"
    return "trim_scale(round(v.value, 2))"


def sync_definitions(cur) -> None:
    kpis = all_kpis()
    for k in kpis:
        cur.execute(
            """INSERT INTO mart.kpi_definition (kpi_code, name_zh, name_en, unit, grains, kind, formula, source_feeds, updated_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, now())
               ON CONFLICT (kpi_code) DO UPDATE SET name_zh = EXCLUDED.name_zh, name_en = EXCLUDED.name_en,
                   unit = EXCLUDED.unit, grains = EXCLUDED.grains, kind = EXCLUDED.kind, formula = EXCLUDED.formula,
                   source_feeds = EXCLUDED.source_feeds, updated_at = EXCLUDED.updated_at
               WHERE (mart.kpi_definition.name_zh, mart.kpi_definition.name_en, mart.kpi_definition.unit,
                      mart.kpi_definition.grains, mart.kpi_definition.kind, mart.kpi_definition.formula,
                      mart.kpi_definition.source_feeds) IS DISTINCT FROM
                     (EXCLUDED.name_zh, EXCLUDED.name_en, EXCLUDED.unit, EXCLUDED.grains, EXCLUDED.kind,
                      EXCLUDED.formula, EXCLUDED.source_feeds)""",
            (k.code, k.name_zh, k.name_en, k.unit, list(k.grains), k.kind, k.formula, list(k.sources)),
        )
    cur.execute("DELETE FROM mart.kpi_definition WHERE NOT (kpi_code = ANY(%s))", ([k.code for k in kpis],))


def _compute_group_grain(cur, group: Group, grain: str, periods: list[date], run_id: str | None) -> int:
    kpis = [k for k in group.kpis if grain in k.grains and (grain != "year" or not _rolled_up(k))]
    if not kpis or not periods:
        return 0
    codes = [k.code for k in kpis]
    cur.execute("DELETE FROM mart.kpi_value WHERE kpi_code = ANY(%s) AND grain = %s AND period_start = ANY(%s)",
                (codes, grain, periods))
    params = {"grain": "day" if grain == "wave" else grain, "periods": periods, "lo": min(periods),
              "hi": next_start(grain, max(periods))}
    cur.execute("CREATE TEMP TABLE _kpi_rows (kpi_code text, unit_code text, period_start date, value numeric, "
                "baseline numeric) ON COMMIT DROP")
    cur.execute(f"INSERT INTO _kpi_rows {kpi_sql(group.name)}", params)
    n = 0
    for k in kpis:
        cur.execute(
            f"""INSERT INTO mart.kpi_value (kpi_code, unit_code, grain, period_start, value, unit, baseline, computed_at, run_id)
                SELECT v.kpi_code, v.unit_code, %s, v.period_start, {_rounded(k)}, %s, v.baseline, now(), %s
                FROM _kpi_rows v WHERE v.kpi_code = %s AND v.value IS NOT NULL AND v.period_start = ANY(%s)""",
            (grain, k.unit, run_id, k.code, periods),
        )
        n += cur.rowcount
    cur.execute("DROP TABLE _kpi_rows")
    return n


def _rolled_up(k: KPI) -> bool:
    """Annual flows and stocks of monthly KPIs come from the stored months; the rest from SQL."""
    return "year" in k.grains and "month" in k.grains and k.kind in ("flow", "stock")


def _roll_up_years(cur, group: Group, years: list[date], run_id: str | None) -> int:
    """Annual flows = Σ stored monthly values; annual stocks = the last month with data."""
    n = 0
    for k in group.kpis:
        if not _rolled_up(k) or not years:
            continue
        cur.execute("DELETE FROM mart.kpi_value WHERE kpi_code = %s AND grain = 'year' AND period_start = ANY(%s)",
                    (k.code, years))
        if k.kind == "flow":
            select = """SELECT kpi_code, unit_code, date_trunc('year', period_start)::date AS y, sum(value),
                               sum(baseline)
                        FROM mart.kpi_value WHERE kpi_code = %s AND grain = 'month'
                          AND date_trunc('year', period_start)::date = ANY(%s)
                        GROUP BY kpi_code, unit_code, y"""
        else:
            select = """SELECT DISTINCT ON (kpi_code, unit_code, date_trunc('year', period_start))
                               kpi_code, unit_code, date_trunc('year', period_start)::date, value, baseline
                        FROM mart.kpi_value WHERE kpi_code = %s AND grain = 'month'
                          AND date_trunc('year', period_start)::date = ANY(%s)
                        ORDER BY kpi_code, unit_code, date_trunc('year', period_start), period_start DESC"""
        cur.execute(
            f"""INSERT INTO mart.kpi_value (kpi_code, unit_code, grain, period_start, value, unit, baseline, computed_at, run_id)
                SELECT s.kpi_code, s.unit_code, 'year', s.y, s.v, %s, s.b, now(), %s
                FROM ({select}) AS s(kpi_code, unit_code, y, v, b)""",
            (k.unit, run_id, k.code, years),
        )
        n += cur.rowcount
    return n


def _refresh_projections(cur, plan: list[tuple[Group, list[date]]], run_id: str | None) -> int:
    """Year-end projections of the projected KPIs of the recomputed groups, for the touched years and
    the years after them (a year's months are the next year's seasonal pattern)."""
    n = 0
    for g, gdays in plan:
        codes = [k.code for k in projected_kpis([g])]
        years = {d.year for d in gdays}
        n += projection.refresh(cur, codes, years | {y + 1 for y in years}, run_id)
    return n


def recompute(days: Iterable[date | str] = (), *, feeds: Iterable[str] | None = None,
              days_by_feed: dict[str, Iterable[date | str]] | None = None, url: str | None = None,
              run_id: str | None = None) -> dict:
    """Recompute the KPI groups for the periods of the days a load touched.

    ``days_by_feed`` ({feed: days}) recomputes each group for the days of the feeds it reads;
    otherwise ``days`` applies to the groups of ``feeds`` (all groups when None).
    """
    def as_dates(ds):
        return {date.fromisoformat(d) if isinstance(d, str) else d for d in ds}

    plan: list[tuple[Group, list[date]]] = []
    for g in GROUPS:
        if days_by_feed is not None:
            gdays = set().union(*(as_dates(days_by_feed.get(f, ())) for f in g.feeds))
        elif feeds is None or set(feeds) & set(g.feeds):
            gdays = as_dates(days)
        else:
            gdays = set()
        if gdays:
            plan.append((g, sorted(gdays)))
    rows = {}
    all_days: set[date] = set()
    with connect(url) as conn:
        cur = conn.cursor()
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (_LOCK,))
        sync_definitions(cur)
        for g, gdays in plan:
            periods = periods_for(gdays)
            all_days.update(gdays)
            n = 0
            if g.before is not None:
                g.before(cur, periods["day"], run_id)
            for grain in g.base_grains:
                n += _compute_group_grain(cur, g, grain, periods[grain], run_id)
            n += _roll_up_years(cur, g, periods["year"], run_id)
            if g.after is not None:
                g.after(cur, periods["day"], run_id)
            rows[g.name] = n
        rows["projection"] = _refresh_projections(cur, plan, run_id)
        fault_point("kpi_recompute")
    from ..lineage_events import record_kpis

    record_kpis(url, [g.name for g, _ in plan])  # OpenLineage; a no-op unless enabled
    periods = periods_for(all_days)
    summary = {"days": len(all_days), "months": len(periods["month"]), "years": [d.year for d in periods["year"]],
               "rows": rows}
    log.info("KPIs recomputed: %s", json.dumps(summary))
    return summary
