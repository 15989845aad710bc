"""Plain-text KPI reports for the command line (the demo's summary and the seed table)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from .warehouse import connect


@dataclass(frozen=True)
class Published:
    """One row of the case study's published table (seed-scenario.md)."""

    kpi_code: str
    label: str
    published: Decimal
    check: str  # 'exact', 'pct' (± tolerance fraction), 'max' (value < published), 'min' (value ≥ published)
    tolerance: Decimal = Decimal(0)
    unit_code: str = "campus"
    months: tuple[int, int] | None = None  # sum the monthly values of these months instead of the year row


SEED_YEAR = 2001
SEED_TABLE = [
    Published("admin_norm_headcount", "定编管理人员数", Decimal(34), "exact"),
    Published("admin_headcount", "管理人员数", Decimal(12), "exact"),
    Published("admin_posts_saved", "精简管理人员数", Decimal(22), "exact"),
    Published("cook_norm_headcount", "炊事员定编数", Decimal(42), "exact"),
    Published("cooks_borne_by_centre", "社会承担炊事员数", Decimal(42), "exact"),
    Published("jobs_provided", "中心提供就业岗位", Decimal(89), "exact"),
    Published("jobs_school_transfer", "安置学校分流人员", Decimal(20), "exact"),
    Published("jobs_social_hire", "吸收社会人员", Decimal(69), "exact"),
    Published("personnel_cost_saved_transfer_yuan", "分流人员节约经费", Decimal(200000), "pct", Decimal("0.005")),
    Published("personnel_cost_saved_cooks_yuan", "炊事员节约经费", Decimal(336000), "pct", Decimal("0.005")),
    Published("personnel_cost_saved_yuan", "学校节约人员经费", Decimal(536000), "pct", Decimal("0.005")),
    Published("utilities_conservation_saved_yuan", "节约水电费", Decimal(30000), "pct", Decimal("0.01")),
    Published("utilities_recovered_yuan", "回收水电费", Decimal(40000), "pct", Decimal("0.01")),
    Published("utilities_saved_total_yuan", "水电费节约合计", Decimal(70000), "pct", Decimal("0.01")),
    Published("satisfaction_rate", "水电中心满意率", Decimal("0.935"), "exact", unit_code="utilities"),
    Published("social_capital_in_yuan", "引入社会资金", Decimal(360000), "exact"),
    Published("social_capital_share", "社会资金占比", Decimal("0.05"), "max"),
    Published("centre_surplus_yuan", "中心积累资金 (1–6月)", Decimal(70000), "pct", Decimal("0.05"), months=(1, 6)),
    Published("centre_surplus_yuan", "中心积累资金 (全年)", Decimal(150000), "min"),
]


def holds(p: Published, value: Decimal | None) -> bool:
    if value is None:
        return False
    if p.check == "exact":
        return value == p.published
    if p.check == "pct":
        return abs(value - p.published) <= p.published * p.tolerance
    if p.check == "max":
        return value < p.published
    if p.check == "min":
        return value >= p.published
    raise ValueError(p.check)


def seed_value(conn, p: Published, year: int = SEED_YEAR) -> Decimal | None:
    if p.months:
        lo, hi = date(year, p.months[0], 1), date(year, p.months[1], 1)
        row = conn.execute(
            """SELECT sum(value), count(*) FROM mart.kpi_value WHERE kpi_code = %s AND unit_code = %s
               AND grain = 'month' AND period_start BETWEEN %s AND %s""", (p.kpi_code, p.unit_code, lo, hi)).fetchone()
        return row[0] if row[1] else None
    row = conn.execute(
        "SELECT value FROM mart.kpi_value WHERE kpi_code = %s AND unit_code = %s AND grain = 'year' AND period_start = %s",
        (p.kpi_code, p.unit_code, date(year, 1, 1))).fetchone()
    return row[0] if row else None


# The case study's projection: "预计年积累资金15万元以上" from about 70,000 at six months.
SEED_PROJECTION = Published("centre_surplus_yuan", "预计年积累资金 (截至6月预计全年)", Decimal(150000), "min")
SEED_PROJECTION_AS_OF = 6


def seed_projection(conn, year: int = SEED_YEAR):
    """(ytd, projected, low, high, method) of the surplus projected as of June, or None."""
    return conn.execute(
        """SELECT ytd, projected, low, high, method FROM mart.kpi_projection
           WHERE kpi_code = %s AND unit_code = %s AND year = %s AND as_of_month = %s""",
        (SEED_PROJECTION.kpi_code, SEED_PROJECTION.unit_code, year, date(year, SEED_PROJECTION_AS_OF, 1))).fetchone()


