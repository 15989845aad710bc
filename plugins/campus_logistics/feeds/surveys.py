"""``surveys/`` — satisfaction survey waves (满意度测评), one ``.xlsx`` per wave.

One sheet, one row per respondent: ``序号`` (response number), ``提交答卷时间`` (submitted at),
``身份`` (学生 / 教职工), then one column per service headed with a unit's ``name_zh`` from
ref/sub_centres.csv; each answer cell is one of 非常满意, 满意, 一般, 不满意, 非常不满意, or empty
(not answered). The wave date is the date in the file name (cadence ``wave``: a run loads the
waves whose date falls in its interval). The workbook is streamed with openpyxl's read-only mode.

File gate (the file fails as a whole, nothing is loaded):

* ``regular_file`` / ``inside_landing`` — a link, not a regular file, or outside the landing directory;
* ``not_empty`` — 0 bytes, no row at all, or a header but no respondent row;
* ``header_present`` — the first row names no required column and no unit (a respondent's row
  where the header belongs: never echoed);
* ``xlsx_readable`` — not a readable .xlsx workbook (corrupt or cut-off zip, another format);
* ``one_sheet`` — more than one sheet holds data (which one is the export is not knowable);
* ``header`` — a required column (序号, 提交答卷时间, 身份) missing, a column header that is no
  unit's ``name_zh`` (named by column letter and text, e.g. "column F: header '绿化中心' is not a
  unit name_zh in ref/sub_centres.csv"), a duplicated column (e.g. the same unit twice: which
  one holds the answers is not knowable), no service column at all, or a value in a column that
  has no header (named by cell, the value is not shown). Header texts are shown escaped and cut.

Row rules (the respondent's row is quarantined, its other answers are not used):

* ``answer_on_scale`` — an answer that is not one of the five scale values. Chosen over failing
  the file: one mistyped cell should not drop a whole wave. The quarantine record names every bad
  cell, e.g. "sheet 'Sheet1', cell F17: answer '很好' not on the scale";
* ``response_no_present``, ``submitted_at_valid`` (a date-time cell, an Excel serial number or
  ISO-like text; local time unless an offset is given), ``holder_type_known`` (学生 or 教职工);
* ``duplicate_response_conflict`` — a 序号 seen earlier in the file with different content (the
  first occurrence is kept); an identical repeat is a duplicate collapsed (counted).

The submission time is only checked to be near the wave date (``submitted_at_near_wave``: within
``CAMPUS_LOGISTICS_SURVEY_WINDOW_DAYS``, default 92, either side): a wave collects answers over
several days around it, a year typo is not one of them. Fully empty rows are ignored (not
respondents). Answers are stored long-format in ``core.survey_answer`` (one row per respondent and service column, answer NULL = not answered);
re-delivering a wave's file replaces that wave.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
import zlib
from xml.etree.ElementTree import ParseError

import numpy as np
import pandas as pd

from .. import limits
from ..errors import FileRejected, shown
from ..loading import FileOutcome, copy_frame, create_quarantine, content_checksum, publish_quality, quarantine_rows, record_validation
from ..validation import ROW, Rule, validator
from .base import Feed, LandingFile, LoadContext
from .work_orders import LOCAL_TZ, parse_times, utc_text

NO, SUBMITTED, HOLDER = "序号", "提交答卷时间", "身份"
REQUIRED = [NO, SUBMITTED, HOLDER]
HOLDERS = {"学生": "student", "教职工": "staff"}
SCALE = {"非常满意": 5, "满意": 4, "一般": 3, "不满意": 2, "非常不满意": 1}
BATCH = 20_000  # respondents per batch
# what a corrupt or cut-off workbook raises while its sheets are read
UNREADABLE = (zipfile.BadZipFile, zlib.error, EOFError, ParseError)

STAGE_COLUMNS = ["wave_date", "response_no", "unit_code", "holder_type", "submitted_at", "answer", "score",
                 "source_file", "source_row", "run_id"]
RULES = [
    Rule("response_no_present", lambda g: g.ExpectColumnValuesToNotBeNull(column="_response_no")),
    Rule("submitted_at_valid", lambda g: g.ExpectColumnValuesToNotBeNull(column="_submitted")),
    Rule("submitted_at_near_wave", lambda g: g.ExpectColumnValuesToBeInSet(column="_near_wave", value_set=["yes"])),
    Rule("holder_type_known", lambda g: g.ExpectColumnValuesToBeInSet(column="_holder", value_set=list(HOLDERS))),
    Rule("answer_on_scale", lambda g: g.ExpectColumnValuesToBeNull(column="_bad_cells")),
]


def _col_letter(i: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(i + 1)


def _blank(v) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def _response_no(v) -> str | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else None
    if isinstance(v, str):
        return v.strip() or None
    return None


def _excel_serial(v: float) -> dt.datetime | None:
    from openpyxl.utils.datetime import from_excel

    try:
        out = from_excel(v)
    except (ValueError, OverflowError, TypeError):
        return None
    if isinstance(out, dt.datetime):
        return out
    if isinstance(out, dt.date):
        return dt.datetime.combine(out, dt.time())
    return None


def submitted_times(values: pd.Series) -> pd.Series:
    """Cells of 提交答卷时间 → UTC timestamps: datetime/date cells and Excel serial numbers are
    local time; text is parsed as ISO-like (offset honoured, local time without one)."""
    def native(v):
        if isinstance(v, dt.datetime):
            return v.replace(tzinfo=None) if v.tzinfo is None else v.astimezone(dt.timezone.utc).replace(tzinfo=None)
        if isinstance(v, dt.date):
            return dt.datetime.combine(v, dt.time())
        if isinstance(v, (int, float)) and not isinstance(v, bool) and 1 <= v < 2958466:
            return _excel_serial(float(v))
        return None

    is_tz = values.map(lambda v: isinstance(v, dt.datetime) and v.tzinfo is not None).astype(bool)
    local_vals = pd.to_datetime(values.map(native).astype("object"), errors="coerce")
    local = local_vals.dt.tz_localize(LOCAL_TZ, nonexistent="shift_forward", ambiguous="NaT").dt.tz_convert("UTC")
    aware = local_vals.dt.tz_localize("UTC")
    from_cells = aware.where(is_tz, local)
    from_text = parse_times(values, require_time=False)
    return from_cells.where(from_cells.notna(), from_text).astype("datetime64[us, UTC]")


def near_wave(submitted: pd.Series, wave: dt.date) -> pd.Series:
    """'yes' when the answer was submitted within limits.survey_window_days() of the wave's date
    (a year typo is not an answer to this wave), 'no' otherwise, missing when unparseable."""
    day = submitted.dt.tz_convert(LOCAL_TZ).dt.tz_localize(None).dt.normalize()
    gap = (day - pd.Timestamp(wave)).dt.days.abs()
    out = pd.Series("no", index=submitted.index, dtype="object").where(~(gap <= limits.survey_window_days()), "yes")
    return out.where(submitted.notna(), None)


class _Sheet:
    """The workbook's one data sheet, its header mapped to units, streamed in row batches."""

    def __init__(self, feed: str, lf: LandingFile, units_by_name: dict[str, str]):
        self.feed, self.lf, self.units_by_name = feed, lf, units_by_name
        self.rows_read = 0

    def reject(self, rule: str, detail: str, **kw) -> FileRejected:
        return FileRejected(self.feed, self.lf.name, rule, detail, **kw)

    def open(self):
        from openpyxl import load_workbook
        from openpyxl.utils.exceptions import InvalidFileException

        with self.lf.open() as f:
            raw = f.read()  # a workbook is read at random offsets: hash the bytes it is parsed from
        self.checksum = content_checksum(raw)
        if not raw:
            raise self.reject("not_empty", "the file is empty (0 bytes)", rows_read=0)
        try:
            self.wb = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
        except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError, EOFError) as exc:
            raise self.reject("xlsx_readable", f"not a readable .xlsx workbook ({type(exc).__name__}: {exc}); "
                                               "a cut-off or corrupt export?") from None
        sheets = self.wb.worksheets
        if not sheets:
            raise self.reject("not_empty", "the workbook has no sheet", rows_read=0)
        for ws in sheets:
            ws.reset_dimensions()  # do not trust the dimension the exporter wrote
        try:
            used = [ws for ws in sheets if self._has_data(ws)]
        except UNREADABLE as exc:
            raise self._unreadable(exc) from None
        if len(used) > 1:
            raise self.reject("one_sheet", "more than one sheet holds data: "
                              + ", ".join(shown(ws.title) for ws in used) + " (the export has exactly one)")
        self.ws = used[0] if used else sheets[0]
        return self

    @staticmethod
    def _has_data(ws) -> bool:
        for row in ws.iter_rows(values_only=True):
            if any(not _blank(v) for v in row):
                return True
        return False

    def _unreadable(self, exc: Exception) -> FileRejected:
        return self.reject("xlsx_readable", f"the workbook cannot be read ({type(exc).__name__}: {exc}); "
                                            "a cut-off or corrupt export?", rows_read=self.rows_read)

    def close(self) -> None:
        wb = getattr(self, "wb", None)
        if wb is not None:
            wb.close()

    def _cell(self, col: int, row: int) -> str:
        return f"sheet {shown(self.ws.title)}, cell {_col_letter(col)}{row}"

    def header(self, row_no: int, cells: tuple) -> None:
        names = ["" if _blank(v) else str(v).strip() for v in cells]
        self.header_row = row_no
        self.width = len(names)
        self.blank_cols = [i for i, n in enumerate(names) if not n]
        if not (set(names) & (set(REQUIRED) | set(self.units_by_name))):
            # a respondent's row where the header belongs: its answers must not be echoed
            raise self.reject("header_present", f"sheet {shown(self.ws.title)} row {row_no}: the sheet has no header "
                              f"row: its first row names none of the columns {list(REQUIRED)} nor a unit "
                              "(a respondent's row? it is not shown)", rows_read=0)
        problems, seen = [], {}
        for i, n in enumerate(names):
            if not n:
                continue
            if n in seen:
                problems.append(f"column {_col_letter(i)}: header {shown(n)} duplicates column {_col_letter(seen[n])}")
                continue
            seen[n] = i
            if n not in REQUIRED and n not in self.units_by_name:
                problems.append(f"column {_col_letter(i)}: header {shown(n)} is not a unit name_zh in ref/sub_centres.csv")
        missing = [c for c in REQUIRED if c not in seen]
        if missing:
            problems.insert(0, f"missing column(s) {missing}")
        self.unit_cols = [(i, names[i], self.units_by_name[names[i]]) for i in sorted(seen.values())
                          if names[i] not in REQUIRED and names[i] in self.units_by_name]
        if not self.unit_cols and not problems:
            problems.append("no service column (a unit's name_zh) after 序号, 提交答卷时间, 身份")
        units = [u for _, _, u in self.unit_cols]
        dup_units = sorted({u for u in units if units.count(u) > 1})
        if dup_units:
            problems.append(f"unit(s) {dup_units} have more than one column (names of the same unit)")
        if problems:
            raise self.reject("header", f"sheet {shown(self.ws.title)} row {row_no}: " + "; ".join(problems))
        self.col = {n: seen[n] for n in REQUIRED}

    def batches(self):
        try:
            yield from self._batches()
        except UNREADABLE as exc:
            raise self._unreadable(exc) from None

    def _batches(self):
        rows_iter = enumerate(self.ws.iter_rows(values_only=True), start=1)
        for row_no, cells in rows_iter:
            if any(not _blank(v) for v in cells):
                self.header(row_no, cells)
                break
        else:
            raise self.reject("not_empty", f"sheet {shown(self.ws.title)} has no header row and no data", rows_read=0)
        width = self.width
        batch: list[tuple] = []
        lines: list[int] = []
        for row_no, cells in rows_iter:
            if all(_blank(v) for v in cells):
                continue
            if len(cells) < width:
                cells = tuple(cells) + (None,) * (width - len(cells))
            for i in [*self.blank_cols, *range(width, len(cells))]:
                if not _blank(cells[i]):
                    raise self.reject("header", f"{self._cell(i, row_no)} holds a value (not shown) but its column "
                                                "has no header", rows_read=self.rows_read)
            batch.append(cells[:width])
            lines.append(row_no)
            self.rows_read += 1
            if len(batch) >= BATCH:
                yield self._frame(batch, lines)
                batch, lines = [], []
        if batch:
            yield self._frame(batch, lines)
        if self.rows_read == 0:
            raise self.reject("not_empty", f"sheet {shown(self.ws.title)} has a header but no respondent row", rows_read=0)

    def _frame(self, batch: list[tuple], lines: list[int]) -> pd.DataFrame:
        cols = list(zip(*batch))
        df = pd.DataFrame({ROW: np.asarray(lines, dtype="int64")})
        for name, i in self.col.items():
            df[name] = pd.Series(cols[i], dtype="object")
        for i, name, unit in self.unit_cols:
            df[f"u:{unit}"] = pd.Series(cols[i], dtype="object")
        # derived columns the rules check
        df["_response_no"] = df[NO].map(_response_no).astype("object")
        df["_submitted"] = submitted_times(df[SUBMITTED])
        df["_near_wave"] = near_wave(df["_submitted"], self.lf.period)
        df["_holder"] = df[HOLDER].map(lambda v: v.strip() if isinstance(v, str) else "").astype("object")
        problems = pd.Series("", index=df.index, dtype="object")
        for i, name, unit in self.unit_cols:
            raw = df[f"u:{unit}"]
            text = raw.map(lambda v: None if _blank(v) else (v.strip() if isinstance(v, str) else v)).astype("object")
            bad = text.notna() & ~text.isin(list(SCALE))
            df[f"a:{unit}"] = text.where(~bad, None)
            if bad.any():
                msg = (f"sheet {shown(self.ws.title)}, cell {_col_letter(i)}" + df[ROW].astype(str)
                       + ": answer " + text.map(lambda v: repr(v) if not isinstance(v, str) else f"'{v}'")
                       + f" not on the scale (column {name!r})")
                sep = problems.map(lambda p: "; " if p else "")
                problems = problems.where(~bad, problems + sep + msg)
        df["_bad_cells"] = problems.where(problems != "", None)
        return df

    def record(self, row: dict) -> dict:
        rec = {"sheet": self.ws.title, "row": int(row[ROW])}
        for name in REQUIRED:
            v = row[name]
            rec[name] = v.isoformat(sep=" ") if isinstance(v, (dt.datetime, dt.date)) else v
        for _, name, unit in self.unit_cols:
            rec[name] = row[f"u:{unit}"]
        if row.get("_bad_cells"):
            rec["detail"] = row["_bad_cells"]
        return rec


