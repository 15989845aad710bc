"""The seed scenario: calendar year 2001 at the case-study college (2,100 students).

Writes a complete landing directory (every ``ref/`` file and every feed folder of the spec's
``sources.md``) whose data are designed so that a *correct* pipeline reproduces every published
figure of ``seed-scenario.md``. The generator never computes or writes a KPI: the totals it aims
at are built into the source rows (staff costs, meter registers, ledger lines, survey answers).

How each figure is built in, and which bad rows are injected where, is documented in
``docs/seed-scenario.md`` ("Scenario generator: design notes").
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import writers
from .common import (
    CANTEEN_HEADER, CARD_KINDS, CENTRE_UNITS, FEED_KEYS, HOUR_SHAPE, SEASON, SLA,
    SURVEY_SCALE, UNIT_NAME_ZH, UNITS, CardBook, MeterSpec, OutletModel, canteen_day,
    canteen_table, day_factor, day_kind, fen_array_to_pa, fen_str, hms_table, iso_local, rng_for,
    simulate_tickets,
)

YEAR = 2001
START = dt.date(YEAR, 1, 1)
END = dt.date(YEAR, 12, 31)
DAYS = [START + dt.timedelta(days=i) for i in range((END - START).days + 1)]
METER_DAYS = [START - dt.timedelta(days=1)] + DAYS  # 2000-12-31 so 1 January has a previous day
SCEN = 0  # scenario key of the RNG streams
STUDENTS = 2100
STAGE_SINCE = "2000-07-01"
CENT = Decimal("0.01")


def _q2(x: Decimal) -> Decimal:
    return x.quantize(CENT, rounding=ROUND_HALF_UP)


def _fen(x: Decimal | str | int) -> int:
    return int((Decimal(x) * 100).to_integral_value(rounding=ROUND_HALF_UP))


class _Ctx:
    def __init__(self, out: Path):
        self.out = out
        self.bad_rows: list[dict] = []
        self.special_rows: list[dict] = []
        self.files: dict[str, int] = defaultdict(int)
        self.rows: dict[str, int] = defaultdict(int)

    def bad(self, feed: str, file: str, key: str, kind: str, row: int | None, detail: str,
            expect: str = "quarantine") -> None:
        self.bad_rows.append({"feed": feed, "file": file, "row": row, "key": key, "kind": kind,
                              "expect": expect, "detail": detail})

    def wrote(self, feed: str, rows: int) -> None:
        self.files[feed] += 1
        self.rows[feed] += rows


# =========================================================================== reference data

OUTLETS = [
    # name, code, operator, windows, price multiplier
    ("第一食堂", "C01", "centre", 12, 1.00),
    ("第二食堂", "C02", "centre", 10, 1.05),
    ("清真食堂", "C03", "centre", 4, 1.10),
    ("教工餐厅", "C04", "centre", 4, 1.60),
    ("风味小吃部", "C05", "centre", 3, 1.20),
    ("学苑小卖部", "K01", "tenant", 2, 0.90),
]
# weights[group][period][outlet]; group 0 = students/other cards, 1 = staff cards
OUTLET_WEIGHTS = np.array([
    [[.45, .35, .08, .02, .00, .10], [.38, .32, .08, .03, .12, .07],
     [.36, .30, .08, .03, .15, .08], [.00, .00, .00, .00, .55, .45]],
    [[.25, .15, .05, .45, .00, .10], [.15, .10, .05, .60, .07, .03],
     [.20, .10, .05, .55, .07, .03], [.00, .00, .00, .00, .50, .50]],
])


def outlet_model() -> OutletModel:
    return OutletModel([o[0] for o in OUTLETS], [o[1] for o in OUTLETS], [o[2] for o in OUTLETS],
                       np.array([o[3] for o in OUTLETS]), np.array([o[4] for o in OUTLETS]),
                       OUTLET_WEIGHTS.copy())


def _m(mid, util, b, btype, payer, mult, per_day, cadence="hourly"):
    return MeterSpec(mid, util, b, btype, payer, mult, per_day, cadence)


METERS: list[MeterSpec] = [
    _m("E-001", "electricity", "T01", "teaching", "school", 40, 820),
    _m("E-002", "electricity", "T02", "teaching", "school", 40, 760),
    _m("E-003", "electricity", "LAB", "laboratory", "school", 20, 540),
    _m("E-004", "electricity", "LIB", "library", "school", 20, 480),
    _m("E-005", "electricity", "ADM", "office", "school", 10, 260),
    *[_m(f"E-{6 + i:03d}", "electricity", f"D{i + 1:02d}", "dormitory", "school", 10 if i < 4 else 1,
         300 + 10 * (i % 4)) for i in range(8)],
    _m("E-014", "electricity", "GYM", "sports", "school", 1, 120),
    _m("E-015", "electricity", "LIGHT", "outdoor", "school", 1, 70, "daily"),
    _m("E-016", "electricity", "CAN1", "canteen", "catering", 10, 60),
    _m("E-017", "electricity", "CAN2", "canteen", "catering", 1, 40),
    _m("E-018", "electricity", "CAN3", "canteen", "catering", 1, 20),
    _m("E-019", "electricity", "GH", "guesthouse", "guesthouse", 1, 30),
    _m("E-020", "electricity", "LDY", "laundry", "laundry", 1, 25),
    _m("E-021", "electricity", "BATH", "bathhouse", "bathhouse", 1, 30),
    _m("E-022", "electricity", "PRT", "printing", "printing", 1, 15),
    _m("E-023", "electricity", "KIOSK", "shop", "tenant", 1, 8),
    _m("E-024", "electricity", "WH", "warehouse", "supplies", 1, 6),
    _m("W-001", "water", "T01", "teaching", "school", 1, 18),
    _m("W-002", "water", "LAB", "laboratory", "school", 1, 14),
    *[_m(f"W-{3 + i:03d}", "water", f"D{i + 1:02d}", "dormitory", "school", 1, 38,
         "daily" if i < 2 else "hourly") for i in range(8)],
    _m("W-011", "water", "CAN1", "canteen", "catering", 1, 8),
    _m("W-012", "water", "CAN2", "canteen", "catering", 1, 6),
    _m("W-013", "water", "GH", "guesthouse", "guesthouse", 1, 3),
    _m("W-014", "water", "LDY", "laundry", "laundry", 1, 6),
    _m("W-015", "water", "BATH", "bathhouse", "bathhouse", 1, 10),
    _m("W-016", "water", "KIOSK", "shop", "tenant", 1, 0.3, "daily"),
]
DAILY_READ_HOUR = 8  # daily meters are read once, at 08:00

TARIFFS = {
    "electricity": [(dt.date(1998, 1, 1), Decimal("0.45")), (dt.date(2000, 1, 1), Decimal("0.52")),
                    (dt.date(2001, 7, 1), Decimal("0.56"))],
    "water": [(dt.date(1998, 1, 1), Decimal("1.00")), (dt.date(2000, 1, 1), Decimal("1.30")),
              (dt.date(2001, 7, 1), Decimal("1.60"))],
}


def tariff(utility: str, d: dt.date) -> Decimal:
    price = None
    for since, p in TARIFFS[utility]:
        if since <= d:
            price = p
    assert price is not None
    return price


# conservation built into ref/utility_baseline.csv: 21,000 + 9,000 = 30,000 yuan for the year,
# spread over the months in proportion to the school's bill × a monthly saving-rate shape
# (June's electricity went *up* against the baseline: a hot exam month)
SAVING_TOTAL = {"electricity": Decimal(21000), "water": Decimal(9000)}
SAVING_SHAPE = {
    "electricity": [1.0, 0.9, 1.1, 1.1, 1.0, -0.25, 0.8, 1.0, 1.1, 1.2, 1.1, 1.1],
    "water": [1.0, 0.9, 1.0, 1.0, 1.1, 1.1, 0.9, 0.9, 1.0, 1.0, 1.0, 1.0],
}
RECOVERED_TARGET = Decimal("40000")

# meter events (valid) ----------------------------------------------------------------
REPLACEMENTS = {"E-011": (dt.date(2001, 5, 16), 10, 5), "W-014": (dt.date(2001, 10, 9), 14, 2)}
ESTIMATED = [("E-005", dt.date(2001, 2, 8), range(1, 7)), ("W-008", dt.date(2001, 8, 20), range(10, 14))]
PARTIAL_OUTAGE = [("E-012", dt.date(2001, 9, 25), range(2, 8))]
DAY_OUTAGE = [("W-016", dt.date(2001, 4, 11))]
# meter bad rows: extra readings at HH:30 (never the day's last reading)
BAD_METER = [
    ("hundredfold_jump", "E-007", dt.date(2001, 3, 14), 10),
    ("hundredfold_jump", "W-009", dt.date(2001, 10, 23), 15),
    ("negative_delta", "E-002", dt.date(2001, 4, 18), 13),
    ("negative_delta", "W-005", dt.date(2001, 11, 6), 9),
    ("bad_reading", "E-010", dt.date(2001, 6, 5), 11),
    ("bad_reading", "W-001", dt.date(2001, 9, 12), 16),
]
UNKNOWN_METER = ("E-041", dt.date(2001, 11, 20))  # a new meter not yet in ref/meters.csv


BASELINE_STUDENTS = 1000  # "学生由1000人增加到2000余人": the utilities baseline is from before the growth


def temperature_rows() -> list[tuple[str, str]]:
    """Daily mean temperatures for the baseline year 2000 and 2001, a central-China climate: an
    annual cycle from about 4 °C in mid-January to about 29 °C in mid-July, ± 2.5 °C day to day.
    Its own RNG stream, so no other file changes; read only by the weather-adjusted saving."""
    rng = rng_for(SCEN, FEED_KEYS["ref"], 1)
    day, rows = dt.date(YEAR - 1, 1, 1), []
    while day.year < YEAR + 1:
        doy = day.timetuple().tm_yday
        t = 16.5 - 12.5 * np.cos(2 * np.pi * (doy - 15) / 365.25) + rng.normal(0, 2.5)
        rows.append((day.isoformat(), f"{t:.1f}"))
        day += dt.timedelta(days=1)
    return rows


def write_refs(ctx: _Ctx, baseline: dict[tuple[str, int], int]) -> None:
    ref = ctx.out / "ref"
    n = writers.write_ref(ref / "sub_centres.csv", ["unit_code", "name_zh", "name_en", "reform_stage", "stage_since"],
                          [(u, zh, en, "big_entity", STAGE_SINCE) for u, zh, en in UNITS])
    ctx.wrote("ref", n)
    n = writers.write_ref(ref / "outlets.csv", ["outlet_name", "outlet_code", "unit_code", "operator"],
                          [(name, code, "catering", op) for name, code, op, _, _ in OUTLETS])
    ctx.wrote("ref", n)
    n = writers.write_ref(ref / "meters.csv", ["meter_id", "utility", "building_code", "building_type", "payer", "multiplier"],
                          [(m.meter_id, m.utility, m.building_code, m.building_type, m.payer, m.multiplier)
                           for m in METERS])
    ctx.wrote("ref", n)
    n = writers.write_ref(ref / "tariffs.csv", ["utility", "effective_from", "yuan_per_unit"],
                          [(u, since.isoformat(), f"{p:.2f}") for u in TARIFFS for since, p in TARIFFS[u]])
    ctx.wrote("ref", n)
    months = [f"{YEAR - 1}-12"] + [f"{YEAR}-{m:02d}" for m in range(1, 13)]
    n = writers.write_ref(ref / "enrolment.csv", ["month", "students"], [(m, STUDENTS) for m in months])
    ctx.wrote("ref", n)
    n = writers.write_ref(ref / "baselines.csv", ["key", "value", "note"], [
        ("admin_staff_per_1000_students", 17, "计划经济时期定编：每千名学生配备管理人员17人 (pre-reform staffing norm)"),
        ("students_per_cook", 50, "炊事员定编：每50名学生配备炊事员1人 (pre-reform cook norm)"),
        ("utility_baseline_students", BASELINE_STUDENTS, "基准年在校生约1000人 (students when the utilities baseline was set)"),
        ("utility_baseline_year", YEAR - 1, "水电基准年：改革前的2000年 (the year utility_baseline.csv describes)"),
    ])
    ctx.wrote("ref", n)
    n = writers.write_ref(ref / "temperature.csv", ["date", "mean_temp_c"], temperature_rows())
    ctx.wrote("ref", n)
    n = writers.write_ref(ref / "utility_baseline.csv", ["utility", "month_of_year", "quantity"],
                          [(u, m, baseline[(u, m)]) for u in ("electricity", "water") for m in range(1, 13)])
    ctx.wrote("ref", n)
    n = writers.write_ref(ref / "sla.csv", ["category", "respond_within_min", "complete_within_h"],
                          [(c, r, h) for c, (r, h) in SLA.items()])
    ctx.wrote("ref", n)
    n = writers.write_ref(ref / "targets.csv", ["kpi_code", "unit_code", "bound", "value"], [
        ("satisfaction_rate", "utilities", "min", "0.90"),
        ("satisfaction_rate", "campus", "min", "0.85"),
        ("repair_on_time_rate", "utilities", "min", "0.95"),
        ("response_on_time_rate", "utilities", "min", "0.90"),
        ("meters_reporting_rate", "campus", "min", "0.95"),
    ])
    ctx.wrote("ref", n)


# =========================================================================== staff roster


class Person:
    def __init__(self, staff_id, unit, role, origin, payer, cost_fen, months=range(1, 13)):
        self.staff_id, self.unit, self.role, self.origin, self.payer = staff_id, unit, role, origin, payer
        self.cost_fen = {m: cost_fen for m in months}


TRANSFER_MONTH_TOTAL = {m: (1_666_667 if m <= 8 else 1_666_666) for m in range(1, 13)}  # Σ = 200,000.00
COOK_MONTH_TOTAL = 2_800_000  # 28,000.00 a month, 336,000.00 a year


def build_staff() -> list[Person]:
    rng = rng_for(SCEN, FEED_KEYS["staff"], 0)
    people: list[Person] = []
    ids = iter(rng.permutation(np.arange(1, 400)))

    def zx() -> str:
        return f"ZX{int(next(ids)):04d}"

    # office: 7 management, school establishment, paid by the school
    for i, cost in enumerate([185000, 162000, 158000, 150000, 146000, 141000, 138000], start=1):
        people.append(Person(f"JG{i:04d}", "office", "management", "school_establishment", "school", cost))
    # school transfers now paid by the centre: 5 unit managers + 15 service/technician
    transfers = [(u, "management", 100000) for u in ("catering", "utilities", "apartments", "property", "supplies")]
    transfers += [("utilities", "technician", c) for c in (86000, 84000, 82000, 80000)]
    transfers += [("printing", "service", c) for c in (76000, 74000)]
    transfers += [("supplies", "service", c) for c in (75000, 72000)]
    transfers += [("apartments", "service", c) for c in (76000, 75000, 74000)]
    transfers += [("laundry", "service", 74700), ("guesthouse", "service", 80000), ("guesthouse", "service", 79000)]
    transfers += [("bathhouse", "technician", 0)]  # absorbs the remainder of the monthly total
    t_people = [Person(zx(), u, r, "school_transfer", "centre", c) for u, r, c in transfers]
    fixed = sum(p.cost_fen[1] for p in t_people[:-1])
    for m in range(1, 13):
        t_people[-1].cost_fen[m] = TRANSFER_MONTH_TOTAL[m] - fixed
    people += t_people
    # 42 cooks, social hire, paid by the centre; one leaves after June and is replaced in July
    rest = [int(c) for c in rng.integers(620, 700, 39) * 100]
    diff = COOK_MONTH_TOTAL - 3 * 76000 - sum(rest)
    rest = [c + diff // 39 for c in rest]
    rest[-1] += COOK_MONTH_TOTAL - 3 * 76000 - sum(rest)
    cook_costs = [76000, 76000, 76000] + rest
    assert len(cook_costs) == 42 and sum(cook_costs) == COOK_MONTH_TOTAL and min(cook_costs) > 55000
    for i, c in enumerate(cook_costs):
        if i == 17:
            people.append(Person(zx(), "catering", "cook", "social_hire", "centre", c, range(1, 7)))
            people.append(Person(zx(), "catering", "cook", "social_hire", "centre", c, range(7, 13)))
        else:
            people.append(Person(zx(), "catering", "cook", "social_hire", "centre", c))
    # 27 other social hires; a cleaner leaves after April and is replaced in May
    others = [("catering", 6), ("apartments", 8), ("property", 7), ("laundry", 2), ("guesthouse", 2), ("bathhouse", 2)]
    for unit, k in others:
        for j in range(k):
            c = int(rng.integers(52, 72)) * 1000 + int(rng.integers(0, 10)) * 100
            if unit == "property" and j == 0:
                people.append(Person(zx(), unit, "service", "social_hire", "centre", c, range(1, 5)))
                people.append(Person(zx(), unit, "service", "social_hire", "centre", c, range(5, 13)))
            else:
                people.append(Person(zx(), unit, "service", "social_hire", "centre", c))
    # establishment staff still paid by the school, working in centre units
    for unit, role, c in [("utilities", "technician", 142000), ("utilities", "technician", 138000),
                          ("printing", "technician", 131000), ("supplies", "service", 126000),
                          ("guesthouse", "service", 124000)]:
        people.append(Person(zx(), unit, role, "school_establishment", "school", c))
    return people


BAD_STAFF = [  # unknown unit codes; payer school + role service so they touch no published figure
    (3, "ZX9001", "security", "service", "school_establishment", "school", 115000),
    (9, "ZX9002", "catring", "service", "school_establishment", "school", 98000),
]


def write_staff(ctx: _Ctx, people: list[Person]) -> dict[tuple[int, str], int]:
    """Writes staff_2001MM.csv; returns personnel cost (fen) per (month, unit) paid by the centre."""
    personnel: dict[tuple[int, str], int] = defaultdict(int)
    for m in range(1, 13):
        month = f"{YEAR}-{m:02d}"
        rows = []
        for p in people:
            if m in p.cost_fen:
                rows.append((month, p.staff_id, p.unit, p.role, p.origin, p.payer, fen_str(p.cost_fen[m])))
                if p.payer == "centre":
                    personnel[(m, p.unit)] += p.cost_fen[m]
        rows.sort(key=lambda r: r[1])
        fname = f"staff_{YEAR}{m:02d}.csv"
        for bm, sid, unit, role, origin, payer, cost in BAD_STAFF:
            if bm == m:
                pos = len(rows) // 2
                rows.insert(pos, (month, sid, unit, role, origin, payer, fen_str(cost)))
                ctx.bad("staff", f"staff/{fname}", sid, "unknown_unit", pos + 1, f"unit_code={unit!r}")
        ctx.wrote("staff", writers.write_staff(ctx.out / "staff" / fname, rows))
    return personnel


# =========================================================================== meters


def _meter_floats() -> np.ndarray:
    """Hourly real consumption (kWh / m³) per meter over METER_DAYS, before billed scaling."""
    n_days = len(METER_DAYS)
    out = np.empty((len(METERS), n_days * 24))
    fac = {}
    for i, m in enumerate(METERS):
        rng = rng_for(SCEN, FEED_KEYS["meters"], i)
        if m.building_type not in fac:
            fac[m.building_type] = np.array([day_factor(m.building_type, d) for d in METER_DAYS])
        season = SEASON[m.utility][np.array([d.month - 1 for d in METER_DAYS])]
        if m.building_type == "outdoor":  # street lights: longer nights in winter
            season = 1 + 0.25 * np.cos(2 * np.pi * (np.array([d.timetuple().tm_yday for d in METER_DAYS]) - 355) / 365)
        daily = m.per_day * fac[m.building_type] * season * np.exp(0.06 * rng.standard_normal(n_days))
        hourly = daily[:, None] * HOUR_SHAPE[m.building_type][None, :] * np.exp(0.12 * rng.standard_normal((n_days, 24)))
        out[i] = hourly.ravel()
    return out


class MeterData:
    """Registers (centi raw units) at every hour instant of METER_DAYS, plus the readings' layout."""

    def __init__(self, floats: np.ndarray, billed_scale: float):
        n_m, H = floats.shape
        scale = np.array([1.0 if m.payer == "school" else billed_scale for m in METERS])
        mult = np.array([m.multiplier for m in METERS], dtype=float)
        inc = np.rint(floats * scale[:, None] / mult[:, None] * 100).astype(np.int64)
        rng = rng_for(SCEN, FEED_KEYS["meters"], 999)
        start = rng.integers(100_000, 6_000_000, n_m)  # 1,000.00 .. 60,000.00 raw
        cum = np.concatenate([np.zeros((n_m, 1), np.int64), np.cumsum(inc, axis=1)], axis=1)
        self.reg = start[:, None] + cum[:, :H]  # reg[:, k] = register at instant k (hours from 2000-12-31 00:00)
        self.replaced_at: dict[int, int] = {}
        for mid, (d, hour, new_start) in REPLACEMENTS.items():
            i = _meter_index(mid)
            k = _day_index(d) * 24 + hour
            self.reg[i, k:] = new_start + (cum[i, k:H] - cum[i, k])
            self.replaced_at[i] = k
        # which (meter, hour instant) readings exist
        self.present = np.zeros((n_m, H), bool)
        for i, m in enumerate(METERS):
            if m.cadence == "hourly":
                self.present[i] = True
            else:
                self.present[i, DAILY_READ_HOUR::24] = True
        for mid, d, hours in PARTIAL_OUTAGE:
            for h in hours:
                assert h != 23
                self.present[_meter_index(mid), _day_index(d) * 24 + h] = False
        for mid, d in DAY_OUTAGE:
            di = _day_index(d)
            self.present[_meter_index(mid), di * 24:(di + 1) * 24] = False
        self.estimated = np.zeros((n_m, H), bool)
        for mid, d, hours in ESTIMATED:
            for h in hours:
                self.estimated[_meter_index(mid), _day_index(d) * 24 + h] = True

    def day_consumption(self) -> np.ndarray:
        """Consumption (centi real units, i.e. ×multiplier) per meter and 2001 day, by the rule of
        sources.md; -1 where unknown (no reading that day or the previous day)."""
        n_m = len(METERS)
        out = np.full((n_m, len(DAYS)), -1, np.int64)
        for i, m in enumerate(METERS):
            last = np.full(len(METER_DAYS), -1, np.int64)
            lastk = np.full(len(METER_DAYS), -1, np.int64)
            pres = self.present[i].reshape(-1, 24)
            for di in range(len(METER_DAYS)):
                hs = np.nonzero(pres[di])[0]
                if len(hs):
                    lastk[di] = di * 24 + hs[-1]
                    last[di] = self.reg[i, lastk[di]]
            kr = self.replaced_at.get(i)
            for di in range(1, len(METER_DAYS)):
                if last[di] < 0 or last[di - 1] < 0:
                    continue
                if kr is not None and kr // 24 == di:
                    old_last = self.reg[i, kr - 1]  # hourly meter: the reading just before
                    c = (old_last - last[di - 1]) + (last[di] - self.reg[i, kr])
                else:
                    c = last[di] - last[di - 1]
                assert c >= 0, (m.meter_id, di, c)
                out[i, di - 1] = c * m.multiplier
        return out


