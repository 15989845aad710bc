"""Strict reference values: a ref file breaking a constraint of its table (a CHECK, a column's scale,
a unit that does not exist) is refused whole under ``reference_constraint`` naming file, line and
column — never loaded half, never silently rounded, never a database error that fails every feed.

The reference data loaded before stays in force, the feed's own files still load, the run fails
naming ``ref/<file>``, and ``quality.validation_result`` records the refusal under feed ``ref``.
"""

from __future__ import annotations

from datetime import date

import pytest

from campus_logistics.errors import FileRejected
from campus_logistics.pipeline import run_feed
from tests.fixtures import OUTLETS, SUB_CENTRES, purchase, write_canteen, write_csv
from tests.fixtures_meters import METERS, TARIFFS, UTILITY_BASELINE, write_meter_ref
from tests.fixtures_tickets import SLA

D = date.fromisoformat
HEADERS = {
    "sub_centres.csv": ["unit_code", "name_zh", "name_en", "reform_stage", "stage_since"],
    "outlets.csv": ["outlet_name", "outlet_code", "unit_code", "operator"],
    "meters.csv": ["meter_id", "utility", "building_code", "building_type", "payer", "multiplier"],
    "tariffs.csv": ["utility", "effective_from", "yuan_per_unit"],
    "enrolment.csv": ["month", "students"],
    "utility_baseline.csv": ["utility", "month_of_year", "quantity"],
    "sla.csv": ["category", "respond_within_min", "complete_within_h"],
    "targets.csv": ["kpi_code", "unit_code", "bound", "value"],
    "temperature.csv": ["date", "mean_temp_c"],
    "baselines.csv": ["key", "value", "note"],
}
TABLES = {"sub_centres.csv": "core.sub_centre", "outlets.csv": "core.outlet", "meters.csv": "core.meter",
          "tariffs.csv": "core.tariff", "enrolment.csv": "core.enrolment", "utility_baseline.csv": "core.utility_baseline",
          "sla.csv": "core.sla", "targets.csv": "core.target", "temperature.csv": "core.temperature",
          "baselines.csv": "core.baseline"}
TEMPERATURES = [("2001-03-01", "6.5"), ("2001-03-02", "7")]
BASELINES = [("students_per_cook", "50", ""), ("utility_baseline_students", "1000", ""), ("utility_baseline_year", "2000", "")]
GOOD = {
    "sub_centres.csv": SUB_CENTRES, "outlets.csv": OUTLETS, "meters.csv": METERS, "tariffs.csv": TARIFFS,
    "enrolment.csv": [(f"2001-{m:02d}", 1000) for m in range(1, 13)], "utility_baseline.csv": UTILITY_BASELINE,
    "sla.csv": SLA, "targets.csv": [("satisfaction_rate", "campus", "min", "0.90")],
    "temperature.csv": TEMPERATURES, "baselines.csv": BASELINES,
}

