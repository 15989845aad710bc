"""A file far bigger than a validation window and a read block (the stand-in for a multi-GB export):
it is streamed batch by batch and window by window inside its one transaction, and the result is
exactly the one of loading it in one piece — same rows, same quarantine (line numbers included),
same reconciliation."""

from __future__ import annotations

from datetime import date

import pytest

from tests.conftest import drop_database, new_database
from tests.fixtures import purchase, write_canteen
from tests.warehouse_snapshot import diff, snapshot

pytestmark = pytest.mark.embedded_only  # server-independent: one pass


def test_a_file_of_many_windows_loads_as_one_piece(landing, pg_admin_url, template_db, monkeypatch):
    from campus_logistics.load import read as base
    from campus_logistics.feeds.canteen import CanteenFeed
    from campus_logistics.pipeline import run_feed

    rows = []
    for i in range(3000):
        if i % 401 == 7:
            rows.append(purchase(f"X{i}", f"{i % 97}", "2001-03-05 12:00:00", outlet="不存在的食堂"))
        else:
            rows.append(purchase(f"A{i}", f"{i % 97}", f"2001-03-05 {8 + i % 12:02d}:{i % 60:02d}:00",
                                 amount=f"{1 + i % 20}.50"))
    path = write_canteen(landing, "2001-03-05", rows)
    lines = path.read_bytes().split(b"\n")
    for n in (1500, 2800):  # malformed rows deep inside the file, in later read blocks
        lines.insert(n, "M{},1,学生,2001-03-05 12:00:00,第一食堂".format(n).encode("gb18030"))
    path.write_bytes(b"\n".join(lines))
    size = path.stat().st_size

    results = {}
    for label, block, window in (("one piece", 64 << 20, 1_000_000), ("streamed", 4096, 250)):
        name, url = new_database(pg_admin_url, template_db)
        try:
            with monkeypatch.context() as m:
                m.setattr(base, "BLOCK_SIZE", block)
                m.setattr(CanteenFeed, "window_rows", window)
                result = run_feed("canteen", landing, date(2001, 3, 5), date(2001, 3, 5), url=url)
            assert result.rejected == []
            results[label] = (result.files, snapshot(url, history=False))
        finally:
            drop_database(pg_admin_url, name)
    assert size > 30 * 4096  # dozens of read blocks, a dozen windows
    (files_a, snap_a), (files_b, snap_b) = results["one piece"], results["streamed"]
    assert files_a == files_b
    assert diff(snap_a, snap_b) == ""
    bad = sum(1 for i in range(3000) if i % 401 == 7)
    recon = snap_b["quality.file_reconciliation"]
    assert [r[:6] for r in recon] == [("canteen", "canteen_20010305.csv", 3002, 3000 - bad, bad + 2, 0)]
    assert sorted(r[2] for r in snap_b["quality.rejected_rows"] if r[3] == "malformed_row") == [1501, 2801]