def _meter_index(mid: str) -> int:
    return next(i for i, m in enumerate(METERS) if m.meter_id == mid)


def _day_index(d: dt.date) -> int:
    return (d - METER_DAYS[0]).days


def _recovered(cons: np.ndarray) -> tuple[Decimal, dict[tuple[int, str], Decimal]]:
    """Σ billed consumption × that day's tariff; also per (month, payer)."""
    per: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    for i, m in enumerate(METERS):
        if m.payer == "school":
            continue
        for di, d in enumerate(DAYS):
            if cons[i, di] >= 0:
                per[(d.month, m.payer)] += Decimal(int(cons[i, di])) / 100 * tariff(m.utility, d)
    return sum(per.values(), Decimal(0)), per


def build_meters() -> tuple[MeterData, dict, dict[tuple[int, str], Decimal]]:
    floats = _meter_floats()
    s = 1.0
    for _ in range(3):  # converge the billed scale on the recovered target
        md = MeterData(floats, s)
        rec, _ = _recovered(md.day_consumption())
        s = s * float(RECOVERED_TARGET / rec)
    md = MeterData(floats, s)
    cons = md.day_consumption()
    rec, per_unit = _recovered(cons)
    assert abs(rec - RECOVERED_TARGET) / RECOVERED_TARGET < Decimal("0.001"), rec
    # baseline = school consumption + the month's saving at the 1st-of-month tariff
    baseline: dict[tuple[str, int], int] = {}
    conservation = Decimal(0)
    for u in ("electricity", "water"):
        q: dict[int, Decimal] = {}
        for mo in range(1, 13):
            q[mo] = Decimal(sum(int(cons[i, di]) for i, m in enumerate(METERS) if m.payer == "school" and m.utility == u
                                for di, d in enumerate(DAYS) if d.month == mo and cons[i, di] >= 0)) / 100
        weight = {mo: q[mo] * tariff(u, dt.date(YEAR, mo, 1)) * Decimal(str(SAVING_SHAPE[u][mo - 1]))
                  for mo in range(1, 13)}
        total_w = sum(weight.values())
        for mo in range(1, 13):
            saving = SAVING_TOTAL[u] * weight[mo] / total_w
            b = q[mo] + saving / tariff(u, dt.date(YEAR, mo, 1))
            baseline[(u, mo)] = int(b.to_integral_value(rounding=ROUND_HALF_UP))
            conservation += (baseline[(u, mo)] - q[mo]) * tariff(u, dt.date(YEAR, mo, 1))
    assert abs(conservation - 30000) < 30, conservation  # the rounding of baselines to whole units
    return md, baseline, per_unit


