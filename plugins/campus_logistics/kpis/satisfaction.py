"""Satisfaction KPIs (surveys/): per survey wave and per year, per unit and ``campus``.

Each service column of a wave's file is headed with a unit's name; a cell is one answer on the
five-point scale, or empty (not answered). ``satisfaction_rate`` = (非常满意 + 满意) ÷ answered
cells, per unit column; ``campus`` over all answered cells of all columns. Annual rows (grain
``year``) are recomputed over all answered cells of the year's waves (never an average of the
waves' rates); ``satisfaction_responses`` is summed. A unit column with no answered cell has
``satisfaction_responses`` = 0 and no rate (absent, never 0).
"""

from __future__ import annotations

from .catalog import Group, kpi

SRC = ("surveys", "ref/sub_centres.csv")
WY = ("wave", "year")

GROUP = Group("satisfaction", ("surveys",), WY, (
    kpi("satisfaction", SRC, "satisfaction_rate", "满意率", "Satisfaction rate", "rate", "rate", WY,
        "(非常满意 + 满意) ÷ answered cells of the unit's column (campus: of all columns); "
        "year: recomputed over all answered cells of the year's waves", (("/", "satisfaction_responses"),)),
    kpi("satisfaction", SRC, "satisfaction_responses", "有效答卷数", "Answered survey cells", "count", "flow", WY,
        "answered (non-empty) cells of the unit's column (campus: of all columns); year: sum over the year's waves"),
))
