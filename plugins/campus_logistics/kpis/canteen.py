"""Canteen KPIs (canteen/, ref/outlets.csv, ref/enrolment.csv) and the outlet × meal drill-down."""

from __future__ import annotations

from ..paths import kpi_sql
from .catalog import Group, kpi

SRC = ("canteen", "ref/outlets.csv", "ref/enrolment.csv")
DMY = ("day", "month", "year")


# Memory for one month's groupings (a row per day, outlet, meal and card), so they stay off disk;
# set for the refresh only.
WORK_MEM = "512MB"


def _months(days) -> list[list]:
    by_month: dict = {}
    for d in sorted(days):
        by_month.setdefault((d.year, d.month), []).append(d)
    return list(by_month.values())


def stale_days(cur, days) -> list:
    """The days whose stored daily rows no longer match their transactions or enrolment
    (``canteen_stale.sql``); the others are aggregated as stored."""
    cur.execute(kpi_sql("canteen_stale"), {"days": sorted(days)})
    return [r[0] for r in cur.fetchall()]


def refresh_daily(cur, days, run_id) -> int:
    """Before the KPIs: exact daily aggregates and the outlet × meal drill-down for the touched days
    whose transactions changed since they were last refreshed (a run over a year rescans only those).

    One statement per month (``canteen_refresh.sql``), each reading the month's rows once: a year at
    once would spill its groupings to disk.
    """
    days = stale_days(cur, days)
    if not days:
        return 0
    cur.execute("SELECT current_setting('work_mem')")
    work_mem = cur.fetchone()[0]
    cur.execute("SELECT set_config('work_mem', %s, true)", (WORK_MEM,))
    n = 0
    for month in _months(days):
        cur.execute("DELETE FROM mart.canteen_daily WHERE day = ANY(%s)", (month,))
        cur.execute("DELETE FROM mart.canteen_outlet_meal WHERE day = ANY(%s)", (month,))
        cur.execute(kpi_sql("canteen_refresh"), {"days": month, "run_id": run_id})
        n += cur.fetchone()[0]
    cur.execute("SELECT set_config('work_mem', %s, true)", (work_mem,))
    return n


GROUP = Group("canteen", ("canteen",), DMY, (
    kpi("canteen", SRC, "canteen_revenue_yuan", "营业额", "Canteen revenue", "yuan", "flow", DMY,
        "Σ amount of purchases minus reversals and refunds, each reversal/refund on its original's day and unit"),
    kpi("canteen", SRC, "canteen_transactions", "消费笔数", "Canteen transactions", "count", "flow", DMY,
        "number of purchases (消费) not reversed (冲正)"),
    kpi("canteen", SRC, "canteen_avg_ticket_yuan", "客单价", "Average ticket", "yuan", "rate", DMY,
        "canteen_revenue_yuan ÷ canteen_transactions over the period",
        (("+", "canteen_revenue_yuan"), ("/", "canteen_transactions"))),
    kpi("canteen", SRC, "canteen_diners", "就餐人数", "Diners", "persons", "rate", DMY,
        "daily: distinct cards with a purchase not reversed; month and year: mean of the daily values"),
    kpi("canteen", SRC, "canteen_capture_rate", "学生在校就餐率", "Student capture rate", "rate", "rate", DMY,
        "daily: distinct student cards with a purchase not reversed ÷ students enrolled that month; "
        "month and year: mean of the daily values"),
), before=refresh_daily)
