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
