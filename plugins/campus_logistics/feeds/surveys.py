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
respondents). Answers are stored long-format in ``core.survey_answer`` (one row per respondent and
service column, answer NULL = not answered); re-delivering a wave's file replaces that wave.

Loading (``StagedFeed``): the workbook gate and streaming are ``readers.XlsxReader``'s, the header
check against the units is this feed's. A respondent is staged as one row (its answers one jsonb
object, so duplicates compare whole respondents) and made long on publish.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import pandas as pd

from .. import limits
from ..errors import shown
from ..loading import FileOutcome, collapse_duplicates, copy_frame
from ..validation import ROW, Rule
from .base import LandingFile, LoadContext
from .readers import XlsxReader, blank, col_letter
from .staged import StagedFeed
from .work_orders import LOCAL_TZ, parse_times, utc_text

NO, SUBMITTED, HOLDER = "序号", "提交答卷时间", "身份"
REQUIRED = [NO, SUBMITTED, HOLDER]
HOLDERS = {"学生": "student", "教职工": "staff"}
SCALE = {"非常满意": 5, "满意": 4, "一般": 3, "不满意": 2, "非常不满意": 1}
BATCH = 20_000  # respondents per batch

CORE_COLUMNS = ["wave_date", "response_no", "unit_code", "holder_type", "submitted_at", "answer", "score",
                "source_file", "source_row", "run_id"]
STAGE_COLUMNS = ["wave_date", "response_no", "holder_type", "submitted_at", "answers", "source_file", "source_row",
                 "run_id", "_sheet"]
RULES = [
    Rule("response_no_present", lambda g: g.ExpectColumnValuesToNotBeNull(column="_response_no")),
    Rule("submitted_at_valid", lambda g: g.ExpectColumnValuesToNotBeNull(column="_submitted")),
    Rule("submitted_at_near_wave", lambda g: g.ExpectColumnValuesToBeInSet(column="_near_wave", value_set=["yes"])),
    Rule("holder_type_known", lambda g: g.ExpectColumnValuesToBeInSet(column="_holder", value_set=list(HOLDERS))),
    Rule("answer_on_scale", lambda g: g.ExpectColumnValuesToBeNull(column="_bad_cells")),
]


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


@dataclass(frozen=True)
class _Header:
    sheet: str
    unit_cols: list[tuple[int, str, str]]  # (sheet column index, header text = a unit's name_zh, unit code)


