"""``canteen/`` — campus-card POS transactions (一卡通消费流水), GB18030 CSV, one file a day.

Rows belong to the day of their 交易时间: a file may carry late transactions of earlier days, which
land on their own day; a time *after* the file's day is quarantined. Reversals (冲正) and refunds
(退款) keep their 原流水号, and KPIs put them on their original's day and outlet. Card numbers
are replaced by HMAC pseudonyms before anything is written.
"""

from __future__ import annotations

import csv
from datetime import date

import pandas as pd

from ..loading import FileOutcome, collapse_duplicates, copy_frame, create_quarantine, publish_quality, quarantine_rows, record_validation
from ..validation import ROW, Rule, validator
from .base import CsvReader, CsvSpec, Feed, LandingFile, LoadContext, nullify

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
        Rule("outlet_known", lambda g: g.ExpectColumnValuesToBeInSet(column="_outlet", value_set=outlet_names)),
        Rule("amount_parseable", lambda g: g.ExpectColumnValuesToMatchRegex(column="_amount", regex=AMOUNT_RE)),
        Rule("type_known", lambda g: g.ExpectColumnValuesToBeInSet(column="_type", value_set=list(TXN_TYPE))),
        Rule("amount_sign_matches_type", lambda g: g.ExpectColumnValuesToBeInSet(
            column="_type_sign", value_set=["消费+", "冲正-", "退款-"])),
        Rule("original_id_matches_type", lambda g: g.ExpectColumnValuesToBeInSet(
            column="_type_orig", value_set=["消费:none", "冲正:set", "退款:set"])),
    ]


def _prepare(df: pd.DataFrame, file_day: date) -> pd.DataFrame:
    """Derive the typed columns the rules check, vectorised (no per-row Python)."""
    nullify(df, COLUMNS)
    df["_holder"] = df["身份"].fillna("")
    df["_outlet"] = df["商户名称"].fillna("")
    df["_amount"] = df["交易金额"].fillna("")
    df["_type"] = df["交易类型"].fillna("")
    t = pd.to_datetime(df["交易时间"], format="%Y-%m-%d %H:%M:%S", errors="coerce")
    df["_time"] = t
    df["_days_late"] = (pd.Timestamp(file_day) - t.dt.normalize()).dt.days
    amount = df["_amount"]
    is_zero = amount.str.fullmatch(r"-?0*(?:\.0*)?")
    sign = pd.Series("+", index=df.index).where(~amount.str.startswith("-"), "-").where(~is_zero, "0")
    df["_type_sign"] = df["_type"] + sign
    df["_type_orig"] = df["_type"] + df["原流水号"].notna().map({True: ":set", False: ":none"})
    return df


