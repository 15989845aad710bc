"""The scale scenario: a large university's volume, for performance and backfill tests.

``generate_scale(out, students=40_000, days=1, start=2024-09-02)`` writes the same landing-zone
formats as the seed year with volumes proportional to ``students``:

* canteen: 2.5 purchases per student per term weekday (×0.8 at weekends, ×0.15 in holidays),
  plus ≈0.3% reversals and ≈0.08% refunds → 100,000 purchases a day at 40,000 students;
* meters: one per 15 students (70% electricity, 30% water), hourly readings at HH:00 (5% of the
  meters read daily at 08:00), files from the day before ``start`` so the first day has a
  previous reading;
* work orders: ≈1 new ticket per 400 students a day, with their life cycle;
* surveys: one wave on the last day, one respondent per 50 students;
* staff and ledger: every month the days touch.

No bad rows are injected (``bad_rows`` is empty): this scenario measures throughput.
Everything is vectorised with numpy/pyarrow; generation is deterministic.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa

from . import writers
from .common import (
    CENTRE_UNITS, FEED_KEYS, HOUR_SHAPE, SEASON, SLA, UNIT_NAME_ZH, UNITS, CardBook, OutletModel,
    canteen_day, canteen_table, day_factor, day_kind, fen_array_to_pa, fen_str,
    month_start, months_covering, rng_for, simulate_tickets,
)

SCEN = 1
DEFAULT_STUDENTS = 40_000
DEFAULT_DAYS = 1
DEFAULT_START = dt.date(2024, 9, 2)

_CN_DIGITS = "零一二三四五六七八九"


def cn_number(k: int) -> str:
    """1..999 in Chinese numerals (第十二食堂, 第一百零五食堂)."""
    if k >= 100:
        h, rest = divmod(k, 100)
        if rest == 0:
            return _CN_DIGITS[h] + "百"
        return _CN_DIGITS[h] + "百" + ("零" + _CN_DIGITS[rest] if rest < 10 else
                                       ("一" if rest < 20 else "") + cn_number(rest))
    if k < 10:
        return _CN_DIGITS[k]
    tens, ones = divmod(k, 10)
    return ("" if tens == 1 else _CN_DIGITS[tens]) + "十" + ("" if ones == 0 else _CN_DIGITS[ones])


# outlet kind -> weights[group][period] (group 0 students/other, 1 staff), windows, price multiplier
_KIND_W = {
    "canteen": ([[.80, .72, .70, 0.0], [.35, .25, .30, 0.0]], 12, 1.0),
    "halal": ([[.06, .07, .07, 0.0], [.05, .05, .05, 0.0]], 4, 1.1),
    "staff": ([[.01, .02, .02, 0.0], [.50, .60, .55, 0.0]], 4, 1.6),
    "snack": ([[.00, .12, .13, .55], [.00, .07, .07, .50]], 3, 1.2),
    "kiosk": ([[.13, .07, .08, .45], [.10, .03, .03, .50]], 2, 0.9),
}


def outlet_model(students: int) -> OutletModel:
    n_canteen = max(2, round(students / 3000))
    n_snack = max(1, round(students / 10000))
    n_kiosk = max(1, round(students / 8000))
    spec: list[tuple[str, str, str, str]] = []  # name, code, operator, kind
    for k in range(1, n_canteen + 1):
        spec.append((f"第{cn_number(k)}食堂", f"C{k:02d}", "centre", "canteen"))
    spec.append(("清真食堂", f"C{n_canteen + 1:02d}", "centre", "halal"))
    spec.append(("教工餐厅", f"C{n_canteen + 2:02d}", "centre", "staff"))
    for k in range(1, n_snack + 1):
        spec.append((f"风味小吃部{cn_number(k)}部", f"C{n_canteen + 2 + k:02d}", "centre", "snack"))
    for k in range(1, n_kiosk + 1):
        spec.append((f"学苑小卖部{k}号店", f"K{k:02d}", "tenant", "kiosk"))
    counts = defaultdict(int)
    for s in spec:
        counts[s[3]] += 1
    weights = np.zeros((2, 4, len(spec)))
    for j, s in enumerate(spec):
        weights[:, :, j] = np.array(_KIND_W[s[3]][0]) / counts[s[3]]
    windows = np.array([_KIND_W[s[3]][1] for s in spec])
    mult = np.array([_KIND_W[s[3]][2] for s in spec])
    return OutletModel([s[0] for s in spec], [s[1] for s in spec], [s[2] for s in spec], windows, mult, weights)


# building type -> (share of meters, payer, electricity kWh/day, water m3/day)
_METER_MIX = [
    ("dormitory", 0.45, "school", 60.0, 9.0),
    ("teaching", 0.15, "school", 150.0, 4.0),
    ("laboratory", 0.10, "school", 120.0, 3.0),
    ("office", 0.08, "school", 60.0, 1.5),
    ("library", 0.02, "school", 200.0, 4.0),
    ("sports", 0.02, "school", 80.0, 5.0),
    ("canteen", 0.06, "catering", 90.0, 8.0),
    ("shop", 0.04, "tenant", 20.0, 0.5),
    ("guesthouse", 0.02, "guesthouse", 50.0, 4.0),
    ("laundry", 0.02, "laundry", 40.0, 8.0),
    ("bathhouse", 0.02, "bathhouse", 50.0, 15.0),
    ("printing", 0.01, "printing", 20.0, 0.3),
    ("warehouse", 0.01, "supplies", 10.0, 0.2),
]
_BUILDING_PREFIX = {"dormitory": "D", "teaching": "T", "laboratory": "L", "office": "A", "library": "LB",
                    "sports": "G", "canteen": "CN", "shop": "S", "guesthouse": "GH", "laundry": "LD",
                    "bathhouse": "B", "printing": "P", "warehouse": "W"}
METERS_PER_BUILDING = 6


class MeterFleet:
    def __init__(self, students: int):
        n = max(len(_METER_MIX) * 2, students // 15)
        rng = rng_for(SCEN, FEED_KEYS["meters"], students, 0)
        shares = np.array([m[1] for m in _METER_MIX])
        types = np.repeat(np.arange(len(_METER_MIX)), np.maximum(1, np.floor(shares * n).astype(int)))
        types = np.concatenate([types, np.zeros(max(0, n - len(types)), int)])[:n]
        is_water = rng.random(n) < 0.30
        order = np.lexsort((types, is_water))  # electricity first, then water; ids ascending
        types, is_water = types[order], is_water[order]
        self.n = n
        self.type_idx = types
        self.utility = np.where(is_water, "water", "electricity")
        e_ids = [f"E-{k:05d}" for k in range(1, int((~is_water).sum()) + 1)]
        w_ids = [f"W-{k:05d}" for k in range(1, int(is_water.sum()) + 1)]
        self.ids = e_ids + w_ids
        self.btype = [_METER_MIX[t][0] for t in types]
        self.payer = [_METER_MIX[t][2] for t in types]
        seq = defaultdict(int)
        codes = []
        for bt in self.btype:
            codes.append(f"{_BUILDING_PREFIX[bt]}{seq[bt] // METERS_PER_BUILDING + 1:03d}")
            seq[bt] += 1
        self.building = codes
        mult = np.ones(n, np.int64)
        big = (~is_water) & (rng.random(n) < 0.2)
        mult[big] = rng.choice([10, 20, 40], size=int(big.sum()))
        self.mult = mult
        base = np.array([_METER_MIX[t][4] if w else _METER_MIX[t][3] for t, w in zip(types, is_water)])
        self.per_day = base * rng.lognormal(0, 0.3, n)
        self.daily = rng.random(n) < 0.05
        self.state = rng.integers(100_000, 6_000_000, n).astype(np.int64)  # register, centi raw units
        self.shape = np.stack([HOUR_SHAPE[bt] for bt in [m[0] for m in _METER_MIX]])
        self.id_arr = pa.array(self.ids)

    def ref_rows(self) -> list[tuple]:
        return [(self.ids[i], self.utility[i], self.building[i], self.btype[i], self.payer[i], int(self.mult[i]))
                for i in range(self.n)]

    def day_table(self, d: dt.date) -> pa.Table:
        rng = rng_for(SCEN, FEED_KEYS["meters"], self.n, d.toordinal())
        fac = np.array([day_factor(m[0], d) for m in _METER_MIX])[self.type_idx]
        season = np.where(self.utility == "water", SEASON["water"][d.month - 1], SEASON["electricity"][d.month - 1])
        daily = self.per_day * fac * season * np.exp(0.06 * rng.standard_normal(self.n))
        hourly = daily[:, None] * self.shape[self.type_idx] * np.exp(0.12 * rng.standard_normal((self.n, 24)))
        inc = np.rint(hourly / self.mult[:, None] * 100).astype(np.int64)
        cum = np.cumsum(inc, axis=1)
        reg = self.state[:, None] + np.concatenate([np.zeros((self.n, 1), np.int64), cum[:, :-1]], axis=1)
        self.state = self.state + cum[:, -1]
        present = np.ones((self.n, 24), bool)
        present[self.daily] = False
        present[self.daily, 8] = True
        mi, hi = np.nonzero(present)
        status = np.where(rng.random(len(mi)) < 0.001, 1, 0)
        hours = pa.array([f"{d.isoformat()}T{h:02d}:00:00+08:00" for h in range(24)])
        return pa.table({
            "meter_id": self.id_arr.take(pa.array(mi)),
            "read_at": hours.take(pa.array(hi)),
            "reading": fen_array_to_pa(reg[mi, hi]),
            "status": pa.array(["ok", "estimated"]).take(pa.array(status)),
        })

    def baseline(self) -> list[tuple[str, int, int]]:
        rows = []
        school = np.array([p == "school" for p in self.payer])
        for u in ("electricity", "water"):
            per_day = self.per_day[school & (self.utility == u)].sum()
            for mo in range(1, 13):
                days = [dt.date(2023, mo, 1) + dt.timedelta(days=i) for i in range(28)]
                avg = np.mean([day_factor("teaching", x) * 0.5 + day_factor("dormitory", x) * 0.5 for x in days])
                q = per_day * avg * SEASON[u][mo - 1] * 30.4 * 1.04
                rows.append((u, mo, int(round(q))))
        return rows


# seed roster composition: (unit, role, origin, payer, headcount at 2,100 students, 2001 monthly cost)
_ROSTER = [
    ("office", "management", "school_establishment", "school", 7, 1600),
    ("catering", "management", "school_transfer", "centre", 1, 1000),
    ("utilities", "management", "school_transfer", "centre", 1, 1000),
    ("apartments", "management", "school_transfer", "centre", 1, 1000),
    ("property", "management", "school_transfer", "centre", 1, 1000),
    ("supplies", "management", "school_transfer", "centre", 1, 1000),
    ("utilities", "technician", "school_transfer", "centre", 4, 830),
    ("printing", "service", "school_transfer", "centre", 2, 750),
    ("supplies", "service", "school_transfer", "centre", 2, 740),
    ("apartments", "service", "school_transfer", "centre", 3, 720),
    ("laundry", "service", "school_transfer", "centre", 1, 700),
    ("guesthouse", "service", "school_transfer", "centre", 2, 750),
    ("bathhouse", "technician", "school_transfer", "centre", 1, 780),
    ("catering", "cook", "social_hire", "centre", 42, 667),
    ("catering", "service", "social_hire", "centre", 6, 600),
    ("apartments", "service", "social_hire", "centre", 8, 600),
    ("property", "service", "social_hire", "centre", 7, 600),
    ("laundry", "service", "social_hire", "centre", 2, 600),
    ("guesthouse", "service", "social_hire", "centre", 2, 600),
    ("bathhouse", "service", "social_hire", "centre", 2, 600),
    ("utilities", "technician", "school_establishment", "school", 2, 1400),
    ("printing", "technician", "school_establishment", "school", 1, 1300),
]
PRICE_LEVEL = 6  # 2001 yuan -> today's yuan, roughly


def roster(students: int) -> list[tuple[str, str, str, str, str, int]]:
    rng = rng_for(SCEN, FEED_KEYS["staff"], students)
    k = students / 2100
    people = []
    seq = 0
    for unit, role, origin, payer, count, cost in _ROSTER:
        for _ in range(max(1, round(count * k))):
            seq += 1
            fen = int(round(cost * PRICE_LEVEL * (1 + 0.08 * rng.standard_normal()))) * 100
            people.append((f"{'JG' if unit == 'office' else 'ZX'}{seq:06d}", unit, role, origin, payer, fen))
    return people


def generate_scale(out: Path, students: int | None = None, days: int | None = None,
                   start: dt.date | None = None) -> dict:
    out = Path(out)
    students = int(students or DEFAULT_STUDENTS)
    n_days = int(days or DEFAULT_DAYS)
    start = start or DEFAULT_START
    if students < 100 or n_days < 1:
        raise ValueError("scale scenario needs scale >= 100 students and days >= 1")
    day_list = [start + dt.timedelta(days=i) for i in range(n_days)]
    end = day_list[-1]
    files: dict[str, int] = defaultdict(int)
    rows: dict[str, int] = defaultdict(int)

    def wrote(feed: str, n: int) -> None:
        files[feed] += 1
        rows[feed] += n

    # ---- ref
    ref = out / "ref"
    outlets = outlet_model(students)
    fleet = MeterFleet(students)
    wrote("ref", writers.write_ref(ref / "sub_centres.csv", ["unit_code", "name_zh", "name_en", "reform_stage", "stage_since"],
                                   [(u, zh, en, "big_entity", "2000-07-01") for u, zh, en in UNITS]))
    wrote("ref", writers.write_ref(ref / "outlets.csv", ["outlet_name", "outlet_code", "unit_code", "operator"],
                                   [(n, c, "catering", op) for n, c, op in zip(outlets.names, outlets.codes, outlets.operator)]))
    wrote("ref", writers.write_ref(ref / "meters.csv", ["meter_id", "utility", "building_code", "building_type", "payer", "multiplier"],
                                   fleet.ref_rows()))
    tariff_change = month_start(start)
    wrote("ref", writers.write_ref(ref / "tariffs.csv", ["utility", "effective_from", "yuan_per_unit"], [
        ("electricity", "1998-01-01", "0.55"), ("electricity", tariff_change.isoformat(), "0.62"),
        ("water", "1998-01-01", "2.80"), ("water", tariff_change.isoformat(), "3.50")]))
    first_month = month_start(start - dt.timedelta(days=1))
    wrote("ref", writers.write_ref(ref / "enrolment.csv", ["month", "students"],
                                   [(f"{m:%Y-%m}", students) for m in months_covering(first_month, end)]))
    wrote("ref", writers.write_ref(ref / "baselines.csv", ["key", "value", "note"], [
        ("admin_staff_per_1000_students", 17, "计划经济时期定编：每千名学生配备管理人员17人"),
        ("students_per_cook", 50, "炊事员定编：每50名学生配备炊事员1人")]))
    wrote("ref", writers.write_ref(ref / "utility_baseline.csv", ["utility", "month_of_year", "quantity"], fleet.baseline()))
    wrote("ref", writers.write_ref(ref / "sla.csv", ["category", "respond_within_min", "complete_within_h"],
                                   [(c, r, h) for c, (r, h) in SLA.items()]))
    wrote("ref", writers.write_ref(ref / "targets.csv", ["kpi_code", "unit_code", "bound", "value"], [
        ("satisfaction_rate", "utilities", "min", "0.90"), ("repair_on_time_rate", "utilities", "min", "0.95")]))

    # ---- canteen
    cards = CardBook.build(rng_for(SCEN, FEED_KEYS["canteen"], students, 0), students, max(1, students // 7),
                           max(1, students // 100))
    serial = 1_000_000_001
    for d in day_list:
        rng = rng_for(SCEN, FEED_KEYS["canteen"], students, d.toordinal())
        kind = day_kind(d)
        f = 0.15 if kind.holiday else (0.8 if d.weekday() >= 5 else 1.0)
        cd = canteen_day(rng, round(2.5 * students * f), cards, outlets, kind.holiday)
        s = serial + np.arange(len(cd), dtype=np.int64)
        serial += len(cd)
        wrote("canteen", writers.write_canteen(out / "canteen" / f"canteen_{d:%Y%m%d}.csv",
                                               canteen_table(d, cd, s, cards, outlets)))

    # ---- meters (from the day before start)
    for d in [start - dt.timedelta(days=1)] + day_list:
        wrote("meters", writers.write_meters(out / "meters" / f"meters_{d:%Y%m%d}.csv", fleet.day_table(d)))

    # ---- work orders
    buildings = list(dict.fromkeys(zip(fleet.building, fleet.btype)))
    tickets = simulate_tickets(rng_for(SCEN, FEED_KEYS["work_orders"], students), day_list, students / 400, buildings)
    by_day: dict[dt.date, list[dict]] = defaultdict(list)
    for t in tickets:
        for d, snap in t.snapshots(start, end):
            by_day[d].append(snap)
    for d in day_list:
        wrote("work_orders", writers.write_work_orders(out / "work_orders" / f"work_orders_{d:%Y%m%d}.json",
                                                       sorted(by_day[d], key=lambda r: r["order_id"])))

    # ---- survey: one wave on the last day
    from .seed import survey_rows

    header = ["序号", "提交答卷时间", "身份"] + [UNIT_NAME_ZH[u] for u in CENTRE_UNITS]
    n_resp = max(50, students // 50)
    srows = survey_rows(rng_for(SCEN, FEED_KEYS["surveys"], students, end.toordinal()), end,
                        int(n_resp * 0.85), n_resp - int(n_resp * 0.85), None)
    wrote("surveys", writers.write_xlsx(out / "surveys" / f"survey_{end:%Y%m%d}.xlsx", "Sheet1", header, srows,
                                        dt.datetime.combine(end, dt.time(23))))

    # ---- staff and ledger for every month touched
    people = roster(students)
    k = students / 2100 * PRICE_LEVEL
    lrng = rng_for(SCEN, FEED_KEYS["ledger"], students)
    for m in months_covering(start, end):
        month = f"{m:%Y-%m}"
        wrote("staff", writers.write_staff(out / "staff" / f"staff_{m:%Y%m}.csv",
                                           [(month, sid, u, r, o, p, fen_str(c)) for sid, u, r, o, p, c in people]))
        personnel = defaultdict(int)
        for _, u, _, _, p, c in people:
            if p == "centre":
                personnel[u] += c
        lrows = []
        for u in CENTRE_UNITS:
            rev = int(round(float(lrng.uniform(20_000, 60_000)) * k * (2 if u == "catering" else 1))) * 100
            lrows.append((month, u, "revenue", "sales" if u != "catering" else "meal_sales", fen_str(rev), "centre", "营业收入"))
            lrows.append((month, u, "cost", "personnel", fen_str(personnel[u]), "centre", "人员工资及社保"))
            mat = max(0, int(rev * float(lrng.uniform(0.55, 0.8))) - personnel[u] // 4)
            lrows.append((month, u, "cost", "materials", fen_str(mat), "centre", "材料及商品成本"))
        lrows.append((month, "catering", "capital_in", "investment", fen_str(int(50_000 * k) * 100), "social", "引入社会资金"))
        lrows.append((month, "apartments", "capital_in", "school_grant", fen_str(int(2_000_000 * k) * 100), "school", "学校拨款"))
        wrote("ledger", writers.write_ledger(out / "ledger" / f"ledger_{m:%Y%m}.csv", lrows))

    writers.write_json(out / "_scenario" / "bad_rows.json", [])
    return {
        "scenario": "scale",
        "out": str(out),
        "students": students,
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "files": dict(files),
        "rows": dict(rows),
        "bad_rows": [],
    }