def projection_lines(row, actual: Decimal | None) -> list[str]:
    """The June projection beside the published "≥ 150,000", honestly: inside its interval or not."""
    from .kpis.projection import METHOD_ZH

    p = SEED_PROJECTION
    head = f"预计全年 / year-end projection as of {SEED_YEAR}-{SEED_PROJECTION_AS_OF:02d}, {p.kpi_code} ({p.unit_code})"
    if row is None:
        return [head, "  no projection in the warehouse"]
    ytd, projected, low, high, method = row
    lines = [head,
             f"  published   {_fmt(p.published):>14}  (预计年积累资金15万元以上: at least)",
             f"  Jan–Jun     {_fmt(ytd):>14}  (actual, year to date)",
             f"  projected   {_fmt(projected):>14}  {METHOD_ZH.get(method, method)} ({method})"]
    if low is not None:
        inside = low <= p.published <= high
        lines.append(f"  80% range   {_fmt(low):>14} – {_fmt(high)}: {_fmt(p.published)} "
                     + ("lies within it" if inside else "lies outside it"))
    lines.append(f"  projected {'≥' if projected >= p.published else '<'} {_fmt(p.published)}; "
                 f"the year's actual: {_fmt(actual)}")
    return lines


def _fmt(v: Decimal | None) -> str:
    if v is None:
        return "—"
    if v == v.to_integral_value():
        return f"{v:,.0f}"
    if abs(v) < 1:  # rates: every stored decimal (0.935, 0.043062)
        return format(v.normalize(), "f")
    return f"{v:,.2f}"


def print_seed_table(*, warehouse: str | None = None) -> bool:
    """Print the published figures beside the pipeline's; True when every row holds."""
    ok = True
    lines = [f"{'KPI':<36} {'unit':<10} {'published':>14} {'pipeline':>14}  check", "-" * 86]
    with connect(warehouse) as conn:
        for p in SEED_TABLE:
            v = seed_value(conn, p)
            good = holds(p, v)
            ok &= good
            rule = {"exact": "exact", "max": f"< {_fmt(p.published)}", "min": f"≥ {_fmt(p.published)}",
                    "pct": f"±{(p.tolerance * 100).normalize():f}%"}[p.check]
            label = p.kpi_code + (f" {p.months[0]}–{p.months[1]}" if p.months else "")
            lines.append(f"{label:<36} {p.unit_code:<10} {_fmt(p.published):>14} {_fmt(v):>14}  "
                         f"{'OK ' if good else 'OFF'} ({rule})")
        projection = projection_lines(seed_projection(conn), seed_value(conn, SEED_TABLE[-1]))
    print("\n".join(lines))
    print()
    print("\n".join(projection))
    print(f"\n{len(SEED_TABLE)} published figures; "
          + ("all reproduced." if ok else "SOME NOT REPRODUCED."))
    return ok


def period_label(period: date, grain: str) -> str:
    """A period as the finance office writes it: 2001年, 2001年1月, 2001年1月5日 (a day or a wave)."""
    from .reports.html import period_label as year_month_label  # the reports' own 2001年 / 2001年1月

    if grain == "year":
        return year_month_label(period.year, None)
    return year_month_label(period.year, period.month) + ("" if grain == "month" else f"{period.day}日")


def kpi_table(rows, grain: str):
    """A rich table of (kpi_code, name_zh, period_start, value, unit) rows: rich measures CJK text
    in display cells, so every column lines up in a terminal whatever the script."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from .kpis.catalog import measure_label
    from .reports.html import fmt_value

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("KPI", no_wrap=True)
    table.add_column("名称 name", no_wrap=True)
    table.add_column("期间 period", no_wrap=True)
    table.add_column("数值 value", justify="right", no_wrap=True)
    table.add_column("单位 unit", no_wrap=True)
    for code, name, period, value, unit in rows:
        # text from the warehouse is printed as is, never read as rich markup
        table.add_row(Text(code), Text(name or ""), period_label(period, grain), fmt_value(value, unit),
                      Text(measure_label(unit)))
    return table


def print_kpis(year: int, *, warehouse: str | None = None, unit: str = "campus", grain: str = "year",
               out=None, err=None) -> None:
    """The year's KPIs as a table on stdout; notes on stderr, never inside the table."""
    import sys

    from rich.console import Console

    with connect(warehouse) as conn:
        rows = conn.execute(
            """SELECT v.kpi_code, d.name_zh, v.period_start, v.value, v.unit
               FROM mart.kpi_value v LEFT JOIN mart.kpi_definition d USING (kpi_code)
               WHERE v.unit_code = %s AND v.grain = %s AND extract(year FROM v.period_start) = %s
               ORDER BY v.kpi_code, v.period_start""", (unit, grain, year)).fetchall()
    out, err = out or sys.stdout, err or sys.stderr
    if not rows:
        print(f"no {grain} KPIs for {unit} in {year}", file=err)
        return
    table = kpi_table(rows, grain)
    console = Console(file=out, highlight=False, emoji=False, soft_wrap=True)
    # never squeeze or wrap a column: as wide as the table needs, even in a narrow terminal or a pipe
    console.width = max(console.width, console.measure(table, options=console.options.update(width=10_000)).maximum)
    console.print(table)
    missing = sum(1 for r in rows if r[3] is None)
    if missing:
        print(f"{missing} KPI value(s) of {unit} in {year} not computable (shown as —)", file=err)
