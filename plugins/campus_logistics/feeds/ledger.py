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
from ..errors import FileRejected
from ..loading import (FileOutcome, copy_frame, create_quarantine, publish_quality, quarantine_rows,
                       record_validation)
from ..validation import ROW, Rule, validator
from .base import CsvReader, CsvSpec, Feed, LandingFile, LoadContext, nullify
from .staff import (enum_column, malformed_record, month_vs_file, parse_money, parse_month, record_with_pseudonym,
                    unit_lookup, within)

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


def _prepare(df: pd.DataFrame, file_month: str) -> pd.DataFrame:
    nullify(df, COLUMNS)
    df["_month"] = parse_month(df["month"])
    df["_month_vs_file"] = month_vs_file(df["_month"], file_month)
    df["_unit"] = enum_column(df["unit_code"])
    df["_entry_type"] = enum_column(df["entry_type"])
    df["_funding"] = enum_column(df["funding_source"])
    money = parse_money(df["amount_yuan"], max_int_digits=12)
    df["_amount"] = money["text"]
    df["_amount_sign"] = money["sign"]
    df["_amount_decimals"] = money["decimals"]
    df["_amount_ok"] = within(money["text"], limits.max_ledger_amount())
    return df


class LedgerFeed(Feed):
    name = "ledger"
    folder = "ledger"
    cadence = "month"
    prefix = "ledger_"
    suffix = ".csv"
    spec = CsvSpec(COLUMNS, encoding="utf-8")

    def load_file(self, lf: LandingFile, ctx: LoadContext) -> FileOutcome:
        conn, pseudo = ctx.conn, ctx.pseudonymise
        outcome = FileOutcome(self.name, lf.name)
        units = unit_lookup(conn)
        file_month = lf.period.strftime("%Y-%m")
        check = validator("ledger", rules(sorted(units)), key=tuple(sorted(units)))
        reader = CsvReader(self.name, lf, self.spec)
        cur = conn.cursor()
        cur.execute("CREATE TEMP TABLE _stage (LIKE core.ledger_line) ON COMMIT DROP")
        create_quarantine(cur)
        for df in reader.batches():
            df = _prepare(df, file_month)
            result = check.validate(df, files=[lf.name])
            if result.schema_errors:
                raise FileRejected(self.name, lf.name, "schema", "; ".join(result.schema_errors),
                                   rows_read=reader.rows_read)
            for rule, n in result.rule_counts.items():
                outcome.count_rule(rule, n)
            bad_mask = df[ROW].isin(result.failures.keys())
            bad, good = df[bad_mask], df[~bad_mask]
            if len(bad):
                outcome.rows_quarantined += quarantine_rows(cur, (
                    (int(r[ROW]), ", ".join(result.failures[int(r[ROW])]), record_with_pseudonym(r, COLUMNS, None, pseudo))
                    for r in bad[COLUMNS + [ROW]].to_dict("records")
                ))
            if len(good):
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
        if reader.gate_rows():
            outcome.rows_quarantined += quarantine_rows(cur, (
                (line, rule, malformed_record(text, COLUMNS, None, pseudo)) for line, rule, text in reader.gate_rows()))
            reader.count_gate_rules(outcome)
        outcome.rows_read = reader.rows_read
        outcome.checksum = reader.checksum
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
        publish_quality(cur, outcome, ctx.run_id)
        record_validation(cur, self.name, lf.name, "ledger", outcome.rows_quarantined == 0,
                          {"rows_read": outcome.rows_read, "rows_loaded": outcome.rows_loaded,
                           "rows_quarantined": outcome.rows_quarantined}, outcome.rule_counts, ctx.run_id)
        return outcome
