"""Hand-made landing files for the monthly feeds (staff roster, centre ledger) and their ref data.

The expected KPI values of these fixtures are worked out by hand in the tests that use them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

from tests.fixtures import OUTLETS, write_csv

STAFF_HEADER = ["month", "staff_id", "unit_code", "role", "origin", "payer", "monthly_cost_yuan"]
LEDGER_HEADER = ["month", "unit_code", "entry_type", "category", "amount_yuan", "funding_source", "memo"]

# laundry moves to small_entity on 15 Feb 2001 (in force on Feb's last day, not on Jan's);
# printing moves to no_entity on 31 Mar 2001 (in force on Mar's last day itself).
SUB_CENTRES = [
    ("office", "后勤管理处", "Logistics management office", "big_entity", "2000-07-01"),
    ("catering", "饮食服务中心", "Catering centre", "big_entity", "2000-07-01"),
    ("utilities", "水电中心", "Water and power centre", "big_entity", "2000-07-01"),
    ("apartments", "学生公寓管理中心", "Student apartments centre", "big_entity", "2000-07-01"),
    ("property", "物业中心", "Property centre", "big_entity", "2000-07-01"),
    ("laundry", "洗涤中心", "Laundry centre", "big_entity", "2000-07-01"),
    ("laundry", "洗涤中心", "Laundry centre", "small_entity", "2001-02-15"),
    ("printing", "文印中心", "Printing centre", "big_entity", "2000-07-01"),
    ("printing", "文印中心", "Printing centre", "no_entity", "2001-03-31"),
]
# 2,100 students in January and February, 1,999 in March, 2,100 for the rest of the year
ENROLMENT = {f"2001-{m:02d}": (1999 if m == 3 else 2100) for m in range(1, 13)}
BASELINES = [
    ("admin_staff_per_1000_students", "17", "每千名学生配备管理人员17人"),
    ("students_per_cook", "50", "每50名学生配备炊事员1人"),
]


def write_monthly_ref(root: Path, *, sub_centres=SUB_CENTRES, enrolment=ENROLMENT, baselines=BASELINES) -> None:
    """Overwrite the landing's sub_centres/enrolment and add baselines (on top of the minimal ref)."""
    ref = root / "ref"
    write_csv(ref / "sub_centres.csv", ["unit_code", "name_zh", "name_en", "reform_stage", "stage_since"], sub_centres)
    write_csv(ref / "enrolment.csv", ["month", "students"], sorted(enrolment.items()))
    write_csv(ref / "baselines.csv", ["key", "value", "note"], baselines)
    # outlets must belong to a sub-centre of the file (reference_constraint)
    units = {u for u, *_ in sub_centres}
    write_csv(ref / "outlets.csv", ["outlet_name", "outlet_code", "unit_code", "operator"],
              [o for o in OUTLETS if o[2] in units])


def staff_path(root: Path, month: str) -> Path:
    return root / "staff" / f"staff_{month.replace('-', '')}.csv"


def ledger_path(root: Path, month: str) -> Path:
    return root / "ledger" / f"ledger_{month.replace('-', '')}.csv"


def write_staff(root: Path, month: str, rows: Iterable[Sequence], **kw) -> Path:
    """rows: (month, staff_id, unit_code, role, origin, payer, monthly_cost_yuan); UTF-8 with BOM by default."""
    kw.setdefault("bom", True)
    return write_csv(staff_path(root, month), STAFF_HEADER, rows, **kw)


def write_ledger(root: Path, month: str, rows: Iterable[Sequence], **kw) -> Path:
    """rows: (month, unit_code, entry_type, category, amount_yuan, funding_source, memo)."""
    return write_csv(ledger_path(root, month), LEDGER_HEADER, rows, **kw)


def person(month, staff_id, unit, role, origin, payer, cost):
    return (month, staff_id, unit, role, origin, payer, cost)


