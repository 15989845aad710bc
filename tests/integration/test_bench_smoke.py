"""`make bench` keeps working: the harness runs end to end at a tiny size and writes its report.

No timing is asserted (figures belong in bench/results.md, measured by `make bench`); this only checks
the harness produces every section with sane, positive measurements.
"""

from __future__ import annotations

import json
import subprocess
import sys


def test_bench_runs_at_a_tiny_size(tmp_path, pg_admin_url):
    out = tmp_path / "bench"
    proc = subprocess.run(
        [sys.executable, "-m", "campus_logistics_tools.bench", "--out", str(out), "--students", "400", "--reps", "1",
         "--rss-sizes", "3000", "--kpi-days", "2", "--skip-seed", "--warehouse", pg_admin_url],
        capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    for feed in ("canteen", "meters"):
        r = results[feed]
        assert r["rows"] > 0 and r["ours_rows_per_s"] > 0 and r["bare_copy_rows_per_s"] > 0 and r["naive_rows_per_s"] > 0
    assert set(results["parse"]["dag_parse_s"]) >= {"kpi.py", "feed_canteen.py"}
    rss = results["rss"]["3000"]
    assert rss["ok"] and rss["rows"] >= 3000 and rss["peak_rss_mib"] > 50
    assert results["big_day_s"] > 0
    assert results["kpi"]["one_month"]["days"] == 2  # the two loaded days (both in the start's month)
    assert results["kpi"]["one_year"]["days"] == 365  # 2024-09-01 .. 2025-08-31
    assert results["kpi"]["one_year_incremental"]["days"] == 365
    # the loaded month copied into eleven more: twelve times its canteen rows
    year_rows = results["kpi"]["year_rows"]
    assert year_rows["core.canteen_txn"] == 12 * results["kpi"]["month_rows"]["core.canteen_txn"] > 0
    report = (out / "results.md").read_text(encoding="utf-8")
    for heading in ("## Targets", "## canteen", "## meters", "## DAG parse time", "## Peak memory", "## Wall times",
                    "## KPI recompute"):
        assert heading in report

