"""``ref/`` — reference data, reloaded whenever a file's checksum changes.

Reference files are small and everything downstream depends on them, so they are strict: a
malformed reference file fails the run (rule and line named) rather than quarantining rows. Every
constraint its table would enforce (a CHECK, a column's scale, a unit that must exist) is checked
here first (``reference_constraint``), and each file loads under a savepoint: a refused file leaves
the reference data loaded before in force instead of failing every feed with a database error.
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

from .errors import FileRejected, shown
from .load.read import content_checksum, open_landed

UNIT_STAGES = ("big_entity", "small_entity", "no_entity")


def _date(v: str) -> date:
    return date.fromisoformat(v)


def _month(v: str) -> date:
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}", v):  # ASCII digits: \d also matches full-width ones
        raise ValueError("expected YYYY-MM")
    return date(int(v[:4]), int(v[5:7]), 1)


def _int(v: str) -> int:
    if not re.fullmatch(r"-?[0-9]+", v):
        raise ValueError("expected an integer")
    return int(v)


def _num(v: str) -> Decimal:
    if not re.fullmatch(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)", v):  # Decimal() reads full-width digits too
        raise ValueError("expected a plain decimal number")
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
class Constraint:
    """A condition on a parsed column value that the warehouse (a CHECK, a column's scale, a unit
    that must exist) would otherwise enforce by failing the whole load, or by silently rounding."""

    column: str
    ok: Callable[[object], bool]
    says: str  # what a good value is, for the message (never the value itself)
    row: bool = False  # ok() receives the whole parsed row (a condition on one key of a key/value file)


def _at_least(n) -> Callable[[object], bool]:
    return lambda v: v is None or v >= n


def _between(lo, hi) -> Callable[[object], bool]:
    return lambda v: v is None or lo <= v <= hi


def _scale(integer_digits: int, decimals: int) -> Callable[[object], bool]:
    """Fits numeric(integer_digits + decimals, decimals) exactly: no digit would be rounded away."""
    def ok(v) -> bool:
        if v is None:
            return True
        exp = v.normalize().as_tuple().exponent if v else 0
        return (exp >= -decimals) and abs(v) < Decimal(10) ** integer_digits
    return ok


INT4 = (-2**31, 2**31 - 1)


def _key_value(key: str, ok: Callable[[Decimal], bool]) -> Callable[[dict], bool]:
    """A baselines.csv row: the value of ``key`` must satisfy ``ok``; other keys pass."""
    return lambda r: r["key"] != key or ok(r["value"])


# optional baselines.csv keys of the normalised utilities savings (kpis/utility_baselines.py)
BASELINE_KEY_CHECKS = (
    Constraint("value", _key_value("utility_baseline_students", lambda v: 1 <= v <= INT4[1]),
               "utility_baseline_students must be a number of students from 1 to 2147483647", row=True),
    Constraint("value", _key_value("utility_baseline_year", lambda v: v == v.to_integral_value() and 1900 <= v <= 2999),
               "utility_baseline_year must be a whole year from 1900 to 2999", row=True),
)
# numbers the KPIs multiply and sum, and the report views show as numeric(30, 2/6): a value beyond
# these never describes this campus, and would overflow a report
PLAUSIBLE = _scale(15, 6)
PLAUSIBLE_SAYS = "below 10^15 with at most 6 decimals"


@dataclass(frozen=True)
class RefFile:
    name: str  # file name in ref/
    table: str
    columns: dict[str, Callable[[str], object]]  # header -> parser
    key: tuple[str, ...]
    required_for: tuple[str, ...] = ()  # feeds that cannot run without it
    table_columns: tuple[str, ...] | None = None  # table column names when they differ from headers
    constraints: tuple[Constraint, ...] = ()
    units: tuple[str, ...] = ()  # columns holding a unit code that must be in sub_centres.csv
    unit_extra: tuple[str, ...] = ()  # codes allowed besides the sub-centres' (e.g. 'campus')

    def check(self, rows: list[dict], file: str, lines: list[int] | None = None) -> None:
        seen = set()
        for i, r in zip(lines or range(2, len(rows) + 2), rows):
            k = tuple(r[c] for c in self.key)
            if k in seen:
                key = ", ".join(f"{c}={shown(v)}" for c, v in zip(self.key, k))
                raise FileRejected("ref", file, "unique_key", f"line {r.get(LINE, i)}: duplicate key ({key})")
            seen.add(k)
        for r in rows:
            for c in self.constraints:
                if not c.ok(r if c.row else r[c.column]):
                    raise _constraint(file, r, c.column, c.says)

    def check_units(self, rows: list[dict], file: str, known: set[str]) -> None:
        """Every unit code names a sub-centre: an outlet of an unknown unit would put its revenue
        on a unit no report lists."""
        for r in rows:
            for col in self.units:
                if r[col] not in known and r[col] not in self.unit_extra:
                    raise _constraint(file, r, col, "must be a unit_code of sub_centres.csv")


LINE = "_line"  # a parsed row's line in its file


def _constraint(file: str, row: dict, column: str, says: str) -> FileRejected:
    return FileRejected("ref", file, "reference_constraint",
                        f"line {row.get(LINE)}, column {column!r}: {says}; the file was not loaded "
                        "(the reference data loaded before stays in force)", rows_bad=1)


REF_FILES: list[RefFile] = [
    RefFile("sub_centres.csv", "core.sub_centre",
            {"unit_code": _text, "name_zh": _text, "name_en": _text, "reform_stage": _enum(*UNIT_STAGES),
             "stage_since": _date}, ("unit_code", "stage_since"), ("canteen", "staff", "ledger", "work_orders", "surveys")),
    RefFile("outlets.csv", "core.outlet",
            {"outlet_name": _text, "outlet_code": _text, "unit_code": _text, "operator": _enum("centre", "tenant")},
            ("outlet_name",), ("canteen",), units=("unit_code",)),
    RefFile("meters.csv", "core.meter",
            {"meter_id": _text, "utility": _enum("electricity", "water"), "building_code": _text,
             "building_type": _opt_text, "payer": _text, "multiplier": _num}, ("meter_id",), ("meters",),
            constraints=(Constraint("multiplier", _between(1, 1_000_000), "a multiplier from 1 to 1,000,000"),
                         Constraint("multiplier", PLAUSIBLE, PLAUSIBLE_SAYS))),
    RefFile("tariffs.csv", "core.tariff", {"utility": _enum("electricity", "water"), "effective_from": _date,
                                           "yuan_per_unit": _num}, ("utility", "effective_from"), ("meters",),
            constraints=(Constraint("yuan_per_unit", _at_least(0), "a tariff must not be negative"),
                         Constraint("yuan_per_unit", _scale(8, 4),
                                    "at most 4 decimals and 8 integer digits (a longer tariff would be rounded)"))),
    RefFile("enrolment.csv", "core.enrolment", {"month": _month, "students": _int}, ("month",), ("canteen",),
            constraints=(Constraint("students", _between(0, INT4[1]), "a number of students from 0 to 2147483647"),)),
    RefFile("baselines.csv", "core.baseline", {"key": _text, "value": _num, "note": _opt_text}, ("key",), ("staff",),
            constraints=(Constraint("value", PLAUSIBLE, PLAUSIBLE_SAYS),) + BASELINE_KEY_CHECKS),
    RefFile("utility_baseline.csv", "core.utility_baseline",
            {"utility": _enum("electricity", "water"), "month_of_year": _int, "quantity": _num},
            ("utility", "month_of_year"), ("meters",),
            constraints=(Constraint("month_of_year", _between(1, 12), "a month of the year from 1 to 12"),
                         Constraint("quantity", _at_least(0), "a baseline quantity must not be negative"),
                         Constraint("quantity", PLAUSIBLE, PLAUSIBLE_SAYS))),
    # optional: daily mean temperatures for the weather-adjusted utilities saving
    RefFile("temperature.csv", "core.temperature", {"date": _date, "mean_temp_c": _num}, ("date",),
            table_columns=("day", "mean_temp_c"),
            constraints=(Constraint("mean_temp_c", _between(-60, 60), "a daily mean temperature from -60 to 60 °C"),
                         Constraint("mean_temp_c", _scale(2, 2), "at most 2 decimals"))),
    RefFile("sla.csv", "core.sla", {"category": _text, "respond_within_min": _int, "complete_within_h": _num},
            ("category",), ("work_orders",),
            constraints=(Constraint("respond_within_min", _between(0, INT4[1]), "minutes from 0 to 2147483647"),
                         Constraint("complete_within_h", _at_least(0), "hours must not be negative"),
                         Constraint("complete_within_h", PLAUSIBLE, PLAUSIBLE_SAYS))),
    RefFile("targets.csv", "core.target", {"kpi_code": _text, "unit_code": _text, "bound": _enum("min", "max"),
                                           "value": _num}, ("kpi_code", "unit_code", "bound"),
            units=("unit_code",), unit_extra=("campus",),
            constraints=(Constraint("value", PLAUSIBLE, PLAUSIBLE_SAYS),)),
]


def read_ref(path: Path, landing: Path) -> bytes:
    """A reference file's bytes, through the landing gate (no links, nothing outside landing)."""
    with open_landed("ref", path, landing) as f:
        return f.read()


