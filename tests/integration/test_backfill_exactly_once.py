"""Exactly once across partitions: two loads of the same file, from two partitions of different
ranges, serialise on the file's advisory lock; real PostgreSQL, loads in processes of their own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


_CHILD = """
import json, sys
from campus_logistics.backfill import load_partition
spec = {"landing": sys.argv[1], "replace_reference": True}
out = load_partition("canteen", spec, {"start": sys.argv[2], "end": sys.argv[3]}, run_id=sys.argv[4])
print(json.dumps(out["totals"]))
"""


def _partition_child(url: str, landing: Path, start: str, end: str, run_id: str) -> subprocess.Popen:
    env = dict(os.environ, CAMPUS_LOGISTICS_WAREHOUSE_URL=url, PYTHONPATH=f"{ROOT / 'plugins'}{os.pathsep}{ROOT}")
    env.pop("CAMPUS_LOGISTICS_FAULT_POINT", None)
    return subprocess.Popen([sys.executable, "-c", _CHILD, str(landing), start, end, run_id], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


FILE_LOCK_WAITERS = """SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
    AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
    AND classid::bigint = hashtext('canteen')::bigint & 4294967295
    AND objid::bigint = hashtext('canteen_20010305.csv')::bigint & 4294967295"""


def test_two_partitions_loading_one_file_at_once_load_it_once(landing, warehouse, sql):
    """Two workers' partitions both reach canteen_20010305.csv while its advisory lock on (feed, file)
    is held (here by the test, as a third load would): both wait; once it is free, one loads the
    file and commits, the other then replaces those rows with its own. The file's rows are in core
    once, not twice, and both loads are in the reconciliation history."""
    import psycopg

    from tests.fixtures import purchase, write_canteen

    write_canteen(landing, "2001-03-05", [purchase("A1", "10001", "2001-03-05 07:30:00", amount="5.00"),
                                          purchase("A2", "10002", "2001-03-05 12:00:00", amount="8.50")])
    write_canteen(landing, "2001-03-06", [purchase("B1", "10003", "2001-03-06 08:00:00", amount="3.00")])
    holder = psycopg.connect(warehouse)
    holder.execute("SELECT pg_advisory_xact_lock(hashtext('canteen'), hashtext('canteen_20010305.csv'))")
    a = _partition_child(warehouse, landing, "2001-03-05", "2001-03-05", "worker-a")
    b = _partition_child(warehouse, landing, "2001-03-05", "2001-03-06", "worker-b")
    try:
        deadline = time.monotonic() + 600  # two cold starts on a shared 2-core machine
        while sql(FILE_LOCK_WAITERS)[0][0] < 2:
            for p in (a, b):
                assert p.poll() is None, f"a load finished while the file was locked: {p.stderr.read()[-3000:]}"
            assert time.monotonic() < deadline, "the two loads never both waited on the file's lock"
            time.sleep(0.2)
        # both are inside their file transaction, blocked: nothing of 5 March is written
        assert sql("SELECT count(*) FROM core.canteen_txn WHERE source_file = 'canteen_20010305.csv'")[0][0] == 0
        holder.commit()  # the file is free: one load gets it, then the other
        out_a, err_a = a.communicate(timeout=600)
        out_b, err_b = b.communicate(timeout=600)
    finally:
        holder.close()
        for p in (a, b):
            if p.poll() is None:
                p.kill()
    assert a.returncode == 0, err_a[-3000:]
    assert b.returncode == 0, err_b[-3000:]
    assert json.loads(out_a.strip().splitlines()[-1]) == {"files": 1, "rows_read": 2, "rows_loaded": 2,
                                                          "rows_quarantined": 0, "rows_duplicate": 0}
    assert json.loads(out_b.strip().splitlines()[-1]) == {"files": 2, "rows_read": 3, "rows_loaded": 3,
                                                          "rows_quarantined": 0, "rows_duplicate": 0}
    history = sql("""SELECT run_id FROM quality.file_reconciliation_history WHERE file = 'canteen_20010305.csv'
                     ORDER BY reconciled_at""")
    assert sorted(history) == [("worker-a",), ("worker-b",)]  # loaded twice, one after the other
    last = history[-1][0]
    # each transaction once in core (2 + 1 rows, not 2 + 2 + 1), 5 March's from the load that committed last
    assert sql("SELECT txn_id, source_file, run_id FROM core.canteen_txn ORDER BY txn_id") == [
        ("A1", "canteen_20010305.csv", last), ("A2", "canteen_20010305.csv", last),
        ("B1", "canteen_20010306.csv", "worker-b")]
    assert sql("SELECT rows_read, rows_loaded, run_id FROM quality.file_reconciliation "
               "WHERE file = 'canteen_20010305.csv'") == [(2, 2, last)]
