"""``work_orders/`` — repair and service tickets (报修系统), one JSON array a day.

A file holds every ticket created or changed that day, each in its CURRENT state, so the same
``order_id`` arrives again on later days as it moves on. The newest ``updated_at`` wins.

Storage (order-independent by construction):

* ``core.work_order_version`` keeps every version every file delivered, keyed by
  (order_id, updated_at, source_file). Loading a file replaces exactly that file's versions, so
  a re-delivered corrected file replaces what the old one contributed, and a replayed older file
  only puts back the versions it had already put there.
* ``core.work_order`` is the current state: for each ticket the version with the newest
  ``updated_at`` (ties: the later file day, then the file name). It is re-derived for every ticket
  a load touches, so loading day 3 then re-running day 1 leaves day 3's state, and any order of
  loading the same files gives the same warehouse.
* A version that fails a row rule is quarantined and never stored: the ticket's current state is
  then its newest *valid* version (what we reliably know).

File gate (the file fails as a whole, nothing is loaded): ``not_empty`` (0 bytes or only
whitespace), ``encoding`` (not UTF-8/16/32 — a UTF-8 BOM is fine), ``truncated`` (the JSON ends
before the document does: a cut-off export), ``json_valid`` (any other JSON syntax error),
``json_array`` (valid JSON that is not an array). An empty array ``[]`` is accepted with 0 rows: a
day without a ticket is plausible for a small college in the holidays.

Row rules (the ticket version is quarantined with every rule it breaks): ``row_is_object``,
``fields_complete`` (all 13 fields present; ``null`` is a value), ``no_unknown_fields``,
``order_id_present``, ``category_known`` (in ref/sla.csv), ``unit_known`` (in
ref/sub_centres.csv), ``created_at_valid`` / ``updated_at_valid`` (present and parseable),
``dispatched_at_valid`` / ``arrived_at_valid`` / ``completed_at_valid`` (null or parseable),
``status_known``, ``rating_integer`` and ``rating_in_range`` (null or an integer 1–5),
``reopened_boolean``, ``completed_has_completed_at`` (status completed/closed needs a
completed_at), ``dispatched_not_before_created``, ``arrived_not_before_created``,
``completed_not_before_created``, ``updated_at_not_after_file_day`` and
``times_not_after_file_day`` (no time after the end of the file's day, local time),
``times_within_ticket_age`` (no time more than ``CAMPUS_LOGISTICS_MAX_TICKET_AGE_DAYS``, default
366, before the file's day). A JSON document nested deeper than 32 levels fails the file
(``json_valid``).

Duplicates inside one file: the same order_id with the same updated_at and the same content is a
duplicate collapsed (counted); with different content the first occurrence wins and the later one
is quarantined (``duplicate_id_conflict``). The same order_id with different updated_at values
are different versions: both are stored and the newest is the current state.

Times are ISO-8601 with an offset (``+08:00``, ``+0800``, ``Z``), optionally fractional seconds;
a time without offset is read as Asia/Shanghai local time.

Loading (``StagedFeed``): each file is gated as it is read, but the columns the rules check (and
the text each stage column is COPY'd from) are derived, and Great Expectations run, once per
*window* of tickets drawn from several consecutive files, not once per file; each file is then
staged, audited and published in its own transaction, in date order, exactly as if it had been
validated alone. The raw element travels as JSON text in the column ``raw``, so a quarantine
record is the element as delivered.
"""

from __future__ import annotations

import json
import re
from typing import Iterator

import numpy as np
import pandas as pd

from .. import limits
from ..errors import FileRejected
from ..loading import FileOutcome, collapse_duplicates, content_checksum, copy_frame
from ..settings import TIME_ZONE
from ..validation import ROW, Rule
from .base import LandingFile, LoadContext
from .staged import StagedFeed

LOCAL_TZ = TIME_ZONE
FIELDS = ["order_id", "category", "unit_code", "building_code", "room", "created_at", "dispatched_at",
          "arrived_at", "completed_at", "status", "rating", "reopened", "updated_at"]