def write_meters(ctx: _Ctx, md: MeterData) -> None:
    ids = [m.meter_id for m in METERS]
    all_ids = sorted(set(ids) | {UNKNOWN_METER[0]})
    rank = np.array([all_ids.index(x) for x in ids])
    id_arr = pa.array(all_ids)
    statuses = pa.array(["ok", "estimated", "replaced"])
    hms = hms_table()
    bad_by_day: dict[dt.date, list] = defaultdict(list)
    for kind, mid, d, hour in BAD_METER:
        bad_by_day[d].append((kind, mid, hour))
    replaced_k = {k: i for i, k in md.replaced_at.items()}
    for di, d in enumerate(METER_DAYS):
        ks = np.arange(di * 24, di * 24 + 24)
        pres = md.present[:, ks]
        mi, hi = np.nonzero(pres)
        k = ks[hi]
        centi = md.reg[mi, k]
        status = np.where(md.estimated[mi, k], 1, 0)
        for kk, i in replaced_k.items():
            status = np.where((mi == i) & (k == kk), 2, status)
        sec = (hi * 3600).astype(np.int64)
        mid_col = id_arr.take(pa.array(rank[mi]))
        reading = fen_array_to_pa(centi)
        status_col = statuses.take(pa.array(status))
        order_rank = rank[mi]
        extras: list[tuple[str, int, str, str]] = []
        fname = f"meters_{d:%Y%m%d}.csv"
        for kind, mid, hour in bad_by_day.get(d, []):
            i = _meter_index(mid)
            base = int(md.reg[i, di * 24 + hour])
            if kind == "hundredfold_jump":  # decimal point slipped two places on the 30-minute value
                half = (int(md.reg[i, di * 24 + hour + 1]) - base) // 2
                val = fen_str((base + max(half, 1)) * 100)
            elif kind == "negative_delta":
                val = fen_str(base - (12345 if mid.startswith("E") else 870))
            else:
                val = "ERR" if mid.startswith("E") else "#N/A"
            extras.append((mid, hour * 3600 + 1800, val, "ok"))
            ctx.bad("meters", f"meters/{fname}", f"{mid}@{d}T{hour:02d}:30:00+08:00", kind, None,
                    f"extra reading {val!r} at {hour:02d}:30 between two good hourly readings")
        if d == UNKNOWN_METER[1]:
            reg = 3
            r = rng_for(SCEN, FEED_KEYS["meters"], 4242)
            for h in range(24):
                extras.append((UNKNOWN_METER[0], h * 3600, fen_str(reg), "ok"))
                ctx.bad("meters", f"meters/{fname}", f"{UNKNOWN_METER[0]}@{d}T{h:02d}:00:00+08:00",
                        "unknown_meter", None, "meter_id not in ref/meters.csv")
                reg += int(r.integers(50, 400))
        if extras:
            mid_col = pa.concat_arrays([mid_col, pa.array([e[0] for e in extras])])
            sec = np.concatenate([sec, np.array([e[1] for e in extras], np.int64)])
            reading = pa.concat_arrays([reading, pa.array([e[2] for e in extras])])
            status_col = pa.concat_arrays([status_col, pa.array([e[3] for e in extras])])
            order_rank = np.concatenate([order_rank, [all_ids.index(e[0]) for e in extras]])
        order = pa.array(np.lexsort((sec, order_rank)))
        read_at = pc.binary_join_element_wise(d.isoformat() + "T", hms.take(pa.array(sec[order.to_numpy()])),
                                              "+08:00", "")
        out = pa.table({"meter_id": mid_col.take(order), "read_at": read_at,
                        "reading": reading.take(order), "status": status_col.take(order)})
        # row numbers of the bad rows (1-based data rows)
        if extras:
            mids = out.column("meter_id").to_pylist()
            ats = out.column("read_at").to_pylist()
            pos = {f"{a}@{b}": j + 1 for j, (a, b) in enumerate(zip(mids, ats))}
            for br in ctx.bad_rows:
                if br["file"] == f"meters/{fname}" and br["row"] is None:
                    br["row"] = pos[br["key"]]
        ctx.wrote("meters", writers.write_meters(ctx.out / "meters" / fname, out))
    for i, k in md.replaced_at.items():
        ctx.special_rows.append({"feed": "meters", "file": f"meters/meters_{METER_DAYS[k // 24]:%Y%m%d}.csv",
                                 "key": f"{METERS[i].meter_id}@{METER_DAYS[k // 24]}T{k % 24:02d}:00:00+08:00",
                                 "kind": "meter_replaced",
                                 "detail": f"new meter starts at {fen_str(int(md.reg[i, k]))}"})
    for mid, d, hours in ESTIMATED:
        ctx.special_rows.append({"feed": "meters", "file": f"meters/meters_{d:%Y%m%d}.csv", "key": mid,
                                 "kind": "estimated_readings", "detail": f"hours {hours.start:02d}..{hours.stop - 1:02d}"})
    for mid, d, hours in PARTIAL_OUTAGE:
        ctx.special_rows.append({"feed": "meters", "file": f"meters/meters_{d:%Y%m%d}.csv", "key": mid,
                                 "kind": "missing_hours", "detail": f"no readings {hours.start:02d}..{hours.stop - 1:02d}"})
    for mid, d in DAY_OUTAGE:
        ctx.special_rows.append({"feed": "meters", "file": f"meters/meters_{d:%Y%m%d}.csv", "key": mid,
                                 "kind": "missing_day", "detail": "no reading that day: its and the next day's "
                                 "consumption are unknown"})


