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

from ..errors import FileRejected
from ..loading import FileOutcome, copy_frame, create_quarantine, file_checksum, publish_quality, quarantine_rows, record_validation
from ..validation import ROW, Rule, validator
from .base import CsvReader, CsvSpec, Feed, LandingFile, LoadContext, nullify

log = logging.getLogger(__name__)

COLUMNS = ["meter_id", "read_at", "reading", "status"]
STATUSES = ("ok", "estimated", "replaced")
TZ = "Asia/Shanghai"
READING_RE = r"^\+?(?:\d{1,15}(?:\.\d{0,9})?|\.\d{1,9})$"
_OFFSET_RE = r"(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$"
_HAS_TIME_RE = r"^\d{4}-?\d{2}-?\d{2}[Tt ]\d{2}"

JUMP_FACTOR = 100          # a jump is ≥ 100 × the meter's normal hourly increase × hours
JUMP_MIN_UNITS = 10        # … and ≥ 10 kWh / m³ after the multiplier
FILE_MIN_SAMPLES = 3       # increases a file needs before its own median counts towards the normal
NORMAL_WINDOW_DAYS = 7     # days of loaded history the normal is learnt from
US_PER_HOUR = 3_600_000_000

STAGE_COLUMNS = ["meter_id", "read_us", "register", "status", "start_register", "flags", "_line"]
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
    Rule("status_known", lambda g: g.ExpectColumnValuesToBeInSet(column="_status", value_set=list(STATUSES))),
]


# --- parsing -------------------------------------------------------------------------------------

def parse_times(raw: pd.Series) -> pd.Series:
    """ISO-8601 text → UTC timestamps (NaT when unparseable); no offset = Asia/Shanghai local."""
    out = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[us, UTC]")
    text = raw.fillna("")
    has_time = text.str.contains(_HAS_TIME_RE, regex=True)
    has_offset = text.str.contains(_OFFSET_RE, regex=True)
    aware = has_time & has_offset
    if aware.any():
        out[aware] = pd.to_datetime(text[aware], format="ISO8601", utc=True, errors="coerce").dt.as_unit("us")
    naive = has_time & ~has_offset
    if naive.any():
        local = pd.to_datetime(text[naive], format="ISO8601", errors="coerce")
        out[naive] = (local.dt.tz_localize(TZ, nonexistent="NaT", ambiguous="NaT")
                      .dt.tz_convert("UTC").dt.as_unit("us"))
    return out


