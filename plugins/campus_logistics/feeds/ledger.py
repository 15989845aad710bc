"""``ledger/`` — the centre's second-level ledger (二级财务), UTF-8 CSV (a BOM is allowed), monthly.

``ledger/ledger_YYYYMM.csv``: ``month, unit_code, entry_type, category, amount_yuan,
funding_source, memo``. A file covers exactly one month; re-delivering it replaces that month in
``core.ledger_line``.

Ledger lines carry no id, and two identical lines can both be real entries (two equal invoices
in one month), so **identical lines are NOT collapsed**: every valid line is loaded and
``rows_duplicate`` is always 0 for this feed. A line is identified by its month and its line
number in the file.

Decisions (file-level failures come from ``CsvReader``: encoding, header, empty, truncated):

=====================================================  ==============================================
row                                                    outcome (rule)
=====================================================  ==============================================
wrong number of fields                                 quarantine (``malformed_row``)
``month`` empty or not a month                         quarantine (``month_parseable``)
``month`` is another month than the file's             quarantine (``month_matches_file``)
``unit_code`` not in ``ref/sub_centres.csv``           quarantine (``unit_known``)
``entry_type`` not in {revenue, cost, capital_in,      quarantine (``entry_type_known``)
capex}
``funding_source`` not in {school, centre, social}     quarantine (``funding_source_known``)
amount empty, not a plain decimal (thousands           quarantine (``amount_parseable``)
separators, full-width digits, currency signs,
brackets, text, more than 12 integer digits)
amount zero or negative                                quarantine (``amount_positive``)
amount with more than 2 decimals (even ``…000``)        quarantine (``amount_max_2_decimals``)
amount above ``CAMPUS_LOGISTICS_MAX_LEDGER_AMOUNT_     quarantine (``amount_plausible``)
YUAN`` (default 1,000,000,000.00)
``category`` / ``memo`` empty                          loaded (free text, optional: no KPI reads them)
=====================================================  ==============================================

Enumerations and unit codes are matched after trimming and case-folding; the month may be written
as for the staff roster (``YYYY-MM`` or a date inside the month, see ``feeds/staff.py``).

Because ``social_capital_share`` is cumulative since the first month loaded, a ledger month
changes the share of every *later* loaded month too: those months are in ``affected_days``.
"""

from __future__ import annotations

import pandas as pd

from .. import limits
from ..loading import FileOutcome, copy_frame
from ..validation import ROW, Rule
from .base import CsvSpec, LandingFile, LoadContext, nullify
from .staff import MonthlyCsvFeed, enum_column, malformed_record, month_vs_file, parse_money, parse_month, within

COLUMNS = ["month", "unit_code", "entry_type", "category", "amount_yuan", "funding_source", "memo"]
ENTRY_TYPES = ["revenue", "cost", "capital_in", "capex"]
FUNDING_SOURCES = ["school", "centre", "social"]
CORE_COLUMNS = ["month", "source_line", "unit_code", "entry_type", "category", "amount_yuan", "funding_source",
                "memo", "source_file", "run_id"]


def rules(units: list[str]) -> list[Rule]:
    return [
        Rule("month_parseable", lambda g: g.ExpectColumnValuesToNotBeNull(column="_month")),
        Rule("month_matches_file", lambda g: g.ExpectColumnValuesToBeInSet(column="_month_vs_file", value_set=["same"])),
        Rule("unit_known", lambda g: g.ExpectColumnValuesToBeInSet(column="_unit", value_set=units)),
        Rule("entry_type_known", lambda g: g.ExpectColumnValuesToBeInSet(column="_entry_type", value_set=ENTRY_TYPES)),
        Rule("amount_parseable", lambda g: g.ExpectColumnValuesToNotBeNull(column="_amount")),
        Rule("amount_positive", lambda g: g.ExpectColumnValuesToBeInSet(column="_amount_sign", value_set=["+"])),
        Rule("amount_max_2_decimals", lambda g: g.ExpectColumnValuesToBeBetween(column="_amount_decimals", max_value=2)),
        Rule("amount_plausible", lambda g: g.ExpectColumnValuesToBeInSet(column="_amount_ok", value_set=["yes"])),
        Rule("funding_source_known", lambda g: g.ExpectColumnValuesToBeInSet(
            column="_funding", value_set=FUNDING_SOURCES)),
    ]


