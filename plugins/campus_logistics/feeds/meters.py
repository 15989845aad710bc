"""``meters/`` — energy-monitoring platform readings (能耗监测平台), UTF-8 CSV, one file a day.

``meter_id, read_at, reading, status``: ``read_at`` ISO-8601 (any offset, ``Z``, fractional
seconds; a time without an offset is read as Asia/Shanghai local time), ``reading`` the meter's
*cumulative* raw register (before the ``multiplier`` of ``ref/meters.csv``), ``status`` one of
``ok``, ``estimated``, ``replaced`` (case-insensitive). A file holds the readings of its own
local day only.

What is stored
--------------
* ``core.meter_reading``: every plausible reading, keyed (meter_id, read_at), with its file,
  status and flags (``estimated``, ``meter_replaced``, ``new_meter_start_at_first_reading``).
* ``core.meter_daily``: per meter and day, consumption = (register at the day's last reading −
  register at the previous day's last reading) × multiplier. Computed as the sum, over the day's
  readings in time order, of each reading's delta to the one before it (the first one's to the
  previous day's last reading); a ``replaced`` reading is the first reading of a new meter whose
  register restarted, so its delta is *its register minus the new meter's start register*. The
  new meter starts at **0** (a new or reset register counts from zero, so the replaced reading's
  register is what the new meter measured since its start); only when that first register is
  itself implausibly large for the time elapsed (the hundredfold-jump test below) is the meter
  taken to have started at its first reading (delta 0, flag ``new_meter_start_at_first_reading``).
  So across a replacement the day's consumption is the old meter's last delta plus the new
  meter's register since its start. ``estimated`` is true when an estimated reading of the day,
  or the previous day's last reading, is involved.
* The previous day's last reading comes from the warehouse when that day is loaded (a loaded day
  without a reading for the meter means "no previous reading"); otherwise from the previous
  day's file in the landing zone, read and judged by the same rules but not loaded; with neither,
  the consumption is **unknown: NULL, never 0** (unless the day's first reading is ``replaced``,
  which needs no previous reading).
* Loading day D changes day D+1 when D+1 is already loaded (its previous reading): D+1 is in
  ``affected_days`` and its daily consumption is recomputed. If D's new last readings differ
  from those D+1's readings were judged against (recorded as a digest in ``core.meter_file``),
  D+1's file is re-judged and reloaded in the same transaction (and so on forward), so loading
  days out of order ends in the same warehouse as loading them in order.

Bad input (decisions)
---------------------
============================================  ==========================================  ==========================
kind                                          outcome                                     rule
============================================  ==========================================  ==========================
missing file                                  run fails (file listed)                     ``file_present``
empty / header-only file                      file fails                                  ``not_empty``
not UTF-8                                     file fails                                  ``encoding``
missing, renamed, extra or duplicated column  file fails                                  ``header``
cut-off last line                             file fails                                  ``truncated``
file dated after today                        file fails                                  ``not_in_future``
row with the wrong number of fields           row quarantined                             ``malformed_row``
meter_id empty or not in ref/meters.csv       row quarantined                             ``meter_known``
read_at empty or unparseable                  row quarantined                             ``read_at_parseable``
read_at outside the file's local day          row quarantined                             ``read_at_in_file_day``
reading empty, not a number, negative         row quarantined                             ``reading_parseable``
reading above the maximum (limits.py)         row quarantined                             ``reading_plausible``
status not ok/estimated/replaced              row quarantined                             ``status_known``
same (meter_id, read_at), identical content   collapsed, counted as duplicate             ``duplicate_collapsed``
same (meter_id, read_at), different content   every version quarantined                   ``duplicate_reading_conflict``
register below the last plausible reading     reading quarantined                         ``negative_delta``
  (without ``replaced``)
hundredfold jump (see below)                  reading quarantined                         ``hundredfold_jump``
============================================  ==========================================  ==========================

Plausibility is judged per meter in time order against the *last plausible* reading before it
(the previous day's last reading for the day's first one), so one bad reading never drags the
next ones with it; the day's consumption is computed from the remaining plausible readings.
A **hundredfold jump** is an increase Δ over h hours (h ≥ 1 is used for shorter intervals) with
Δ ≥ 100 × normal × h *and* Δ × multiplier ≥ 10 (kWh or m³), where *normal* is the meter's
normal positive register increase per hour: the median of the per-day medians of its positive
increases per hour over the 7 days before the file's day (as loaded, plus the previous day's
file when that day is not loaded) and of the file's own consecutive readings (the latter only
when the file gives at least 3 increases, so a daily meter's single increase never vouches for
itself). With nothing to learn from (a new meter's first days), no jump is judged.
"""

from __future__ import annotations

import csv
import hashlib
import logging
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa

from .. import limits
from ..errors import FileRejected
from ..load.audit import collapse_duplicates
from ..load.publish import FileOutcome
from ..load.read import CsvReader, LandingFile, nullify
from ..load.runner import Feed, LoadContext, load_file
from ..load.stage import COLLAPSED, QUARANTINE, copy_table, create_quarantine, quarantine_rows
from ..load.validate import ROW, Rule, validator
from ..registry import SPECS
from ..settings import TIME_ZONE

log = logging.getLogger(__name__)

SPEC = SPECS["meters"]
COLUMNS = list(SPEC.columns)
STATUSES = ("ok", "estimated", "replaced")
TZ = TIME_ZONE
READING_RE = r"^\+?(?:[0-9]{1,15}(?:\.[0-9]{0,9})?|\.[0-9]{1,9})$"
_OFFSET_RE = r"(?:[Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)$"
_HAS_TIME_RE = r"^[0-9]{4}-?[0-9]{2}-?[0-9]{2}[Tt ][0-9]{2}"
_SUB_MICRO_RE = r"(\.[0-9]{6})[0-9]+"
FILE_DAY = "_file_day"
SCRATCH = "_m_scratch"  # the quarantine of a previous day's file read (not loaded) for its last readings

