"""The load package: one path for every feed, declared by specs, never depending on the feeds."""

from __future__ import annotations

import ast
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from campus_logistics.registry import SPECS

LOAD = Path(__file__).resolve().parents[2] / "plugins" / "campus_logistics" / "load"
FEEDS = Path(__file__).resolve().parents[2] / "plugins" / "campus_logistics" / "feeds"
EMPTY_REF = {"canteen": {}, "meters": None, "work_orders": ([], []), "surveys": {}, "staff": {}, "ledger": {}}


def _imported(path: Path) -> set[str]:
    """Every module ``path`` imports, as absolute names (relative ones resolved inside load/)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = ["campus_logistics", "load"][:max(0, 2 - node.level + 1)] if node.level else []
            mod = ".".join([*base, *([node.module] if node.module else [])])
            out.add(mod)
            out |= {f"{mod}.{a.name}" for a in node.names}
    return out


def test_the_import_check_sees_a_relative_feeds_import(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("from ..feeds import canteen\nfrom .. import feeds\n", encoding="utf-8")
    assert {"campus_logistics.feeds", "campus_logistics.feeds.canteen"} <= _imported(probe)


@pytest.mark.parametrize("module", sorted(p.name for p in LOAD.glob("*.py")))
def test_load_never_imports_feeds(module):
    bad = sorted(m for m in _imported(LOAD / module)
                 if m == "campus_logistics.feeds" or m.startswith("campus_logistics.feeds."))
    assert bad == [], f"load/{module} imports {bad}"


def test_the_load_steps_have_their_modules():
    assert {p.stem for p in LOAD.glob("*.py")} >= {"read", "validate", "stage", "audit", "publish", "runner", "spec"}


def test_no_feed_has_its_own_load_loop():
    """The runner is the one loop: no feed module defines load_file(s) or opens a connection."""
    for path in FEEDS.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        assert not names & {"load_file", "load_files", "_write", "_update_next_day"}, path.name
        assert "connect" not in {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}


def test_specs_are_import_light():
    code = "import sys, campus_logistics.registry; print(sorted(m for m in ('pandas', 'pyarrow', 'psycopg') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_spec_names_files_both_ways(name):
    spec = SPECS[name]
    period = date(2001, 3, 1) if spec.cadence == "month" else date(2001, 3, 5)
    file = spec.expected_name(period)
    assert spec.folder and file.startswith(spec.prefix) and file.endswith(spec.suffix)
    assert spec.period_of(file) == period
    assert spec.period_of(file.replace("2001", "２００１")) is None  # full-width digits are no date
    assert spec.pattern.match(spec.name_pattern) is None


@pytest.mark.parametrize("name", sorted(SPECS))
def test_spec_rules_are_the_feeds_rules(name):
    from campus_logistics.feeds import get_feed

    feed = get_feed(name)
    assert feed.spec is SPECS[name]
    assert tuple(r.rule_id for r in feed.rules(EMPTY_REF[name])) == SPECS[name].rules


@pytest.mark.parametrize("name", sorted(n for n, s in SPECS.items() if s.publish_sql))
def test_publish_sql_files_split_into_marked_statements(name):
    from campus_logistics.load.publish import _publish_sql, statements

    parts = statements(_publish_sql(SPECS[name].publish_sql))
    assert parts and all(code and not code.rstrip().endswith(";") for _, code in parts)
    assert ("rows_loaded" in [m for m, _ in parts]) == (name != "work_orders")


def test_statements_marks_and_comments():
    from campus_logistics.load.publish import statements

    sql = "-- a comment\n-- result: n\nSELECT count(*)\n  FROM t;\n\nSELECT 1 AS a;  \nDELETE FROM t;\n"
    assert statements(sql) == [("n", "SELECT count(*)\n  FROM t"), (None, "SELECT 1 AS a"), (None, "DELETE FROM t")]