def concerns(name: str, feed: str) -> bool:
    """Whether a refused ref file fails ``feed``'s run: the feeds that need it, and every feed for a
    file no feed needs (targets: read by the KPI DAG). Others load unaffected (it is still recorded)."""
    spec = next((s for s in REF_FILES if s.name == name), None)
    return spec is None or not spec.required_for or feed in spec.required_for


def parse_ref(spec: RefFile, path: Path, raw: bytes | None = None) -> list[dict]:
    raw = path.read_bytes() if raw is None else raw
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
    if len(set(spec.columns) & set(header)) < max(1, len(spec.columns) // 2):  # a data row: never echoed
        raise FileRejected("ref", spec.name, "header_present", f"the file has no header row: its first line names "
                           f"few or none of the columns {list(spec.columns)} (a data row? it is not shown)")
    if missing:
        found = ", ".join(shown(h) for h in header[:20])
        raise FileRejected("ref", spec.name, "header", f"missing column(s) {missing}; found [{found}]")
    rows, lines = [], []
    physical = text.split("\n")  # as io.StringIO iterates it
    end = reader.line_num  # the physical line each row ends on: a quoted field may span several
    for r in reader:
        i, end = end + 1, reader.line_num
        i += _blank_lines_before(physical, i, end)
        r = {(k or "").strip(): (v or "").strip() for k, v in r.items() if k is not None}
        if not any(r.values()):
            continue
        out = {LINE: i}
        for col, parse in spec.columns.items():
            try:
                out[col] = parse(r.get(col, ""))
            except ValueError as exc:
                raise FileRejected("ref", spec.name, f"{col}_valid", f"line {i}: {col}={shown(r.get(col))}: {exc}") from None
        rows.append(out)
        lines.append(i)
    spec.check(rows, spec.name, lines)
    return rows


def _blank_lines_before(physical: list[str], first: int, last: int) -> int:
    """Blank lines the csv reader skipped before a row occupying lines first..last (it skips them silently)."""
    n = 0
    while first + n < last and not physical[first + n - 1].strip("\r"):
        n += 1
    return n


def load_reference(conn, landing: Path, run_id: str | None = None, *, needed_by: str | None = None,
                   rejected: list[FileRejected] | None = None, replace: bool = True) -> list[str]:
    """Reload every changed ref file; return the names reloaded. Runs in the caller's transaction.

    With a ``rejected`` list, a bad ref file is appended there instead of raised, and the others
    still load: each file loads under its own savepoint, so a file the warehouse refuses leaves
    the reference data loaded before in force. A file the feed ``needed_by`` cannot run without
    and that was never loaded is still raised.

    ``replace=False`` (a landing other than the deployment's): a ref file that would replace the
    warehouse's differing one is refused with ``ref_replace_explicit`` instead; a first load is allowed."""
    ref_dir = Path(landing) / "ref"
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('campus_logistics.ref'))")  # one reloader at a time
    loaded = dict(conn.execute("SELECT name, checksum FROM core.ref_file").fetchall())
    changed = []
    for spec in REF_FILES:
        path = ref_dir / spec.name
        if not (path.is_file() or path.is_symlink()):  # a link is refused by the gate, not taken as absent
            if needed_by and needed_by in spec.required_for and spec.name not in loaded:
                raise FileRejected("ref", spec.name, "file_present", f"{path} is missing and feed {needed_by!r} needs it")
            continue
        try:
            raw = read_ref(path, landing)
            checksum = content_checksum(raw)  # of exactly the bytes parsed below
            if loaded.get(spec.name) == checksum:
                continue
            if not replace and spec.name in loaded:
                raise FileRejected("ref", spec.name, "ref_replace_explicit",
                                   "differs from the warehouse's reference data, and this run's landing is not the "
                                   "default one: trigger it with replace_reference=true to replace it")
            _load_ref_file(conn, spec, path, raw, checksum, run_id, loaded)
        except FileRejected as exc:
            # a reference change nobody asked for stops the run: it is the run's parameters, not a bad file
            if rejected is None or exc.rule == "ref_replace_explicit" or (
                    needed_by in spec.required_for and spec.name not in loaded):
                raise
            rejected.append(exc)
            continue
        changed.append(spec.name)
    return changed