# =========================================================================== canteen

CANTEEN_BASE = 3050  # purchases on a term weekday
_CANTEEN_FACTOR = {"term": 1.0, "weekend": 0.82, "golden_week": 0.45, "winter": 0.11,
                   "spring_festival": 0.045, "summer": 0.12}
LATE = {dt.date(2001, 3, 5): 6, dt.date(2001, 4, 9): 4, dt.date(2001, 5, 31): 9, dt.date(2001, 6, 28): 3,
        dt.date(2001, 9, 17): 5, dt.date(2001, 10, 11): 7, dt.date(2001, 11, 14): 4, dt.date(2001, 12, 20): 8}
CROSS_DAY_REFUND = [dt.date(2001, 3, 20), dt.date(2001, 9, 18), dt.date(2001, 12, 3)]
DUPLICATE_DAYS = [dt.date(2001, 5, 9), dt.date(2001, 10, 25)]
# (day, kind, column overrides, seconds-of-day sort key)
BAD_CANTEEN = [
    (dt.date(2001, 3, 8), "unknown_outlet", {"商户名称": "第三食堂"}, 12 * 3600 + 5 * 60),
    (dt.date(2001, 10, 16), "unknown_outlet", {"商户名称": "二食堂"}, 17 * 3600 + 41 * 60),
    (dt.date(2001, 12, 5), "unknown_outlet", {"商户名称": "图书馆咖啡厅"}, 15 * 3600 + 12 * 60),
    (dt.date(2001, 4, 12), "bad_amount", {"交易金额": "3.5O"}, 11 * 3600 + 58 * 60),
    (dt.date(2001, 11, 21), "bad_amount", {"交易金额": "￥4.00"}, 7 * 3600 + 20 * 60),
    (dt.date(2001, 5, 22), "amount_3_decimals", {"交易金额": "2.355"}, 12 * 3600 + 11 * 60),
    (dt.date(2001, 9, 27), "amount_3_decimals", {"交易金额": "10.125"}, 18 * 3600 + 2 * 60),
    (dt.date(2001, 4, 30), "bad_time", {"交易时间": "2001-04-31 12:10:33"}, 12 * 3600 + 10 * 60 + 33),
    (dt.date(2001, 6, 19), "bad_time", {"交易时间": "2001-06-19 25:07:12"}, 23 * 3600 + 59 * 60),
    (dt.date(2001, 3, 15), "time_after_file_day", {"交易时间": "2001-03-16 07:05:11"}, 86399),
    (dt.date(2001, 11, 2), "time_after_file_day", {"交易时间": "2001-11-03 00:00:04"}, 86399),
    (dt.date(2001, 3, 27), "unknown_cardholder_type", {"身份": "临时卡"}, 12 * 3600 + 30 * 60),
    (dt.date(2001, 12, 11), "unknown_cardholder_type", {"身份": "访客"}, 11 * 3600 + 47 * 60),
]
SERIAL_START = 100_000_001