def _epoch_us(t: pd.Series) -> np.ndarray:
    return ((t - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(microseconds=1)).to_numpy(dtype="int64")


def _register_text(s: pd.Series) -> pd.Series:
    """A matched reading as exact decimal text PostgreSQL parses ('+.5' → '0.5', '12.' → '12.0')."""
    s = s.str.replace(r"^\+", "", regex=True)
    s = s.str.replace(r"^\.", "0.", regex=True)
    return s.str.replace(r"\.$", ".0", regex=True)


def _normalised_number(s: pd.Series) -> pd.Series:
    """Canonical text of a decimal (no leading/trailing zeros), to compare duplicates exactly."""
    s = s.str.replace(r"^0+(?=\d)", "", regex=True)
    s = s.str.replace(r"(\.\d*?)0+$", r"\1", regex=True)
    return s.str.replace(r"\.$", "", regex=True)


def prepare(df: pd.DataFrame, file_day: date, meter_ids: pd.Index) -> pd.DataFrame:
    """Derive the typed columns the row rules check, vectorised."""
    nullify(df, COLUMNS)
    df["_meter"] = df["meter_id"].fillna("")
    df["_meter_known"] = np.where(df["_meter"].isin(meter_ids), "yes", "no")
    t = parse_times(df["read_at"])
    df["_time"] = t
    local_day = t.dt.tz_convert(TZ).dt.tz_localize(None).dt.normalize()
    df["_day_offset"] = (local_day - pd.Timestamp(file_day)).dt.days
    df["_reading"] = df["reading"].fillna("")
    df["_status"] = df["status"].fillna("").str.lower()
    return df


# --- screening a file ----------------------------------------------------------------------------

@dataclass
class Screen:
    """A file judged by every rule: its plausible readings and its rejected rows."""

    good: pd.DataFrame  # meter_id, us, reg_text, reg, status, start_first, _line (sorted by meter, time)
    bad: list[tuple[int, str, dict]] = field(default_factory=list)
    rows_read: int = 0
    duplicates: int = 0
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


def screen_file(feed: str, lf: LandingFile, meters: pd.DataFrame, anchor: pd.DataFrame,
                history: pd.DataFrame) -> Screen:
    """Read and judge a day file (raises FileRejected for a file-level failure); writes nothing.

    ``meters``: meter_id, multiplier (float) from ref; ``anchor``: the previous day's last
    plausible reading per meter; ``history``: meter_id, rate_median, rate_samples of earlier days.
    """
    meter_ids = pd.Index(meters["meter_id"])
    check = validator("meters", ROW_RULES)
    reader = CsvReader(feed, lf, CsvSpec(COLUMNS, encoding="utf-8"))
    scr = Screen(good=pd.DataFrame())
    parts = []
    for df in reader.batches():
        df = prepare(df, lf.period, meter_ids)
        result = check.validate(df)
        if result.schema_errors:
            raise FileRejected(feed, lf.name, "schema", "; ".join(result.schema_errors), rows_read=reader.rows_read)
        for rule, n in result.rule_counts.items():
            scr.count(rule, n)
        bad_mask = df[ROW].isin(result.failures.keys())
        for r in df.loc[bad_mask, COLUMNS + [ROW]].to_dict("records"):
            scr.bad.append((int(r[ROW]), ", ".join(result.failures[int(r[ROW])]), _raw_record(r)))
        ok = df[~bad_mask]
        if len(ok):
            reg_text = _register_text(ok["_reading"])
            parts.append(pd.DataFrame({
                "meter_id": ok["_meter"].to_numpy(), "us": _epoch_us(ok["_time"]),
                "reg_text": reg_text.to_numpy(), "reg": pd.to_numeric(reg_text).to_numpy(dtype="float64"),
                "status": ok["_status"].to_numpy(), "_line": ok[ROW].to_numpy(dtype="int64"),
                "raw_meter_id": ok["meter_id"].to_numpy(), "raw_read_at": ok["read_at"].to_numpy(),
                "raw_reading": ok["reading"].to_numpy(), "raw_status": ok["status"].to_numpy(),
            }))
    for line, text in reader.malformed:
        fields = next(csv.reader([text]), [])
        scr.bad.append((line, "malformed_row", {"fields": fields, "field_count": len(fields), "expected": len(COLUMNS)}))
    scr.count("malformed_row", len(reader.malformed))
    scr.rows_read = reader.rows_read
    good = pd.concat(parts, ignore_index=True) if parts else None
    if good is None or good.empty:
        scr.good = _empty_good()
        return scr
    good = _collapse_duplicates(good, scr)
    scr.good = _judge_sequence(good, meters, anchor, history, scr)
    return scr


def _empty_good() -> pd.DataFrame:
    g = empty_anchor()
    g["start_first"] = pd.Series([], dtype=bool)
    g["_line"] = pd.Series([], dtype="int64")
    return g


def _collapse_duplicates(good: pd.DataFrame, scr: Screen) -> pd.DataFrame:
    """Same (meter_id, read_at): identical → keep the first, count the rest; different → quarantine all."""
    good = good.sort_values(["meter_id", "us", "_line"], kind="stable").reset_index(drop=True)
    dup = good.duplicated(["meter_id", "us"], keep=False)
    if not dup.any():
        return good
    sub = good[dup]
    content = _normalised_number(sub["reg_text"]) + "|" + sub["status"]
    distinct = content.groupby([sub["meter_id"], sub["us"]]).transform("nunique")
    conflict_idx = sub.index[distinct.to_numpy() > 1]
    for r in good.loc[conflict_idx].to_dict("records"):
        scr.bad.append((int(r["_line"]), "duplicate_reading_conflict", _raw_from_good(r)))
    scr.count("duplicate_reading_conflict", len(conflict_idx))
    keep = ~good.index.isin(conflict_idx)
    repeat = good.duplicated(["meter_id", "us"], keep="first") & keep
    scr.duplicates += int(repeat.sum())
    scr.count("duplicate_collapsed", int(repeat.sum()))
    return good[keep & ~repeat].reset_index(drop=True)


def _raw_from_good(r: dict) -> dict:
    return {c: (None if pd.isna(r[f"raw_{c}"]) else r[f"raw_{c}"]) for c in COLUMNS}


def _with_previous(g: pd.DataFrame, anchor: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Previous register and time of each reading of ``g`` (sorted by meter, time): the reading
    before it in the same meter, the anchor for the first one; NaN when none."""
    prev_reg = g.groupby("meter_id", sort=False)["reg"].shift(1)
    prev_us = g.groupby("meter_id", sort=False)["us"].shift(1).astype("float64")
    first = ~g["meter_id"].duplicated(keep="first")
    if len(anchor):
        a = anchor.set_index("meter_id")
        prev_reg = prev_reg.where(~first, g["meter_id"].map(a["reg"]))
        prev_us = prev_us.where(~first, g["meter_id"].map(a["us"]).astype("float64"))
    return prev_reg.to_numpy(dtype="float64"), prev_us.to_numpy(dtype="float64")


def _positive_rates(g: pd.DataFrame, anchor: pd.DataFrame) -> pd.DataFrame:
    """meter_id, rate: positive register increases per hour between consecutive readings."""
    prev_reg, prev_us = _with_previous(g, anchor)
    delta = g["reg"].to_numpy() - prev_reg
    hours = (g["us"].to_numpy(dtype="float64") - prev_us) / US_PER_HOUR
    with np.errstate(invalid="ignore", divide="ignore"):
        keep = (g["status"].to_numpy() != "replaced") & (delta > 0) & (hours > 0)
        rate = delta / hours
    return pd.DataFrame({"meter_id": g["meter_id"].to_numpy()[keep], "rate": rate[keep]})


def day_stats(good: pd.DataFrame, anchor: pd.DataFrame) -> pd.DataFrame:
    """meter_id, rate_median, rate_samples of a day's plausible readings (as core.meter_daily keeps them)."""
    rates = _positive_rates(good, anchor)
    if rates.empty:
        return pd.DataFrame({"meter_id": pd.Series([], dtype=str), "rate_median": pd.Series([], dtype="float64"),
                             "rate_samples": pd.Series([], dtype="int64")})
    agg = rates.groupby("meter_id")["rate"].agg(["median", "count"]).reset_index()
    return agg.rename(columns={"median": "rate_median", "count": "rate_samples"})


def normal_rates(candidates: pd.DataFrame, anchor: pd.DataFrame, history: pd.DataFrame) -> pd.Series:
    """Per meter: the normal positive register increase per hour (absent when nothing to learn from).

    The median of the day medians of the loaded history and of the file's own increases; the
    file's own median counts only when it rests on ≥ 3 increases (one or two increases, as a daily
    meter gives, could be the very jump being judged)."""
    today = day_stats(candidates, anchor)
    today = today[today["rate_samples"] >= FILE_MIN_SAMPLES]
    days = pd.concat([history[["meter_id", "rate_median", "rate_samples"]], today], ignore_index=True)
    days = days[days["rate_samples"] > 0]
    if days.empty:
        return pd.Series(dtype="float64")
    return days.groupby("meter_id")["rate_median"].median()


def _judge_sequence(g: pd.DataFrame, meters: pd.DataFrame, anchor: pd.DataFrame, history: pd.DataFrame,
                    scr: Screen) -> pd.DataFrame:
    """Negative deltas and hundredfold jumps, per meter in time order against the last plausible
    reading; vectorised across meters (the loop runs over reading positions, not rows)."""
    normal = normal_rates(g, anchor, history)
    codes, uniques = pd.factorize(g["meter_id"])
    pos = g.groupby(codes, sort=False).cumcount().to_numpy()
    n_m, n_p = len(uniques), int(pos.max()) + 1
    n_g = len(g)
    R = np.full((n_m, n_p), np.nan)
    T = np.full((n_m, n_p), np.nan)
    IDX = np.full((n_m, n_p), -1, dtype=np.int64)
    REP = np.zeros((n_m, n_p), dtype=bool)
    R[codes, pos] = g["reg"].to_numpy()
    T[codes, pos] = g["us"].to_numpy(dtype="float64") / US_PER_HOUR
    IDX[codes, pos] = np.arange(n_g)
    REP[codes, pos] = g["status"].to_numpy() == "replaced"
    ids = pd.Index(uniques)
    mult = pd.Series(meters["multiplier"].to_numpy(dtype="float64"), index=meters["meter_id"]).reindex(ids).to_numpy()
    norm = normal.reindex(ids).to_numpy(dtype="float64") if len(normal) else np.full(n_m, np.nan)
    last_r = np.full(n_m, np.nan)
    last_t = np.full(n_m, np.nan)
    none = np.iinfo(np.int64).min
    last_i = np.full(n_m, none, dtype=np.int64)  # last plausible reading: row of g (≥ 0) or anchor row k (−1 − k)
    if len(anchor):
        a = anchor.reset_index(drop=True)
        pos_in_a = pd.Series(np.arange(len(a)), index=a["meter_id"]).reindex(ids)
        has = pos_in_a.notna().to_numpy()
        k = pos_in_a.to_numpy()[has].astype(np.int64)
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
    """The last plausible reading of each meter (the next day's previous reading)."""
    if good.empty:
        return empty_anchor()
    last = good.sort_values(["meter_id", "us"]).drop_duplicates("meter_id", keep="last")
    return last[["meter_id", "us", "reg_text", "reg", "status"]].reset_index(drop=True)


def anchor_digest(anchor: pd.DataFrame) -> str:
    """Identity of a set of previous-day readings (meter, time, register value)."""
    if anchor.empty:
        return "none"
    a = anchor.sort_values("meter_id")
    text = a["meter_id"].astype(str) + "|" + a["us"].astype("int64").astype(str) + "|" + a["reg"].astype("float64").astype(str)
    return hashlib.sha256("\n".join(text.tolist()).encode()).hexdigest()


# --- warehouse reads ------------------------------------------------------------------------------

def _loaded(cur, day: date) -> bool:
    cur.execute("SELECT 1 FROM core.meter_file WHERE day = %s", (day,))
    return cur.fetchone() is not None


def warehouse_last(cur, day: date) -> pd.DataFrame:
    cur.execute(
        """SELECT DISTINCT ON (meter_id) meter_id, (extract(epoch FROM read_at) * 1000000)::bigint,
                  register::text, status
           FROM core.meter_reading WHERE day = %s ORDER BY meter_id, read_at DESC""",
        (day,),
    )
    rows = cur.fetchall()
    if not rows:
        return empty_anchor()
    a = pd.DataFrame(rows, columns=["meter_id", "us", "reg_text", "status"])
    a["us"] = a["us"].astype("int64")
    a["reg"] = pd.to_numeric(a["reg_text"]).astype("float64")
    return a[["meter_id", "us", "reg_text", "reg", "status"]]


def warehouse_history(cur, first: date, last: date) -> pd.DataFrame:
    cur.execute(
        """SELECT meter_id, rate_median, rate_samples FROM core.meter_daily
           WHERE day BETWEEN %s AND %s AND rate_samples > 0""",
        (first, last),
    )
    return pd.DataFrame(cur.fetchall(), columns=["meter_id", "rate_median", "rate_samples"]).astype(
        {"rate_median": "float64", "rate_samples": "int64"})


def known_meters(cur) -> pd.DataFrame:
    cur.execute("SELECT meter_id, multiplier::float8 FROM core.meter")
    return pd.DataFrame(cur.fetchall(), columns=["meter_id", "multiplier"]).astype({"multiplier": "float64"})


# --- daily consumption ------------------------------------------------------------------------------

DAILY_SQL = """
WITH r AS (
    SELECT meter_id, read_at, register, status, start_register, NULL::text AS source, false AS is_prev
    FROM core.meter_reading WHERE day = %(day)s
), p AS (
    SELECT a.meter_id, a.read_at, a.register, a.status, NULL::numeric, a.source, true
    FROM _anchor a WHERE a.meter_id IN (SELECT meter_id FROM r)
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


def _fill_anchor_table(cur, anchor: pd.DataFrame, source: str) -> None:
    cur.execute("CREATE TEMP TABLE IF NOT EXISTS _anchor (meter_id text PRIMARY KEY, read_at timestamptz NOT NULL, "
                "register numeric NOT NULL, status text NOT NULL, source text NOT NULL) ON COMMIT DROP")
    cur.execute("TRUNCATE _anchor")
    if anchor.empty:
        return
    frame = pd.DataFrame({"meter_id": anchor["meter_id"], "read_us": anchor["us"].astype("int64"),
                          "register": anchor["reg_text"], "status": anchor["status"], "source": source})
    cur.execute("CREATE TEMP TABLE IF NOT EXISTS _anchor_in (meter_id text, read_us bigint, register text, "
                "status text, source text) ON COMMIT DROP")
    cur.execute("TRUNCATE _anchor_in")
    copy_frame(cur, "_anchor_in", list(frame.columns), frame)
    cur.execute("""INSERT INTO _anchor SELECT meter_id, 'epoch'::timestamptz + read_us * interval '1 microsecond',
                          register::numeric, status, source FROM _anchor_in""")


def refresh_daily(cur, day: date, file: str, run_id: str | None) -> None:
    """core.meter_daily for ``day`` from its stored readings and the rows of ``_anchor``."""
    cur.execute("DELETE FROM core.meter_daily WHERE day = %s", (day,))
    cur.execute(DAILY_SQL, {"day": day, "file": file, "run_id": run_id})


def _drop_temp(cur) -> None:
    cur.execute("DROP TABLE IF EXISTS _stage, _quarantine, _anchor, _anchor_in")


# --- the feed -----------------------------------------------------------------------------------------

class MetersFeed(Feed):
    name = "meters"
    folder = "meters"
    cadence = "day"
    prefix = "meters_"
    suffix = ".csv"

    def previous(self, lf: LandingFile, cur, meters: pd.DataFrame) -> tuple[pd.DataFrame, str, pd.DataFrame]:
        """The previous day's last readings (anchor), where they came from, and the rate history."""
        day = lf.period
        prev = day - timedelta(days=1)
        window_start = day - timedelta(days=NORMAL_WINDOW_DAYS)
        if _loaded(cur, prev):
            return warehouse_last(cur, prev), "warehouse", warehouse_history(cur, window_start, prev)
        history = warehouse_history(cur, window_start, prev - timedelta(days=1))
        path = lf.path.parent / self.expected_name(prev)
        if not path.is_file():
            return empty_anchor(), "none", history
        # read the previous day's file (not loaded), judged against ITS previous day if loaded
        before = prev - timedelta(days=1)
        p_anchor = warehouse_last(cur, before) if _loaded(cur, before) else empty_anchor()
        p_history = warehouse_history(cur, prev - timedelta(days=NORMAL_WINDOW_DAYS), before)
        try:
            scr = screen_file(self.name, LandingFile(self.name, path, prev), meters, p_anchor, p_history)
        except FileRejected as exc:
            log.warning("previous day's file %s is unusable (%s): no previous readings for %s", path.name, exc.rule, lf.name)
            return empty_anchor(), "none", history
        stats = day_stats(scr.good, p_anchor)
        return last_readings(scr.good), "landing_file", pd.concat([history, stats], ignore_index=True)

    def load_file(self, lf: LandingFile, ctx: LoadContext) -> FileOutcome:
        conn = ctx.conn
        cur = conn.cursor()
        outcome = FileOutcome(self.name, lf.name, file_checksum(lf.path))
        day = lf.period
        meters = known_meters(cur)
        anchor, anchor_source, history = self.previous(lf, cur, meters)
        scr = screen_file(self.name, lf, meters, anchor, history)

        # write: stage the plausible readings, quarantine the rest
        cur.execute("CREATE TEMP TABLE _stage (meter_id text NOT NULL, read_us bigint NOT NULL, register numeric NOT NULL, "
                    "status text NOT NULL, start_register numeric, flags text[] NOT NULL, _line integer NOT NULL) ON COMMIT DROP")
        create_quarantine(cur)
        if scr.bad:
            outcome.rows_quarantined += quarantine_rows(cur, sorted(scr.bad, key=lambda b: b[0]))
        g = scr.good
        if len(g):
            rep = g["status"] == "replaced"
            flags = np.where(g["status"] == "estimated", "{estimated}",
                             np.where(rep & g["start_first"], "{meter_replaced,new_meter_start_at_first_reading}",
                                      np.where(rep, "{meter_replaced}", "{}")))
            start = pd.Series(np.where(g["start_first"], g["reg_text"], "0"), index=g.index).where(rep, None)
            copy_frame(cur, "_stage", STAGE_COLUMNS, pd.DataFrame({
                "meter_id": g["meter_id"], "read_us": g["us"].astype("int64"), "register": g["reg_text"],
                "status": g["status"], "start_register": start, "flags": flags, "_line": g["_line"].astype("int64"),
            }))
        outcome.rows_read = scr.rows_read
        outcome.rows_loaded = len(g)
        outcome.rows_duplicate = scr.duplicates
        for rule, n in scr.rule_counts.items():
            outcome.count_rule(rule, n)

        # publish: the file's readings, its day's consumption, the next day's if loaded
        cur.execute("DELETE FROM core.meter_reading WHERE source_file = %s OR day = %s", (lf.name, day))
        cur.execute(
            """INSERT INTO core.meter_reading (meter_id, read_at, day, register, status, start_register, flags,
                                               source_file, run_id)
               SELECT meter_id, 'epoch'::timestamptz + read_us * interval '1 microsecond', %s, register, status,
                      start_register, flags, %s, %s FROM _stage""",
            (day, lf.name, ctx.run_id),
        )
        cur.execute(
            """INSERT INTO core.meter_file (source_file, day, anchor_source, anchor_digest, loaded_at, run_id)
               VALUES (%s, %s, %s, %s, now(), %s)
               ON CONFLICT (day) DO UPDATE SET source_file = EXCLUDED.source_file,
                   anchor_source = EXCLUDED.anchor_source, anchor_digest = EXCLUDED.anchor_digest,
                   loaded_at = EXCLUDED.loaded_at, run_id = EXCLUDED.run_id""",
            (lf.name, day, anchor_source, anchor_digest(anchor), ctx.run_id),
        )
        _fill_anchor_table(cur, anchor, anchor_source)
        refresh_daily(cur, day, lf.name, ctx.run_id)
        outcome.affected_days = {day}
        publish_quality(cur, outcome, ctx.run_id)
        record_validation(cur, self.name, lf.name, "meters", outcome.rows_quarantined == 0,
                          {"rows_read": outcome.rows_read, "rows_loaded": outcome.rows_loaded,
                           "rows_quarantined": outcome.rows_quarantined, "rows_duplicate": outcome.rows_duplicate},
                          outcome.rule_counts, ctx.run_id)
        self._update_next_day(lf, ctx, cur, last_readings(g), outcome)
        return outcome

    def _update_next_day(self, lf: LandingFile, ctx: LoadContext, cur, new_last: pd.DataFrame,
                         outcome: FileOutcome) -> None:
        """Day D+1 already loaded: its previous readings are this file's last ones."""
        nxt = lf.period + timedelta(days=1)
        cur.execute("SELECT source_file, anchor_digest FROM core.meter_file WHERE day = %s", (nxt,))
        row = cur.fetchone()
        if row is None:
            return
        next_file, judged_against = row
        outcome.affected_days.add(nxt)
        next_path = lf.path.parent / self.expected_name(nxt)
        if anchor_digest(new_last) != judged_against and next_path.is_file():
            # its readings were judged against other previous readings: re-judge and reload it
            _drop_temp(cur)
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s), hashtext(%s))", (self.name, next_path.name))
            try:
                with ctx.conn.transaction():
                    sub = self.load_file(LandingFile(self.name, next_path, nxt), ctx)
                log.info("%s: reloaded %s against the new previous-day readings", lf.name, next_path.name)
                outcome.affected_days |= sub.affected_days
                return
            except FileRejected as exc:
                log.warning("%s: could not re-judge %s (%s); recomputing its consumption only", lf.name,
                            next_path.name, exc)
        if anchor_digest(new_last) == judged_against:
            cur.execute("UPDATE core.meter_file SET anchor_source = 'warehouse' WHERE day = %s", (nxt,))
        _fill_anchor_table(cur, warehouse_last(cur, lf.period), "warehouse")
        refresh_daily(cur, nxt, next_file, ctx.run_id)
