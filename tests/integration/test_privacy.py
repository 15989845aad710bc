"""No raw card number or staff id anywhere: a generated landing zone (every feed, a few days) with
quarantinable rows carrying identifiers is run through Airflow (``python -m campus_logistics run``,
dag.test per DAG, task logging at DEBUG), then every warehouse table (all schemas, every row as
text), the Airflow home (task log files, the metadata DB with its XComs) and the run's output (the
task logs of dag.test) are searched for every identifier the files hold.
"""

from __future__ import annotations

import csv
import os
import re
import sqlite3
import subprocess
import sys
from datetime import date
from pathlib import Path

import psycopg
import pytest

from campus_logistics.pseudonym import pseudonymise_fields

pytestmark = pytest.mark.embedded_only  # one Airflow run of six feeds: once per CI is enough

START, END = "2001-03-05", "2001-03-07"
# rows the pipeline must quarantine, each carrying an identifier (written after the generated rows)
CANTEEN_BAD = [
    "9000000001,55500001,学生,2001-03-05 12:00:00,不存在的食堂,T1,5.00,消费,",  # unknown outlet
    "9000000002,extra,55500002,学生,2001-03-05 12:00:00,第一食堂,T1,5.00,消费,",  # a field too many: card shifted
    "55500003,学生,2001-03-05 12:00:00,第一食堂,T1,5.00,消费,",  # a field too few: card in the id's place
    "9000000004,55500004,学生,2001-03-06 12:00:00,第一食堂,T1,5.00,消费,",  # after the file's day
]
STAFF_BAD = [
    "2001-03,QA000001,nowhere,cook,social_hire,centre,100.00",  # unknown unit
    "2001-03,QA000002,catering,cook,social_hire,centre,100.00,extra",  # malformed
    "2001-03,QA000003,catering,cook,social_hire,centre,100.00",  # one person in two units
    "2001-03,QA000003,office,cook,social_hire,centre,100.00",
    "2001-03,,catering,cook,social_hire,centre,100.00",  # no staff id
]


def _append(path: Path, lines: list[str], encoding: str) -> None:
    with open(path, "ab") as f:
        f.write(("\n".join(lines) + "\n").encode(encoding))


def _identifiers(landing: Path) -> set[str]:
    ids = set()
    for path in (landing / "canteen").glob("*.csv"):
        with open(path, encoding="gb18030", newline="") as f:
            rows = list(csv.reader(f))
        ids |= {v for r in rows[1:] for v in r if re.fullmatch(r"555\d{5}", v)}  # the injected ones, wherever
        ids |= {r[1] for r in rows[1:] if len(r) == 9 and r[1]}
    for path in (landing / "staff").glob("*.csv"):
        with open(path, encoding="utf-8-sig", newline="") as f:
            ids |= {r[1] for r in list(csv.reader(f))[1:] if len(r) >= 2 and r[1]}
    return ids - {"extra"}


@pytest.fixture(scope="module")
def landing(tmp_path_factory):
    from campus_logistics_tools.generate import generate

    root = tmp_path_factory.mktemp("privacy") / "landing"
    generate(scenario="scale", out=root, scale=300, days=3, start=date.fromisoformat(START))
    _append(root / "canteen" / "canteen_20010305.csv", CANTEEN_BAD, "gb18030")
    _append(root / "staff" / "staff_200103.csv", STAFF_BAD, "utf-8")
    return root


def _finder(ids: set[str]) -> re.Pattern:
    # an identifier as a token of its own: not inside a longer number, nor inside a hex pseudonym
    alt = "|".join(sorted(map(re.escape, ids), key=len, reverse=True))
    return re.compile(rf"(?<![0-9A-Za-z])(?:{alt})(?![0-9A-Za-z])")


