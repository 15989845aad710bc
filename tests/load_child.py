"""A load in a process of its own: what the feed DAGs' ``load`` tasks and the KPI DAG's ``recompute``
task do, in that order, for the process-level tests (killed loads, concurrent loads).

    python -m tests.load_child LANDING START END FEED [FEED ...]

The warehouse and the pseudonymisation key come from the environment, as in a task.
"""

from __future__ import annotations

import json
import sys
from datetime import date


def main(argv: list[str]) -> int:
    from campus_logistics.kpis.compute import recompute
    from campus_logistics.pipeline import run_feed

    landing, start, end, *feeds = argv
    days_by_feed = {}
    for feed in feeds:
        result = run_feed(feed, landing, date.fromisoformat(start), date.fromisoformat(end), run_id=f"child-{feed}")
        days_by_feed[feed] = result.affected_days
    summary = recompute(days_by_feed=days_by_feed, run_id="child-kpi")
    print(json.dumps({"days_by_feed": days_by_feed, "kpi": summary}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
