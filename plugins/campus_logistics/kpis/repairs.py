"""Repair and service KPIs (work_orders/, ref/sla.csv): monthly and annual, per responsible unit
and ``campus``.

Counting rules (kpis.md, and the choices where it is silent):

* An order counts in the month (local time) it was **completed**: its current status is
  ``completed`` or ``closed`` and it has a ``completed_at``. ``cancelled`` orders count nowhere.
  Its rating and its ``reopened`` flag count in that same month.
* ``response_on_time_rate``: an order without ``arrived_at`` (completed without a recorded
  arrival) counts as **not** on time — the standard "有叫必到" was not shown to be met. An order
  whose category has no row in ref/sla.csv is left out of both on-time rates.
* ``work_orders_open`` is a stock at the month's end (the first instant of the next month, local
  time): orders created before then, not completed before then, and not cancelled *now* (a ticket
  cancelled today is treated as never open). It is computed from each ticket's current state, so
  a reopened ticket whose completion was withdrawn counts as open since its creation.
* Rates are recomputed over the whole year's completed orders at grain ``year``; the counts'
  annual rows are rolled up from the months (completed: sum; open: the last month with data).
* Per unit, both counts are given (0 included) for every unit with a non-cancelled ticket created
  before the month's end, so a month without completions shows 0 and the open stock can fall to 0.
"""

from __future__ import annotations

from .catalog import Group, kpi

SRC = ("work_orders", "ref/sla.csv")
MY = ("month", "year")

GROUP = Group("repairs", ("work_orders",), MY, (
    kpi("repairs", SRC, "work_orders_completed", "完成工单数", "Work orders completed", "count", "flow", MY,
        "orders whose current status is completed/closed, counted in the month (Asia/Shanghai) of completed_at; "
        "cancelled orders count nowhere; year = sum of the months"),
    kpi("repairs", SRC, "response_on_time_rate", "响应及时率", "Response on-time rate", "rate", "rate", MY,
        "share of the period's completed orders with arrived_at − created_at ≤ respond_within_min of their "
        "category (ref/sla.csv); an order without arrived_at is not on time"),
    kpi("repairs", SRC, "repair_on_time_rate", "维修及时率（限时维护达标率）", "Repair on-time rate", "rate", "rate", MY,
        "share of the period's completed orders with completed_at − created_at ≤ complete_within_h of their "
        "category (ref/sla.csv)"),
    kpi("repairs", SRC, "first_time_fix_rate", "一次修复率", "First-time fix rate", "rate", "rate", MY,
        "1 − share of the period's completed orders with reopened = true", (("of", "work_orders_completed"),)),
    kpi("repairs", SRC, "repair_rating_avg", "报修评价均分", "Average repair rating", "score", "rate", MY,
        "mean rating (1–5) of the period's completed orders that were rated; absent when none was rated",
        (("of", "work_orders_completed"),)),
    kpi("repairs", SRC, "work_orders_open", "未完成工单数", "Work orders open", "count", "stock", MY,
        "at the month's end: orders created before it, not completed before it, not cancelled; "
        "year = the last month of the year with data"),
))