JUMP_FACTOR = 100          # a jump is ≥ 100 × the meter's normal hourly increase × hours
JUMP_MIN_UNITS = 10        # … and ≥ 10 kWh / m³ after the multiplier
FILE_MIN_SAMPLES = 3       # increases a file needs before its own median counts towards the normal
NORMAL_WINDOW_DAYS = 7     # days of loaded history the normal is learnt from
US_PER_HOUR = 3_600_000_000

SEQ_RULES = [
    Rule("negative_delta", lambda g: g.ExpectColumnValuesToBeInSet(column="_negative_delta", value_set=["no"])),
    Rule("hundredfold_jump", lambda g: g.ExpectColumnValuesToBeInSet(column="_hundredfold_jump", value_set=["no"])),
]


# Row rules: GX expectations on columns derived vectorised in ``prepare`` (the meter check is a
# derived yes/no column rather than an in-set over thousands of meter ids: same rule, constant cost).
ROW_RULES = [
    Rule("meter_known", lambda g: g.ExpectColumnValuesToBeInSet(column="_meter_known", value_set=["yes"])),
    Rule("read_at_parseable", lambda g: g.ExpectColumnValuesToNotBeNull(column="_time")),
    Rule("read_at_in_file_day", lambda g: g.ExpectColumnValuesToBeBetween(column="_day_offset", min_value=0, max_value=0)),
    Rule("reading_parseable", lambda g: g.ExpectColumnValuesToMatchRegex(column="_reading", regex=READING_RE)),
    Rule("reading_plausible", lambda g: g.ExpectColumnValuesToBeInSet(column="_reading_ok", value_set=["yes"])),
    Rule("status_known", lambda g: g.ExpectColumnValuesToBeInSet(column="_status", value_set=list(STATUSES))),
]


# --- parsing -------------------------------------------------------------------------------------

def parse_times(raw: pd.Series) -> pd.Series:
    """ISO-8601 text → UTC timestamps (NaT when unparseable); no offset = Asia/Shanghai local.

    Element-wise: a value parses the same whatever else is parsed with it (digits beyond the
    microsecond are dropped first, so no value forces a nanosecond parse on the others)."""
    out = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[us, UTC]")
    text = raw.fillna("")
    has_time = text.str.contains(_HAS_TIME_RE, regex=True)
    has_offset = text.str.contains(_OFFSET_RE, regex=True)
    aware = has_time & has_offset
    naive = has_time & ~has_offset
    if aware.any() or naive.any():
        text = text.str.replace(_SUB_MICRO_RE, r"\1", regex=True)
    if aware.any():
        out[aware] = pd.to_datetime(text[aware], format="ISO8601", utc=True, errors="coerce").dt.as_unit("us")
    if naive.any():
        local = pd.to_datetime(text[naive], format="ISO8601", errors="coerce")
        out[naive] = (local.dt.tz_localize(TZ, nonexistent="NaT", ambiguous="NaT")
                      .dt.tz_convert("UTC").dt.as_unit("us"))
    return out


def _epoch_us(t: pd.Series) -> np.ndarray:
    """UTC timestamps (datetime64[us, UTC]) → µs since the epoch (NaT → the minimum int64)."""
    return t.dt.tz_convert(None).to_numpy().astype("datetime64[us]").view("int64")


def _register_text(s: pd.Series) -> pd.Series:
    """A matched reading as exact decimal text PostgreSQL parses ('+.5' → '0.5', '12.' → '12.0')."""
    s = s.str.replace(r"^\+", "", regex=True)
    s = s.str.replace(r"^\.", "0.", regex=True)
    return s.str.replace(r"\.$", ".0", regex=True)


def _normalised_number(s: pd.Series) -> pd.Series:
    """Canonical text of a decimal (no leading/trailing zeros), to compare duplicates exactly."""
    s = s.str.replace(r"^0+(?=[0-9])", "", regex=True)
    s = s.str.replace(r"(\.[0-9]*?)0+$", r"\1", regex=True)
    return s.str.replace(r"\.$", "", regex=True)


def mark_file_day(df: pd.DataFrame, file_day: date) -> pd.DataFrame:
    """Tag a batch with its file's day (rows of several files are derived together)."""
    df[FILE_DAY] = pd.Timestamp(file_day)
    return df


def derive(df: pd.DataFrame, meter_ids: pd.Index) -> pd.DataFrame:
    """Derive the typed columns the row rules check, vectorised, on batches tagged by
    ``mark_file_day`` (one file's or a whole validation window's: every value is derived from
    its own row only). Also the typed reading (``_us``, ``_reg_text``, ``_reg``) of rows that
    pass the row rules."""
    nullify(df, COLUMNS)
    df["_meter"] = df["meter_id"].fillna("")
    df["_meter_known"] = np.where(df["_meter"].isin(meter_ids), "yes", "no")
    t = parse_times(df["read_at"])
    df["_time"] = t
    local_day = t.dt.tz_convert(TZ).dt.tz_localize(None).dt.normalize()
    df["_day_offset"] = (local_day - df[FILE_DAY]).dt.days
    df["_reading"] = df["reading"].fillna("")
    df["_status"] = df["status"].fillna("").str.lower()
    df["_us"] = _epoch_us(t)
    matched = df["_reading"].str.contains(READING_RE, regex=True)  # as the reading_parseable rule
    reg_text = _register_text(df["_reading"].where(matched, "0"))
    df["_reg_text"] = reg_text
    df["_reg"] = pd.to_numeric(reg_text).to_numpy(dtype="float64")
    # a register beyond any real meter's is a corrupt value, not consumption to sum
    plausible = df["_reg"] <= float(limits.max_meter_reading())
    df["_reading_ok"] = pd.Series(np.where(plausible, "yes", "no"), index=df.index, dtype="object").where(matched, None)
    return df


def prepare(df: pd.DataFrame, file_day: date, meter_ids: pd.Index) -> pd.DataFrame:
    """``derive`` for one file's batch."""
    return derive(mark_file_day(df, file_day), meter_ids)


# --- screening a file ----------------------------------------------------------------------------