# (id, file, the good rows with one row changed, line named, column named, rule)
CASES = [
    ("meter multiplier below 1 (CHECK)", "meters.csv",
     METERS[:2] + [("E3", "electricity", "CAN1", "canteen", "catering", "0.5")] + METERS[3:], 4, "multiplier",
     "reference_constraint"),
    ("meter multiplier beyond any meter", "meters.csv",
     METERS[:4] + [("W2", "water", "KIOSK", "shop", "tenant", "10000000")], 6, "multiplier", "reference_constraint"),
    ("meter multiplier in full-width digits", "meters.csv",
     [("E1", "electricity", "T01", "teaching", "school", "１０")] + METERS[1:], 2, "multiplier", "multiplier_valid"),
    ("tariff with 5 decimals (would be rounded)", "tariffs.csv",
     TARIFFS[:1] + [("electricity", "2001-03-02", "0.52345")] + TARIFFS[2:], 3, "yuan_per_unit", "reference_constraint"),
    ("tariff too large for numeric(12, 4)", "tariffs.csv",
     TARIFFS[:2] + [("water", "2000-01-01", "123456789.5")], 4, "yuan_per_unit", "reference_constraint"),
    ("negative tariff", "tariffs.csv", [("electricity", "2000-01-01", "-0.50")] + TARIFFS[1:], 2, "yuan_per_unit",
     "reference_constraint"),
    ("outlet of a unit that does not exist", "outlets.csv",
     OUTLETS[:1] + [("第二食堂", "C2", "canteen_two", "centre")] + OUTLETS[2:], 3, "unit_code", "reference_constraint"),
    ("negative enrolment (CHECK)", "enrolment.csv", [("2001-01", -5)], 2, "students", "reference_constraint"),
    ("enrolment beyond integer", "enrolment.csv", [("2001-01", 99999999999)], 2, "students", "reference_constraint"),
    ("enrolment in full-width digits", "enrolment.csv", [("2001-01", "１０００")], 2, "students", "students_valid"),
    ("enrolment month in full-width digits", "enrolment.csv", [("２００１-01", 1000)], 2, "month", "month_valid"),
    ("month of year 13 (CHECK)", "utility_baseline.csv", UTILITY_BASELINE[:1] + [("water", 13, "50")], 3,
     "month_of_year", "reference_constraint"),
    ("baseline quantity beyond any campus", "utility_baseline.csv", UTILITY_BASELINE[:1] + [("water", 3, "1" + "0" * 20)], 3,
     "quantity", "reference_constraint"),
    ("negative SLA hours", "sla.csv", SLA[:1] + [("给排水", 30, "-4")] + SLA[2:], 3, "complete_within_h",
     "reference_constraint"),
    ("daily temperature above 60 °C", "temperature.csv", TEMPERATURES[:1] + [("2001-03-02", "75")], 3, "mean_temp_c",
     "reference_constraint"),
    ("temperature with 3 decimals (would be rounded)", "temperature.csv", [("2001-03-01", "6.125")], 2, "mean_temp_c",
     "reference_constraint"),
    ("temperature on a day that does not exist", "temperature.csv", [("2001-02-30", "5")], 2, "date", "date_valid"),
    ("negative baseline students", "baselines.csv", BASELINES[:1] + [("utility_baseline_students", "-5", "")], 3,
     "value", "reference_constraint"),
    ("baseline year not a whole year", "baselines.csv", BASELINES[:2] + [("utility_baseline_year", "2000.5", "")], 4,
     "value", "reference_constraint"),
    ("target of a unit that does not exist", "targets.csv", [("satisfaction_rate", "nowhere", "min", "0.90")], 2,
     "unit_code", "reference_constraint"),
]


def _write(landing, name, rows):
    write_csv(landing / "ref" / name, HEADERS[name], rows)


def _good_ref(landing):
    for name, rows in GOOD.items():
        _write(landing, name, rows)


def _table(sql, name):
    return sorted(tuple(str(v) for v in r) for r in sql(f"SELECT * FROM {TABLES[name]}"))