# --- the staff scenario: three months ---------------------------------------------------------------
def staff_jan(m="2001-01"):
    return [
        person(m, "JG01", "office", "management", "school_establishment", "school", "15000.00"),
        person(m, "JG02", "office", "management", "school_establishment", "school", "14000.00"),
        person(m, "ZX01", "catering", "management", "school_transfer", "centre", "8000.00"),
        person(m, "ZX02", "utilities", "technician", "school_transfer", "centre", "7000.50"),
        person(m, "ZX03", "catering", "cook", "social_hire", "centre", "3000.00"),
        person(m, "ZX04", "catering", "cook", "social_hire", "centre", "3100"),
        person(m, "ZX05", "catering", "cook", "school_transfer", "centre", "6000.00"),
        person(m, "ZX06", "catering", "cook", "school_establishment", "school", "9000.00"),
        person(m, "ZX07", "property", "service", "social_hire", "centre", "2500.00"),
        person(m, "ZX08", "utilities", "technician", "school_establishment", "school", "12000.00"),
    ]


def staff_feb(m="2001-02"):
    return [
        person(m, "JG01", "office", "management", "school_establishment", "school", "15000.00"),
        person(m, "JG02", "office", "management", "school_establishment", "school", "14000.00"),
        person(m, "JG03", "office", "service", "social_hire", "centre", "2000.00"),
        person(m, "ZX01", "catering", "management", "school_transfer", "centre", "8000.00"),
        person(m, "ZX02", "utilities", "technician", "school_transfer", "centre", "7100.00"),
        person(m, "ZX03", "catering", "cook", "social_hire", "centre", "3000.00"),
        person(m, "ZX05", "catering", "cook", "school_transfer", "centre", "6000.00"),
        person(m, "ZX06", "catering", "cook", "school_establishment", "school", "9000.00"),
        person(m, "ZX07", "property", "service", "social_hire", "centre", "2500.00"),
        person(m, "ZX07", "property", "service", "social_hire", "centre", "2500.00"),  # identical repeat
        person(m, "ZX08", "utilities", "technician", "school_establishment", "school", "12000.00"),
        person(m, "ZX09", "catering", "cook", "social_hire", "centre", "3200.00"),
    ]


def staff_mar(m="2001-03"):
    return [
        person(m, "JG01", "office", "management", "school_establishment", "school", "15000.00"),
        person(m, "JG02", "office", "management", "school_establishment", "school", "14000.00"),
        person(m, "ZX01", "catering", "management", "school_transfer", "centre", "8000.00"),
        person(m, "ZX02", "utilities", "technician", "school_transfer", "centre", "7100.00"),
        person(m, "ZX03", "catering", "cook", "social_hire", "centre", "3000.00"),
        person(m, "ZX05", "catering", "cook", "school_transfer", "centre", "6000.00"),
        person(m, "ZX06", "catering", "cook", "school_establishment", "school", "9000.00"),
        person(m, "ZX07", "property", "service", "social_hire", "centre", "2500.00"),
        person(m, "ZX08", "utilities", "technician", "school_establishment", "school", "12000.00"),
        person(m, "ZX09", "catering", "cook", "social_hire", "centre", "3200.00"),
        person(m, "ZX10", "laundry", "service", "social_hire", "centre", "2200.00"),
    ]


# --- the ledger scenario: three months --------------------------------------------------------------
def ledger_jan(m="2001-01", laundry_social="100000.00"):
    return [
        (m, "catering", "revenue", "meal_sales", "50000.00", "centre", "食堂售饭收入"),
        (m, "catering", "cost", "food_materials", "30000.00", "centre", "食品原材料"),
        (m, "catering", "cost", "personnel", "12000.50", "centre", "人员工资, 社保"),
        (m, "utilities", "revenue", "service_contract", "20000.00", "school", "学校支付服务费"),
        (m, "utilities", "cost", "materials", "15000.00", "centre", "维修材料"),
        (m, "catering", "capital_in", "asset_transfer", "1000000.00", "school", "学校划转食堂资产"),
        (m, "laundry", "capital_in", "investment", laundry_social, "social", "社会投资"),
        (m, "laundry", "capex", "equipment", "90000.00", "social", "购置洗衣机"),
        (m, "utilities", "cost", "materials", "15000.00", "centre", "维修材料"),  # identical line, also real
    ]


def ledger_feb(m="2001-02"):
    return [
        (m, "catering", "revenue", "meal_sales", "60000.00", "centre", "食堂售饭收入"),
        (m, "catering", "cost", "food_materials", "45000.00", "centre", "食品原材料"),
        (m, "apartments", "capital_in", "school_grant", "400000.00", "school", "学校拨款"),
        (m, "catering", "capital_in", "investment", "50000.00", "social", "引入社会资金"),
        (m, "utilities", "revenue", "service_contract", "10000.00", "school", ""),
    ]