def _prepare(df: pd.DataFrame) -> pd.DataFrame:
    """The columns the rules check, derived once per window (``_file_month``: each row's file's)."""
    nullify(df, COLUMNS)
    df["_month"] = parse_month(df["month"])
    df["_month_vs_file"] = month_vs_file(df["_month"], df["_file_month"])
    df["_unit"] = enum_column(df["unit_code"])
    df["_entry_type"] = enum_column(df["entry_type"])
    df["_funding"] = enum_column(df["funding_source"])
    money = parse_money(df["amount_yuan"], max_int_digits=12)
    df["_amount"] = money["text"]
    df["_amount_sign"] = money["sign"]
    df["_amount_decimals"] = money["decimals"]
    df["_amount_ok"] = within(money["text"], limits.max_ledger_amount())
    return df


class LedgerFeed(MonthlyCsvFeed):
    name = "ledger"
    tables = ("core.ledger_line",)
    folder = "ledger"
    prefix = "ledger_"
    spec = CsvSpec(COLUMNS, encoding="utf-8")
    suite = "ledger"

    def rules(self, units) -> list[Rule]:
        return rules(sorted(units))

    def prepare_window(self, df: pd.DataFrame, units) -> pd.DataFrame:
        return _prepare(df)

    def begin(self, cur, lf: LandingFile, units, ctx: LoadContext) -> None:
        cur.execute("CREATE TEMP TABLE _stage (LIKE core.ledger_line) ON COMMIT DROP")

    def stage(self, cur, good: pd.DataFrame, lf: LandingFile, units, ctx: LoadContext) -> None:
        copy_frame(cur, "_stage", CORE_COLUMNS, pd.DataFrame({
            "month": good["_month"] + "-01",
            "source_line": good[ROW].astype("int64"),
            "unit_code": good["_unit"].map(units),
            "entry_type": good["_entry_type"],
            "category": good["category"],
            "amount_yuan": good["_amount"],
            "funding_source": good["_funding"],
            "memo": good["memo"],
            "source_file": lf.name,
            "run_id": ctx.run_id,
        }))

    def quarantine_record(self, row: dict, ctx: LoadContext) -> dict:
        return row  # no personal field

    def malformed_record(self, text: str, ctx: LoadContext) -> dict:
        return malformed_record(text, COLUMNS, None, ctx.pseudonymise)

    def publish(self, cur, lf: LandingFile, outcome: FileOutcome, units, ctx: LoadContext) -> None:
        # identical lines are not duplicates here (two equal invoices are two entries): nothing collapses
        cur.execute("SELECT count(*) FROM _stage")
        outcome.rows_loaded = cur.fetchone()[0]
        # this month, and every later loaded month: their cumulative social_capital_share moves
        cur.execute(
            """SELECT %(m)s::date UNION SELECT DISTINCT month FROM core.ledger_line WHERE month > %(m)s""",
            {"m": lf.period},
        )
        outcome.affected_days = {r[0] for r in cur.fetchall()}
        cur.execute("DELETE FROM core.ledger_line WHERE month = %s OR source_file = %s", (lf.period, lf.name))
        cols = ", ".join(CORE_COLUMNS)
        cur.execute(f"INSERT INTO core.ledger_line ({cols}) SELECT {cols} FROM _stage")

    def statistics(self, outcome: FileOutcome) -> dict:
        return {"rows_read": outcome.rows_read, "rows_loaded": outcome.rows_loaded,
                "rows_quarantined": outcome.rows_quarantined}
