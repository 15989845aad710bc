"""Every KPI in the catalog declares whether a rise is good news and the topic it is shown under."""

from __future__ import annotations

from campus_logistics.kpis import catalog


def test_every_kpi_has_a_direction_and_a_topic():
    codes = {k.code for k in catalog.all_kpis()}
    assert set(catalog.DIRECTION) == codes
    assert set(catalog.DIRECTION.values()) <= {-1, 0, 1}
    assert {k.group for k in catalog.all_kpis()} <= set(catalog.TOPIC)


def test_directions_follow_finance_sense():
    assert catalog.direction("personnel_cost_saved_yuan") == 1  # savings up is good
    assert catalog.direction("satisfaction_rate") == 1
    assert catalog.direction("repair_on_time_rate") == 1
    assert catalog.direction("centre_cost_yuan") == -1  # cost up is bad
    assert catalog.direction("work_orders_open") == -1
    assert catalog.topic("satisfaction_rate") == ("满意度", "Satisfaction")