def ledger_mar(m="2001-03"):
    return [
        (m, "catering", "revenue", "meal_sales", "55000.00", "centre", "食堂售饭收入"),
        (m, "catering", "cost", "food_materials", "40000", "centre", "食品原材料"),
        (m, "laundry", "capital_in", "own_funds", "20000.00", "centre", "中心自有资金"),
        (m, "property", "revenue", "services", "8000.00", "centre", "有偿服务"),
    ]


# --- running and reading back -----------------------------------------------------------------------
def load(feed: str, landing: Path, start: str, end: str, *, run_id: str = "test-run", allow_missing: bool = False,
         recompute_kpis: bool = True):
    """Run the feed over [start, end] and recompute exactly the days its load reported as changed."""
    from datetime import date

    from campus_logistics.kpis.compute import recompute
    from campus_logistics.pipeline import run_feed

    result = run_feed(feed, landing, date.fromisoformat(start), date.fromisoformat(end), run_id=run_id,
                      allow_missing=allow_missing)
    if recompute_kpis and result.affected_days:
        recompute(days_by_feed={feed: result.affected_days}, run_id=run_id)
    return result


def kpis(sql, codes: Iterable[str]) -> dict[tuple[str, str, str, str], str]:
    """{(kpi_code, unit_code, grain, 'YYYY-MM-DD'): value as text} for the given KPI codes."""
    rows = sql("""SELECT kpi_code, unit_code, grain, period_start::text, value::text FROM mart.kpi_value
                  WHERE kpi_code = ANY(%s)""", (list(codes),))
    return {(c, u, g, p): v for c, u, g, p, v in rows}


def baselines(sql, code: str) -> dict[tuple[str, str, str], str | None]:
    rows = sql("""SELECT unit_code, grain, period_start::text, baseline::text FROM mart.kpi_value
                  WHERE kpi_code = %s""", (code,))
    return {(u, g, p): b for u, g, p, b in rows}


def reconciliation(sql, feed: str) -> dict[str, tuple[int, int, int, int]]:
    """{file: (rows_read, rows_loaded, rows_quarantined, rows_duplicate)}."""
    rows = sql("""SELECT file, rows_read, rows_loaded, rows_quarantined, rows_duplicate
                  FROM quality.file_reconciliation WHERE feed = %s""", (feed,))
    return {f: (r, lo, q, d) for f, r, lo, q, d in rows}


def rejected(sql, feed: str) -> list[tuple[str, int, str, dict]]:
    return [tuple(r) for r in sql("""SELECT file, row_number, rule, record FROM quality.rejected_rows
                                     WHERE feed = %s ORDER BY file, row_number""", (feed,))]


SNAPSHOT_QUERIES = {
    "core.staff_month": "SELECT month, staff_hash, unit_code, role, origin, payer, monthly_cost_yuan, source_file, "
                        "source_line FROM core.staff_month",
    "core.ledger_line": "SELECT month, source_line, unit_code, entry_type, category, amount_yuan, funding_source, "
                        "memo, source_file FROM core.ledger_line",
    "mart.kpi_value": "SELECT kpi_code, unit_code, grain, period_start, value, unit, baseline FROM mart.kpi_value",
    "quality.rejected_rows": "SELECT feed, file, row_number, rule, record::text FROM quality.rejected_rows",
    "quality.file_reconciliation": "SELECT feed, file, rows_read, rows_loaded, rows_quarantined, rows_duplicate, "
                                   "checksum FROM quality.file_reconciliation",
    "quality.validation_result": "SELECT feed, file, suite, success, statistics::text, failed_rules::text "
                                 "FROM quality.validation_result",
}


def snapshot(sql) -> dict[str, list[tuple]]:
    """The warehouse's content without lineage columns (run ids, timestamps, serial ids)."""
    return {name: sorted(tuple(str(v) for v in r) for r in sql(q)) for name, q in SNAPSHOT_QUERIES.items()}


def hmac_of(raw: str) -> str:
    """The pseudonym a staff id must get: HMAC-SHA256 under the test key (computed here, independently)."""
    import hashlib
    import hmac
    import os

    return hmac.new(os.environ["CAMPUS_LOGISTICS_PSEUDONYM_KEY"].encode(), raw.encode(), hashlib.sha256).hexdigest()