def _canteen_volume(rng: np.random.Generator, d: dt.date) -> int:
    f = _CANTEEN_FACTOR[day_kind(d).kind]
    if d in (dt.date(2001, 2, 26), dt.date(2001, 2, 27), dt.date(2001, 9, 3), dt.date(2001, 9, 4)):
        f *= 0.85  # students still arriving
    return max(80, int(round(CANTEEN_BASE * f * (1 + 0.04 * rng.standard_normal()))))


def write_canteen(ctx: _Ctx) -> dict[int, int]:
    """Writes canteen_2001MMDD.csv; returns the net sales (fen) of centre-run outlets per month."""
    cards = CardBook.build(rng_for(SCEN, FEED_KEYS["canteen"], 0), STUDENTS, 300, 40)
    outlets = outlet_model()
    centre_outlet = np.array([op == "centre" for op in outlets.operator])
    card_list = cards.numbers.to_pylist()
    month_sales: dict[int, int] = defaultdict(int)
    counter = SERIAL_START
    carry_late: pa.Table | None = None
    carry_refund: dict | None = None
    bad_by_day = defaultdict(list)
    for b in BAD_CANTEEN:
        bad_by_day[b[0]].append(b)
    for d in DAYS:
        rng = rng_for(SCEN, FEED_KEYS["canteen"], d.toordinal())
        holiday = day_kind(d).holiday
        cd = canteen_day(rng, _canteen_volume(rng, d), cards, outlets, holiday)
        n = len(cd)
        serial = counter + np.arange(n, dtype=np.int64)
        counter += n
        tbl = canteen_table(d, cd, serial, cards, outlets)
        month_sales[d.month] += int(cd.fen[centre_outlet[cd.outlet]].sum())
        eligible = (cd.typ == 0) & ~cd.referenced
        fname = f"canteen_{d:%Y%m%d}.csv"
        # late transactions: an offline terminal's evening rows reach tomorrow's export
        late_mask = np.zeros(n, bool)
        if d in LATE:
            cand = np.nonzero(eligible & (cd.sec >= 17 * 3600))[0]
            term = cd.term[cand[int(rng.integers(len(cand)))]]
            same = cand[cd.term[cand] == term]
            late_mask[same[-LATE[d]:]] = True
        # a purchase refunded tomorrow
        next_refund = None
        if d in CROSS_DAY_REFUND:
            cand = np.nonzero(eligible & ~late_mask & (cd.fen >= 200))[0]
            j = int(cand[int(rng.integers(len(cand)))])
            next_refund = {"serial": int(serial[j]), "card": int(cd.card[j]), "outlet": int(cd.outlet[j]),
                           "fen": int(cd.fen[j]), "date": d}
        dup_src = None
        if d in DUPLICATE_DAYS:
            cand = np.nonzero(eligible & ~late_mask)[0]
            dup_src = int(cand[int(rng.integers(len(cand)))])
        # extras: yesterday's cross-day refund (valid) and today's bad rows
        extras: list[dict] = []
        if carry_refund is not None:
            o = carry_refund["outlet"]
            sec = 8 * 3600 + int(rng.integers(0, 3600))
            extras.append({"流水号": str(counter), "卡号": card_list[carry_refund["card"]],
                           "身份": CARD_KINDS[int(cards.kind[carry_refund["card"]])],
                           "交易时间": f"{d} {hms_table()[sec].as_py()}", "商户名称": outlets.names[o],
                           "终端号": outlets.terminals[int(outlets.term_offset[o])].as_py(),
                           "交易金额": fen_str(-carry_refund["fen"]), "交易类型": "退款",
                           "原流水号": str(carry_refund["serial"]), "_key": sec})
            if centre_outlet[o]:
                month_sales[d.month] -= carry_refund["fen"]
            ctx.special_rows.append({"feed": "canteen", "file": f"canteen/{fname}", "key": str(counter),
                                     "kind": "cross_day_refund",
                                     "detail": f"full refund of {carry_refund['serial']} bought {carry_refund['date']}"})
            counter += 1
        for _, kind, over, key in bad_by_day.get(d, []):
            c = int(rng.integers(STUDENTS))
            row = {"流水号": str(counter), "卡号": card_list[c], "身份": "学生",
                   "交易时间": f"{d} {hms_table()[min(key, 86399)].as_py()}", "商户名称": "第一食堂",
                   "终端号": "C01-03", "交易金额": "3.50", "交易类型": "消费", "原流水号": "", "_key": key}
            row.update(over)
            extras.append(row)
            ctx.bad("canteen", f"canteen/{fname}", str(counter), kind, None,
                    ", ".join(f"{k}={v!r}" for k, v in over.items()))
            counter += 1
        keep = ~late_mask
        main = tbl.filter(pa.array(keep))
        keys = cd.sec[keep]
        src_index = np.nonzero(keep)[0]
        if extras:
            ext = pa.table({h: pa.array([e[h] if e[h] != "" else None for e in extras], pa.string())
                            for h in CANTEEN_HEADER})
            main = pa.concat_tables([main, ext])
            keys = np.concatenate([keys, np.array([e["_key"] for e in extras], np.int64)])
            src_index = np.concatenate([src_index, np.full(len(extras), -1)])
        order = np.argsort(keys, kind="stable")
        take = list(order)
        if dup_src is not None:
            p = int(np.nonzero(src_index[order] == dup_src)[0][0])
            take.insert(p + 1, order[p])
            ctx.bad("canteen", f"canteen/{fname}", str(int(serial[dup_src])), "duplicate_row", p + 2,
                    f"exact copy of data row {p + 1}", expect="collapse")
        final = main.take(pa.array(np.array(take, dtype=np.int64)))
        if carry_late is not None:
            final = pa.concat_tables([final, carry_late])
        if carry_late is not None or extras:
            pos = {s: j + 1 for j, s in enumerate(final.column("流水号").to_pylist())}
            for br in ctx.bad_rows:
                if br["file"] == f"canteen/{fname}" and br["row"] is None:
                    br["row"] = pos[br["key"]]
        ctx.wrote("canteen", writers.write_canteen(ctx.out / "canteen" / fname, final))
        if late_mask.any():
            carry_late = tbl.filter(pa.array(late_mask))
            nxt = d + dt.timedelta(days=1)
            for s in carry_late.column("流水号").to_pylist():
                ctx.special_rows.append({"feed": "canteen", "file": f"canteen/canteen_{nxt:%Y%m%d}.csv", "key": s,
                                         "kind": "late_transaction", "detail": f"交易时间 on {d}, not in {fname}"})
        else:
            carry_late = None
        carry_refund = next_refund
    assert carry_late is None and carry_refund is None
    return month_sales


