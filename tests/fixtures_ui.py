"""A small hand-made scenario for the report and UI tests: three months of staff rosters, two canteen
days (one bad row), a few repair orders and one survey wave, loaded through the real pipeline.

Expected figures, worked out by hand (enrolment: 10 students every month):
* personnel_cost_saved_yuan (campus): Jan 27,100.50, Feb 27,300.00, Mar 27,300.00 (tests/integration/test_feed_staff.py)
* canteen_capture_rate (campus): 5 March 2 student cards of 10 = 20.0 %, 6 March 1 of 10 = 10.0 %;
  March = mean of the daily rates = 15.0 %. The row for 第九食堂 (unknown outlet) is quarantined:
  canteen_20010305.csv reads 4 rows, loads 3, quarantines 1 (rule outlet_known), card 10009 pseudonymised.
* repair_on_time_rate, March (电路: complete within 4 h): property 1 of 2 on time = 50.0 %, utilities
  1 of 1 = 100.0 %, campus 2 of 3 = 66.7 %
* satisfaction_rate, wave of 16 March: 水电中心 2 of 4 answered = 50.0 %, 物业中心 3 of 3 = 100.0 %,
  campus 5 of 7 = 71.4 %
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures import purchase, write_canteen, write_minimal_ref
from tests.fixtures_monthly import load, staff_feb, staff_jan, staff_mar, write_monthly_ref, write_staff
from tests.fixtures_tickets import SURVEY_HEAD, at, t, ticket, write_sla, write_survey, write_work_orders

STUDENTS = {f"2001-{m:02d}": 10 for m in range(1, 13)}
BAD_CARD = "10009"


def write_scenario(root: Path) -> None:
    write_minimal_ref(root, students=STUDENTS)
    write_monthly_ref(root, enrolment=STUDENTS)
    write_sla(root)
    for month, rows in (("2001-01", staff_jan()), ("2001-02", staff_feb()), ("2001-03", staff_mar())):
        write_staff(root, month, rows)
    write_canteen(root, "2001-03-05", [
        purchase("A1", "10001", "2001-03-05 07:30:00", amount="5.00"),
        purchase("A2", "10002", "2001-03-05 12:00:00", outlet="第二食堂", amount="8.50"),
        purchase("A3", "20001", "2001-03-05 18:00:00", amount="12.00", holder="教职工"),
        purchase("A4", BAD_CARD, "2001-03-05 18:30:00", outlet="第九食堂", amount="3.00"),
    ])
    write_canteen(root, "2001-03-06", [purchase("B2", "10001", "2001-03-06 12:10:00", amount="6.00")])
    write_work_orders(root, "2001-03-05", [
        ticket("W1", "电路", "property", t("03-05 09:00"), status="completed", dispatched=t("03-05 09:05"),
               arrived=t("03-05 09:20"), completed=t("03-05 11:00"), rating=5),
        ticket("W2", "电路", "property", t("03-05 09:00"), status="completed", dispatched=t("03-05 09:10"),
               arrived=t("03-05 10:00"), completed=t("03-05 15:00"), rating=3),
    ])
    write_work_orders(root, "2001-03-06", [
        ticket("W3", "电路", "utilities", t("03-06 08:00"), status="completed", dispatched=t("03-06 08:05"),
               arrived=t("03-06 08:20"), completed=t("03-06 09:00"), rating=4),
    ])
    write_survey(root, "2001-03-16", SURVEY_HEAD + ["水电中心", "物业中心"], [
        [1, at("2001-03-15", "09:00"), "学生", "非常满意", "满意"],
        [2, at("2001-03-15", "10:00"), "学生", "满意", "满意"],
        [3, at("2001-03-15", "11:00"), "教职工", "一般", "满意"],
        [4, at("2001-03-16", "08:00"), "学生", "不满意", None],
    ])


def load_scenario(root: Path) -> None:
    """Run each feed through the pipeline and recompute the KPIs its load reported as changed."""
    load("staff", root, "2001-01-01", "2001-03-31", run_id="ui-staff")
    load("canteen", root, "2001-03-05", "2001-03-06", run_id="ui-canteen")
    load("work_orders", root, "2001-03-05", "2001-03-06", run_id="ui-work-orders")
    load("surveys", root, "2001-03-16", "2001-03-16", run_id="ui-surveys")


def loaded_warehouse(pg_admin_url, template_db, tmp_path_factory, write, load_files):
    """A fresh warehouse database with the files ``write`` puts in a landing directory loaded by
    ``load_files``, and the Data Docs those loads built: ``{"url", "docs"}``, dropped afterwards."""
    from tests.conftest import drop_database, new_database

    name, url = new_database(pg_admin_url, template_db)
    docs = tmp_path_factory.mktemp("data_docs")
    mp = pytest.MonkeyPatch()
    mp.setenv("CAMPUS_LOGISTICS_WAREHOUSE_URL", url)
    mp.setenv("CAMPUS_LOGISTICS_DATA_DOCS_DIR", str(docs))
    try:
        landing = tmp_path_factory.mktemp("landing")
        write(landing)
        load_files(landing)
        yield {"url": url, "docs": docs}
    finally:
        mp.undo()
        drop_database(pg_admin_url, name)