STATUSES = ["open", "dispatched", "in_progress", "completed", "closed", "cancelled"]
DONE = ("completed", "closed")
TIME_FIELDS = ["created_at", "dispatched_at", "arrived_at", "completed_at", "updated_at"]
BATCH = 50_000  # tickets per frame read from a file (StagedFeed validates windows of frames)
ELEMENT = "element"  # a batch's parsed JSON values (ArrayReader)
RAW = "raw"  # the element as JSON text: no leading underscore, so it reaches quarantine_record
FILE_DAY = "_file_day"  # the day of the element's file (a window holds several files' elements)
COPY = "_copy_"  # prefix of the columns holding the text each stage column is COPY'd from

STAGE_COLUMNS = ["order_id", "updated_at", "source_file", "file_day", "source_line", "category", "unit_code",
                 "building_code", "room", "created_at", "dispatched_at", "arrived_at", "completed_at", "status",
                 "rating", "reopened", "run_id", "_raw"]  # _raw: the element (duplicate conflicts store it)
CORE_COLUMNS = STAGE_COLUMNS[:-1]
CONTENT = ["category", "unit_code", "building_code", "room", "created_at", "dispatched_at", "arrived_at",
           "completed_at", "status", "rating", "reopened"]
CURRENT_COLUMNS = [c for c in CORE_COLUMNS if c != "source_line"]

# --- time parsing shared with the survey feed --------------------------------------------------

_TIME_RE = (
    r"^\s*(?P<year>[0-9]{4})[-/.](?P<month>[0-9]{1,2})[-/.](?P<day>[0-9]{1,2})"
    r"(?:(?:[Tt]|\s+)(?P<hour>[0-9]{1,2}):(?P<minute>[0-9]{2})(?::(?P<second>[0-9]{2})(?:[.,](?P<frac>[0-9]{1,9}))?)?)?"
    r"\s*(?P<off>[Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?\s*$"
)


def parse_times(values: pd.Series, *, require_time: bool = True) -> pd.Series:
    """Text times → UTC timestamps (NaT where missing or unparseable), vectorised.

    ISO-8601 dates and times with ``T`` or a space, optional seconds and fraction, and an offset
    (``Z``, ``+08``, ``+0800``, ``+08:00``); without an offset the time is Asia/Shanghai local.
    Non-text values (numbers, lists…) are unparseable. ``require_time=False`` also accepts a bare
    date (local midnight).
    """
    text = values.map(lambda v: v if isinstance(v, str) else None).astype("object")
    # each distinct text is parsed once (a ticket's times recur in every later file it is in)
    codes, distinct = pd.factorize(text)
    parsed = _parse_text(pd.Series(distinct, dtype="object"), require_time)
    return pd.Series(parsed.array.take(codes, allow_fill=True), index=values.index)


def _parse_text(text: pd.Series, require_time: bool) -> pd.Series:
    parts = text.astype("string").str.extract(_TIME_RE)
    if require_time:
        parts.loc[parts["hour"].isna()] = None
    frac = parts["frac"].fillna("0").str.slice(0, 6).str.pad(6, side="right", fillchar="0")
    def num(col: pd.Series) -> pd.Series:
        return pd.to_numeric(col, errors="coerce").astype("float64")

    comp = pd.DataFrame({
        "year": num(parts["year"]), "month": num(parts["month"]), "day": num(parts["day"]),
        "hour": num(parts["hour"].fillna("0")), "minute": num(parts["minute"].fillna("0")),
        "second": num(parts["second"].fillna("0")), "microsecond": num(frac),
    }, index=text.index)
    comp.loc[parts["year"].isna()] = np.nan
    naive = pd.to_datetime(comp, errors="coerce") if len(comp) else pd.Series([], dtype="datetime64[us]")
    off = parts["off"].fillna("")
    has_off = off != ""
    zulu = off.str.upper() == "Z"
    digits = off.str.replace(":", "", regex=False).str.slice(1)
    sign = off.str.slice(0, 1).map({"+": 1, "-": -1}).fillna(0)
    off_min = (pd.to_numeric(digits.str.slice(0, 2).where(has_off & ~zulu), errors="coerce").fillna(0) * 60
               + pd.to_numeric(digits.str.slice(2, 4).where(has_off & ~zulu & (digits.str.len() >= 4)),
                               errors="coerce").fillna(0)) * sign
    with_off = (naive - pd.to_timedelta(off_min, unit="min")).dt.tz_localize("UTC")
    local = naive.dt.tz_localize(LOCAL_TZ, nonexistent="shift_forward", ambiguous="NaT").dt.tz_convert("UTC")
    out = with_off.where(has_off, local)
    return out.astype("datetime64[us, UTC]")