# =========================================================================== work orders

BAD_WO = [  # (creation day, kind) — the first suitable ticket created that day is made bad
    (dt.date(2001, 4, 10), "completed_before_created"),
    (dt.date(2001, 5, 15), "rating_out_of_range"),
    (dt.date(2001, 11, 8), "rating_out_of_range"),
    (dt.date(2001, 10, 17), "unknown_category"),
]


def write_work_orders(ctx: _Ctx) -> None:
    buildings = [(m.building_code, m.building_type) for m in METERS if m.building_type != "outdoor"]
    buildings = list(dict.fromkeys(buildings))
    tickets = simulate_tickets(rng_for(SCEN, FEED_KEYS["work_orders"], 0), DAYS, 5.25, buildings)
    bad_ids: dict[str, str] = {}
    for d, kind in BAD_WO:
        for t in tickets:
            if t.created.date() != d or t.order_id in bad_ids:
                continue
            statuses = [c.get("status") for _, c in t.events]
            if kind == "completed_before_created" and "completed" in statuses:
                for _, c in t.events:
                    if c.get("completed_at"):
                        c["completed_at"] = iso_local(t.created - dt.timedelta(hours=3, minutes=20))
                bad_ids[t.order_id] = kind
                break
            if kind == "rating_out_of_range" and any(c.get("rating") for _, c in t.events):
                for _, c in t.events:
                    if c.get("rating"):
                        c["rating"] = 7 if d.month == 5 else 6
                bad_ids[t.order_id] = kind
                break
            if kind == "unknown_category" and t.unit_code == "utilities":
                t.category = "空调"
                bad_ids[t.order_id] = kind
                break
    assert len(bad_ids) == len(BAD_WO), bad_ids
    by_day: dict[dt.date, list[dict]] = defaultdict(list)
    for t in tickets:
        for d, snap in t.snapshots(START, END):
            by_day[d].append(snap)
    for d in DAYS:
        recs = sorted(by_day[d], key=lambda r: r["order_id"])
        assert recs, d
        fname = f"work_orders_{d:%Y%m%d}.json"
        for j, r in enumerate(recs, start=1):
            kind = bad_ids.get(r["order_id"])
            if kind == "completed_before_created" and r["completed_at"]:
                ctx.bad("work_orders", f"work_orders/{fname}", r["order_id"], kind, j,
                        f"completed_at {r['completed_at']} < created_at {r['created_at']}")
            elif kind == "rating_out_of_range" and r["rating"] is not None:
                ctx.bad("work_orders", f"work_orders/{fname}", r["order_id"], kind, j, f"rating={r['rating']}")
            elif kind == "unknown_category":
                ctx.bad("work_orders", f"work_orders/{fname}", r["order_id"], kind, j, f"category={r['category']!r}")
        ctx.wrote("work_orders", writers.write_work_orders(ctx.out / "work_orders" / fname, recs))


