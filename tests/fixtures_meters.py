"""Hand-made landing files for the meters feed and the utilities KPIs.

The scenario (every expected value in the tests is worked out by hand from these numbers):

ref/meters.csv — five meters:
    E1  electricity  school    multiplier 10
    E2  electricity  school    multiplier 1   (replaced on 2001-03-02 at 12:00)
    E3  electricity  catering  multiplier 1   (billed to a sub-centre)
    W1  water        school    multiplier 1   (an estimated reading on 2001-03-01 12:00)
    W2  water        tenant    multiplier 2   (billed to an outside tenant; no readings on 03-03)
ref/tariffs.csv — electricity 0.50 from 2000-01-01 and 0.60 from 2001-03-02 (a mid-month change),
    water 2.00 from 2000-01-01.
ref/utility_baseline.csv — March: electricity 1000 kWh, water 50 m³.

Readings (raw registers) at 06:00, 12:00, 18:00, 23:00 local time:
    day         E1                  E2                        E3                W1                      W2
    2001-02-28  90  95  98  100     4990 4995 4998 5000       290 295 298 300   18 19 19.5 20           6 6.5 6.75 7
    2001-03-01  101 103 106 108     5002 5005 5008 5010       301 304 308 310   20.5 21(est) 21.5 22    7.5 8 8.25 8.5
    2001-03-02  110 112 115 118     5012 0.5(repl) 3.5 6      312 315 318 320   22.5 23 23.5 24         8.75 9 9.25 9.5
    2001-03-03  120 122 124 126     8 10 12 14                322 324 327 330   24.5 25 25.5 26         (none)
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

from tests.fixtures import write_csv

METER_HEADER = ["meter_id", "read_at", "reading", "status"]
METERS = [
    ("E1", "electricity", "T01", "teaching", "school", "10"),
    ("E2", "electricity", "D01", "dormitory", "school", "1"),
    ("E3", "electricity", "CAN1", "canteen", "catering", "1"),
    ("W1", "water", "T01", "teaching", "school", "1"),
    ("W2", "water", "KIOSK", "shop", "tenant", "2"),
]
TARIFFS = [
    ("electricity", "2000-01-01", "0.50"),
    ("electricity", "2001-03-02", "0.60"),
    ("water", "2000-01-01", "2.00"),
]
UTILITY_BASELINE = [("electricity", 3, "1000"), ("water", 3, "50")]

HOURS = ("06:00:00", "12:00:00", "18:00:00", "23:00:00")
# day -> meter -> registers at HOURS (a register may be (value, status))
READINGS: dict[str, dict[str, list]] = {
    "2001-02-28": {
        "E1": ["90", "95", "98", "100"], "E2": ["4990", "4995", "4998", "5000"],
        "E3": ["290", "295", "298", "300"], "W1": ["18", "19", "19.5", "20"], "W2": ["6", "6.5", "6.75", "7"],
    },
    "2001-03-01": {
        "E1": ["101", "103", "106", "108"], "E2": ["5002", "5005", "5008", "5010"],
        "E3": ["301", "304", "308", "310"], "W1": ["20.5", ("21", "estimated"), "21.5", "22"],
        "W2": ["7.5", "8", "8.25", "8.5"],
    },
    "2001-03-02": {
        "E1": ["110", "112", "115", "118"], "E2": ["5012", ("0.5", "replaced"), "3.5", "6"],
        "E3": ["312", "315", "318", "320"], "W1": ["22.5", "23", "23.5", "24"], "W2": ["8.75", "9", "9.25", "9.5"],
    },
    "2001-03-03": {
        "E1": ["120", "122", "124", "126"], "E2": ["8", "10", "12", "14"],
        "E3": ["322", "324", "327", "330"], "W1": ["24.5", "25", "25.5", "26"],
    },
}


def write_meter_ref(root: Path, meters: Sequence[Sequence] = METERS, tariffs: Sequence[Sequence] = TARIFFS,
                    baseline: Sequence[Sequence] = UTILITY_BASELINE) -> None:
    ref = Path(root) / "ref"
    write_csv(ref / "meters.csv", ["meter_id", "utility", "building_code", "building_type", "payer", "multiplier"], meters)
    write_csv(ref / "tariffs.csv", ["utility", "effective_from", "yuan_per_unit"], tariffs)
    write_csv(ref / "utility_baseline.csv", ["utility", "month_of_year", "quantity"], baseline)


def meters_path(root: Path, day: str) -> Path:
    return Path(root) / "meters" / f"meters_{day.replace('-', '')}.csv"


def day_rows(day: str, readings: dict[str, list] | None = None, offset: str = "+08:00") -> list[tuple]:
    """The scenario's rows of ``day`` as (meter_id, read_at, reading, status)."""
    readings = READINGS[day] if readings is None else readings
    rows = []
    for meter, regs in readings.items():
        for hour, reg in zip(HOURS, regs):
            value, status = reg if isinstance(reg, tuple) else (reg, "ok")
            rows.append((meter, f"{day}T{hour}{offset}", value, status))
    return rows


def write_meters(root: Path, day: str, rows: Iterable[Sequence] | None = None, **kw) -> Path:
    """Write meters/meters_YYYYMMDD.csv (UTF-8); rows default to the scenario's readings of ``day``."""
    return write_csv(meters_path(root, day), METER_HEADER, day_rows(day) if rows is None else rows, **kw)


def write_scenario(root: Path, days: Iterable[str] = ("2001-02-28", "2001-03-01", "2001-03-02", "2001-03-03")) -> None:
    write_meter_ref(root)
    for d in days:
        write_meters(root, d)


LINEAGE = {"run_id", "computed_at", "loaded_at", "rejected_at", "reconciled_at", "validated_at", "updated_at", "id"}
SNAPSHOT_TABLES = {
    "core.meter_reading": "",
    "core.meter_daily": "",
    "core.meter_file": "",
    "quality.rejected_rows": "WHERE feed = 'meters'",
    "quality.file_reconciliation": "WHERE feed = 'meters'",
    "quality.validation_result": "WHERE feed = 'meters'",
    "mart.kpi_value": "WHERE kpi_code IN (SELECT kpi_code FROM mart.kpi_definition WHERE 'meters' = ANY(source_feeds))",
}


def snapshot(sql) -> dict[str, list]:
    """Content of the meters tables without lineage columns (run ids, timestamps, serial ids)."""
    out = {}
    for table, where in SNAPSHOT_TABLES.items():
        schema, name = table.split(".")
        cols = [r[0] for r in sql("SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
                                  "AND table_name = %s ORDER BY ordinal_position", (schema, name))
                if r[0] not in LINEAGE]
        select = ", ".join(f"{c}::text" for c in cols)
        out[table] = sql(f"SELECT {select} FROM {table} {where} ORDER BY {select}")
    return out