def _check_units_still_known(conn, ref_dir: Path, loaded: dict[str, str]) -> None:
    """A new sub_centres.csv must keep every unit the loaded outlets and targets still use (files
    about to be reloaded are checked against it when they load). Runs inside the file's savepoint."""
    for spec in REF_FILES:
        if not spec.units or spec.name not in loaded:
            continue
        path = ref_dir / spec.name
        if path.is_file() and not path.is_symlink() and content_checksum(path.read_bytes()) != loaded[spec.name]:
            continue  # reloaded next, against the new sub-centres
        for col in spec.units:
            (n,) = conn.execute(
                f"SELECT count(*) FROM {spec.table} WHERE {col} <> ALL(%s) "
                f"AND {col} NOT IN (SELECT unit_code FROM core.sub_centre)", (list(spec.unit_extra),)).fetchone()
            if n:
                raise FileRejected("ref", "sub_centres.csv", "reference_constraint",
                                   f"column 'unit_code': {n} row(s) of the loaded {spec.name} use a unit this file "
                                   "no longer lists; the file was not loaded (the reference data loaded before "
                                   "stays in force)", rows_bad=n)


def _load_ref_file(conn, spec: RefFile, path: Path, raw: bytes, checksum: str, run_id: str | None,
                   loaded: dict[str, str]) -> list[dict]:
    """Parse, check and replace one ref table under a savepoint; FileRejected names what failed."""
    import psycopg

    rows = parse_ref(spec, path, raw)
    try:
        with conn.transaction():  # a savepoint: a refused file rolls back alone
            if spec.units:
                known = {u for (u,) in conn.execute("SELECT DISTINCT unit_code FROM core.sub_centre").fetchall()}
                spec.check_units(rows, spec.name, known)
            headers = list(spec.columns)
            cols = list(spec.table_columns or headers)
            conn.execute(f"DELETE FROM {spec.table}")
            with conn.cursor().copy(f"COPY {spec.table} ({', '.join(cols)}) FROM STDIN") as copy:
                for r in rows:
                    copy.write_row(tuple(r[c] for c in headers))
            if spec.table == "core.sub_centre":
                _check_units_still_known(conn, path.parent, loaded)
            conn.execute(
                """INSERT INTO core.ref_file (name, checksum, rows, loaded_at, run_id) VALUES (%s, %s, %s, now(), %s)
                   ON CONFLICT (name) DO UPDATE SET checksum = EXCLUDED.checksum, rows = EXCLUDED.rows,
                       loaded_at = EXCLUDED.loaded_at, run_id = EXCLUDED.run_id""",
                (spec.name, checksum, len(rows), run_id),
            )
    except psycopg.Error as exc:
        # a constraint the checks above do not mirror yet: still this file's rejection, never a crash
        # of every feed; the SQLSTATE and constraint name say what, the row's values are not repeated
        diag = exc.diag
        what = diag.constraint_name or diag.column_name or diag.sqlstate or type(exc).__name__
        raise FileRejected("ref", spec.name, "reference_constraint",
                           f"the warehouse refused the file ({what}); the file was not loaded "
                           "(the reference data loaded before stays in force)") from None
    return rows