@dataclass
class Screen:
    """A file judged by every rule: its plausible readings and its rejected rows."""

    good: pd.DataFrame  # meter_id, us, reg_text, reg, status, start_first, _line (sorted by meter, time)
    bad: list[tuple[int, str, dict]] = field(default_factory=list)
    rows_read: int = 0
    checksum: str = ""  # of the bytes read
    rule_counts: dict[str, int] = field(default_factory=dict)

    def count(self, rule: str, n: int) -> None:
        if n:
            self.rule_counts[rule] = self.rule_counts.get(rule, 0) + n


def empty_anchor() -> pd.DataFrame:
    return pd.DataFrame({"meter_id": pd.Series([], dtype=str), "us": pd.Series([], dtype="int64"),
                         "reg_text": pd.Series([], dtype=str), "reg": pd.Series([], dtype="float64"),
                         "status": pd.Series([], dtype=str)})


def _raw_record(row: dict) -> dict:
    return {k: (None if pd.isna(row.get(k)) else row.get(k)) for k in COLUMNS}


_GOOD_COLUMNS = {"_meter": "meter_id", "_us": "us", "_reg_text": "reg_text", "_reg": "reg", "_status": "status",
                 ROW: "_line", "meter_id": "raw_meter_id", "read_at": "raw_read_at", "reading": "raw_reading",
                 "status": "raw_status"}


def good_readings(ok: pd.DataFrame) -> pd.DataFrame:
    """The typed readings of rows that passed the row rules (what the sequence rules judge):
    meter_id, us, reg_text, reg, status, _line and the raw_* texts for quarantine records."""
    return pd.DataFrame({new: ok[old].array for old, new in _GOOD_COLUMNS.items()})


def malformed_record(text: str) -> dict:
    fields = next(csv.reader([text]), [])
    return {"fields": fields, "field_count": len(fields), "expected": len(COLUMNS)}


def judge(cur, parts: list[pd.DataFrame], meters: pd.DataFrame, anchor: pd.DataFrame, history: pd.DataFrame,
          scr: Screen, outcome: FileOutcome, quarantine: str = QUARANTINE) -> pd.DataFrame:
    """A file's plausible readings: its row-rule-valid readings (``good_readings`` parts, in file
    order) with duplicates collapsed (the audit: counted in ``outcome``, conflicts into ``quarantine``)
    and the sequence rules applied (rejections go to ``scr``)."""
    good = pd.concat(parts, ignore_index=True) if parts else None
    if good is None or good.empty:
        return _empty_good()
    good = collapse_readings(cur, good, outcome, quarantine)
    return _judge_sequence(good, meters, anchor, history, scr)


def screen_file(cur, feed: str, lf: LandingFile, meters: pd.DataFrame, anchor: pd.DataFrame,
                history: pd.DataFrame) -> Screen:
    """Read and judge a day file on its own (raises FileRejected for a file-level failure); writes
    nothing but a scratch quarantine. The same rules as the load, for the previous day's file when
    that day is not loaded.

    ``meters``: meter_id, multiplier (float) from ref; ``anchor``: the previous day's last
    plausible reading per meter; ``history``: meter_id, rate_median, rate_samples of earlier days.
    """
    meter_ids = pd.Index(meters["meter_id"])
    check = validator("meters", ROW_RULES)
    reader = CsvReader(feed, lf, SPEC)
    scr = Screen(good=pd.DataFrame())
    parts = []
    for df in reader.batches():
        df = prepare(df, lf.period, meter_ids)
        result = check.validate(df, files=[lf.name])
        if result.schema_errors:
            raise FileRejected(feed, lf.name, "schema", "; ".join(result.schema_errors), rows_read=reader.rows_read)
        for rule, n in result.rule_counts.items():
            scr.count(rule, n)
        bad_mask = df[ROW].isin(result.failures.keys())
        for r in df.loc[bad_mask, COLUMNS + [ROW]].to_dict("records"):
            scr.bad.append((int(r[ROW]), ", ".join(result.failures[int(r[ROW])]), _raw_record(r)))
        ok = df[~bad_mask]
        if len(ok):
            parts.append(good_readings(ok))
    for line, rule, text in reader.gate_rows():
        scr.bad.append((line, rule, malformed_record(text)))
        scr.count(rule, 1)
    scr.rows_read = reader.rows_read
    scr.checksum = reader.checksum
    cur.execute(f"DROP TABLE IF EXISTS {SCRATCH}")
    create_quarantine(cur, SCRATCH)
    scr.good = judge(cur, parts, meters, anchor, history, scr, FileOutcome(feed, lf.name), SCRATCH)
    cur.execute(f"DROP TABLE {SCRATCH}")
    return scr


def _empty_good() -> pd.DataFrame:
    g = empty_anchor()
    g["start_first"] = pd.Series([], dtype=bool)
    g["_line"] = pd.Series([], dtype="int64")
    return g


