"""``staff/`` — the monthly HR roster (人员花名册), UTF-8 CSV (a BOM is allowed), one file a month.

``staff/staff_YYYYMM.csv``: ``month, staff_id, unit_code, role, origin, payer, monthly_cost_yuan``.
A file covers exactly one month, and re-delivering it replaces that month in ``core.staff_month``.
``staff_id`` is personal data: it is replaced by its HMAC pseudonym before anything is written,
in ``core`` and in the quarantine alike.

Decisions (file-level failures come from ``CsvReader``: encoding, header, empty, truncated):

=====================================================  ==============================================
row                                                    outcome (rule)
=====================================================  ==============================================
wrong number of fields                                 quarantine (``malformed_row``)
``month`` empty or not a month                         quarantine (``month_parseable``)
``month`` is another month than the file's             quarantine (``month_matches_file``)
``staff_id`` empty                                     quarantine (``staff_id_present``)
``unit_code`` not in ``ref/sub_centres.csv``           quarantine (``unit_known``)
``role`` / ``origin`` / ``payer`` not in their set     quarantine (``role_known`` / ``origin_known`` /
                                                       ``payer_known``)
cost empty, not a plain decimal (thousands             quarantine (``cost_parseable``)
separators, full-width digits, currency signs, text,
more than 10 integer digits)
cost negative                                          quarantine (``cost_not_negative``)
cost with more than 2 decimals (even ``…000``)          quarantine (``cost_max_2_decimals``)
cost above ``CAMPUS_LOGISTICS_MAX_STAFF_MONTHLY_COST_  quarantine (``cost_plausible``)
YUAN`` (default 1,000,000.00)
the same person twice, identical rows                  duplicate collapsed (first row kept)
the same person in two (or more) units                 ALL of the person's rows quarantined
                                                       (``person_in_two_units``)
the same person twice in one unit, rows differing      ALL of the person's rows quarantined
                                                       (``person_conflicting_rows``)
=====================================================  ==============================================

Enumerations and unit codes are matched after trimming and case-folding (``Cook`` = ``cook``);
a zero cost is accepted (an unpaid post is not bad input). A person's identity is the pseudonym of
the trimmed ``staff_id`` (case-sensitive). The month may be written ``YYYY-MM`` (also ``YYYY-M``,
``YYYY/MM``, ``YYYY.MM``, ``YYYYMM``, ``YYYY年MM月``) or as any date inside the month
(``YYYY-MM-DD``, ``YYYY/M/D``, optionally with a time), as spreadsheet exports tend to do.

The helpers ``parse_month`` and ``parse_money`` are shared with the ``ledger`` feed.
"""

from __future__ import annotations

import csv

import pandas as pd

from .. import limits
from ..loading import FileOutcome, collapse_duplicates, copy_frame
from ..pseudonym import pseudonymise_fields
from ..validation import ROW, Rule
from .base import CsvReader, CsvSpec, LandingFile, LoadContext, nullify
from .staged import StagedFeed

COLUMNS = ["month", "staff_id", "unit_code", "role", "origin", "payer", "monthly_cost_yuan"]
ROLES = ["management", "cook", "service", "technician"]
ORIGINS = ["school_establishment", "school_transfer", "social_hire"]
PAYERS = ["school", "centre"]
STAFF_ID_COL = COLUMNS.index("staff_id")

STAGE_COLUMNS = ["month", "staff_hash", "unit_code", "role", "origin", "payer", "monthly_cost_yuan",
                 "source_file", "source_line", "run_id", "_record"]
CORE_COLUMNS = STAGE_COLUMNS[:-1]
PERSON = ["unit_code", "role", "origin", "payer", "monthly_cost_yuan"]  # a person's row, as compared

# --- parsing shared by the monthly CSV feeds (vectorised) ------------------------------------------

