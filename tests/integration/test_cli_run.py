"""`python -m campus_logistics run` end to end: real Airflow (dag.test per DAG), real GX, real PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal

from tests.fixtures import purchase, reversal, write_canteen


def _run(*args, env_extra=None):
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "campus_logistics", *args], capture_output=True, text=True,
                          env=env, timeout=600)


def _two_days(landing):
    write_canteen(landing, "2001-03-05", [
        purchase("A1", "10001", "2001-03-05 07:30:00", amount="5.00"),
        purchase("A2", "10002", "2001-03-05 12:00:00", outlet="第二食堂", amount="8.50"),
        purchase("A3", "20001", "2001-03-05 18:00:00", amount="12.00", holder="教职工"),
    ])
    write_canteen(landing, "2001-03-06", [
        reversal("B1", "10002", "2001-03-06 08:00:00", orig="A2", amount="-8.50", outlet="第二食堂"),
        purchase("B2", "10001", "2001-03-06 12:10:00", amount="6.00"),
    ])


def test_run_loads_and_computes_kpis_through_airflow(landing, warehouse, sql):
    _two_days(landing)
    out = _run("run", "--landing", str(landing), "--start", "2001-03-05", "--end", "2001-03-06",
               "--warehouse", warehouse)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "canteen: success" in out.stdout
    # 5 March: 5.00 + 8.50 (reversed on the 6th, so it counts on the 5th: −8.50) + 12.00 = 17.00, 2 transactions
    # 6 March: 6.00, 1 transaction; March: 23.00 over 3 transactions
    got = dict(((r[0], str(r[1])), r[2]) for r in sql(
        "SELECT kpi_code, period_start, value FROM mart.kpi_value WHERE unit_code = 'campus' AND grain IN ('day', 'month')"))
    assert got[("canteen_revenue_yuan", "2001-03-05")] == Decimal("17.00")
    assert got[("canteen_transactions", "2001-03-05")] == 2
    assert got[("canteen_revenue_yuan", "2001-03-06")] == Decimal("6.00")
    assert got[("canteen_revenue_yuan", "2001-03-01")] == Decimal("23.00")
    assert got[("canteen_transactions", "2001-03-01")] == 3
    assert sql("SELECT count(*) FROM quality.file_reconciliation")[0][0] == 2

    # running it again leaves the warehouse as one run does
    before = sql("SELECT kpi_code, unit_code, grain, period_start, value FROM mart.kpi_value ORDER BY 1, 2, 3, 4")
    out = _run("run", "--landing", str(landing), "--start", "2001-03-05", "--end", "2001-03-06",
               "--warehouse", warehouse)
    assert out.returncode == 0, out.stdout + out.stderr
    assert sql("SELECT kpi_code, unit_code, grain, period_start, value FROM mart.kpi_value ORDER BY 1, 2, 3, 4") == before
    assert sql("SELECT count(*) FROM core.canteen_txn")[0][0] == 5


def test_run_fails_readably_naming_feed_file_and_rule(landing, warehouse, sql):
    _two_days(landing)
    # 7 March is in the range but was never delivered
    out = _run("run", "--landing", str(landing), "--start", "2001-03-05", "--end", "2001-03-07",
               "--warehouse", warehouse)
    assert out.returncode == 1
    assert "feed 'canteen'" in out.stderr and "canteen_20010307.csv" in out.stderr and "file_present" in out.stderr
    # the delivered days were still published and their KPIs computed
    assert sql("SELECT count(*) FROM core.canteen_txn")[0][0] == 5
    assert sql("SELECT count(*) FROM mart.kpi_value WHERE grain = 'day'")[0][0] > 0


def test_run_refuses_a_bad_warehouse_url(landing):
    out = _run("run", "--landing", str(landing), "--start", "2001-03-05", "--end", "2001-03-05",
               "--warehouse", "postgresql://nobody@127.0.0.1:1/none")
    assert out.returncode != 0
    assert "cannot use the warehouse" in out.stderr