def collapse_readings(cur, good: pd.DataFrame, outcome: FileOutcome, quarantine: str) -> pd.DataFrame:
    """The audit of the spec's duplicate key (meter_id, read_at): identical readings → the first kept,
    the rest counted; differing ones → all quarantined. Only the readings of a repeated key are
    staged for it. Returns the readings sorted by meter, time."""
    if _strictly_sorted(good["meter_id"].to_numpy(dtype=object), good["us"].to_numpy(dtype="int64")):
        return good.reset_index(drop=True)  # already in order, no repeated (meter, time): nothing to do
    good = good.sort_values(["meter_id", "us", "_line"], kind="stable").reset_index(drop=True)
    dup = good.duplicated(["meter_id", "us"], keep=False)
    if not dup.any():
        return good
    sub = good[dup]
    cur.execute("""CREATE TEMP TABLE _m_dups (meter_id text, us bigint, _line integer, content text, raw_meter_id text,
                       raw_read_at text, raw_reading text, raw_status text) ON COMMIT DROP""")
    copy_table(cur, "_m_dups", pa.table({
        "meter_id": pa.array(sub["meter_id"].to_numpy(dtype=object), type=pa.string()),
        "us": pa.array(sub["us"].to_numpy(dtype="int64")),
        "_line": pa.array(sub["_line"].to_numpy(dtype="int64")),
        "content": pa.array((_normalised_number(sub["reg_text"]) + "|" + sub["status"]).to_numpy(dtype=object),
                            type=pa.string()),
        **{f"raw_{c}": pa.array([None if pd.isna(v) else str(v) for v in sub[f"raw_{c}"]], type=pa.string())
           for c in COLUMNS},
    }))
    collapse_duplicates(cur, stage="_m_dups", key=SPEC.duplicate_key, content=["content"], outcome=outcome,
                        keep_first=False, conflict_rule=SPEC.duplicate_conflict, quarantine=quarantine,
                        collapsed=COLLAPSED if quarantine == QUARANTINE else None,  # not for a scratch judgement
                        record="jsonb_build_object(" + ", ".join(f"'{c}', s.raw_{c}" for c in COLUMNS) + ")")
    kept = [line for (line,) in cur.execute("SELECT _line FROM _m_dups").fetchall()]
    cur.execute("DROP TABLE _m_dups")
    return good[~dup | good["_line"].isin(kept)].reset_index(drop=True)


def _raw_from_good(r: dict) -> dict:
    return {c: (None if pd.isna(r[f"raw_{c}"]) else r[f"raw_{c}"]) for c in COLUMNS}


def _strictly_sorted(meter: np.ndarray, us: np.ndarray) -> bool:
    """Are the rows in strictly increasing (meter, time) order (no (meter, time) twice)?"""
    with np.errstate(invalid="ignore"):
        return bool(np.all((meter[1:] > meter[:-1]) | ((meter[1:] == meter[:-1]) & (us[1:] > us[:-1]))))