def utc_text(ts: pd.Series) -> pd.Series:
    """UTC timestamps → text PostgreSQL reads as timestamptz (None for NaT)."""
    s = ts.dt.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    return s.astype("object").where(ts.notna(), None)


def local_day(ts: pd.Series) -> pd.Series:
    return ts.dt.tz_convert(LOCAL_TZ).dt.tz_localize(None).dt.normalize()


# --- rules ---------------------------------------------------------------------------------------

def rules(categories: list[str], units: list[str]) -> list[Rule]:
    ok = ["ok"]
    return [
        Rule("row_is_object", lambda g: g.ExpectColumnValuesToBeInSet(column="_is_object", value_set=ok)),
        Rule("fields_complete", lambda g: g.ExpectColumnValuesToBeNull(column="_missing")),
        Rule("no_unknown_fields", lambda g: g.ExpectColumnValuesToBeNull(column="_unknown")),
        Rule("order_id_present", lambda g: g.ExpectColumnValuesToNotBeNull(column="_order_id")),
        Rule("category_known", lambda g: g.ExpectColumnValuesToBeInSet(column="_category", value_set=categories)),
        Rule("unit_known", lambda g: g.ExpectColumnValuesToBeInSet(column="_unit", value_set=units)),
        Rule("created_at_valid", lambda g: g.ExpectColumnValuesToBeInSet(column="_created_at_ok", value_set=ok)),
        Rule("updated_at_valid", lambda g: g.ExpectColumnValuesToBeInSet(column="_updated_at_ok", value_set=ok)),
        Rule("dispatched_at_valid", lambda g: g.ExpectColumnValuesToBeInSet(column="_dispatched_at_ok", value_set=ok)),
        Rule("arrived_at_valid", lambda g: g.ExpectColumnValuesToBeInSet(column="_arrived_at_ok", value_set=ok)),
        Rule("completed_at_valid", lambda g: g.ExpectColumnValuesToBeInSet(column="_completed_at_ok", value_set=ok)),
        Rule("status_known", lambda g: g.ExpectColumnValuesToBeInSet(column="_status", value_set=STATUSES)),
        Rule("rating_integer", lambda g: g.ExpectColumnValuesToBeInSet(column="_rating_kind", value_set=["null", "int"])),
        Rule("rating_in_range", lambda g: g.ExpectColumnValuesToBeBetween(column="_rating_num", min_value=1, max_value=5)),
        Rule("reopened_boolean", lambda g: g.ExpectColumnValuesToNotBeNull(column="_reopened")),
        Rule("completed_has_completed_at", lambda g: g.ExpectColumnValuesToBeInSet(column="_done_ok", value_set=ok)),
        Rule("dispatched_not_before_created", lambda g: g.ExpectColumnValuesToBeBetween(column="_dispatch_s", min_value=0)),
        Rule("arrived_not_before_created", lambda g: g.ExpectColumnValuesToBeBetween(column="_arrive_s", min_value=0)),
        Rule("completed_not_before_created", lambda g: g.ExpectColumnValuesToBeBetween(column="_complete_s", min_value=0)),
        Rule("updated_at_not_after_file_day", lambda g: g.ExpectColumnValuesToBeBetween(column="_updated_days_late", min_value=0)),
        Rule("times_not_after_file_day", lambda g: g.ExpectColumnValuesToBeBetween(column="_times_days_late", min_value=0)),
        Rule("times_within_ticket_age", lambda g: g.ExpectColumnValuesToBeInSet(column="_age_ok", value_set=ok)),
    ]


