"""The scenario generator: formats, determinism, the seed year's published figures built into the
source files, the bad-row sidecar, and the scale scenario's volume and speed.

The figures are recomputed here *straight from the written files* with a tiny independent reader
and the formulas of the spec's kpis.md — a check of the generator's data design, not of the
pipeline (the end-to-end test runs the real DAGs).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import re
import time
from collections import Counter, defaultdict
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from campus_logistics_tools.generate import generate

CANTEEN_HEADER = "流水号,卡号,身份,交易时间,商户名称,终端号,交易金额,交易类型,原流水号"
BAD_KINDS = {
    "canteen": {"unknown_outlet", "bad_amount", "amount_3_decimals", "bad_time", "time_after_file_day",
                "duplicate_row", "unknown_cardholder_type"},
    "meters": {"unknown_meter", "negative_delta", "hundredfold_jump", "bad_reading"},
    "work_orders": {"completed_before_created", "rating_out_of_range", "unknown_category"},
    "staff": {"unknown_unit"},
    "ledger": {"unknown_unit"},
}
MONEY = re.compile(r"^-?\d+\.\d{2}$")


@pytest.fixture(scope="module")
def seed(tmp_path_factory):
    out = tmp_path_factory.mktemp("seed") / "landing"
    t = time.perf_counter()
    summary = generate("seed", out)
    summary["_seconds"] = time.perf_counter() - t
    return out, summary


def read_csv(path: Path, encoding: str = "utf-8-sig") -> list[dict]:
    with open(path, encoding=encoding, newline="") as f:
        return list(csv.DictReader(f))


def units(landing: Path) -> set[str]:
    return {r["unit_code"] for r in read_csv(landing / "ref" / "sub_centres.csv")}


def days_2001():
    d = dt.date(2001, 1, 1)
    while d.year == 2001:
        yield d
        d += dt.timedelta(days=1)


# ----------------------------------------------------------------------------- layout, determinism


def test_seed_writes_a_complete_landing_directory(seed):
    landing, summary = seed
    for name in ("sub_centres", "outlets", "meters", "tariffs", "enrolment", "baselines", "utility_baseline",
                 "sla", "targets"):
        assert (landing / "ref" / f"{name}.csv").stat().st_size > 0
    for d in days_2001():
        assert (landing / "canteen" / f"canteen_{d:%Y%m%d}.csv").exists()
        assert (landing / "meters" / f"meters_{d:%Y%m%d}.csv").exists()
        assert (landing / "work_orders" / f"work_orders_{d:%Y%m%d}.json").exists()
    assert (landing / "meters" / "meters_20001231.csv").exists()
    for m in range(1, 13):
        assert (landing / "staff" / f"staff_2001{m:02d}.csv").exists()
        assert (landing / "ledger" / f"ledger_2001{m:02d}.csv").exists()
    assert sorted(p.name for p in (landing / "surveys").iterdir()) == ["survey_20010615.xlsx", "survey_20011214.xlsx"]
    assert summary["files"] == {"staff": 12, "meters": 366, "ref": 10, "canteen": 365, "ledger": 12,
                                "work_orders": 365, "surveys": 2}
    assert 700_000 < summary["rows"]["canteen"] < 1_000_000
    # nothing but the feed folders, ref/ and the sidecar folder
    assert {p.name for p in landing.iterdir()} == {"ref", "canteen", "meters", "work_orders", "surveys", "staff",
                                                   "ledger", "_scenario"}
    assert summary["_seconds"] < 30


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_seed_is_deterministic_byte_for_byte(seed, tmp_path):
    landing, summary = seed
    again = generate("seed", tmp_path / "again")
    a, b = _digests(landing), _digests(tmp_path / "again")
    assert a.keys() == b.keys()
    assert [k for k in a if a[k] != b[k]] == []
    assert again["bad_rows"] == summary["bad_rows"]


# ----------------------------------------------------------------------------- formats


def test_canteen_files_are_gb18030_with_the_export_header(seed):
    landing, _ = seed
    outlets = {r["outlet_name"] for r in read_csv(landing / "ref" / "outlets.csv")}
    raw = (landing / "canteen" / "canteen_20010306.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    text = raw.decode("gb18030")
    assert text.split("\r\n", 1)[0] == CANTEEN_HEADER
    # columns: 0 流水号 1 卡号 2 身份 3 交易时间 4 商户名称 5 终端号 6 交易金额 7 交易类型 8 原流水号
    sidecar = json.loads((landing / "_scenario" / "bad_rows.json").read_text())
    bad_keys = {b["key"] for b in sidecar}
    all_ids: list[int] = []
    per_day: dict[dt.date, int] = {}
    kinds: Counter = Counter()
    late = []
    prev_rows: dict[str, list] = {}
    time_re = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
    for d in days_2001():
        with open(landing / "canteen" / f"canteen_{d:%Y%m%d}.csv", encoding="gb18030", newline="") as f:
            reader = csv.reader(f)
            assert next(reader) == CANTEEN_HEADER.split(",")
            rows = list(reader)
        assert all(len(r) == 9 for r in rows)
        per_day[d] = len(rows)
        all_ids += [int(r[0]) for r in rows]
        here = {r[0]: r for r in rows}
        day = d.isoformat()
        for r in rows:
            kinds[r[7]] += 1
            if r[3][:10] < day and time_re.match(r[3]):
                # late transaction: yesterday's time in today's file, and not in yesterday's file
                late.append(r[0])
                assert r[0] not in prev_rows and r[3][:10] == (d - dt.timedelta(days=1)).isoformat()
            if r[0] in bad_keys:
                continue
            # every good row: known outlet and cardholder type, 2-decimal money, 8-digit card
            assert r[4] in outlets and r[2] in ("学生", "教职工", "其他"), r
            assert MONEY.match(r[6]) and len(r[1]) == 8 and r[1].isdigit(), r
            if r[7] in ("冲正", "退款"):
                # reversals and refunds point at an earlier purchase of this or the previous file
                o = here.get(r[8]) or prev_rows[r[8]]
                assert o[7] == "消费" and o[1] == r[1] and int(o[0]) < int(r[0])
                if r[7] == "冲正":
                    assert Decimal(r[6]) == -Decimal(o[6])
                else:
                    assert -Decimal(o[6]) <= Decimal(r[6]) < 0
            else:
                assert r[7] == "消费" and r[8] == ""
        prev_rows = here
    # 流水号 unique across all days, except the exact duplicate rows injected on purpose
    ids, counts = np.unique(np.array(all_ids), return_counts=True)
    assert sorted(str(i) for i in ids[counts > 1]) == sorted(b["key"] for b in sidecar if b["kind"] == "duplicate_row")
    # volumes: term weekdays 2,500–3,500 rows, holidays far fewer, never an empty file
    assert 2500 <= per_day[dt.date(2001, 3, 6)] <= 3500
    assert 2500 <= per_day[dt.date(2001, 11, 13)] <= 3500
    assert per_day[dt.date(2001, 2, 6)] < 800 and per_day[dt.date(2001, 8, 8)] < 800
    assert min(per_day.values()) > 50
    assert kinds["冲正"] > 500 and kinds["退款"] > 100
    assert 20 <= len(late) <= 80


def test_meters_work_orders_surveys_staff_ledger_parse_with_stdlib(seed):
    landing, _ = seed
    rows = read_csv(landing / "meters" / "meters_20010516.csv")
    assert list(rows[0]) == ["meter_id", "read_at", "reading", "status"]
    for r in rows:
        t = dt.datetime.fromisoformat(r["read_at"])
        assert t.utcoffset() == dt.timedelta(hours=8) and t.date() == dt.date(2001, 5, 16)
        assert r["status"] in ("ok", "estimated", "replaced")
    assert [r for r in rows if r["status"] == "replaced"][0]["meter_id"] == "E-011"

    recs = json.loads((landing / "work_orders" / "work_orders_20010605.json").read_text(encoding="utf-8"))
    assert recs and list(recs[0]) == ["order_id", "category", "unit_code", "building_code", "room", "created_at",
                                      "dispatched_at", "arrived_at", "completed_at", "status", "rating", "reopened",
                                      "updated_at"]
    for r in recs:
        assert dt.datetime.fromisoformat(r["updated_at"]).utcoffset() == dt.timedelta(hours=8)
        assert isinstance(r["reopened"], bool)

    from openpyxl import load_workbook

    wb = load_workbook(landing / "surveys" / "survey_20010615.xlsx", read_only=True)
    assert len(wb.sheetnames) == 1
    values = list(wb.active.values)
    zh = [r["name_zh"] for r in read_csv(landing / "ref" / "sub_centres.csv") if r["unit_code"] != "office"]
    assert list(values[0]) == ["序号", "提交答卷时间", "身份"] + zh
    scale = {"非常满意", "满意", "一般", "不满意", "非常不满意", None}
    for row in values[1:]:
        assert isinstance(row[1], dt.datetime) and row[1].date() <= dt.date(2001, 6, 15)
        assert row[2] in ("学生", "教职工") and set(row[3:]) <= scale

    raw = (landing / "staff" / "staff_200112.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    staff = read_csv(landing / "staff" / "staff_200112.csv")
    assert list(staff[0]) == ["month", "staff_id", "unit_code", "role", "origin", "payer", "monthly_cost_yuan"]
    ledger = read_csv(landing / "ledger" / "ledger_200105.csv")
    assert list(ledger[0]) == ["month", "unit_code", "entry_type", "category", "amount_yuan", "funding_source", "memo"]
    assert any("," in r["memo"] for r in ledger)  # RFC 4180 quoting exercised
    for r in staff + ledger:
        assert MONEY.match(r.get("monthly_cost_yuan") or r.get("amount_yuan"))


# ----------------------------------------------------------------------------- published figures


def test_staffing_figures(seed):
    landing, _ = seed
    known = units(landing)
    enrol = {r["month"]: int(r["students"]) for r in read_csv(landing / "ref" / "enrolment.csv")}
    base = {r["key"]: int(r["value"]) for r in read_csv(landing / "ref" / "baselines.csv")}
    transfer_cost = cook_cost = Decimal(0)
    for m in range(1, 13):
        rows = [r for r in read_csv(landing / "staff" / f"staff_2001{m:02d}.csv") if r["unit_code"] in known]
        transfer_cost += sum(Decimal(r["monthly_cost_yuan"]) for r in rows
                             if r["payer"] == "centre" and r["origin"] == "school_transfer")
        cook_cost += sum(Decimal(r["monthly_cost_yuan"]) for r in rows
                         if r["payer"] == "centre" and r["role"] == "cook" and r["origin"] != "school_transfer")
    dec = [r for r in read_csv(landing / "staff" / "staff_200112.csv") if r["unit_code"] in known]
    students = enrol["2001-12"]
    assert base["admin_staff_per_1000_students"] * (students // 1000) == 34
    assert students // base["students_per_cook"] == 42
    assert len({r["staff_id"] for r in dec if r["role"] == "management"}) == 12
    assert len({r["staff_id"] for r in dec if r["role"] == "cook" and r["payer"] == "centre"}) == 42
    jobs = [r for r in dec if r["unit_code"] != "office" and r["payer"] == "centre"]
    assert len({r["staff_id"] for r in jobs}) == 89
    assert len({r["staff_id"] for r in jobs if r["origin"] == "school_transfer"}) == 20
    assert len({r["staff_id"] for r in jobs if r["origin"] == "social_hire"}) == 69
    assert transfer_cost == Decimal("200000.00")
    assert cook_cost == Decimal("336000.00")
    assert any(r["payer"] == "school" and r["unit_code"] != "office" for r in dec)


def test_ledger_figures(seed):
    landing, _ = seed
    known = units(landing)
    social = cum_social = cum_all = Decimal(0)
    surplus = []
    for m in range(1, 13):
        rows = [r for r in read_csv(landing / "ledger" / f"ledger_2001{m:02d}.csv") if r["unit_code"] in known]
        amt = lambda et, src=None, rows=rows: sum((Decimal(r["amount_yuan"]) for r in rows if r["entry_type"] == et  # noqa: E731
                                        and (src is None or r["funding_source"] == src)), Decimal(0))
        social += amt("capital_in", "social")
        cum_social += amt("capital_in", "social")
        cum_all += amt("capital_in")
        if cum_all:
            assert cum_social / cum_all < Decimal("0.05")
        surplus.append(amt("revenue") - amt("cost"))
        assert all(Decimal(r["amount_yuan"]) > 0 for r in rows)
    assert social == Decimal("360000.00")
    assert abs(sum(surplus[:6]) - 70000) <= 700  # published "about 70,000" ±5%; built to ±1%
    assert sum(surplus) >= 150000


def test_survey_figure_utilities_exactly_0_935(seed):
    landing, _ = seed
    from openpyxl import load_workbook

    sat = answered = 0
    for f in sorted((landing / "surveys").glob("survey_2001*.xlsx")):
        values = list(load_workbook(f, read_only=True).active.values)
        col = list(values[0]).index("水电中心")
        cells = [r[col] for r in values[1:] if r[col] not in (None, "")]
        answered += len(cells)
        sat += sum(c in ("非常满意", "满意") for c in cells)
    assert Fraction(sat, answered) == Fraction(935, 1000)


def _meter_consumption(landing: Path):
    """Independent reading of sources.md: per meter and day, (last register − previous day's last)
    × multiplier; across a `replaced` reading, old meter's last delta + new register since its
    first reading. Rows of unknown meters and unparseable readings are skipped; a reading that
    goes backwards or jumps a hundredfold against the previous kept reading is skipped."""
    meters = {r["meter_id"]: r for r in read_csv(landing / "ref" / "meters.csv")}
    d = dt.date(2000, 12, 31)
    readings: dict[str, dict[dt.date, list]] = defaultdict(lambda: defaultdict(list))
    while d.year <= 2001:
        for r in read_csv(landing / "meters" / f"meters_{d:%Y%m%d}.csv"):
            if r["meter_id"] not in meters:
                continue
            try:
                v = Decimal(r["reading"])
            except Exception:
                continue
            t = dt.datetime.fromisoformat(r["read_at"])
            assert t.date() == d
            readings[r["meter_id"]][d].append((t, v, r["status"]))
        d += dt.timedelta(days=1)
    cons: dict[tuple[str, dt.date], Decimal] = {}
    skipped_last = 0
    for mid, by_day in readings.items():
        mult = Decimal(meters[mid]["multiplier"])
        prev_kept = None
        last_of = {}
        for day in sorted(by_day):
            kept = []
            for t, v, st in sorted(by_day[day]):
                if st != "replaced" and prev_kept is not None and (v < prev_kept or v > 10 * max(prev_kept, 1)):
                    if (t, v, st) == max(by_day[day]):
                        skipped_last += 1
                    continue
                kept.append((t, v, st))
                prev_kept = v
            if not kept:
                continue
            last_of[day] = kept
        for day, kept in last_of.items():
            prev = last_of.get(day - dt.timedelta(days=1))
            if prev is None or day.year != 2001:
                continue
            rep = [i for i, k in enumerate(kept) if k[2] == "replaced"]
            if rep:
                i = rep[0]
                old_last = kept[i - 1][1] if i > 0 else prev[-1][1]
                c = (old_last - prev[-1][1]) + (kept[-1][1] - kept[i][1])
            else:
                c = kept[-1][1] - prev[-1][1]
            assert c >= 0, (mid, day)
            cons[(mid, day)] = c * mult
    return meters, cons, skipped_last


def test_utilities_figures(seed):
    landing, _ = seed
    meters, cons, skipped_last = _meter_consumption(landing)
    assert skipped_last == 0  # injected bad readings are never a day's last reading
    assert 30 <= len(meters) <= 40
    tariffs = defaultdict(list)
    for r in read_csv(landing / "ref" / "tariffs.csv"):
        tariffs[r["utility"]].append((dt.date.fromisoformat(r["effective_from"]), Decimal(r["yuan_per_unit"])))

    def price(u, day):
        return max((t for t in tariffs[u] if t[0] <= day), key=lambda t: t[0])[1]

    assert price("electricity", dt.date(2001, 6, 30)) != price("electricity", dt.date(2001, 7, 1))
    baseline = {(r["utility"], int(r["month_of_year"])): Decimal(r["quantity"])
                for r in read_csv(landing / "ref" / "utility_baseline.csv")}
    school = defaultdict(Decimal)
    recovered = Decimal(0)
    for (mid, day), c in cons.items():
        m = meters[mid]
        if m["payer"] == "school":
            school[(m["utility"], day.month)] += c
        else:
            recovered += c * price(m["utility"], day)
    conservation = sum((baseline[(u, mo)] - school[(u, mo)]) * price(u, dt.date(2001, mo, 1))
                       for u in ("electricity", "water") for mo in range(1, 13))
    assert abs(conservation - 30000) / 30000 < Decimal("0.003"), conservation
    assert abs(recovered - 40000) / 40000 < Decimal("0.003"), recovered
    assert abs(conservation + recovered - 70000) / 70000 < Decimal("0.003")
    # every meter reports hourly or daily on (nearly) every day
    assert sum(1 for (mid, day) in cons if day == dt.date(2001, 3, 1)) == len(meters)


def test_work_orders_are_a_realistic_ticket_stream(seed):
    landing, _ = seed
    sla = {r["category"]: (int(r["respond_within_min"]), int(r["complete_within_h"]))
           for r in read_csv(landing / "ref" / "sla.csv")}
    assert set(sla) == {"电路", "给排水", "灯具", "门窗", "家具", "保洁", "其他"}
    bad = {(b["file"], b["key"]) for b in json.loads((landing / "_scenario" / "bad_rows.json").read_text())}
    latest: dict[str, dict] = {}
    seen = Counter()
    for d in days_2001():
        name = f"work_orders/work_orders_{d:%Y%m%d}.json"
        for r in json.loads((landing / name).read_text(encoding="utf-8")):
            seen[r["order_id"]] += 1
            assert r["status"] in ("open", "dispatched", "in_progress", "completed", "closed", "cancelled")
            if (name, r["order_id"]) in bad:
                continue
            assert r["category"] in sla and r["rating"] in (None, 1, 2, 3, 4, 5)
            if r["completed_at"]:
                assert r["completed_at"] >= r["created_at"]
            old = latest.get(r["order_id"])
            if old is None or r["updated_at"] >= old["updated_at"]:
                latest[r["order_id"]] = r
    assert max(seen.values()) >= 3 and 1200 < len(seen) < 2500
    done = [r for r in latest.values() if r["status"] in ("completed", "closed") and r["completed_at"]]
    util = [r for r in done if r["unit_code"] == "utilities"]
    on_time = sum(dt.datetime.fromisoformat(r["completed_at"]) - dt.datetime.fromisoformat(r["created_at"])
                  <= dt.timedelta(hours=sla[r["category"]][1]) for r in util)
    assert 0.93 <= on_time / len(util) <= 0.99
    assert any(r["status"] == "cancelled" for r in latest.values())
    assert any(r["reopened"] for r in latest.values())
    assert {r["unit_code"] for r in latest.values()} == {"utilities", "apartments", "property"}


# ----------------------------------------------------------------------------- bad rows


def test_bad_rows_sidecar_lists_every_kind_and_points_at_the_rows(seed):
    landing, summary = seed
    side = json.loads((landing / "_scenario" / "bad_rows.json").read_text(encoding="utf-8"))
    assert side == summary["bad_rows"]
    kinds = defaultdict(set)
    for b in side:
        kinds[b["feed"]].add(b["kind"])
        assert (landing / b["file"]).exists()
        assert b["expect"] == ("collapse" if b["kind"] == "duplicate_row" else "quarantine")
    assert dict(kinds) == BAD_KINDS
    per_feed = Counter(b["feed"] for b in side)
    assert all(n <= 40 for n in per_feed.values()), per_feed
    for b in side:
        path = landing / b["file"]
        if b["feed"] == "canteen":
            with open(path, encoding="gb18030", newline="") as f:
                row = list(csv.DictReader(f))[b["row"] - 1]
            assert row["流水号"] == b["key"]
        elif b["feed"] == "meters":
            row = read_csv(path)[b["row"] - 1]
            assert f"{row['meter_id']}@{row['read_at']}" == b["key"]
        elif b["feed"] == "work_orders":
            assert json.loads(path.read_text(encoding="utf-8"))[b["row"] - 1]["order_id"] == b["key"]
        elif b["feed"] == "staff":
            row = read_csv(path)[b["row"] - 1]
            assert row["staff_id"] == b["key"] and row["unit_code"] not in units(landing)
        else:
            assert read_csv(path)[b["row"] - 1]["unit_code"] not in units(landing)


# ----------------------------------------------------------------------------- scale


def test_scale_mode_writes_proportional_volume(tmp_path):
    s = generate("scale", tmp_path / "scale", scale=4000, days=2, start=dt.date(2024, 9, 6))  # Fri + Sat
    out = tmp_path / "scale"
    fri = (out / "canteen" / "canteen_20240906.csv").read_bytes().decode("gb18030").splitlines()
    sat = (out / "canteen" / "canteen_20240907.csv").read_bytes().decode("gb18030").splitlines()
    assert fri[0] == CANTEEN_HEADER
    assert 10_000 <= len(fri) - 1 <= 10_100 and 8_000 <= len(sat) - 1 <= 8_080
    meters = read_csv(out / "ref" / "meters.csv")
    assert len(meters) == 4000 // 15
    assert sorted(p.name for p in (out / "meters").iterdir()) == ["meters_20240905.csv", "meters_20240906.csv",
                                                                   "meters_20240907.csv"]
    rows = read_csv(out / "meters" / "meters_20240906.csv")
    assert 0.9 * 24 * len(meters) < len(rows) <= 24 * len(meters)
    tickets = json.loads((out / "work_orders" / "work_orders_20240906.json").read_text(encoding="utf-8"))
    assert 3 <= len(tickets) <= 25
    assert (out / "staff" / "staff_202409.csv").exists() and (out / "ledger" / "ledger_202409.csv").exists()
    assert (out / "surveys" / "survey_20240907.xlsx").exists()
    assert s["rows"]["canteen"] == len(fri) + len(sat) - 2
    again = generate("scale", tmp_path / "again", scale=4000, days=2, start=dt.date(2024, 9, 6))
    assert _digests(out) == _digests(tmp_path / "again") and again["rows"] == s["rows"]


def test_scale_canteen_day_of_100k_rows_is_fast(tmp_path):
    from campus_logistics_tools.generate import common, scale, writers

    n = 40_000
    cards = common.CardBook.build(common.rng_for(1, 1, n, 0), n, n // 7, n // 100)
    outlets = scale.outlet_model(n)
    t = time.perf_counter()
    import numpy as np

    cd = common.canteen_day(common.rng_for(1, 1, n, 1), 100_000, cards, outlets, False)
    table = common.canteen_table(dt.date(2024, 9, 2), cd, 1 + np.arange(len(cd)), cards, outlets)
    writers.write_canteen(tmp_path / "canteen_20240902.csv", table)
    elapsed = time.perf_counter() - t
    assert elapsed < 2.0, elapsed
    assert 100_000 < table.num_rows < 101_000


def test_weather_and_enrolment_baseline_reference_data(seed):
    """The optional inputs of the normalised utilities savings: 1,000 baseline students, baseline year
    2000, and a daily mean temperature for every day of 2000 (leap year, 366) and 2001 (365)."""
    landing, _ = seed
    base = {r["key"]: r["value"] for r in read_csv(landing / "ref" / "baselines.csv")}
    assert (base["utility_baseline_students"], base["utility_baseline_year"]) == ("1000", "2000")
    temps = {dt.date.fromisoformat(r["date"]): Decimal(r["mean_temp_c"])
             for r in read_csv(landing / "ref" / "temperature.csv")}
    assert len(temps) == 366 + 365 and min(temps) == dt.date(2000, 1, 1) and max(temps) == dt.date(2001, 12, 31)
    assert all(-60 <= t <= 60 for t in temps.values())
    january = [t for d, t in temps.items() if d.month == 1]
    july = [t for d, t in temps.items() if d.month == 7]
    assert sum(july) / len(july) - sum(january) / len(january) > 15  # a seasonal climate, summer warmer