def _runs(meter: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For a meter-sorted array of meter ids: each row's run code (0…k−1) and each run's first row."""
    new = np.ones(len(meter), dtype=bool)
    new[1:] = meter[1:] != meter[:-1]
    return np.cumsum(new) - 1, np.flatnonzero(new)


def _group_median(codes: np.ndarray, values: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Median and count of ``values`` per group code 0…n_groups−1 (NaN median for an empty group);
    an even count's median is (upper + lower) / 2, as pandas computes it."""
    order = np.lexsort((values, codes))
    v = values[order]
    counts = np.bincount(codes, minlength=n_groups)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
    med = np.full(n_groups, np.nan)
    has = counts > 0
    s, n = starts[has], counts[has]
    hi, lo = v[s + n // 2], v[s + (n - 1) // 2]
    med[has] = np.where(n % 2 == 1, hi, (hi + lo) / 2)
    return med, counts


def _index_of(keys, wanted: np.ndarray) -> np.ndarray:
    """Position of each of ``wanted`` in the unique ``keys`` (−1 when absent)."""
    pos = {k: i for i, k in enumerate(keys)}
    return np.fromiter((pos.get(w, -1) for w in wanted), dtype=np.int64, count=len(wanted))


def _take(values: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Float ``values`` at positions ``k``; NaN where ``k`` is −1."""
    out = np.full(len(k), np.nan)
    out[k >= 0] = values[k[k >= 0]]
    return out


class _Readings:
    """The columns the sequence rules use of meter-sorted readings, as arrays, with the meter runs."""

    def __init__(self, g: pd.DataFrame):
        self.meter = g["meter_id"].to_numpy(dtype=object)
        self.us = g["us"].to_numpy(dtype="int64")
        self.reg = g["reg"].to_numpy(dtype="float64")
        self.replaced = g["status"].to_numpy(dtype=object) == "replaced"
        self.codes, self.firsts = _runs(self.meter)
        self.uniques = self.meter[self.firsts]


def _with_previous(r: _Readings, anchor: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Previous register and time of each reading: the reading before it in the same meter, the
    anchor for the first one; NaN when none."""
    prev_reg = np.full(len(r.meter), np.nan)
    prev_us = np.full(len(r.meter), np.nan)
    prev_reg[1:], prev_us[1:] = r.reg[:-1], r.us[:-1]
    prev_reg[r.firsts] = np.nan
    prev_us[r.firsts] = np.nan
    if len(anchor):
        k = _index_of(anchor["meter_id"].tolist(), r.uniques)
        prev_reg[r.firsts] = _take(anchor["reg"].to_numpy(dtype="float64"), k)
        prev_us[r.firsts] = _take(anchor["us"].to_numpy(dtype="float64"), k)
    return prev_reg, prev_us


def _positive_rates(r: _Readings, anchor: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(meter ids, rates): positive register increases per hour between consecutive readings
    (meter-sorted, as the readings are)."""
    prev_reg, prev_us = _with_previous(r, anchor)
    delta = r.reg - prev_reg
    hours = (r.us.astype("float64") - prev_us) / US_PER_HOUR
    with np.errstate(invalid="ignore", divide="ignore"):
        keep = ~r.replaced & (delta > 0) & (hours > 0)
        rate = delta / hours
    return r.meter[keep], rate[keep]


def _day_medians(r: _Readings, anchor: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(meter ids, median rate, rate count) per meter with at least one positive increase."""
    meter, rate = _positive_rates(r, anchor)
    codes, firsts = _runs(meter)
    med, counts = _group_median(codes, rate, len(firsts))
    return meter[firsts], med, counts.astype("int64")


def day_stats(good: pd.DataFrame, anchor: pd.DataFrame) -> pd.DataFrame:
    """meter_id, rate_median, rate_samples of a day's plausible readings (as core.meter_daily keeps them)."""
    meter, med, counts = _day_medians(_Readings(good), anchor)
    return pd.DataFrame({"meter_id": pd.Series(meter, dtype=object), "rate_median": med, "rate_samples": counts})


def normal_rates(candidates: _Readings, anchor: pd.DataFrame, history: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per meter: the normal positive register increase per hour, as (meter ids, rates) (a meter
    with nothing to learn from is absent).

    The median of the day medians of the loaded history and of the file's own increases; the
    file's own median counts only when it rests on ≥ 3 increases (one or two increases, as a daily
    meter gives, could be the very jump being judged)."""
    meter, med, counts = _day_medians(candidates, anchor)
    own = counts >= FILE_MIN_SAMPLES
    h_med = history["rate_median"].to_numpy(dtype="float64")
    h_keep = (history["rate_samples"].to_numpy() > 0) & ~np.isnan(h_med)
    days_meter = np.concatenate([history["meter_id"].to_numpy(dtype=object)[h_keep], meter[own]])
    days_med = np.concatenate([h_med[h_keep], med[own]])
    if not len(days_meter):
        return np.array([], dtype=object), np.array([], dtype="float64")
    codes, uniques = pd.factorize(days_meter)
    normal, _ = _group_median(codes, days_med, len(uniques))
    return np.asarray(uniques, dtype=object), normal


def _judge_sequence(g: pd.DataFrame, meters: pd.DataFrame, anchor: pd.DataFrame, history: pd.DataFrame,
                    scr: Screen) -> pd.DataFrame:
    """Negative deltas and hundredfold jumps, per meter in time order against the last plausible
    reading; vectorised across meters (the loop runs over reading positions, not rows).
    ``g`` is sorted by meter, time."""
    rd = _Readings(g)
    normal_ids, normal = normal_rates(rd, anchor, history)
    codes, firsts, uniques = rd.codes, rd.firsts, rd.uniques
    n_g = len(g)
    pos = np.arange(n_g) - firsts[codes]
    n_m, n_p = len(uniques), int(pos.max()) + 1
    R = np.full((n_m, n_p), np.nan)
    T = np.full((n_m, n_p), np.nan)
    IDX = np.full((n_m, n_p), -1, dtype=np.int64)
    REP = np.zeros((n_m, n_p), dtype=bool)
    R[codes, pos] = rd.reg
    T[codes, pos] = rd.us.astype("float64") / US_PER_HOUR
    IDX[codes, pos] = np.arange(n_g)
    REP[codes, pos] = rd.replaced
    mult = _take(meters["multiplier"].to_numpy(dtype="float64"), _index_of(meters["meter_id"].tolist(), uniques))
    norm = _take(normal, _index_of(normal_ids.tolist(), uniques))
    last_r = np.full(n_m, np.nan)
    last_t = np.full(n_m, np.nan)
    none = np.iinfo(np.int64).min
    last_i = np.full(n_m, none, dtype=np.int64)  # last plausible reading: row of g (≥ 0) or anchor row k (−1 − k)
    if len(anchor):
        a = anchor.reset_index(drop=True)
        k = _index_of(a["meter_id"].tolist(), uniques)
        has = k >= 0
        k = k[has]
        last_r[has] = a["reg"].to_numpy()[k]
        last_t[has] = a["us"].to_numpy(dtype="float64")[k] / US_PER_HOUR
        last_i[has] = -1 - k
    else:
        a = anchor
    verdict = np.zeros(n_g, dtype=np.int8)  # 0 plausible, 1 negative delta, 2 hundredfold jump
    start_first = np.zeros(n_g, dtype=bool)
    before = np.full(n_g, none, dtype=np.int64)  # the last plausible reading before each row
    with np.errstate(invalid="ignore"):
        for p in range(n_p):
            r, t, rep, idx = R[:, p], T[:, p], REP[:, p], IDX[:, p]
            present = idx >= 0
            has_last = ~np.isnan(last_r)
            delta = r - last_r
            hours = np.maximum(np.where(has_last, t - last_t, 1.0), 1.0)
            neg = present & ~rep & has_last & (delta < 0)
            jump = (present & ~rep & has_last & ~neg & (delta >= JUMP_FACTOR * norm * hours)
                    & (delta * mult >= JUMP_MIN_UNITS))
            big_start = present & rep & (r >= JUMP_FACTOR * norm * hours) & (r * mult >= JUMP_MIN_UNITS)
            verdict[idx[neg]] = 1
            verdict[idx[jump]] = 2
            start_first[idx[big_start]] = True
            before[idx[present]] = last_i[present]
            ok = present & ~neg & ~jump
            last_r = np.where(ok, r, last_r)
            last_t = np.where(ok, t, last_t)
            last_i = np.where(ok, idx, last_i)
    g = g.assign(start_first=start_first)
    if verdict.any():
        checks = pd.DataFrame({
            ROW: g["_line"].to_numpy(),
            "_negative_delta": np.where(verdict == 1, "yes", "no"),
            "_hundredfold_jump": np.where(verdict == 2, "yes", "no"),
        })
        result = validator("meters_sequence", SEQ_RULES).validate(checks)
        for rule, n in result.rule_counts.items():
            scr.count(rule, n)
        bad_pos = np.nonzero(g["_line"].isin(result.failures.keys()).to_numpy())[0]
        prev_text = np.concatenate([g["reg_text"].to_numpy(dtype=object), a["reg_text"].to_numpy(dtype=object)[::-1]]) \
            if len(a) else g["reg_text"].to_numpy(dtype=object)
        prev_us = np.concatenate([g["us"].to_numpy(), a["us"].to_numpy()[::-1]]) if len(a) else g["us"].to_numpy()
        recs = g.iloc[bad_pos].to_dict("records")
        for i, r in zip(bad_pos, recs):
            rec = _raw_from_good(r)
            b = before[i]
            if b != none:
                # g's rows are 0…n−1; anchor row k is −1 − k, i.e. the reversed anchor rows after g's
                rec["previous_register"] = str(prev_text[b])
                rec["previous_read_at"] = pd.Timestamp(int(prev_us[b]), unit="us", tz="UTC").tz_convert(TZ).isoformat()
            n = norm[codes[i]]
            rec["normal_increase_per_hour"] = None if np.isnan(n) else float(n)
            line = int(r["_line"])
            scr.bad.append((line, ", ".join(result.failures[line]), rec))
        g = g[verdict == 0]
    return g.reset_index(drop=True)


def last_readings(good: pd.DataFrame) -> pd.DataFrame:
    """The last plausible reading of each meter (the next day's previous reading); ``good`` is
    sorted by meter, time (as ``judge`` returns it)."""
    if good.empty:
        return empty_anchor()
    meter = good["meter_id"].to_numpy(dtype=object)
    last = np.ones(len(good), dtype=bool)
    last[:-1] = meter[1:] != meter[:-1]
    return pd.DataFrame({"meter_id": meter[last], "us": good["us"].to_numpy(dtype="int64")[last],
                         "reg_text": good["reg_text"].to_numpy(dtype=object)[last],
                         "reg": good["reg"].to_numpy(dtype="float64")[last],
                         "status": good["status"].to_numpy(dtype=object)[last]})


def anchor_digest(anchor: pd.DataFrame) -> str:
    """Identity of a set of previous-day readings (meter, time, register value)."""
    if anchor.empty:
        return "none"
    rows = sorted(zip(anchor["meter_id"].tolist(), anchor["us"].astype("int64").tolist(),
                      anchor["reg"].astype("float64").tolist()))
    return hashlib.sha256("\n".join(f"{m}|{u}|{r!s}" for m, u, r in rows).encode()).hexdigest()


# --- warehouse reads ------------------------------------------------------------------------------

def _loaded(cur, day: date) -> bool:
    cur.execute("SELECT 1 FROM core.meter_file WHERE day = %s", (day,))
    return cur.fetchone() is not None


def _anchor_frame(rows: list) -> pd.DataFrame:
    """(meter_id, epoch µs, register text, status) rows → an anchor frame."""
    if not rows:
        return empty_anchor()
    meter, us, reg_text, status = (list(c) for c in zip(*rows))
    return pd.DataFrame({"meter_id": np.array(meter, dtype=object), "us": np.array(us, dtype="int64"),
                         "reg_text": np.array(reg_text, dtype=object),
                         "reg": pd.to_numeric(pd.Series(reg_text, dtype=object)).to_numpy(dtype="float64"),
                         "status": np.array(status, dtype=object)})


_LAST_SQL = """SELECT DISTINCT ON (meter_id) meter_id, (extract(epoch FROM read_at) * 1000000)::bigint,
                      register::text, status
               FROM core.meter_reading WHERE day = %(prev)s ORDER BY meter_id, read_at DESC"""


def warehouse_last(cur, day: date) -> pd.DataFrame:
    cur.execute(_LAST_SQL, {"prev": day})
    return _anchor_frame(cur.fetchall())


def _history_frame(rows: list) -> pd.DataFrame:
    """(meter_id, rate_median, rate_samples) rows → a rate history frame."""
    meter, med, n = (list(c) for c in zip(*rows)) if rows else ([], [], [])
    return pd.DataFrame({"meter_id": np.array(meter, dtype=object), "rate_median": np.array(med, dtype="float64"),
                         "rate_samples": np.array(n, dtype="int64")})


def warehouse_history(cur, first: date, last: date) -> pd.DataFrame:
    cur.execute(
        """SELECT meter_id, rate_median, rate_samples FROM core.meter_daily
           WHERE day BETWEEN %s AND %s AND rate_samples > 0""",
        (first, last),
    )
    return _history_frame(cur.fetchall())


# One round trip for what judging day D needs from the warehouse: whether D−1 is loaded, D−1's
# last reading per meter, and the day rate statistics of the window before D.
_CONTEXT_SQL = f"""
SELECT 'loaded' AS kind, NULL::text AS meter_id, NULL::bigint AS us, NULL::text AS reg_text, NULL::text AS status,
       NULL::float8 AS rate_median, NULL::integer AS rate_samples, NULL::date AS day
FROM core.meter_file WHERE day = %(prev)s
UNION ALL
SELECT 'last', l.*, NULL, NULL, NULL FROM ({_LAST_SQL}) l
UNION ALL
SELECT 'rate', meter_id, NULL, NULL, NULL, rate_median, rate_samples, day
FROM core.meter_daily WHERE day BETWEEN %(first)s AND %(prev)s AND rate_samples > 0
"""


def warehouse_context(cur, prev: date, first: date) -> tuple[bool, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(is ``prev`` loaded, its last readings, the day rate statistics of [first, prev], those of [first, prev))."""
    cur.execute(_CONTEXT_SQL, {"prev": prev, "first": first})
    rows = cur.fetchall()
    loaded = any(r[0] == "loaded" for r in rows)
    last = _anchor_frame([r[1:5] for r in rows if r[0] == "last"])
    rates = [r for r in rows if r[0] == "rate"]
    history = _history_frame([(r[1], r[5], r[6]) for r in rates])
    before = _history_frame([(r[1], r[5], r[6]) for r in rates if r[7] < prev])
    return loaded, last, history, before


def known_meters(cur) -> pd.DataFrame:
    cur.execute("SELECT meter_id, multiplier::float8 FROM core.meter")
    return pd.DataFrame(cur.fetchall(), columns=["meter_id", "multiplier"]).astype({"multiplier": "float64"})


# --- writing a day --------------------------------------------------------------------------------

def reading_table(g: pd.DataFrame, day: date, file: str, run_id: str | None) -> pa.Table:
    """A day's plausible readings as core.meter_reading rows (an Arrow table whose CSV text
    PostgreSQL parses exactly: registers as their decimal text, times as UTC microseconds)."""
    status = g["status"].to_numpy(dtype=object)
    start_first = g["start_first"].to_numpy(dtype=bool)
    reg_text = g["reg_text"].to_numpy(dtype=object)
    rep = status == "replaced"
    flags = np.where(status == "estimated", "{estimated}",
                     np.where(rep & start_first, "{meter_replaced,new_meter_start_at_first_reading}",
                              np.where(rep, "{meter_replaced}", "{}")))
    n = len(g)
    return pa.table({
        "meter_id": pa.array(g["meter_id"].to_numpy(dtype=object), type=pa.string()),
        "read_at": pa.array(g["us"].to_numpy(dtype="int64"), type=pa.timestamp("us", tz="UTC")),
        "day": pa.array(np.full(n, np.datetime64(day, "D"))),
        "register": pa.array(reg_text, type=pa.string()),
        "status": pa.array(status, type=pa.string()),
        "start_register": pa.array(np.where(rep, np.where(start_first, reg_text, "0"), None), type=pa.string()),
        "flags": pa.array(flags, type=pa.string()),
        "source_file": pa.array(np.full(n, file, dtype=object), type=pa.string()),
        "run_id": pa.array(np.full(n, run_id, dtype=object), type=pa.string()),
    })


# --- daily consumption ------------------------------------------------------------------------------

# The previous day's last readings arrive as arrays (%(a_*)s): meter, epoch µs, register text, status.
DAILY_SQL = """
WITH r AS (
    SELECT meter_id, read_at, register, status, start_register, NULL::text AS source, false AS is_prev
    FROM core.meter_reading WHERE day = %(day)s
), p AS (
    SELECT a.meter_id, 'epoch'::timestamptz + a.read_us * interval '1 microsecond', a.register::numeric, a.status,
           NULL::numeric, %(a_source)s::text, true
    FROM unnest(%(a_meter)s::text[], %(a_us)s::bigint[], %(a_reg)s::text[], %(a_status)s::text[])
         AS a(meter_id, read_us, register, status)
    WHERE a.meter_id IN (SELECT meter_id FROM r)
), s AS (
    SELECT x.*,
           CASE WHEN x.status = 'replaced' THEN x.register - x.start_register
                ELSE x.register - lag(x.register) OVER w END AS delta,
           extract(epoch FROM x.read_at - lag(x.read_at) OVER w) / 3600.0 AS hours
    FROM (SELECT * FROM r UNION ALL SELECT * FROM p) x
    WINDOW w AS (PARTITION BY x.meter_id ORDER BY x.read_at)
), agg AS (
    SELECT s.meter_id,
           count(*) FILTER (WHERE NOT is_prev) AS readings,
           min(read_at) FILTER (WHERE NOT is_prev) AS first_read_at,
           max(read_at) FILTER (WHERE NOT is_prev) AS last_read_at,
           (array_agg(register ORDER BY read_at DESC) FILTER (WHERE NOT is_prev))[1] AS last_register,
           max(read_at) FILTER (WHERE is_prev) AS prev_read_at,
           max(register) FILTER (WHERE is_prev) AS prev_register,
           max(source) FILTER (WHERE is_prev) AS prev_source,
           CASE WHEN bool_or(delta IS NULL OR (status <> 'replaced' AND delta < 0)) FILTER (WHERE NOT is_prev)
                THEN NULL ELSE sum(delta) FILTER (WHERE NOT is_prev) END AS raw_consumption,
           bool_or(status = 'estimated') AS estimated,
           bool_or(status = 'replaced') FILTER (WHERE NOT is_prev) AS replaced,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY (delta / hours)::float8)
               FILTER (WHERE NOT is_prev AND status <> 'replaced' AND delta > 0 AND hours > 0) AS rate_median,
           count(*) FILTER (WHERE NOT is_prev AND status <> 'replaced' AND delta > 0 AND hours > 0) AS rate_samples
    FROM s GROUP BY s.meter_id
)
INSERT INTO core.meter_daily (meter_id, day, readings, first_read_at, last_read_at, last_register, prev_read_at,
                              prev_register, prev_source, multiplier, raw_consumption, consumption, estimated,
                              replaced, rate_median, rate_samples, source_file, run_id)
SELECT agg.meter_id, %(day)s, readings, first_read_at, last_read_at, last_register, prev_read_at, prev_register,
       prev_source, m.multiplier, raw_consumption, raw_consumption * m.multiplier, estimated, replaced,
       rate_median, rate_samples, %(file)s, %(run_id)s
FROM agg JOIN core.meter m ON m.meter_id = agg.meter_id
"""


def refresh_daily(cur, day: date, file: str, run_id: str | None, anchor: pd.DataFrame, source: str) -> None:
    """core.meter_daily for ``day`` from its stored readings and ``anchor`` (the previous day's last
    readings, from ``source``)."""
    cur.execute("DELETE FROM core.meter_daily WHERE day = %s", (day,))
    cur.execute(DAILY_SQL, {
        "day": day, "file": file, "run_id": run_id, "a_source": source,
        "a_meter": anchor["meter_id"].tolist(), "a_us": anchor["us"].astype("int64").tolist(),
        "a_reg": anchor["reg_text"].tolist(), "a_status": anchor["status"].tolist(),
    })


# --- the feed -----------------------------------------------------------------------------------------

@dataclass
class MetersRef:
    meters: pd.DataFrame  # meter_id, multiplier (float) from ref/meters.csv

    def __post_init__(self) -> None:
        self.ids = pd.Index(self.meters["meter_id"])


class MetersFeed(Feed):
    """Windowed load (load.runner): the row rules run in one GX validation per window of files; each
    file's row-rule-valid readings are kept (``stage``) and judged in ``publish``, inside the file's
    transaction, against the warehouse as the earlier files of the run left it (the previous day's
    last readings and the rate history), then written. A day re-judged because its previous day
    changed is reloaded by ``load.runner.load_file`` in the same steps."""

    spec = SPEC

    def __init__(self) -> None:
        self._parts: dict[str, list[pd.DataFrame]] = {}  # file → its row-rule-valid readings, batch by batch
        self._last: dict[str, pd.DataFrame] = {}         # file → its last plausible readings, once published

    # --- hooks -------------------------------------------------------------------------------
    def reference(self, conn) -> MetersRef:
        return MetersRef(known_meters(conn.cursor()))

    def rules(self, ref: MetersRef) -> list[Rule]:
        return ROW_RULES

    def prepare(self, df: pd.DataFrame, lf: LandingFile, ref: MetersRef) -> pd.DataFrame:
        return mark_file_day(df, lf.period)

    def prepare_window(self, df: pd.DataFrame, ref: MetersRef) -> pd.DataFrame:
        return derive(df, ref.ids)

    def begin(self, cur, lf: LandingFile, ref: MetersRef, ctx: LoadContext) -> None:
        self._parts[lf.name] = []

    def stage(self, cur, good: pd.DataFrame, lf: LandingFile, ref: MetersRef, ctx: LoadContext) -> None:
        # the sequence rules need the whole day in time order: judged in publish
        self._parts[lf.name].append(good_readings(good))

    def quarantine_record(self, row: dict, ctx: LoadContext) -> dict:
        return _raw_record(row)

    def malformed_record(self, text: str, ctx: LoadContext) -> dict:
        return malformed_record(text)

    def publish(self, cur, lf: LandingFile, outcome: FileOutcome, ref: MetersRef, ctx: LoadContext) -> None:
        """Judge the day's readings against the previous day's last ones (the audit: duplicates, then
        the sequence rules), replace the day's readings and its consumption."""
        day = lf.period
        anchor, anchor_source, history = self.previous(lf, cur, ref.meters)
        scr = Screen(good=None)
        g = judge(cur, self._parts.pop(lf.name, []), ref.meters, anchor, history, scr, outcome)
        self._last[lf.name] = last_readings(g)
        if scr.bad:
            outcome.rows_quarantined += quarantine_rows(cur, sorted(scr.bad, key=lambda b: b[0]))
        outcome.rows_loaded = len(g)
        for rule, n in scr.rule_counts.items():
            outcome.count_rule(rule, n)
        # the file's rows are its day's (read_at_in_file_day): one partition, through the day index
        cur.execute("DELETE FROM core.meter_reading WHERE day = %s", (day,))
        if len(g):
            cur.execute("SELECT core.ensure_month_partitions('meter_reading', %s, %s)", (day, day))
            copy_table(cur, "core.meter_reading", reading_table(g, day, lf.name, ctx.run_id))
        cur.execute(
            """INSERT INTO core.meter_file (source_file, day, anchor_source, anchor_digest, loaded_at, run_id)
               VALUES (%s, %s, %s, %s, now(), %s)
               ON CONFLICT (day) DO UPDATE SET source_file = EXCLUDED.source_file,
                   anchor_source = EXCLUDED.anchor_source, anchor_digest = EXCLUDED.anchor_digest,
                   loaded_at = EXCLUDED.loaded_at, run_id = EXCLUDED.run_id""",
            (lf.name, day, anchor_source, anchor_digest(anchor), ctx.run_id),
        )
        refresh_daily(cur, day, lf.name, ctx.run_id, anchor, anchor_source)
        outcome.affected_days = {day}

    def statistics(self, outcome: FileOutcome) -> dict:
        return {"rows_read": outcome.rows_read, "rows_loaded": outcome.rows_loaded,
                "rows_quarantined": outcome.rows_quarantined, "rows_duplicate": outcome.rows_duplicate}

    def after_publish(self, cur, lf: LandingFile, outcome: FileOutcome, ref: MetersRef, ctx: LoadContext) -> None:
        """Day D+1 already loaded: its previous readings are this file's last ones. Judged against
        others, it is re-judged and reloaded (through the runner) in this transaction, and so on
        forward; else only its consumption is recomputed."""
        new_last = self._last.pop(lf.name)
        nxt = lf.period + timedelta(days=1)
        cur.execute("SELECT source_file, anchor_digest FROM core.meter_file WHERE day = %s", (nxt,))
        row = cur.fetchone()
        if row is None:
            return
        next_file, judged_against = row
        outcome.affected_days.add(nxt)
        next_path = lf.path.parent / self.spec.expected_name(nxt)
        if anchor_digest(new_last) != judged_against and next_path.is_file():
            # this file's quarantine is published: the reload brings its own
            cur.execute(f"DROP TABLE IF EXISTS {QUARANTINE}, {COLLAPSED}")
            try:
                with ctx.conn.transaction():
                    sub = load_file(self, LandingFile(self.name, next_path, nxt), ref, ctx)
                log.info("%s: reloaded %s against the new previous-day readings", lf.name, next_path.name)
                outcome.affected_days |= sub.affected_days
                return
            except FileRejected as exc:
                log.warning("%s: could not re-judge %s (%s); recomputing its consumption only", lf.name,
                            next_path.name, exc)
        if anchor_digest(new_last) == judged_against:
            cur.execute("UPDATE core.meter_file SET anchor_source = 'warehouse' WHERE day = %s", (nxt,))
        refresh_daily(cur, nxt, next_file, ctx.run_id, warehouse_last(cur, lf.period), "warehouse")

    # --- the day's context and writes ----------------------------------------------------------
    def previous(self, lf: LandingFile, cur, meters: pd.DataFrame) -> tuple[pd.DataFrame, str, pd.DataFrame]:
        """The previous day's last readings (anchor), where they came from, and the rate history."""
        day = lf.period
        prev = day - timedelta(days=1)
        loaded, last, history, history_before = warehouse_context(cur, prev, day - timedelta(days=NORMAL_WINDOW_DAYS))
        if loaded:
            return last, "warehouse", history
        history = history_before
        path = lf.path.parent / self.spec.expected_name(prev)
        if not path.is_file():
            return empty_anchor(), "none", history
        # read the previous day's file (not loaded), judged against ITS previous day if loaded
        before = prev - timedelta(days=1)
        p_anchor = warehouse_last(cur, before) if _loaded(cur, before) else empty_anchor()
        p_history = warehouse_history(cur, prev - timedelta(days=NORMAL_WINDOW_DAYS), before)
        try:
            scr = screen_file(cur, self.name, LandingFile(self.name, path, prev), meters, p_anchor, p_history)
        except FileRejected as exc:
            log.warning("previous day's file %s is unusable (%s): no previous readings for %s", path.name, exc.rule, lf.name)
            return empty_anchor(), "none", history
        stats = day_stats(scr.good, p_anchor)
        return last_readings(scr.good), "landing_file", pd.concat([history, stats], ignore_index=True)
