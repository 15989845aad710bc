"""How many module boundaries a row crosses on its way into the warehouse.

Loads one file of a feed through ``pipeline.run_feed`` under a profiler hook and lists, in order,
the first call of every function of ``campus_logistics`` made while loading (the reference data
and the Data Docs build excluded: they are per run, not per row). A *hop* is a call into another
module than the previous function's; a *return hop* is one into a module already left.

``python -m campus_logistics_tools.hops --landing L --feed canteen --day 2001-03-01 --url URL``
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

PACKAGE = "campus_logistics"
SKIP = ("campus_logistics.reference", "campus_logistics.quality_docs", "campus_logistics.migrations")


def trace(fn) -> list[tuple[str, str]]:
    """(module, function) of every package function, in the order of its first call."""
    seen: dict[tuple[str, str], None] = {}

    def hook(frame, event, arg):
        if event != "call":
            return
        module = frame.f_globals.get("__name__", "")
        if module.split(".")[0] == PACKAGE and not module.startswith(SKIP):
            seen.setdefault((module, frame.f_code.co_qualname), None)

    sys.setprofile(hook)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return list(seen)


def hops(path: list[tuple[str, str]]) -> dict:
    modules, left, count, back = [], set(), 0, 0
    for module, _ in path:
        if modules and module != modules[-1]:
            count += 1
            if module in left:
                back += 1
            left.add(modules[-1])
        if not modules or module != modules[-1]:
            modules.append(module)
    return {"functions": len(path), "modules": len({m for m, _ in path}), "hops": count, "return_hops": back}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m campus_logistics_tools.hops", description=__doc__.split("\n\n")[0])
    p.add_argument("--landing", required=True)
    p.add_argument("--feed", default="canteen")
    p.add_argument("--day", required=True, help="the file's day (YYYY-MM-DD)")
    p.add_argument("--url", required=True, help="a migrated warehouse database")
    p.add_argument("--list", action="store_true", help="print the functions in call order")
    a = p.parse_args(argv)
    from campus_logistics.pipeline import run_feed

    day = date.fromisoformat(a.day)
    run_feed(a.feed, Path(a.landing), day, day, url=a.url)  # reference data loaded: not part of the path
    path = trace(lambda: run_feed(a.feed, Path(a.landing), day, day, url=a.url))
    if a.list:
        for module, fn in path:
            print(f"{module}.{fn}")
    print(hops(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