# the feed whose run a refused file fails (the feeds that need it; every feed for targets.csv)
FEED_OF = {"baselines.csv": "staff", "meters.csv": "meters", "tariffs.csv": "meters", "utility_baseline.csv": "meters",
           "sla.csv": "work_orders"}


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_reference_value_refuses_the_file_and_the_feed_still_loads(landing, sql, case):
    _, name, rows, line, column, rule = case
    feed = FEED_OF.get(name, "canteen")
    _good_ref(landing)
    write_canteen(landing, "2001-03-05", [purchase("A1", "6217000011112222", "2001-03-05 08:00:00")])
    assert run_feed("canteen", landing, D("2001-03-05"), D("2001-03-05"), run_id="r1").rejected == []
    before = _table(sql, name)
    _write(landing, name, rows)
    write_canteen(landing, "2001-03-06", [purchase("B1", "6217000011113333", "2001-03-06 08:00:00")])
    result = run_feed(feed, landing, D("2001-03-06"), D("2001-03-06"), run_id="r2", allow_missing=True)
    # the run of a feed using the file fails naming it; the feed loaded with the reference data in force
    (rej,) = result.rejected
    assert (rej["file"], rej["rule"]) == (f"ref/{name}", rule)
    assert f"line {line}" in rej["detail"] and column in rej["detail"]
    assert _table(sql, name) == before  # not loaded half, nothing rounded in
    (vr,) = sql("SELECT success, failed_rules FROM quality.validation_result WHERE feed = 'ref' AND file = %s", (name,))
    assert vr[0] is False and rule in vr[1]
    if rule == "reference_constraint":  # the message names line and column, not the value
        bad = {str(v) for r in rows for v in r} - {str(v) for r in GOOD[name] for v in r}
        assert not [v for v in bad if v in rej["detail"]]
    # the canteen file loads either way; a feed that does not use the file is not failed by it
    canteen = result if feed == "canteen" else run_feed("canteen", landing, D("2001-03-06"), D("2001-03-06"),
                                                        run_id="r2")
    assert sql("SELECT txn_id FROM core.canteen_txn WHERE source_file = 'canteen_20010306.csv'") == [("B1",)]
    if feed != "canteen":
        assert canteen.rejected == []
    # corrected, the file loads and its refusal is replaced
    _write(landing, name, GOOD[name])
    assert run_feed(feed, landing, D("2001-03-06"), D("2001-03-06"), run_id="r3", allow_missing=True).rejected == []
    assert sql("SELECT success FROM quality.validation_result WHERE feed = 'ref' AND file = %s", (name,)) == [(True,)]


def test_multiplier_below_one_fails_the_meters_run_clearly_and_no_other_feed(landing, sql):
    """The meters feed cannot run without its meters (never loaded): the run fails naming file, line
    and column; the canteen feed, which does not need them, loads and succeeds (the refusal stays
    recorded under feed 'ref')."""
    write_meter_ref(landing, meters=METERS[:2] + [("E3", "electricity", "CAN1", "canteen", "catering", "0.5")])
    write_canteen(landing, "2001-03-05", [purchase("A1", "6217000011112222", "2001-03-05 08:00:00")])
    with pytest.raises(FileRejected, match=r"meters\.csv.*reference_constraint.*line 4, column 'multiplier'"):
        run_feed("meters", landing, D("2001-03-01"), D("2001-03-01"), run_id="r1")
    (vr,) = sql("SELECT success, failed_rules FROM quality.validation_result WHERE feed = 'ref' AND file = 'meters.csv'")
    assert vr[0] is False and "reference_constraint" in vr[1]
    result = run_feed("canteen", landing, D("2001-03-05"), D("2001-03-05"), run_id="r2")
    assert result.rejected == []  # the canteen feed does not use meters.csv
    assert sql("SELECT count(*) FROM core.canteen_txn") == [(1,)]
    assert sql("SELECT count(*) FROM core.meter") == [(0,)]


def test_a_constraint_only_the_warehouse_knows_is_still_a_named_refusal(landing, sql):
    """Two outlets sharing an outlet_code (UNIQUE, not the file's key): the database refuses the COPY;
    that becomes the file's refusal under a savepoint, the other ref files and the feed load."""
    _good_ref(landing)
    write_canteen(landing, "2001-03-05", [purchase("A1", "6217000011112222", "2001-03-05 08:00:00")])
    assert run_feed("canteen", landing, D("2001-03-05"), D("2001-03-05"), run_id="r1").rejected == []
    _write(landing, "outlets.csv", OUTLETS[:1] + [("第二食堂", "C1", "catering", "centre")] + OUTLETS[2:])
    _write(landing, "enrolment.csv", [(f"2001-{m:02d}", 2000) for m in range(1, 13)])  # a good change, loaded
    result = run_feed("canteen", landing, D("2001-03-05"), D("2001-03-05"), run_id="r2")
    (rej,) = result.rejected
    assert (rej["file"], rej["rule"]) == ("ref/outlets.csv", "reference_constraint")
    assert "outlet_outlet_code_key" in rej["detail"]
    assert result.ref_reloaded == ["enrolment.csv"]
    assert sql("SELECT DISTINCT students FROM core.enrolment") == [(2000,)]
    assert sql("SELECT outlet_code FROM core.outlet ORDER BY 1") == [("C1",), ("C2",), ("K1",)]