_MONTH_PATTERNS = (
    r"^(?P<y>[0-9]{4})\s*[-/.]\s*(?P<m>[0-9]{1,2})$",                       # 2001-01, 2001-1, 2001/01
    r"^(?P<y>[0-9]{4})(?P<m>[0-9]{2})$",                                     # 200101
    r"^(?P<y>[0-9]{4})\s*年\s*(?P<m>[0-9]{1,2})\s*月?$",                      # 2001年1月
    r"^(?P<y>[0-9]{4})\s*[-/.]\s*(?P<m>[0-9]{1,2})\s*[-/.]\s*(?P<d>[0-9]{1,2})"
    r"(?:[ T][0-9:.]*(?:Z|[+-][0-9:]+)?)?$",                                 # a date (and time) in the month
)
_MONEY_RE = r"^(?P<sign>[+-]?)(?P<int>[0-9]*)(?:\.(?P<frac>[0-9]*))?$"  # ASCII digits only


def parse_month(s: pd.Series) -> pd.Series:
    """'YYYY-MM' for every value that names one calendar month, else missing."""
    text = s.fillna("").astype(str).str.strip()
    out = pd.Series(None, index=s.index, dtype="object")
    for pattern in _MONTH_PATTERNS:
        todo = out.isna() & (text != "")
        if not todo.any():
            break
        x = text[todo].str.extract(pattern)
        hit = x["y"].notna()
        if not hit.any():
            continue
        x = x[hit]
        day = x["d"].fillna("1") if "d" in x else pd.Series("1", index=x.index)
        stamp = x["y"] + "-" + x["m"].str.zfill(2) + "-" + day.str.zfill(2)
        when = pd.to_datetime(stamp, format="%Y-%m-%d", errors="coerce")
        ok = when.notna()
        out.loc[when[ok].index] = when[ok].dt.strftime("%Y-%m").astype(object)
    return out


def month_vs_file(month: pd.Series, file_month: pd.Series) -> pd.Series:
    """'same' when the parsed month is its file's month, 'other' when not, missing when unparseable."""
    out = pd.Series("other", index=month.index, dtype="object")
    out[month == file_month] = "same"
    return out.where(month.notna(), None)


def parse_money(s: pd.Series, max_int_digits: int) -> pd.DataFrame:
    """Vectorised exact parsing of a money column (strings) without any float.

    Returns columns ``text`` (normalised decimal text for COPY, missing when unparseable),
    ``sign`` ('+', '-', '0'; missing when unparseable) and ``decimals`` (number of decimal digits,
    NaN when unparseable).
    """
    x = s.str.extract(_MONEY_RE)
    ip, fp = x["int"].fillna(""), x["frac"].fillna("")
    ok = x["sign"].notna() & ((ip.str.len() + fp.str.len()) > 0) & (ip.str.lstrip("0").str.len() <= max_int_digits)
    nonzero = (ip.str.strip("0").str.len() + fp.str.strip("0").str.len()) > 0
    negative = x["sign"].fillna("") == "-"
    sign = pd.Series("+", index=s.index, dtype="object")
    sign[negative] = "-"
    sign[~nonzero] = "0"
    text = ip.where(ip != "", "0")
    text = text.where(~negative, "-" + text) + ("." + fp).where(fp != "", "")
    return pd.DataFrame({
        "text": text.astype(object).where(ok, None),
        "sign": sign.where(ok, None),
        "decimals": fp.str.len().astype("float64").where(ok),
    }, index=s.index)


def within(text: pd.Series, limit) -> pd.Series:
    """'yes'/'no' whether a parsed money text (``parse_money``) is at most ``limit`` (limits.py);
    missing where unparseable, so the row is quarantined for its parse rule only."""
    value = pd.to_numeric(text, errors="coerce")
    out = pd.Series("no", index=text.index, dtype="object").where(~(value <= float(limit)), "yes")
    return out.where(text.notna(), None)


