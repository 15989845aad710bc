"""Canteen KPIs (canteen/, ref/outlets.csv, ref/enrolment.csv) and the outlet × meal drill-down."""

from __future__ import annotations

from ..paths import kpi_sql
from .catalog import Group, kpi

SRC = ("canteen", "ref/outlets.csv", "ref/enrolment.csv")
DMY = ("day", "month", "year")


def refresh_daily(cur, days, run_id) -> int:
    """Before the KPIs: exact daily aggregates and the outlet × meal drill-down for the touched days."""
    cur.execute(kpi_sql("canteen_effective"), {"days": days})
    cur.execute("DELETE FROM _canteen_eff WHERE NOT (day = ANY(%s))", (days,))
    cur.execute("DELETE FROM mart.canteen_daily WHERE day = ANY(%s)", (days,))
    cur.execute(
        f"""INSERT INTO mart.canteen_daily (day, unit_code, revenue_yuan, transactions, diners, student_diners,
                                            students, computed_at, run_id)
            SELECT *, now(), %(run_id)s FROM ({kpi_sql('canteen_daily')}) x""",
        {"run_id": run_id},
    )
    n = cur.rowcount
    cur.execute("DELETE FROM mart.canteen_outlet_meal WHERE day = ANY(%s)", (days,))
    cur.execute(
        f"""INSERT INTO mart.canteen_outlet_meal (day, unit_code, outlet_code, meal_period, revenue_yuan,
                                                  transactions, diners, computed_at, run_id)
            SELECT *, now(), %(run_id)s FROM ({kpi_sql('canteen_outlet_meal')}) x""",
        {"run_id": run_id},
    )
    cur.execute("DROP TABLE _canteen_eff")
    return n + cur.rowcount


GROUP = Group("canteen", ("canteen",), DMY, (
    kpi("canteen", SRC, "canteen_revenue_yuan", "营业额", "Canteen revenue", "yuan", "flow", DMY,
        "Σ amount of purchases minus reversals and refunds, each reversal/refund on its original's day and unit"),
    kpi("canteen", SRC, "canteen_transactions", "消费笔数", "Canteen transactions", "count", "flow", DMY,
        "number of purchases (消费) not reversed (冲正)"),
    kpi("canteen", SRC, "canteen_avg_ticket_yuan", "客单价", "Average ticket", "yuan", "rate", DMY,
        "canteen_revenue_yuan ÷ canteen_transactions over the period"),
    kpi("canteen", SRC, "canteen_diners", "就餐人数", "Diners", "persons", "rate", DMY,
        "daily: distinct cards with a purchase not reversed; month and year: mean of the daily values"),
    kpi("canteen", SRC, "canteen_capture_rate", "学生在校就餐率", "Student capture rate", "rate", "rate", DMY,
        "daily: distinct student cards with a purchase not reversed ÷ students enrolled that month; "
        "month and year: mean of the daily values"),
), before=refresh_daily)