# =========================================================================== surveys

WAVES = [dt.date(2001, 6, 15), dt.date(2001, 12, 14)]
WAVE_RESPONDENTS = {WAVES[0]: (96, 24), WAVES[1]: (100, 26)}  # (students, staff)
# 水电中心 answers per wave: exactly 100 answered, 92 + 95 = 187 satisfied → 187/200 = 0.935
UTILITIES_ANSWERS = {WAVES[0]: [38, 54, 5, 2, 1], WAVES[1]: [44, 51, 4, 1, 0]}
# unit -> (P(answer) student, P(answer) staff, distribution over the five-point scale)
SURVEY_MODEL = {
    "catering": (0.97, 0.90, [0.22, 0.48, 0.20, 0.07, 0.03]),
    "printing": (0.75, 0.70, [0.25, 0.50, 0.18, 0.05, 0.02]),
    "supplies": (0.35, 0.80, [0.20, 0.50, 0.22, 0.06, 0.02]),
    "apartments": (0.98, 0.20, [0.25, 0.50, 0.17, 0.06, 0.02]),
    "property": (0.85, 0.90, [0.28, 0.52, 0.14, 0.04, 0.02]),
    "laundry": (0.55, 0.40, [0.20, 0.50, 0.20, 0.07, 0.03]),
    "guesthouse": (0.15, 0.60, [0.30, 0.50, 0.15, 0.04, 0.01]),
    "bathhouse": (0.90, 0.50, [0.18, 0.47, 0.22, 0.09, 0.04]),
}


def survey_rows(rng: np.random.Generator, wave: dt.date, n_students: int, n_staff: int,
                utilities_counts: list[int] | None) -> list[list]:
    n = n_students + n_staff
    who = np.array(["学生"] * n_students + ["教职工"] * n_staff)[rng.permutation(n)]
    first = dt.datetime.combine(wave - dt.timedelta(days=4), dt.time(8))
    span = int((dt.datetime.combine(wave, dt.time(22)) - first).total_seconds())
    times = np.sort(rng.integers(0, span, n))
    cols: dict[str, list] = {}
    for unit in CENTRE_UNITS:
        if unit == "utilities" and utilities_counts is not None:
            answers = [SURVEY_SCALE[k] for k, c in enumerate(utilities_counts) for _ in range(c)]
            assert len(answers) <= n
            answers += [None] * (n - len(answers))
            cols[unit] = [answers[j] for j in rng.permutation(n)]
            continue
        p_st, p_sf, dist = SURVEY_MODEL.get(unit, (0.9, 0.85, [0.25, 0.5, 0.17, 0.06, 0.02]))
        ans = rng.random(n) < np.where(who == "学生", p_st, p_sf)
        pick = rng.choice(5, size=n, p=np.array(dist) / sum(dist))
        cols[unit] = [SURVEY_SCALE[int(k)] if a else None for a, k in zip(ans, pick)]
    rows = []
    for j in range(n):
        rows.append([j + 1, first + dt.timedelta(seconds=int(times[j])), str(who[j])]
                    + [cols[u][j] for u in CENTRE_UNITS])
    return rows


def write_surveys(ctx: _Ctx) -> None:
    header = ["序号", "提交答卷时间", "身份"] + [UNIT_NAME_ZH[u] for u in CENTRE_UNITS]
    for w in WAVES:
        rng = rng_for(SCEN, FEED_KEYS["surveys"], w.toordinal())
        st, sf = WAVE_RESPONDENTS[w]
        rows = survey_rows(rng, w, st, sf, UTILITIES_ANSWERS[w])
        n = writers.write_xlsx(ctx.out / "surveys" / f"survey_{w:%Y%m%d}.xlsx", "Sheet1", header, rows,
                               dt.datetime.combine(w, dt.time(23, 0)))
        ctx.wrote("surveys", n)


# =========================================================================== ledger

# centre surplus (revenue − cost over all units) per month, in yuan: Jan–Jun 70,000, year 160,000
SURPLUS_TARGET = [8500, -3200, 15000, 16500, 17800, 15400, 5000, -4000, 22000, 24000, 22000, 21000]
DEPRECIATION = {"catering": 300000, "printing": 120000, "utilities": 80000, "supplies": 50000,
                "apartments": 250000, "property": 60000, "laundry": 90000, "guesthouse": 150000,
                "bathhouse": 110000}
BALANCING = {"catering": ("food_materials", "食品原材料"), "printing": ("materials", "纸张耗材"),
             "utilities": ("materials", "维修材料"), "supplies": ("cost_of_goods", "商品进货成本"),
             "apartments": ("maintenance", "公寓维修及用品"), "property": ("subcontracting", "保洁绿化外包及材料"),
             "laundry": ("materials", "洗涤用品"), "guesthouse": ("materials", "客房用品及餐饮原料"),
             "bathhouse": ("fuel", "锅炉燃料")}
