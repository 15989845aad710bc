"""The centre's books (ledger/): monthly per unit and ``campus``.

``campus`` is every ledger line, whatever its unit (``office`` included if the ledger has any).
Revenue, cost, surplus, social capital and capex are *flows*: the annual row is the sum of the
stored months. ``social_capital_share`` is cumulative since the first month loaded (a rate): the
SQL computes it at grain ``month`` (through the month's end) and at grain ``year`` (through the
year's end, i.e. the share at the year's last loaded month), and only for periods that have
ledger lines; it is absent while no capital has come in at all.
"""

from __future__ import annotations

from .catalog import Group, kpi

SRC = ("ledger", "ref/sub_centres.csv")
MY = ("month", "year")
G = "books"

GROUP = Group(G, ("ledger",), ("month", "year"), (
    kpi(G, SRC, "centre_revenue_yuan", "中心收入", "Centre revenue", "yuan", "flow", MY,
        "Σ amount_yuan of entry_type = revenue"),
    kpi(G, SRC, "centre_cost_yuan", "中心支出", "Centre cost", "yuan", "flow", MY,
        "Σ amount_yuan of entry_type = cost"),
    kpi(G, SRC, "centre_surplus_yuan", "中心积累资金", "Centre surplus", "yuan", "flow", MY,
        "centre_revenue_yuan − centre_cost_yuan", (("+", "centre_revenue_yuan"), ("-", "centre_cost_yuan"))),
    kpi(G, SRC, "social_capital_in_yuan", "引入社会资金", "Social capital brought in", "yuan", "flow", MY,
        "Σ amount_yuan of entry_type = capital_in with funding_source = social"),
    kpi(G, SRC, "social_capital_share", "社会资金占比", "Share of social capital", "rate", "rate", MY,
        "cumulative since the first month loaded, through the period's end: Σ social capital_in ÷ Σ capital_in "
        "of all funding sources; absent while that denominator is 0"),
    kpi(G, SRC, "capex_yuan", "投资支出", "Capital expenditure", "yuan", "flow", MY,
        "Σ amount_yuan of entry_type = capex"),
))
