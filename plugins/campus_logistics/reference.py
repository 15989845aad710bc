"""``ref/`` — reference data, reloaded whenever a file's checksum changes.

Reference files are small and everything downstream depends on them, so they are strict: a
malformed reference file fails the run (rule and line named) rather than quarantining rows.
Tables with history in their source (``sub_centres`` by ``stage_since``, ``tariffs`` by
``effective_from``) keep every row; the KPIs pick the one in force.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Callable

from .errors import FileRejected
from .loading import file_checksum

UNIT_STAGES = ("big_entity", "small_entity", "no_entity")


def _date(v: str) -> date:
    return date.fromisoformat(v)


def _month(v: str) -> date:
    if not re.fullmatch(r"\d{4}-\d{2}", v):
        raise ValueError("expected YYYY-MM")
    return date(int(v[:4]), int(v[5:7]), 1)


def _int(v: str) -> int:
    if not re.fullmatch(r"-?\d+", v):
        raise ValueError("expected an integer")
    return int(v)


def _num(v: str) -> Decimal:
    try:
        d = Decimal(v)
    except InvalidOperation:
        raise ValueError("expected a number") from None
    if not d.is_finite():
        raise ValueError("expected a finite number")
    return d


def _enum(*values: str) -> Callable[[str], str]:
    def parse(v: str) -> str:
        if v not in values:
            raise ValueError(f"expected one of {list(values)}")
        return v
    return parse


def _text(v: str) -> str:
    if v == "":
        raise ValueError("must not be empty")
    return v


def _opt_text(v: str) -> str | None:
    return v or None


@dataclass(frozen=True)
class RefFile:
    name: str  # file name in ref/
    table: str
    columns: dict[str, Callable[[str], object]]  # header -> parser
    key: tuple[str, ...]
    required_for: tuple[str, ...] = ()  # feeds that cannot run without it
    table_columns: tuple[str, ...] | None = None  # table column names when they differ from headers

    def check(self, rows: list[dict], file: str) -> None:
        seen = set()
        for i, r in enumerate(rows, start=2):
            k = tuple(r[c] for c in self.key)
            if k in seen:
                raise FileRejected("ref", file, "unique_key", f"line {i}: duplicate key {dict(zip(self.key, k))}")
            seen.add(k)


REF_FILES: list[RefFile] = [
    RefFile("sub_centres.csv", "core.sub_centre",
            {"unit_code": _text, "name_zh": _text, "name_en": _text, "reform_stage": _enum(*UNIT_STAGES),
             "stage_since": _date}, ("unit_code", "stage_since"), ("canteen", "staff", "ledger", "work_orders", "surveys")),
    RefFile("outlets.csv", "core.outlet",
            {"outlet_name": _text, "outlet_code": _text, "unit_code": _text, "operator": _enum("centre", "tenant")},
            ("outlet_name",), ("canteen",)),
    RefFile("meters.csv", "core.meter",
            {"meter_id": _text, "utility": _enum("electricity", "water"), "building_code": _text,
             "building_type": _opt_text, "payer": _text, "multiplier": _num}, ("meter_id",), ("meters",)),
    RefFile("tariffs.csv", "core.tariff", {"utility": _enum("electricity", "water"), "effective_from": _date,
                                           "yuan_per_unit": _num}, ("utility", "effective_from"), ("meters",)),
    RefFile("enrolment.csv", "core.enrolment", {"month": _month, "students": _int}, ("month",), ("canteen",)),
    RefFile("baselines.csv", "core.baseline", {"key": _text, "value": _num, "note": _opt_text}, ("key",), ("staff",)),
    RefFile("utility_baseline.csv", "core.utility_baseline",
            {"utility": _enum("electricity", "water"), "month_of_year": _int, "quantity": _num},
            ("utility", "month_of_year"), ("meters",)),
    RefFile("sla.csv", "core.sla", {"category": _text, "respond_within_min": _int, "complete_within_h": _num},
            ("category",), ("work_orders",)),
    RefFile("targets.csv", "core.target", {"kpi_code": _text, "unit_code": _text, "bound": _enum("min", "max"),
                                           "value": _num}, ("kpi_code", "unit_code", "bound")),
]


def parse_ref(spec: RefFile, path: Path) -> list[dict]:
    raw = path.read_bytes()
    nul = raw.find(b"\x00")
    if nul >= 0:
        line = raw.count(b"\n", 0, nul) + 1
        raise FileRejected("ref", spec.name, "no_nul_bytes", f"line {line} holds a NUL byte (0x00): not a text file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FileRejected("ref", spec.name, "encoding", "reference files must be UTF-8") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in spec.columns if c not in header]
    if missing:
        raise FileRejected("ref", spec.name, "header", f"missing column(s) {missing}; found {header}")
    rows = []
    for i, r in enumerate(reader, start=2):
        r = {(k or "").strip(): (v or "").strip() for k, v in r.items() if k is not None}
        if not any(r.values()):
            continue
        out = {}
        for col, parse in spec.columns.items():
            try:
                out[col] = parse(r.get(col, ""))
            except ValueError as exc:
                raise FileRejected("ref", spec.name, f"{col}_valid", f"line {i}: {col}={r.get(col)!r}: {exc}") from None
        rows.append(out)
    spec.check(rows, spec.name)
    return rows


def load_reference(conn, landing: Path, run_id: str | None = None, *, needed_by: str | None = None,
                   replace: bool = True) -> list[str]:
    """Reload every changed ref file; return the names reloaded. Runs in the caller's transaction.

    ``replace=False`` (a landing other than the deployment's): a ref file that would replace the
    warehouse's differing one fails with ``ref_replace_explicit`` instead; a first load is allowed.
    """
    ref_dir = Path(landing) / "ref"
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('campus_logistics.ref'))")  # one reloader at a time
    loaded = dict(conn.execute("SELECT name, checksum FROM core.ref_file").fetchall())
    changed = []
    for spec in REF_FILES:
        path = ref_dir / spec.name
        if not path.is_file():
            if needed_by and needed_by in spec.required_for and spec.name not in loaded:
                raise FileRejected("ref", spec.name, "file_present", f"{path} is missing and feed {needed_by!r} needs it")
            continue
        checksum = file_checksum(path)
        if loaded.get(spec.name) == checksum:
            continue
        if not replace and spec.name in loaded:
            raise FileRejected("ref", spec.name, "ref_replace_explicit",
                               "differs from the warehouse's reference data, and this run's landing is not the "
                               "default one: trigger it with replace_reference=true to replace it")
        rows = parse_ref(spec, path)
        cols = list(spec.columns)
        conn.execute(f"DELETE FROM {spec.table}")
        with conn.cursor().copy(f"COPY {spec.table} ({', '.join(cols)}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row(tuple(r[c] for c in cols))
        conn.execute(
            """INSERT INTO core.ref_file (name, checksum, rows, loaded_at, run_id) VALUES (%s, %s, %s, now(), %s)
               ON CONFLICT (name) DO UPDATE SET checksum = EXCLUDED.checksum, rows = EXCLUDED.rows,
                   loaded_at = EXCLUDED.loaded_at, run_id = EXCLUDED.run_id""",
            (spec.name, checksum, len(rows), run_id),
        )
        changed.append(spec.name)
    return changed