def test_no_raw_identifier_in_warehouse_quarantine_logs_or_xcoms(landing, warehouse):
    ids = _identifiers(landing)
    assert len(ids) > 300 and {"55500001", "55500002", "55500003", "QA000001", "QA000003"} <= ids
    find = _finder(ids)
    # the search finds the identifiers where they are (so finding none later means something)
    canteen_text = (landing / "canteen" / "canteen_20010305.csv").read_text(encoding="gb18030")
    assert len(set(find.findall(canteen_text))) > 100

    code = ("import logging, sys; logging.basicConfig(level=logging.DEBUG, stream=sys.stderr); "
            "from campus_logistics.cli import main; sys.exit(main(sys.argv[1:]))")
    env = dict(os.environ, AIRFLOW__LOGGING__LOGGING_LEVEL="INFO")  # the task logs, in full
    out = subprocess.run([sys.executable, "-c", code, "run", "--landing", str(landing), "--start", START,
                          "--end", END, "--warehouse", warehouse], capture_output=True, text=True, timeout=900,
                         env=env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    leaks: dict[str, list[str]] = {}

    # the run's output: dag.test runs every task in this process, so this is the task logs
    assert "canteen/canteen_20010305.csv: read" in out.stdout + out.stderr  # task logging was captured
    leaks["run output"] = find.findall(out.stdout + out.stderr)

    # every table of every schema, every row as text (jsonb, arrays and all)
    with psycopg.connect(warehouse) as conn:
        tables = conn.execute(
            """SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE c.relkind IN ('r', 'p', 'm') AND NOT c.relispartition
                 AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'""").fetchall()
        scanned = 0
        for schema, table in tables:
            rows = conn.execute(f'SELECT t::text FROM "{schema}"."{table}" AS t').fetchall()
            scanned += len(rows)
            hits = [h for (r,) in rows for h in find.findall(r)]
            if hits:
                leaks[f"{schema}.{table}"] = hits
        rejected = dict(conn.execute("SELECT rule, count(*) FROM quality.rejected_rows GROUP BY rule").fetchall())
        card_hashes = conn.execute("SELECT count(DISTINCT card_hash) FROM core.canteen_txn").fetchone()[0]
    assert scanned > 5000 and card_hashes > 100
    # the quarantine holds the identifier-carrying rows, pseudonymised
    assert rejected.get("outlet_known", 0) >= 1 and rejected.get("malformed_row", 0) >= 3
    assert rejected.get("person_in_two_units") == 2 and rejected.get("unit_known", 0) >= 1

    # the Airflow home: task log files (if any) and the metadata DB with its XComs, byte for byte
    home = Path(os.environ["AIRFLOW_HOME"])
    files = [p for p in home.rglob("*") if p.is_file()]
    for p in files:
        hits = find.findall(p.read_bytes().decode("utf-8", errors="replace"))
        if hits:
            leaks[str(p.relative_to(home))] = hits
    db = Path(os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].removeprefix("sqlite:///"))
    with sqlite3.connect(db) as meta:
        xcoms = meta.execute("SELECT dag_id, task_id, CAST(value AS TEXT) FROM xcom WHERE dag_id LIKE 'feed_%'").fetchall()
    assert {(d, t) for d, t, _ in xcoms} >= {("feed_canteen", "load"), ("feed_staff", "load")}
    leaks["xcom"] = [h for _, _, v in xcoms for h in find.findall(v or "")]

    assert {k: v[:5] for k, v in leaks.items() if v} == {}


@pytest.mark.parametrize("fields, expected_hashed", [
    (["T1", "55500001", "学生", "t", "o", "T", "1.00", "消费", ""], [1]),  # well-formed: the card only
    (["T1", "x", "55500001", "学生", "t", "o", "T", "1.00", "消费", ""], [1, 2]),  # one too many
    (["55500001", "学生", "t", "o", "T", "1.00", "消费", ""], [0, 1]),  # one too few
    (["55500001"], [0]),
])
def test_malformed_row_fields_that_may_hold_the_identifier_are_pseudonymised(fields, expected_hashed):
    out = pseudonymise_fields(fields, 1, 9, lambda v: f"H({v})")
    assert [i for i, (a, b) in enumerate(zip(fields, out)) if a != b] == expected_hashed
    assert "55500001" not in out