class SurveysFeed(Feed):
    name = "surveys"
    folder = "surveys"
    cadence = "wave"
    prefix = "survey_"
    suffix = ".xlsx"

    def load_file(self, lf: LandingFile, ctx: LoadContext) -> FileOutcome:
        conn = ctx.conn
        outcome = FileOutcome(self.name, lf.name)
        units_by_name = dict(conn.execute(
            """SELECT DISTINCT ON (name_zh) name_zh, unit_code FROM core.sub_centre
               ORDER BY name_zh, stage_since DESC""").fetchall())
        check = validator("surveys", RULES)
        cur = conn.cursor()
        cur.execute("CREATE TEMP TABLE _sv_stage (LIKE core.survey_answer) ON COMMIT DROP")
        create_quarantine(cur)
        sheet = _Sheet(self.name, lf, units_by_name).open()
        try:
            for df in sheet.batches():
                result = check.validate(df, files=[lf.name])
                if result.schema_errors:
                    raise FileRejected(self.name, lf.name, "schema", "; ".join(result.schema_errors),
                                       rows_read=sheet.rows_read)
                for rule, n in result.rule_counts.items():
                    outcome.count_rule(rule, n)
                bad_mask = df[ROW].isin(result.failures.keys())
                bad, good = df[bad_mask], df[~bad_mask]
                if len(bad):
                    outcome.rows_quarantined += quarantine_rows(cur, (
                        (int(r[ROW]), ", ".join(result.failures[int(r[ROW])]), sheet.record(r))
                        for r in bad.to_dict("records")
                    ))
                if len(good):
                    copy_frame(cur, "_sv_stage", STAGE_COLUMNS, self._long(good, sheet, lf, ctx))
        finally:
            sheet.close()
        outcome.rows_read = sheet.rows_read
        outcome.checksum = sheet.checksum
        self._collapse_duplicates(cur, outcome, sheet)
        cur.execute("SELECT count(DISTINCT source_row) FROM _sv_stage")
        outcome.rows_loaded = cur.fetchone()[0]
        outcome.affected_days = {lf.period} | {r[0] for r in conn.execute(
            "SELECT DISTINCT wave_date FROM core.survey_answer WHERE source_file = %s", (lf.name,)).fetchall()}
        cur.execute("DELETE FROM core.survey_answer WHERE source_file = %s", (lf.name,))
        cols = ", ".join(STAGE_COLUMNS)
        cur.execute(f"INSERT INTO core.survey_answer ({cols}) SELECT {cols} FROM _sv_stage")
        publish_quality(cur, outcome, ctx.run_id)
        record_validation(cur, self.name, lf.name, "surveys", outcome.rows_quarantined == 0,
                          {"rows_read": outcome.rows_read, "rows_quarantined": outcome.rows_quarantined,
                           "rows_duplicate": outcome.rows_duplicate,
                           "units": [u for _, _, u in sheet.unit_cols]}, outcome.rule_counts, ctx.run_id)
        return outcome

    @staticmethod
    def _long(good: pd.DataFrame, sheet: _Sheet, lf: LandingFile, ctx: LoadContext) -> pd.DataFrame:
        """One row per respondent and service column."""
        base = pd.DataFrame({
            "response_no": good["_response_no"].values,
            "holder_type": good["_holder"].map(HOLDERS).values,
            "submitted_at": utc_text(good["_submitted"]).values,
            "source_row": good[ROW].astype("int64").values,
        })
        parts = []
        for _, _, unit in sheet.unit_cols:
            ans = good[f"a:{unit}"].map(lambda a: a if isinstance(a, str) else None).astype("object").values
            part = base.copy()
            part["unit_code"] = unit
            part["answer"] = ans
            part["score"] = pd.Series(ans, dtype="object").map(
                lambda a: str(SCALE[a]) if isinstance(a, str) else None).astype("object").values
            parts.append(part)
        out = pd.concat(parts, ignore_index=True)
        out["wave_date"] = lf.period.isoformat()
        out["source_file"] = lf.name
        out["run_id"] = ctx.run_id
        out["answer"] = out["answer"].astype("object").where(out["answer"].notna(), None)
        out["score"] = out["score"].astype("object").where(out["score"].notna(), None)
        return out

    @staticmethod
    def _collapse_duplicates(cur, outcome: FileOutcome, sheet: _Sheet) -> None:
        """A 序号 twice in the file: an identical respondent row is collapsed, else the first wins."""
        cur.execute(
            """CREATE TEMP TABLE _sv_rows ON COMMIT DROP AS
               SELECT response_no, source_row,
                      md5(holder_type || '|' || submitted_at::text || '|'
                          || string_agg(unit_code || '=' || COALESCE(answer, ''), ',' ORDER BY unit_code)) AS h
               FROM _sv_stage GROUP BY response_no, source_row, holder_type, submitted_at"""
        )
        cur.execute(
            """CREATE TEMP TABLE _sv_dups ON COMMIT DROP AS
               SELECT source_row, h, first_value(h) OVER w AS first_h, row_number() OVER w AS rn
               FROM _sv_rows WINDOW w AS (PARTITION BY response_no ORDER BY source_row)"""
        )
        cur.execute("DELETE FROM _sv_dups WHERE rn = 1")
        cur.execute(
            """INSERT INTO _quarantine (row_number, rule, record)
               SELECT s.source_row, 'duplicate_response_conflict',
                      jsonb_build_object('sheet', %s::text, 'row', s.source_row, '序号', s.response_no,
                                         '身份', s.holder_type, '提交答卷时间', s.submitted_at,
                                         'answers', jsonb_object_agg(s.unit_code, s.answer))
               FROM _sv_stage s JOIN _sv_dups d USING (source_row)
               WHERE d.h <> d.first_h
               GROUP BY s.source_row, s.response_no, s.holder_type, s.submitted_at""",
            (sheet.ws.title,),
        )
        conflicts = cur.rowcount
        cur.execute("SELECT count(*) FROM _sv_dups WHERE h = first_h")
        same = cur.fetchone()[0]
        cur.execute("DELETE FROM _sv_stage WHERE source_row IN (SELECT source_row FROM _sv_dups)")
        outcome.rows_quarantined += conflicts
        outcome.rows_duplicate += same
        outcome.count_rule("duplicate_response_conflict", conflicts)
        outcome.count_rule("duplicate_collapsed", same)
        cur.execute("DROP TABLE _sv_dups")
        cur.execute("DROP TABLE _sv_rows")