def _text(v) -> str | None:
    """A JSON string (stripped) or integer as text; anything else (null, bool, list…) is missing."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, str):
        v = v.strip()
        return v or None
    return None


def _rating(v) -> tuple[str, float]:
    """(kind, value): kind 'null', 'int' or 'bad'; value the number when it is one."""
    if v is None:
        return "null", np.nan
    if isinstance(v, bool):
        return "bad", np.nan
    if isinstance(v, int):
        return "int", _clamped(v)
    if isinstance(v, float):
        return ("int", v) if v.is_integer() else ("bad", v)
    if isinstance(v, str):
        s = v.strip()
        if re.fullmatch(r"[+-]?[0-9]{1,20}", s):  # ASCII digits: isdigit() also accepts '①', which int() refuses
            return "int", _clamped(int(s))
        return ("null", np.nan) if s == "" else ("bad", np.nan)
    return "bad", np.nan


def _clamped(n: int) -> float:
    """An integer rating as a float, huge ones held at ±1e9 (out of range either way): float() of a
    400-digit JSON integer raises OverflowError."""
    return float(max(-10**9, min(n, 10**9)))


def _bool(v) -> str | None:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int) and v in (0, 1):
        return "true" if v else "false"
    if isinstance(v, str) and v.strip().lower() in ("true", "false"):
        return v.strip().lower()
    return None


def frame(batch: pd.DataFrame) -> pd.DataFrame:
    """JSON array elements (column ``element``, with ``_row`` and ``_file_day``, the day of each
    element's file; possibly the elements of several files) → the element as JSON text (``raw``:
    what a quarantine record or a duplicate conflict stores), the derived columns the rules check,
    and the text each stage column is COPY'd from (``_copy_<column>``). The batch's other columns
    are kept; the raw field values are only read here."""
    elements = batch[ELEMENT].tolist()
    is_obj = [isinstance(e, dict) for e in elements]
    objs = [e if ok else {} for e, ok in zip(elements, is_obj)]
    df = pd.DataFrame({f: pd.Series([o.get(f) for o in objs], dtype="object") for f in FIELDS})
    for c in batch.columns.drop(ELEMENT):
        df[c] = batch[c].to_numpy()
    df[RAW] = pd.Series([json.dumps(e, ensure_ascii=False) for e in elements], dtype="object")
    df["_is_object"] = np.where(is_obj, "ok", "no")
    fieldset = set(FIELDS)
    df["_missing"] = pd.Series([", ".join(f for f in FIELDS if f not in o) or None if ok else "all"
                                for o, ok in zip(objs, is_obj)], dtype="object")
    df["_unknown"] = pd.Series([", ".join(sorted(str(k) for k in o if k not in fieldset)) or None for o in objs],
                               dtype="object")
    for f in ("order_id", "category", "unit_code", "building_code", "room", "status"):
        df[f"_{f}"] = df[f].map(_text).astype("object")
    df["_unit"] = df.pop("_unit_code").fillna("")
    df["_category"] = df["_category"].fillna("")
    df["_status"] = df["_status"].map(lambda v: v.lower() if isinstance(v, str) else "").astype("object")
    n = len(df)
    stacked = parse_times(pd.concat([df[f] for f in TIME_FIELDS], ignore_index=True))  # one parse for all fields
    for k, f in enumerate(TIME_FIELDS):
        ts = stacked.iloc[k * n:(k + 1) * n].copy()
        ts.index = df.index
        df[f"_{f}"] = ts
        present = df[f].notna()
        required = f in ("created_at", "updated_at")
        good = ts.notna() | (~present & (not required))
        df[f"_{f}_ok"] = np.where(good, "ok", "bad")
    kinds = [_rating(v) for v in df["rating"]]
    df["_rating_kind"] = [k for k, _ in kinds]
    df["_rating_num"] = pd.Series([x for _, x in kinds], dtype="float64", index=df.index)
    df["_reopened"] = df["reopened"].map(_bool).astype("object")
    done = df["_status"].isin(DONE)
    df["_done_ok"] = np.where(done & df["_completed_at"].isna(), "missing", "ok")
    created = df["_created_at"]
    for f, col in (("dispatched_at", "_dispatch_s"), ("arrived_at", "_arrive_s"), ("completed_at", "_complete_s")):
        df[col] = (df[f"_{f}"] - created).dt.total_seconds()
    day = df[FILE_DAY].astype("datetime64[us]")
    df["_updated_days_late"] = (day - local_day(df["_updated_at"])).dt.days.astype("float64")
    latest = pd.concat([df[f"_{f}"] for f in TIME_FIELDS[:-1]], axis=1).max(axis=1)
    df["_times_days_late"] = (day - local_day(latest.astype("datetime64[us, UTC]"))).dt.days.astype("float64")
    # a ticket older than any real one (a year typo) must not reach months nobody loads
    earliest = pd.concat([df[f"_{f}"] for f in TIME_FIELDS], axis=1).min(axis=1).astype("datetime64[us, UTC]")
    age = (day - local_day(earliest)).dt.days
    df["_age_ok"] = pd.Series(np.where(age <= limits.max_ticket_age_days(), "ok", "too_old"), index=df.index,
                              dtype="object").where(earliest.notna(), None)
    copy = {
        "order_id": _obj(df["_order_id"]),
        "source_line": df[ROW].astype("int64"),
        "category": _obj(df["_category"]),
        "unit_code": _obj(df["_unit"]),
        "building_code": _obj(df["_building_code"]),
        "room": _obj(df["_room"]),
        "status": _obj(df["_status"]),
        # only where the rating rules pass (an infinite or fractional rating is quarantined anyway)
        "rating": df["_rating_num"].where((df["_rating_kind"] == "int") & df["_rating_num"].between(1, 5))
                                   .map(lambda x: None if pd.isna(x) else str(int(x))).astype("object"),
        "reopened": _obj(df["_reopened"]),
        "_raw": df[RAW],
    }
    copy.update({f: utc_text(df[f"_{f}"]) for f in TIME_FIELDS})
    for c, values in copy.items():
        df[COPY + c] = values
    return df.drop(columns=FIELDS)


def _obj(s: pd.Series) -> pd.Series:
    """Object column with None for every missing value (what the COPY writer expects)."""
    return s.astype("object").where(s.notna(), None)


def _stage_frame(good: pd.DataFrame, lf: LandingFile, ctx: LoadContext) -> pd.DataFrame:
    """The good rows of one file as the stage's columns (the text ``frame`` prepared)."""
    const = {"source_file": lf.name, "file_day": lf.period.isoformat(), "run_id": ctx.run_id}
    out = good[[COPY + c for c in STAGE_COLUMNS if c not in const]]
    out.columns = [c for c in STAGE_COLUMNS if c not in const]
    return out.assign(**const)