def enum_column(s: pd.Series) -> pd.Series:
    """Trimmed, case-folded text; missing becomes '' so that set rules reject it."""
    return s.fillna("").astype(str).str.strip().str.lower()


def malformed_record(text: str, columns, id_index: int | None, pseudo) -> dict:
    fields = next(csv.reader([text]), [])
    if id_index is not None:
        fields = pseudonymise_fields(fields, id_index, len(columns), pseudo)
    return {"fields": fields, "field_count": len(fields), "expected": len(columns)}


def unit_lookup(conn) -> dict[str, str]:
    """Case-folded unit code -> the code as written in ref/sub_centres.csv."""
    return {code.strip().lower(): code for (code,) in conn.execute(
        "SELECT DISTINCT unit_code FROM core.sub_centre").fetchall()}


# --- the staff feed ---------------------------------------------------------------------------------

def rules(units: list[str]) -> list[Rule]:
    return [
        Rule("month_parseable", lambda g: g.ExpectColumnValuesToNotBeNull(column="_month")),
        Rule("month_matches_file", lambda g: g.ExpectColumnValuesToBeInSet(column="_month_vs_file", value_set=["same"])),
        Rule("staff_id_present", lambda g: g.ExpectColumnValuesToNotBeNull(column="staff_id")),
        Rule("unit_known", lambda g: g.ExpectColumnValuesToBeInSet(column="_unit", value_set=units)),
        Rule("role_known", lambda g: g.ExpectColumnValuesToBeInSet(column="_role", value_set=ROLES)),
        Rule("origin_known", lambda g: g.ExpectColumnValuesToBeInSet(column="_origin", value_set=ORIGINS)),
        Rule("payer_known", lambda g: g.ExpectColumnValuesToBeInSet(column="_payer", value_set=PAYERS)),
        Rule("cost_parseable", lambda g: g.ExpectColumnValuesToNotBeNull(column="_cost")),
        Rule("cost_not_negative", lambda g: g.ExpectColumnValuesToBeInSet(column="_cost_sign", value_set=["+", "0"])),
        Rule("cost_max_2_decimals", lambda g: g.ExpectColumnValuesToBeBetween(column="_cost_decimals", max_value=2)),
        Rule("cost_plausible", lambda g: g.ExpectColumnValuesToBeInSet(column="_cost_ok", value_set=["yes"])),
    ]


def _prepare(df: pd.DataFrame) -> pd.DataFrame:
    """The columns the rules check, derived once per window (``_file_month``: each row's file's)."""
    nullify(df, COLUMNS)
    df["_month"] = parse_month(df["month"])
    df["_month_vs_file"] = month_vs_file(df["_month"], df["_file_month"])
    df["_unit"] = enum_column(df["unit_code"])
    df["_role"] = enum_column(df["role"])
    df["_origin"] = enum_column(df["origin"])
    df["_payer"] = enum_column(df["payer"])
    money = parse_money(df["monthly_cost_yuan"], max_int_digits=10)
    df["_cost"] = money["text"]
    df["_cost_sign"] = money["sign"]
    df["_cost_decimals"] = money["decimals"]
    df["_cost_ok"] = within(money["text"], limits.max_staff_cost())
    return df


class MonthlyCsvFeed(StagedFeed):
    """A monthly CSV export checked against the known units: a file replaces its month."""

    cadence = "month"
    suffix = ".csv"

    def reference(self, conn) -> dict[str, str]:
        return unit_lookup(conn)

    def rules_key(self, units) -> tuple:
        return tuple(sorted(units))

    def open_reader(self, lf: LandingFile) -> CsvReader:
        return CsvReader(self.name, lf, self.spec)

    def prepare(self, df: pd.DataFrame, lf: LandingFile, units) -> pd.DataFrame:
        df["_file_month"] = lf.period.strftime("%Y-%m")
        return df


