"""``canteen/`` — campus-card POS transactions (一卡通消费流水), GB18030 CSV, one file a day.

Rows belong to the day of their 交易时间: a file may carry late transactions of earlier days, which
land on their own day (up to ``limits.late_window_days()`` days back); a time *after* the file's
day, or further back, is quarantined. Reversals (冲正) and refunds (退款) keep their 原流水号, and
KPIs put them on their original's day and outlet. Card numbers are replaced by HMAC pseudonyms
before anything is written.
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

COLUMNS = ["流水号", "卡号", "身份", "交易时间", "商户名称", "终端号", "交易金额", "交易类型", "原流水号"]
HOLDER = {"学生": "student", "教职工": "staff", "其他": "other"}
TXN_TYPE = {"消费": "purchase", "冲正": "reversal", "退款": "refund"}
AMOUNT_RE = r"^-?[0-9]{1,10}(?:\.[0-9]{1,2})?$"  # ASCII digits only: \d also matches full-width ones
CARD_COL = COLUMNS.index("卡号")

STAGE_COLUMNS = ["txn_id", "card_hash", "holder_type", "txn_time", "txn_date", "outlet_code", "unit_code",
                 "terminal", "amount_yuan", "txn_type", "orig_txn_id", "source_file", "run_id", "_line"]
CONTENT = ["card_hash", "holder_type", "txn_time", "outlet_code", "terminal", "amount_yuan", "txn_type", "orig_txn_id"]


def rules(outlet_names: list[str]) -> list[Rule]:
    return [
        Rule("txn_id_present", lambda g: g.ExpectColumnValuesToNotBeNull(column="流水号")),
        Rule("card_present", lambda g: g.ExpectColumnValuesToNotBeNull(column="卡号")),
        Rule("holder_type_known", lambda g: g.ExpectColumnValuesToBeInSet(column="_holder", value_set=list(HOLDER))),
        Rule("time_parseable", lambda g: g.ExpectColumnValuesToNotBeNull(column="_time")),
        Rule("time_not_after_file_day", lambda g: g.ExpectColumnValuesToBeBetween(column="_days_late", min_value=0)),
        Rule("time_within_late_window", lambda g: g.ExpectColumnValuesToBeInSet(column="_late_ok", value_set=["yes"])),
        Rule("outlet_known", lambda g: g.ExpectColumnValuesToBeInSet(column="_outlet", value_set=outlet_names)),
        Rule("amount_parseable", lambda g: g.ExpectColumnValuesToMatchRegex(column="_amount", regex=AMOUNT_RE)),
        Rule("amount_plausible", lambda g: g.ExpectColumnValuesToBeInSet(column="_amount_ok", value_set=["yes"])),
        Rule("type_known", lambda g: g.ExpectColumnValuesToBeInSet(column="_type", value_set=list(TXN_TYPE))),
        Rule("amount_sign_matches_type", lambda g: g.ExpectColumnValuesToBeInSet(
            column="_type_sign", value_set=["消费+", "冲正-", "退款-"])),
        Rule("original_id_matches_type", lambda g: g.ExpectColumnValuesToBeInSet(
            column="_type_orig", value_set=["消费:none", "冲正:set", "退款:set"])),
    ]


def _prepare(df: pd.DataFrame, outlets: dict) -> pd.DataFrame:
    """Derive, vectorised over a whole validation window, the typed columns the rules check and
    the columns the stage needs (``_file_day`` says which day each row's file is for)."""
    nullify(df, COLUMNS)
    df["_holder"] = df["身份"].fillna("")
    df["_outlet"] = df["商户名称"].fillna("")
    df["_amount"] = df["交易金额"].fillna("")
    df["_type"] = df["交易类型"].fillna("")
    raw = df["交易时间"]
    t = pd.to_datetime(raw, format="%Y-%m-%d %H:%M:%S", errors="coerce")
    t = t.where(raw.fillna("").str.isascii())  # to_datetime reads full-width digits; PostgreSQL does not
    df["_time"] = t
    df["_days_late"] = (df["_file_day"] - t.dt.normalize()).dt.days
    df["_late_ok"] = _flag(df["_days_late"] <= limits.late_window_days(), t.notna())
    amount = df["_amount"]
    parsed = amount.str.fullmatch(AMOUNT_RE)
    magnitude = pd.to_numeric(amount.where(parsed, None).str.lstrip("-"), errors="coerce")
    df["_amount_ok"] = _flag(magnitude <= float(limits.max_canteen_amount()), parsed)
    is_zero = amount.str.fullmatch(r"-?0*(?:\.0*)?")
    sign = pd.Series("+", index=df.index).where(~amount.str.startswith("-"), "-").where(~is_zero, "0")
    # checked only where the type (and amount) are known, so a row is quarantined for its real fault
    known = df["_type"].isin(list(TXN_TYPE))
    df["_type_sign"] = (df["_type"] + sign).where(known & amount.str.fullmatch(AMOUNT_RE), None)
    df["_type_orig"] = (df["_type"] + df["原流水号"].notna().map({True: ":set", False: ":none"})).where(known, None)
    # the stage's columns: the parsed time normalised (formatting only where the export did not
    # zero-pad), codes and enumerations mapped
    canonical = raw.str.len() == 19
    txn_time = raw.where(canonical, None)
    if not canonical.all():
        txn_time = txn_time.fillna(t[~canonical].dt.strftime("%Y-%m-%d %H:%M:%S"))
    df["_txn_time"] = txn_time
    df["_txn_date"] = txn_time.str.slice(0, 10)
    df["_outlet_code"] = df["_outlet"].map({name: code for name, (code, _) in outlets.items()})
    df["_unit_code"] = df["_outlet"].map({name: unit for name, (_, unit) in outlets.items()})
    df["_holder_type"] = df["_holder"].map(HOLDER)
    df["_txn_type"] = df["_type"].map(TXN_TYPE)
    return df


def _flag(ok: pd.Series, known: pd.Series) -> pd.Series:
    """'yes'/'no' where the value is known, missing where not (its own parse rule names it)."""
    return pd.Series("no", index=ok.index, dtype="object").where(~ok.astype(bool), "yes").where(known.astype(bool), None)


class CanteenFeed(StagedFeed):
    name = "canteen"
    tables = ("core.canteen_txn", "core.canteen_txn_key")
    folder = "canteen"
    cadence = "day"
    prefix = "canteen_"
    suffix = ".csv"
    spec = CsvSpec(COLUMNS, encoding="gb18030")
    suite = "canteen"

    def reference(self, conn) -> dict:
        """Known outlets: name -> (outlet_code, unit_code)."""
        return {name: (code, unit) for name, code, unit in conn.execute(
            "SELECT outlet_name, outlet_code, unit_code FROM core.outlet").fetchall()}

    def rules(self, outlets) -> list[Rule]:
        return rules(sorted(outlets))

    def rules_key(self, outlets) -> tuple:
        return tuple(sorted(outlets))

    def open_reader(self, lf: LandingFile) -> CsvReader:
        return CsvReader(self.name, lf, self.spec)

    def prepare(self, df: pd.DataFrame, lf: LandingFile, outlets) -> pd.DataFrame:
        df["_file_day"] = pd.Timestamp(lf.period)
        return df

    def prepare_window(self, df: pd.DataFrame, outlets) -> pd.DataFrame:
        # once per window: pandas' per-call overhead dominated the small daily files
        return _prepare(df, outlets)

    def begin(self, cur, lf: LandingFile, outlets, ctx: LoadContext) -> None:
        cur.execute("CREATE TEMP TABLE _stage (LIKE core.canteen_txn INCLUDING DEFAULTS) ON COMMIT DROP")
        cur.execute("ALTER TABLE _stage ADD COLUMN _line integer NOT NULL")

    def stage(self, cur, good: pd.DataFrame, lf: LandingFile, outlets, ctx: LoadContext) -> None:
        copy_frame(cur, "_stage", STAGE_COLUMNS, _stage_frame(good, lf, ctx, outlets))

    def quarantine_record(self, row: dict, ctx: LoadContext) -> dict:
        return _record(row, ctx.pseudonymise)

    def malformed_record(self, text: str, ctx: LoadContext) -> dict:
        return _malformed_record(text, ctx.pseudonymise)

    def publish(self, cur, lf: LandingFile, outcome: FileOutcome, outlets, ctx: LoadContext) -> None:
        # ids other files loaded are found through core.canteen_txn_key: one index probe per staged
        # row instead of one per row and monthly partition
        collapse_duplicates(cur, stage="_stage", core="core.canteen_txn", key="txn_id", content=CONTENT,
                            file=lf.name, outcome=outcome, key_table="core.canteen_txn_key",
                            partition_column="txn_date")
        cur.execute("SELECT count(*) FROM _stage")
        outcome.rows_loaded = cur.fetchone()[0]
        # the days whose KPIs this file changes: its old and new rows, and the originals they reverse
        cur.execute(
            """SELECT DISTINCT d FROM (
                   SELECT txn_date AS d FROM core.canteen_txn_key WHERE source_file = %(f)s
                   UNION SELECT txn_date FROM _stage
                   UNION SELECT o.txn_date FROM core.canteen_txn_key r
                         JOIN core.canteen_txn_key o ON o.txn_id = r.orig_txn_id
                         WHERE r.source_file = %(f)s AND r.orig_txn_id IS NOT NULL
                   UNION SELECT o.txn_date FROM _stage r JOIN core.canteen_txn_key o ON o.txn_id = r.orig_txn_id
                         WHERE r.orig_txn_id IS NOT NULL
                   -- reversals/refunds other files loaded before their original: they move to its day
                   -- (LATERAL … OFFSET 0 keeps these as one probe of the link index per row: without
                   -- fresh statistics the planner would scan every link instead)
                   UNION SELECT r.d FROM _stage o, LATERAL (SELECT k.txn_date AS d FROM core.canteen_txn_key k
                         WHERE k.orig_txn_id = o.txn_id OFFSET 0) r
                   UNION SELECT r.d FROM core.canteen_txn_key o, LATERAL (SELECT k.txn_date AS d
                         FROM core.canteen_txn_key k WHERE k.orig_txn_id = o.txn_id OFFSET 0) r
                         WHERE o.source_file = %(f)s
               ) x""",
            {"f": lf.name},
        )
        outcome.affected_days = {r[0] for r in cur.fetchall()}
        cur.execute("DELETE FROM core.canteen_txn WHERE source_file = %s", (lf.name,))
        cur.execute("DELETE FROM core.canteen_txn_key WHERE source_file = %s", (lf.name,))
        cur.execute("SELECT core.ensure_canteen_partitions(min(txn_date), max(txn_date)) FROM _stage HAVING count(*) > 0")
        cols = STAGE_COLUMNS[:-1]
        # the run id is lineage: set on publish, not staged (a staged row quarantined as a duplicate
        # conflict is stored whole, and a re-run must not change its record)
        select = ", ".join("%s" if c == "run_id" else c for c in cols)
        cur.execute(f"INSERT INTO core.canteen_txn ({', '.join(cols)}) SELECT {select} FROM _stage", (ctx.run_id,))
        cur.execute("""INSERT INTO core.canteen_txn_key (txn_id, txn_date, source_file, txn_type, orig_txn_id)
                       SELECT txn_id, txn_date, source_file, txn_type, orig_txn_id FROM _stage""")


def _stage_frame(good: pd.DataFrame, lf: LandingFile, ctx: LoadContext, outlets: dict) -> pd.DataFrame:
    cards = good["卡号"]
    uniq = pd.unique(cards)
    lookup = dict(zip(uniq, ctx.pseudonymise.many(uniq)))
    return pd.DataFrame({
        "txn_id": good["流水号"],
        "card_hash": cards.map(lookup),
        "holder_type": good["_holder_type"],
        "txn_time": good["_txn_time"],
        "txn_date": good["_txn_date"],
        "outlet_code": good["_outlet_code"],
        "unit_code": good["_unit_code"],
        "terminal": good["终端号"],
        "amount_yuan": good["_amount"],
        "txn_type": good["_txn_type"],
        "orig_txn_id": good["原流水号"],
        "source_file": lf.name,
        "run_id": None,  # set on publish
        "_line": good[ROW].astype("int64"),
    })


def _record(row: dict, pseudo) -> dict:
    rec = {k: (None if pd.isna(row[k]) else row[k]) for k in COLUMNS}
    if rec.get("卡号"):
        rec["卡号"] = pseudo(str(rec["卡号"]))
    return rec


def _malformed_record(text: str, pseudo) -> dict:
    fields = pseudonymise_fields(next(csv.reader([text]), []), CARD_COL, len(COLUMNS), pseudo)
    return {"fields": fields, "field_count": len(fields), "expected": len(COLUMNS)}