def _record(raw) -> dict:
    return raw if isinstance(raw, dict) else {"element": raw}


def read_array(feed: str, lf: LandingFile) -> tuple[list, str]:
    """The file gate: the file's JSON array and the checksum of the bytes read, or FileRejected
    naming why the file is unusable."""
    with lf.open() as f:
        raw = f.read()
    checksum = content_checksum(raw)
    if not raw.strip(b" \t\r\n\xef\xbb\xbf"):
        raise FileRejected(feed, lf.name, "not_empty", "the file is empty (0 bytes or only whitespace)", rows_read=0)
    try:
        text = raw.decode(json.detect_encoding(raw))  # UTF-8 (BOM or not), UTF-16 or UTF-32
    except UnicodeDecodeError as exc:
        raise FileRejected(feed, lf.name, "encoding",
                           f"not valid UTF-8 (GBK export?): {exc}; this feed must be UTF-8 JSON") from None
    text = text.lstrip("\ufeff")
    nul = re.search(r"\x00|(?<!\\)(?:\\\\)*\\u0000", text)  # a NUL byte, or the JSON escape of one
    if nul:
        raise FileRejected(feed, lf.name, "no_nul_bytes",
                           f"line {text.count(chr(10), 0, nul.start()) + 1} holds a NUL character (0x00 or \\u0000): "
                           "PostgreSQL text cannot hold it; a corrupt export")

    def not_json(constant: str):  # NaN/Infinity are Python's extension, not JSON (RFC 8259)
        raise ValueError(f"{constant} is not a JSON value")

    try:
        doc = json.loads(text, parse_constant=not_json)
    except RecursionError:
        raise FileRejected(feed, lf.name, "json_valid", "not valid JSON: arrays or objects nested too deeply "
                           "(more levels than any ticket export has)") from None
    except ValueError as exc:
        if not isinstance(exc, json.JSONDecodeError):
            raise FileRejected(feed, lf.name, "json_valid", f"not valid JSON: {exc}") from None
        stripped = text.rstrip()
        if (stripped.lstrip().startswith("[") and not stripped.endswith("]")) or not text[exc.pos:].strip():
            raise FileRejected(feed, lf.name, "truncated",
                               f"the JSON array is not closed: the document ends at line {exc.lineno} "
                               f"column {exc.colno} ({exc.msg}), the export was cut off") from None
        raise FileRejected(feed, lf.name, "json_valid",
                           f"not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    if not isinstance(doc, list):
        raise FileRejected(feed, lf.name, "json_array",
                           f"the file holds a JSON {type(doc).__name__}, not an array of tickets")
    deep = _too_deep(doc)
    if deep is not None:
        raise FileRejected(feed, lf.name, "json_valid",
                           f"element {deep} is nested more than {MAX_JSON_DEPTH} levels deep (no ticket is): "
                           "it could not be stored or shown")
    return doc, checksum


MAX_JSON_DEPTH = 32  # a ticket is an object of scalars; storing or printing deeper values recurses


def _too_deep(doc: list) -> int | None:
    """The 1-based position of the first element nested deeper than MAX_JSON_DEPTH, else None.
    Iterative, and it only descends into containers, so a file of flat tickets costs one pass."""
    for pos, element in enumerate(doc, start=1):
        stack = [(element, 1)]
        while stack:
            value, depth = stack.pop()
            if depth > MAX_JSON_DEPTH:
                return pos
            if isinstance(value, dict):
                stack.extend((v, depth + 1) for v in value.values() if isinstance(v, (dict, list)))
            elif isinstance(value, list):
                stack.extend((v, depth + 1) for v in value if isinstance(v, (dict, list)))
    return None


class ArrayReader:
    """A gated JSON array file as frames of up to BATCH elements: ``_row`` (the element's 1-based
    position in the array) and ``element`` (the parsed JSON value). Nothing is malformed at row
    level: a syntax error anywhere fails the whole file."""

    def __init__(self, feed: str, lf: LandingFile):
        self._elements, self.checksum = read_array(feed, lf)
        self.rows_read = len(self._elements)
        self.malformed: list[tuple[int, str]] = []

    def gate_rows(self) -> list[tuple[int, str, str]]:
        return []  # every element is a row the rules judge

    def batches(self) -> Iterator[pd.DataFrame]:
        elements, self._elements = self._elements or [], None
        for start in range(0, len(elements), BATCH):
            chunk = elements[start:start + BATCH]
            yield pd.DataFrame({ROW: np.arange(start + 1, start + 1 + len(chunk), dtype="int64"),
                                ELEMENT: pd.Series(chunk, dtype="object")})


class WorkOrdersFeed(StagedFeed):
    """Validated in windows spanning several daily files (one GX run per window, see StagedFeed);
    each file is then staged, audited and published in its own transaction, in date order."""

    name = "work_orders"
    tables = ("core.work_order_version", "core.work_order")
    folder = "work_orders"
    cadence = "day"
    prefix = "work_orders_"
    suffix = ".json"
    suite = "work_orders"

    # -- hooks -------------------------------------------------------------------------------------
    def reference(self, conn) -> tuple[list[str], list[str]]:
        """(known categories, known units)."""
        categories = sorted(r[0] for r in conn.execute("SELECT category FROM core.sla").fetchall())
        units = sorted(r[0] for r in conn.execute("SELECT DISTINCT unit_code FROM core.sub_centre").fetchall())
        return categories, units

    def rules(self, ref) -> list[Rule]:
        return rules(*ref)

    def rules_key(self, ref) -> tuple:
        categories, units = ref
        return tuple(categories), tuple(units)

    def open_reader(self, lf: LandingFile) -> ArrayReader:
        return ArrayReader(self.name, lf)

    def prepare(self, df: pd.DataFrame, lf: LandingFile, ref) -> pd.DataFrame:
        df[FILE_DAY] = pd.Timestamp(lf.period)  # everything else is derived once per window
        return df

    def prepare_window(self, df: pd.DataFrame, ref) -> pd.DataFrame:
        return frame(df)

    def begin(self, cur, lf: LandingFile, ref, ctx: LoadContext) -> None:
        cur.execute("CREATE TEMP TABLE _wo_stage (LIKE core.work_order_version, _raw jsonb) ON COMMIT DROP")

    def stage(self, cur, good: pd.DataFrame, lf: LandingFile, ref, ctx: LoadContext) -> None:
        copy_frame(cur, "_wo_stage", STAGE_COLUMNS, _stage_frame(good, lf, ctx))

    def quarantine_record(self, row: dict, ctx: LoadContext) -> dict:
        return _record(json.loads(row[RAW]))  # the element exactly as delivered (no personal fields)

    def malformed_record(self, text: str, ctx: LoadContext) -> dict:
        return {"text": text}  # never called: ArrayReader reports no malformed rows

    def publish(self, cur, lf: LandingFile, outcome: FileOutcome, ref, ctx: LoadContext) -> None:
        cur.execute("SELECT count(*), count(DISTINCT (order_id, updated_at)) FROM _wo_stage")
        rows, versions = cur.fetchone()
        if versions < rows:  # an (order_id, updated_at) twice in the file: identical → collapsed, else the first wins
            collapse_duplicates(cur, stage="_wo_stage", key=["order_id", "updated_at"], content=CONTENT,
                                outcome=outcome, line="source_line", record="s._raw")
            cur.execute("SELECT count(*) FROM _wo_stage")
            rows = cur.fetchone()[0]
        outcome.rows_loaded = rows
        self._publish(cur, lf, outcome)

    @staticmethod
    def _publish(cur, lf: LandingFile, outcome: FileOutcome) -> None:
        """Replace the file's versions, re-derive the touched tickets' current state, and list the
        days whose KPIs change.

        Months whose repair KPIs may change: for the state before and after this load of every
        touched ticket, every month from its creation to its completion (open stock at each
        month-end, and the completion month's counts and rates); a ticket not completed stays open
        up to the data horizon (the latest file day loaded, this file's day included: the same
        before and after the load, since only this file's versions change); a cancelled one counts
        nowhere (its creation month is listed anyway, harmlessly). Plus the file's own month, so a
        month whose files hold no ticket still gets its open-stock row."""
        params = {"f": lf.name, "day": lf.period}
        # one publish at a time: a ticket's current state is derived from the versions of all files
        cur.execute("SELECT pg_advisory_xact_lock(hashtext('campus_logistics.work_orders.current'))")
        # the file's old versions and the touched tickets' current state go; the state before is kept
        cur.execute(
            f"""WITH horizon AS ({_HORIZON}),
                     old AS (DELETE FROM core.work_order_version WHERE source_file = %(f)s RETURNING order_id),
                     touched AS (SELECT order_id FROM old UNION SELECT order_id FROM _wo_stage),
                     states AS (DELETE FROM core.work_order w USING touched t WHERE w.order_id = t.order_id
                                RETURNING w.created_at, w.completed_at, w.status),
                     spans AS ({_SPANS})
                SELECT (SELECT array_agg(order_id) FROM touched),
                       (SELECT array_agg(DISTINCT m::date) FROM spans, generate_series(lo, hi, interval '1 month') m)""",
            params,
        )
        touched, before = cur.fetchone()
        cols = ", ".join(CORE_COLUMNS)
        cur.execute(f"INSERT INTO core.work_order_version ({cols}) SELECT {cols} FROM _wo_stage")
        cur_cols = ", ".join(CURRENT_COLUMNS)
        cur.execute(
            f"""WITH states AS (
                    INSERT INTO core.work_order ({cur_cols})
                    SELECT {", ".join("v." + c for c in CURRENT_COLUMNS)}
                    FROM unnest(%(touched)s::text[]) t(order_id)
                    CROSS JOIN LATERAL (  -- each ticket's newest version, by its primary-key index
                        SELECT * FROM core.work_order_version v WHERE v.order_id = t.order_id
                        ORDER BY v.updated_at DESC, v.file_day DESC, v.source_file DESC LIMIT 1) v
                    RETURNING created_at, completed_at, status),
                     horizon AS ({_HORIZON}),
                     spans AS ({_SPANS})
                SELECT DISTINCT m::date FROM spans, generate_series(lo, hi, interval '1 month') m
                UNION SELECT date_trunc('month', %(day)s::date)::date""",
            {**params, "touched": touched or []},
        )
        outcome.affected_days = {r[0] for r in cur.fetchall()} | set(before or [])


# the latest file day loaded, at least the file's own (the data horizon of a ticket still open)
_HORIZON = "SELECT GREATEST(max(file_day), %(day)s::date) AS h FROM core.work_order_version"
# each state's months: from its creation to its completion (cancelled: creation), or to the horizon
_SPANS = f"""SELECT date_trunc('month', created_at AT TIME ZONE '{TIME_ZONE}')::date AS lo,
                   date_trunc('month', CASE
                       WHEN status IN ('completed', 'closed') AND completed_at IS NOT NULL
                           THEN GREATEST(completed_at, created_at) AT TIME ZONE '{TIME_ZONE}'
                       WHEN status = 'cancelled' THEN created_at AT TIME ZONE '{TIME_ZONE}'
                       ELSE GREATEST((SELECT h FROM horizon)::timestamp,
                                     created_at AT TIME ZONE '{TIME_ZONE}') END)::date AS hi
            FROM states"""