class StaffFeed(MonthlyCsvFeed):
    name = "staff"
    tables = ("core.staff_month",)
    folder = "staff"
    prefix = "staff_"
    spec = CsvSpec(COLUMNS, encoding="utf-8")
    suite = "staff"

    def rules(self, units) -> list[Rule]:
        return rules(sorted(units))

    def prepare_window(self, df: pd.DataFrame, units) -> pd.DataFrame:
        return _prepare(df)

    def begin(self, cur, lf: LandingFile, units, ctx: LoadContext) -> None:
        cur.execute("""CREATE TEMP TABLE _stage (
                           month date NOT NULL, staff_hash text NOT NULL, unit_code text NOT NULL, role text NOT NULL,
                           origin text NOT NULL, payer text NOT NULL, monthly_cost_yuan numeric(12, 2) NOT NULL,
                           source_file text NOT NULL, source_line integer NOT NULL, run_id text,
                           _record jsonb NOT NULL) ON COMMIT DROP""")

    def stage(self, cur, good: pd.DataFrame, lf: LandingFile, units, ctx: LoadContext) -> None:
        copy_frame(cur, "_stage", STAGE_COLUMNS, _stage_frame(good, lf, ctx, units))

    def quarantine_record(self, row: dict, ctx: LoadContext) -> dict:
        if row.get("staff_id"):
            row["staff_id"] = ctx.pseudonymise(str(row["staff_id"]))
        return row

    def malformed_record(self, text: str, ctx: LoadContext) -> dict:
        return malformed_record(text, COLUMNS, STAFF_ID_COL, ctx.pseudonymise)

    def publish(self, cur, lf: LandingFile, outcome: FileOutcome, units, ctx: LoadContext) -> None:
        # one row per person and month: identical repeats collapse, a person's differing rows are all
        # quarantined (which one is right is not knowable)
        collapse_duplicates(cur, stage="_stage", key="staff_hash", content=PERSON, outcome=outcome,
                            line="source_line", record="s._record", keep_first=False,
                            conflict_rule="person_conflicting_rows", split=[("person_in_two_units", ["unit_code"])])
        cur.execute("SELECT count(*) FROM _stage")
        outcome.rows_loaded = cur.fetchone()[0]
        # a roster changes only its own month's KPIs (stocks and flows of that month, and its year)
        outcome.affected_days = {lf.period}
        cur.execute("DELETE FROM core.staff_month WHERE month = %s OR source_file = %s", (lf.period, lf.name))
        cols = ", ".join(CORE_COLUMNS)
        cur.execute(f"INSERT INTO core.staff_month ({cols}) SELECT {cols} FROM _stage")

    def statistics(self, outcome: FileOutcome) -> dict:
        return {"rows_read": outcome.rows_read, "rows_loaded": outcome.rows_loaded,
                "rows_quarantined": outcome.rows_quarantined, "rows_duplicate": outcome.rows_duplicate}


def _stage_frame(good: pd.DataFrame, lf: LandingFile, ctx: LoadContext, units: dict[str, str]) -> pd.DataFrame:
    ids = good["staff_id"]
    uniq = pd.unique(ids)
    lookup = dict(zip(uniq, ctx.pseudonymise.many(uniq)))
    hashes = ids.map(lookup)
    # the offending record, pseudonymised, kept in case the audit quarantines the row
    raw = good[COLUMNS].copy()
    raw["staff_id"] = hashes
    # one JSON document per line ("\n" inside values is escaped; never splitlines(): U+2028 is not)
    records = raw.to_json(orient="records", lines=True, force_ascii=False).rstrip("\n").split("\n")
    return pd.DataFrame({
        "month": good["_month"] + "-01",
        "staff_hash": hashes,
        "unit_code": good["_unit"].map(units),
        "role": good["_role"],
        "origin": good["_origin"],
        "payer": good["_payer"],
        "monthly_cost_yuan": good["_cost"],
        "source_file": lf.name,
        "source_line": good[ROW].astype("int64"),
        "run_id": ctx.run_id,
        "_record": records,
    })
