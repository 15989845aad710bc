"""Staffing and the reform (staff/, ref/enrolment.csv, ref/baselines.csv, ref/sub_centres.csv).

Monthly, ``campus`` unless noted. Headcounts, norms and the reform stage are *stocks* (the annual
row is the last month of the year with data); the personnel savings are *flows* (the annual row
is the sum of the months). Both are rolled up from the stored months, so the SQL runs at grain
``month`` only.

A month is computed when it is *loaded for staff*: it has at least one roster row in
``core.staff_month``. That holds for ``reform_stage`` too: the stage of every unit in
``ref/sub_centres.csv`` is reported for the months the roster covers (a roster whose rows were all
quarantined leaves its month without staffing KPIs rather than with misleading zeros).
"""

from __future__ import annotations

from .catalog import Group, kpi

SRC = ("staff", "ref/enrolment.csv", "ref/baselines.csv")
SRC_STAGE = ("staff", "ref/sub_centres.csv")
MY = ("month", "year")
G = "staffing"

GROUP = Group(G, ("staff",), ("month",), (
    kpi(G, SRC, "admin_norm_headcount", "定编管理人员数", "Admin staff norm", "persons", "stock", MY,
        "admin_staff_per_1000_students × ⌊students enrolled that month / 1000⌋ (ref/baselines.csv, "
        "ref/enrolment.csv); the norm is scaled per full thousand students"),
    kpi(G, SRC, "admin_headcount", "管理人员数", "Admin headcount", "persons", "stock", MY,
        "distinct staff with role = management, any unit including office; baseline = admin_norm_headcount",
        (("of", "admin_norm_headcount"),)),
    kpi(G, SRC, "admin_posts_saved", "精简管理人员数", "Admin posts saved", "persons", "stock", MY,
        "admin_norm_headcount − admin_headcount", (("+", "admin_norm_headcount"), ("-", "admin_headcount"))),
    kpi(G, SRC, "cook_norm_headcount", "炊事员定编数", "Cook norm", "persons", "stock", MY,
        "⌊students enrolled that month / students_per_cook⌋ (ref/baselines.csv, ref/enrolment.csv)"),
    kpi(G, SRC, "cooks_borne_by_centre", "社会承担炊事员数", "Cooks borne by the centre", "persons", "stock", MY,
        "distinct staff with role = cook and payer = centre; baseline = cook_norm_headcount",
        (("of", "cook_norm_headcount"),)),
    kpi(G, SRC, "jobs_provided", "中心提供就业岗位", "Jobs provided by the centre", "persons", "stock", MY,
        "distinct staff of centre units (unit ≠ office) with payer = centre; campus and per unit"),
    kpi(G, SRC, "jobs_school_transfer", "安置学校分流人员", "Jobs for staff transferred from the school",
        "persons", "stock", MY, "of jobs_provided, origin = school_transfer", (("of", "jobs_provided"),)),
    kpi(G, SRC, "jobs_social_hire", "吸收社会人员", "Jobs for social hires", "persons", "stock", MY,
        "of jobs_provided, origin = social_hire", (("of", "jobs_provided"),)),
    kpi(G, SRC, "personnel_cost_saved_transfer_yuan", "分流人员节约经费", "Personnel cost saved: transfers",
        "yuan", "flow", MY, "Σ monthly_cost_yuan of staff with payer = centre and origin = school_transfer"),
    kpi(G, SRC, "personnel_cost_saved_cooks_yuan", "炊事员节约经费", "Personnel cost saved: cooks",
        "yuan", "flow", MY,
        "Σ monthly_cost_yuan of staff with payer = centre, role = cook and origin ≠ school_transfer"),
    kpi(G, SRC, "personnel_cost_saved_yuan", "学校节约人员经费", "Personnel cost saved by the school",
        "yuan", "flow", MY, "personnel_cost_saved_transfer_yuan + personnel_cost_saved_cooks_yuan: wages the "
        "school no longer pays", (("+", "personnel_cost_saved_transfer_yuan"), ("+", "personnel_cost_saved_cooks_yuan"))),
    kpi(G, SRC_STAGE, "reform_stage", "改革阶段", "Reform stage", "stage", "stock", MY,
        "per unit: 1 big_entity (小机关、大实体), 2 small_entity (小机关、小实体), 3 no_entity (小机关、无实体), "
        "the stage in force (latest stage_since ≤ the month's last day) in ref/sub_centres.csv; "
        "for the months the staff roster covers"),
))