CAPITAL = [  # (month, unit, entry_type, category, amount, funding_source, memo)
    (1, "catering", "capital_in", "asset_transfer", "2000000.00", "school", "学校划转食堂房屋设备（资产划转）"),
    (1, "apartments", "capital_in", "asset_transfer", "2000000.00", "school", "学校划转学生公寓资产"),
    (1, "guesthouse", "capital_in", "asset_transfer", "600000.00", "school", "学校划转招待所资产"),
    (1, "laundry", "capital_in", "asset_transfer", "400000.00", "school", "学校划转洗涤设备"),
    (3, "laundry", "capital_in", "investment", "120000.00", "social", "社会投资方合作投入洗涤设备资金"),
    (3, "laundry", "capex", "equipment", "118600.00", "social", "购置工业洗衣机、烘干机"),
    (5, "printing", "capex", "equipment", "38000.00", "centre", "购置复印机2台, 中心自有资金"),
    (8, "apartments", "capital_in", "school_grant", "3000000.00", "school", "学校拨款：新建学生公寓配套"),
    (8, "apartments", "capex", "building_fitout", "2850000.00", "school", "新建学生公寓家具及配套设施"),
    (9, "catering", "capital_in", "investment", "240000.00", "social", "引入社会资金改造清真食堂"),
    (9, "catering", "capex", "renovation", "236400.00", "social", "清真食堂改造工程"),
    (11, "bathhouse", "capex", "equipment", "26500.00", "centre", "更换热水锅炉配件"),
]
BAD_LEDGER = [  # unknown unit codes, capex only (no published figure)
    (4, "clinic", "capex", "equipment", "5600.00", "centre", "医务室购置设备（非后勤单位）"),
    (10, "canteen", "capex", "equipment", "3200.00", "centre", "食堂购置消毒柜"),
]


def _activity(mo: int, btype: str = "canteen") -> float:
    ds = [d for d in DAYS if d.month == mo]
    return sum(day_factor(btype, d) for d in ds) / len(ds)


def write_ledger(ctx: _Ctx, canteen_sales: dict[int, int], personnel: dict[tuple[int, str], int],
                 utility_charges: dict[tuple[int, str], Decimal]) -> None:
    rng = rng_for(SCEN, FEED_KEYS["ledger"], 0)
    for mo in range(1, 13):
        month = f"{YEAR}-{mo:02d}"
        act = _activity(mo)
        noise = lambda: 1 + 0.05 * float(rng.standard_normal())  # noqa: E731
        revenue: dict[str, list[tuple[str, int, str, str]]] = {u: [] for u in CENTRE_UNITS}
        revenue["catering"] += [("meal_sales", canteen_sales[mo], "centre", "食堂售饭收入（一卡通）"),
                                ("rent", 150000, "social", "学苑小卖部承包租金")]
        revenue["printing"].append(("printing_services", int(1_800_000 * act * noise()), "centre", "文印收入"))
        revenue["utilities"] += [("service_contract", 2_200_000, "school", "学校支付水电运行维护服务费"),
                                 ("repair_fees", int(150_000 * act * noise()), "centre", "有偿维修收入")]
        revenue["supplies"].append(("goods_sales", int(4_500_000 * (0.5 + 0.5 * act) * noise()), "centre", "物资销售收入"))
        revenue["apartments"].append(("service_contract", 3_800_000, "school", "学校支付学生公寓管理服务费"))
        revenue["property"].append(("service_contract", 3_000_000, "school", "学校支付物业管理服务费"))
        revenue["laundry"].append(("laundry_services", int(900_000 * _activity(mo, "laundry") * noise()), "centre", "洗涤收入"))
        revenue["guesthouse"].append(("accommodation", int(1_600_000 * _activity(mo, "guesthouse") * noise()), "centre", "住宿收入"))
        winter = 1.3 if mo in (1, 2, 3, 11, 12) else 1.0
        revenue["bathhouse"].append(("bath_tickets", int(1_400_000 * _activity(mo, "bathhouse") * winter * noise()),
                                     "centre", "浴票收入"))
        # cost lines; the other units earn a margin (their balancing cost line is at least 10% of
        # revenue, so a unit with little holiday revenue runs a loss); catering's balancing line
        # takes whatever makes the month's centre surplus hit SURPLUS_TARGET exactly
        fixed_costs: dict[str, list[tuple[str, int, str]]] = {}
        for u in CENTRE_UNITS:
            fixed_costs[u] = [("personnel", personnel.get((mo, u), 0), "人员工资及社保（中心承担）"),
                              ("utilities", _fen(_q2(utility_charges.get((mo, u), Decimal(0)))), "水电费（计量收费）"),
                              ("depreciation", DEPRECIATION[u], "固定资产折旧")]
        balancing: dict[str, int] = {}
        total_other = 0
        for u in CENTRE_UNITS:
            if u == "catering":
                continue
            rev = sum(r[1] for r in revenue[u])
            fixed = sum(c[1] for c in fixed_costs[u])
            margin = rng.uniform(0.02, 0.08)
            balancing[u] = max(int(rev * 0.10), rev - fixed - int(rev * margin))
            total_other += rev - fixed - balancing[u]
        rev_c = sum(r[1] for r in revenue["catering"])
        fixed_c = sum(c[1] for c in fixed_costs["catering"])
        balancing["catering"] = rev_c - fixed_c - (SURPLUS_TARGET[mo - 1] * 100 - total_other)
        assert balancing["catering"] > 0.1 * rev_c, (mo, rev_c, fixed_c, total_other)
        rows = []
        for u in CENTRE_UNITS:
            for cat, amt, fund, memo in revenue[u]:
                rows.append((month, u, "revenue", cat, fen_str(amt), fund, memo))
            costs = list(fixed_costs[u])
            costs.insert(1, (BALANCING[u][0], balancing[u], BALANCING[u][1]))
            for cat, amt, memo in costs:
                if amt:
                    rows.append((month, u, "cost", cat, fen_str(amt), "centre", memo))
        for cm, u, et, cat, amt, fund, memo in CAPITAL:
            if cm == mo:
                rows.append((month, u, et, cat, amt, fund, memo))
        fname = f"ledger_{YEAR}{mo:02d}.csv"
        for bm, u, et, cat, amt, fund, memo in BAD_LEDGER:
            if bm == mo:
                rows.append((month, u, et, cat, amt, fund, memo))
                ctx.bad("ledger", f"ledger/{fname}", f"{month}/{u}/{et}/{cat}", "unknown_unit", len(rows),
                        f"unit_code={u!r}")
        ctx.wrote("ledger", writers.write_ledger(ctx.out / "ledger" / fname, rows))


# =========================================================================== entry point


def generate_seed(out: Path) -> dict:
    out = Path(out)
    ctx = _Ctx(out)
    people = build_staff()
    personnel = write_staff(ctx, people)
    md, baseline, utility_charges = build_meters()
    write_meters(ctx, md)
    write_refs(ctx, baseline)
    sales = write_canteen(ctx)
    write_ledger(ctx, sales, personnel, utility_charges)
    write_work_orders(ctx)
    write_surveys(ctx)
    ctx.bad_rows.sort(key=lambda b: (b["feed"], b["file"], b["row"] or 0))
    writers.write_json(out / "_scenario" / "bad_rows.json", ctx.bad_rows)
    writers.write_json(out / "_scenario" / "special_rows.json", ctx.special_rows)
    return {
        "scenario": "seed",
        "out": str(out),
        "period": {"start": START.isoformat(), "end": END.isoformat()},
        "files": dict(ctx.files),
        "rows": dict(ctx.rows),
        "bad_rows": ctx.bad_rows,
        "special_rows": ctx.special_rows,
    }