class SurveysFeed(StagedFeed):
    name = "surveys"
    tables = ("core.survey_answer",)
    folder = "surveys"
    cadence = "wave"
    prefix = "survey_"
    suffix = ".xlsx"
    suite = "surveys"

    def __init__(self):
        self._units_by_name: dict[str, str] = {}
        self._headers: dict[str, _Header] = {}  # file -> its sheet's header, as the reader met it

    # -- hooks -------------------------------------------------------------------------------------
    def reference(self, conn) -> dict[str, str]:
        """Unit name_zh -> unit code (the header gate checks a file's columns against it)."""
        self._units_by_name = dict(conn.execute(
            """SELECT DISTINCT ON (name_zh) name_zh, unit_code FROM core.sub_centre
               ORDER BY name_zh, stage_since DESC""").fetchall())
        return self._units_by_name

    def rules(self, units_by_name) -> list[Rule]:
        return RULES

    def open_reader(self, lf: LandingFile) -> XlsxReader:
        return XlsxReader(self.name, lf, lambda reader, row_no, names: self._header(lf, reader, row_no, names),
                          batch=BATCH, row_noun="respondent row")

    def _header(self, lf: LandingFile, reader: XlsxReader, row_no: int, names: list[str]) -> dict[str, int]:
        units_by_name = self._units_by_name
        sheet = shown(reader.title)
        if not (set(names) & (set(REQUIRED) | set(units_by_name))):
            # a respondent's row where the header belongs: its answers must not be echoed
            raise reader.reject("header_present", f"sheet {sheet} row {row_no}: the sheet has no header "
                                f"row: its first row names none of the columns {list(REQUIRED)} nor a unit "
                                "(a respondent's row? it is not shown)", rows_read=0)
        problems, seen = [], {}
        for i, n in enumerate(names):
            if not n:
                continue
            if n in seen:
                problems.append(f"column {col_letter(i)}: header {shown(n)} duplicates column {col_letter(seen[n])}")
                continue
            seen[n] = i
            if n not in REQUIRED and n not in units_by_name:
                problems.append(f"column {col_letter(i)}: header {shown(n)} is not a unit name_zh in ref/sub_centres.csv")
        missing = [c for c in REQUIRED if c not in seen]
        if missing:
            problems.insert(0, f"missing column(s) {missing}")
        unit_cols = [(i, names[i], units_by_name[names[i]]) for i in sorted(seen.values())
                     if names[i] not in REQUIRED and names[i] in units_by_name]
        if not unit_cols and not problems:
            problems.append("no service column (a unit's name_zh) after 序号, 提交答卷时间, 身份")
        units = [u for _, _, u in unit_cols]
        dup_units = sorted({u for u in units if units.count(u) > 1})
        if dup_units:
            problems.append(f"unit(s) {dup_units} have more than one column (names of the same unit)")
        if problems:
            raise reader.reject("header", f"sheet {sheet} row {row_no}: " + "; ".join(problems))
        self._headers[lf.name] = _Header(reader.title, unit_cols)
        return {**{n: seen[n] for n in REQUIRED}, **{name: i for i, name, _ in unit_cols}}

    def prepare(self, df: pd.DataFrame, lf: LandingFile, units_by_name) -> pd.DataFrame:
        """The columns the rules check; a row's answers become one column (``answers``: header text ->
        cell), since a window holds waves whose sheets have other service columns."""
        head = self._headers[lf.name]
        df["_response_no"] = df[NO].map(_response_no).astype("object")
        df["_submitted"] = submitted_times(df[SUBMITTED])
        df["_near_wave"] = near_wave(df["_submitted"], lf.period)
        df["_holder"] = df[HOLDER].map(lambda v: v.strip() if isinstance(v, str) else "").astype("object")
        problems = pd.Series("", index=df.index, dtype="object")
        for i, name, _ in head.unit_cols:
            text = df[name].map(lambda v: None if blank(v) else (v.strip() if isinstance(v, str) else v)).astype("object")
            bad = text.notna() & ~text.isin(list(SCALE))
            if bad.any():
                msg = (f"sheet {shown(head.sheet)}, cell {col_letter(i)}" + df[ROW].astype(str)
                       + ": answer " + text.map(lambda v: repr(v) if not isinstance(v, str) else f"'{v}'")
                       + f" not on the scale (column {name!r})")
                sep = problems.map(lambda p: "; " if p else "")
                problems = problems.where(~bad, problems + sep + msg)
        df["_bad_cells"] = problems.where(problems != "", None)
        names = [name for _, name, _ in head.unit_cols]
        out = df.drop(columns=names)
        out["answers"] = pd.Series([dict(zip(names, cells)) for cells in zip(*(df[n] for n in names))],
                                   index=df.index, dtype="object")
        out["sheet"] = head.sheet
        out["row"] = df[ROW]
        out["detail"] = df["_bad_cells"]  # what quarantine_record names (it sees no _ column)
        return out

    def begin(self, cur, lf: LandingFile, units_by_name, ctx: LoadContext) -> None:
        # one row per respondent (answers: unit code -> answer), made long on publish
        cur.execute("""CREATE TEMP TABLE _sv_stage (
                           wave_date date NOT NULL, response_no text NOT NULL, holder_type text NOT NULL,
                           submitted_at timestamptz NOT NULL, answers jsonb NOT NULL, source_file text NOT NULL,
                           source_row integer NOT NULL, run_id text, _sheet text NOT NULL) ON COMMIT DROP""")

    def stage(self, cur, good: pd.DataFrame, lf: LandingFile, units_by_name, ctx: LoadContext) -> None:
        answers = [json.dumps({units_by_name[name]: None if blank(v) else v.strip() for name, v in cells.items()},
                              ensure_ascii=False) for cells in good["answers"]]
        copy_frame(cur, "_sv_stage", STAGE_COLUMNS, pd.DataFrame({
            "wave_date": lf.period.isoformat(),
            "response_no": good["_response_no"].values,
            "holder_type": good["_holder"].map(HOLDERS).values,
            "submitted_at": utc_text(good["_submitted"]).values,
            "answers": answers,
            "source_file": lf.name,
            "source_row": good[ROW].astype("int64").values,
            "run_id": ctx.run_id,
            "_sheet": good["sheet"].values,
        }))

    def quarantine_record(self, row: dict, ctx: LoadContext) -> dict:
        rec = {"sheet": row["sheet"], "row": int(row["row"])}
        for name in REQUIRED:
            v = row[name]
            rec[name] = v.isoformat(sep=" ") if isinstance(v, (dt.datetime, dt.date)) else v
        rec.update(row["answers"])
        if row.get("detail"):
            rec["detail"] = row["detail"]
        return rec

    def malformed_record(self, text: str, ctx: LoadContext) -> dict:
        return {"text": text}  # never called: a sheet has no row with the wrong number of fields

    def publish(self, cur, lf: LandingFile, outcome: FileOutcome, units_by_name, ctx: LoadContext) -> None:
        # a 序号 twice in the file: an identical respondent row is collapsed, else the first wins
        collapse_duplicates(cur, stage="_sv_stage", key="response_no", content=["holder_type", "submitted_at", "answers"],
                            outcome=outcome, line="source_row", conflict_rule="duplicate_response_conflict",
                            record="""jsonb_build_object('sheet', s._sheet, 'row', s.source_row, '序号', s.response_no,
                                      '身份', s.holder_type, '提交答卷时间', s.submitted_at, 'answers', s.answers)""")
        cur.execute("SELECT count(*) FROM _sv_stage")
        outcome.rows_loaded = cur.fetchone()[0]
        outcome.affected_days = {lf.period} | {r[0] for r in cur.execute(
            "SELECT DISTINCT wave_date FROM core.survey_answer WHERE source_file = %s", (lf.name,)).fetchall()}
        cur.execute("DELETE FROM core.survey_answer WHERE source_file = %s", (lf.name,))
        cur.execute(
            f"""INSERT INTO core.survey_answer ({", ".join(CORE_COLUMNS)})
                SELECT s.wave_date, s.response_no, a.key, s.holder_type, s.submitted_at, a.value #>> '{{}}', sc.score,
                       s.source_file, s.source_row, s.run_id
                FROM _sv_stage s CROSS JOIN LATERAL jsonb_each(s.answers) a
                LEFT JOIN unnest(%s::text[], %s::smallint[]) sc(answer, score) ON sc.answer = a.value #>> '{{}}'""",
            (list(SCALE), list(SCALE.values())),
        )

    def statistics(self, outcome: FileOutcome) -> dict:
        return {"rows_read": outcome.rows_read, "rows_quarantined": outcome.rows_quarantined,
                "rows_duplicate": outcome.rows_duplicate,
                "units": [u for _, _, u in self._headers[outcome.file].unit_cols]}