def test_through_airflow_a_bad_meters_file_fails_the_meters_run_only(landing, warehouse, sql, tmp_path):
    """`run` (dag.test per feed DAG): ref/meters.csv with multiplier 0.5 fails the meters DAG naming
    file, line and column; the canteen DAG loads its day, quarantining a 1950 row and a full-width
    amount, and succeeds."""
    import os
    import subprocess
    import sys

    from tests.fixtures_meters import write_meters

    write_meter_ref(landing, meters=METERS[:2] + [("E3", "electricity", "CAN1", "canteen", "catering", "0.5")])
    write_meters(landing, "2001-03-05", [("E1", "2001-03-05T06:00:00+08:00", "101", "ok")])
    write_canteen(landing, "2001-03-05", [purchase("A1", "6217000011112222", "2001-03-05 08:00:00"),
                                          purchase("A2", "6217000011113333", "1950-03-05 08:00:00"),
                                          purchase("A3", "6217000011114444", "2001-03-05 09:00:00", amount="１２.００")])
    # the child gets an Airflow home (SQLite metadata DB) of its own, as a pytest-xdist worker does:
    # SQLite shared with this process's open connections was seen corrupted after this run
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AIRFLOW") and k != "CAMPUS_LOGISTICS_TEST_AIRFLOW_HOME"}
    env["AIRFLOW_HOME"] = str(tmp_path / "airflow")
    out = subprocess.run([sys.executable, "-m", "campus_logistics", "run", "--landing", str(landing), "--start",
                          "2001-03-05", "--end", "2001-03-05", "--warehouse", warehouse],
                         capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "canteen: success" in out.stdout
    assert "meters.csv" in out.stderr and "reference_constraint" in out.stderr and "column 'multiplier'" in out.stderr
    assert sql("SELECT row_number, rule FROM quality.rejected_rows ORDER BY 1") == [
        (3, "time_within_late_window"), (4, "amount_parseable")]
    assert sql("SELECT txn_id FROM core.canteen_txn") == [("A1",)]
    assert sql("SELECT count(*) FROM core.meter_reading") == [(0,)]


def test_sub_centres_dropping_a_unit_the_loaded_outlets_use_is_refused(landing, sql):
    """sub_centres.csv without 'supplies', which the loaded outlet 清真小卖部 belongs to: refused (the
    outlet's revenue would belong to no unit); with outlets.csv corrected in the same delivery, both load."""
    _good_ref(landing)
    write_canteen(landing, "2001-03-05", [purchase("A1", "6217000011112222", "2001-03-05 08:00:00")])
    assert run_feed("canteen", landing, D("2001-03-05"), D("2001-03-05"), run_id="r1").rejected == []
    _write(landing, "sub_centres.csv", [u for u in SUB_CENTRES if u[0] != "supplies"])
    (rej,) = run_feed("canteen", landing, D("2001-03-05"), D("2001-03-05"), run_id="r2").rejected
    assert (rej["file"], rej["rule"]) == ("ref/sub_centres.csv", "reference_constraint")
    assert "1 row(s) of the loaded outlets.csv" in rej["detail"]
    assert sql("SELECT count(*) FROM core.sub_centre WHERE unit_code = 'supplies'") == [(1,)]
    _write(landing, "outlets.csv", [o for o in OUTLETS if o[2] != "supplies"])
    assert run_feed("canteen", landing, D("2001-03-05"), D("2001-03-05"), run_id="r3").rejected == []
    assert sql("SELECT count(*) FROM core.sub_centre WHERE unit_code = 'supplies'") == [(0,)]
    assert sql("SELECT count(*) FROM core.outlet") == [(2,)]
