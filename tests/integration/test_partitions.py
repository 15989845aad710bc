"""The large canteen fact table is partitioned by month: a load creates its months' partitions, and a
month's rows live (and are read) in that month's partition only."""

from __future__ import annotations

from datetime import date

from campus_logistics.pipeline import run_feed
from tests.fixtures import purchase, write_canteen


def test_loads_create_monthly_partitions_and_queries_prune(landing, warehouse, sql):
    write_canteen(landing, "2001-03-31", [purchase("A1", "10001", "2001-03-31 12:00:00")])
    # a late transaction of 31 March arrives in April's first file: it lands in March's partition
    write_canteen(landing, "2001-04-01", [purchase("B1", "10002", "2001-04-01 08:00:00"),
                                          purchase("B2", "10003", "2001-03-31 23:59:00")])
    result = run_feed("canteen", landing, date(2001, 3, 31), date(2001, 4, 1), run_id="t")
    assert result.rejected == []
    parts = dict(sql("""SELECT c.relname, (SELECT count(*) FROM core.canteen_txn t WHERE t.tableoid = c.oid)
                        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                        WHERE i.inhparent = 'core.canteen_txn'::regclass"""))
    assert parts == {"canteen_txn_200103": 2, "canteen_txn_200104": 1}
    plan = "\n".join(r[0] for r in sql("EXPLAIN SELECT sum(amount_yuan) FROM core.canteen_txn "
                                       "WHERE txn_date >= '2001-04-01' AND txn_date < '2001-05-01'"))
    assert "canteen_txn_200104" in plan and "canteen_txn_200103" not in plan
    # re-running is idempotent and creates nothing new
    run_feed("canteen", landing, date(2001, 3, 31), date(2001, 4, 1), run_id="t2")
    assert sql("SELECT count(*) FROM pg_inherits WHERE inhparent = 'core.canteen_txn'::regclass")[0][0] == 2
    assert sql("SELECT count(*) FROM core.canteen_txn")[0][0] == 3


def test_meter_readings_are_partitioned_by_month(landing, warehouse, sql):
    from tests.fixtures import write_csv

    write_csv(landing / "ref" / "meters.csv", ["meter_id", "utility", "building_code", "building_type", "payer",
                                               "multiplier"], [("E1", "electricity", "T01", "teaching", "school", "1")])
    write_csv(landing / "ref" / "tariffs.csv", ["utility", "effective_from", "yuan_per_unit"],
              [("electricity", "2000-01-01", "0.50"), ("water", "2000-01-01", "1.00")])
    write_csv(landing / "ref" / "utility_baseline.csv", ["utility", "month_of_year", "quantity"],
              [(u, m, "1000") for u in ("electricity", "water") for m in range(1, 13)])
    for day, readings in (("2001-03-31", ("100", "110")), ("2001-04-01", ("120", "130"))):
        write_csv(landing / "meters" / f"meters_{day.replace('-', '')}.csv", ["meter_id", "read_at", "reading", "status"],
                  [("E1", f"{day}T08:00:00+08:00", readings[0], "ok"), ("E1", f"{day}T20:00:00+08:00", readings[1], "ok")])
    result = run_feed("meters", landing, date(2001, 3, 31), date(2001, 4, 1), run_id="m")
    assert result.rejected == []
    parts = dict(sql("""SELECT c.relname, (SELECT count(*) FROM core.meter_reading t WHERE t.tableoid = c.oid)
                        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                        WHERE i.inhparent = 'core.meter_reading'::regclass"""))
    assert parts == {"meter_reading_200103": 2, "meter_reading_200104": 2}
    # 1 April: 130 − 110 (the last reading of 31 March) = 20 kWh, read across the two partitions
    assert sql("SELECT consumption FROM core.meter_daily WHERE day = '2001-04-01'")[0][0] == 20