class CanteenFeed(Feed):
    name = "canteen"
    folder = "canteen"
    cadence = "day"
    prefix = "canteen_"
    suffix = ".csv"
    spec = CsvSpec(COLUMNS, encoding="gb18030")

    def load_file(self, lf: LandingFile, ctx: LoadContext) -> FileOutcome:
        from ..loading import file_checksum

        conn = ctx.conn
        outcome = FileOutcome(self.name, lf.name, file_checksum(lf.path))
        outlets = {name: (code, unit) for name, code, unit in conn.execute(
            "SELECT outlet_name, outlet_code, unit_code FROM core.outlet").fetchall()}
        check = validator("canteen", rules(sorted(outlets)), key=tuple(sorted(outlets)))
        reader = CsvReader(self.name, lf, self.spec)
        cur = conn.cursor()
        cur.execute("CREATE TEMP TABLE _stage (LIKE core.canteen_txn) ON COMMIT DROP")
        cur.execute("ALTER TABLE _stage ADD COLUMN _line integer NOT NULL")
        create_quarantine(cur)
        pseudo = ctx.pseudonymise
        for df in reader.batches():
            df = _prepare(df, lf.period)
            result = check.validate(df)
            if result.schema_errors:
                from ..errors import FileRejected

                raise FileRejected(self.name, lf.name, "schema", "; ".join(result.schema_errors), rows_read=reader.rows_read)
            for rule, n in result.rule_counts.items():
                outcome.count_rule(rule, n)
            bad_mask = df[ROW].isin(result.failures.keys())
            bad, good = df[bad_mask], df[~bad_mask].copy()
            if len(bad):
                outcome.rows_quarantined += quarantine_rows(cur, (
                    (int(r[ROW]), ", ".join(result.failures[int(r[ROW])]), _record(r, pseudo))
                    for r in bad[COLUMNS + [ROW]].to_dict("records")
                ))
            if len(good):
                copy_frame(cur, "_stage", STAGE_COLUMNS, _stage_frame(good, lf, ctx, outlets))
        if reader.malformed:
            outcome.rows_quarantined += quarantine_rows(cur, (
                (line, "malformed_row", _malformed_record(text, pseudo)) for line, text in reader.malformed))
            outcome.count_rule("malformed_row", len(reader.malformed))
        outcome.rows_read = reader.rows_read
        collapse_duplicates(cur, stage="_stage", core="core.canteen_txn", key="txn_id", content=CONTENT,
                            file=lf.name, outcome=outcome)
        cur.execute("SELECT count(*) FROM _stage")
        outcome.rows_loaded = cur.fetchone()[0]
        # the days whose KPIs this file changes: its old and new rows, and the originals they reverse
        cur.execute(
            """SELECT DISTINCT d FROM (
                   SELECT txn_date AS d FROM core.canteen_txn WHERE source_file = %(f)s
                   UNION SELECT txn_date FROM _stage
                   UNION SELECT o.txn_date FROM core.canteen_txn r JOIN core.canteen_txn o ON o.txn_id = r.orig_txn_id
                         WHERE r.source_file = %(f)s
                   UNION SELECT o.txn_date FROM _stage r JOIN core.canteen_txn o ON o.txn_id = r.orig_txn_id
                   -- reversals/refunds other files loaded before their original: they move to its day
                   UNION SELECT r.txn_date FROM core.canteen_txn r JOIN _stage o ON o.txn_id = r.orig_txn_id
                   UNION SELECT r.txn_date FROM core.canteen_txn r JOIN core.canteen_txn o ON o.txn_id = r.orig_txn_id
                         WHERE o.source_file = %(f)s
               ) x""",
            {"f": lf.name},
        )
        outcome.affected_days = {r[0] for r in cur.fetchall()}
        cur.execute("DELETE FROM core.canteen_txn WHERE source_file = %s", (lf.name,))
        cols = ", ".join(STAGE_COLUMNS[:-1])
        cur.execute(f"INSERT INTO core.canteen_txn ({cols}) SELECT {cols} FROM _stage")
        publish_quality(cur, outcome, ctx.run_id)
        record_validation(cur, self.name, lf.name, "canteen", outcome.rows_quarantined == 0,
                          {"rows_read": outcome.rows_read, "rows_quarantined": outcome.rows_quarantined},
                          outcome.rule_counts, ctx.run_id)
        return outcome


def _stage_frame(good: pd.DataFrame, lf: LandingFile, ctx: LoadContext, outlets: dict) -> pd.DataFrame:
    pseudo = ctx.pseudonymise
    cards = good["卡号"]
    uniq = pd.unique(cards)
    lookup = dict(zip(uniq, pseudo.many(uniq)))
    out = pd.DataFrame({
        "txn_id": good["流水号"],
        "card_hash": cards.map(lookup),
        "holder_type": good["_holder"].map(HOLDER),
        "txn_time": good["_time"].dt.strftime("%Y-%m-%d %H:%M:%S"),  # the parsed time, normalised
        "txn_date": good["_time"].dt.strftime("%Y-%m-%d"),
        "outlet_code": good["_outlet"].map(lambda n: outlets[n][0]),
        "unit_code": good["_outlet"].map(lambda n: outlets[n][1]),
        "terminal": good["终端号"],
        "amount_yuan": good["_amount"],
        "txn_type": good["_type"].map(TXN_TYPE),
        "orig_txn_id": good["原流水号"],
        "source_file": lf.name,
        "run_id": ctx.run_id,
        "_line": good[ROW].astype("int64"),
    })
    return out


def _record(row: dict, pseudo) -> dict:
    rec = {k: (None if pd.isna(row[k]) else row[k]) for k in COLUMNS}
    if rec.get("卡号"):
        rec["卡号"] = pseudo(str(rec["卡号"]))
    return rec


def _malformed_record(text: str, pseudo) -> dict:
    fields = next(csv.reader([text]), [])
    if len(fields) > CARD_COL and fields[CARD_COL].strip():
        fields[CARD_COL] = pseudo(fields[CARD_COL])
    return {"fields": fields, "field_count": len(fields), "expected": len(COLUMNS)}
