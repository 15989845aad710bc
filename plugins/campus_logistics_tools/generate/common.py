"""Shared model of the scenario generator: the organisation, the calendar and the vectorised
per-day generators used by both the seed year and the scale scenario.

Nothing here computes a KPI: these functions only produce *source rows* in the landing-zone
shape of the spec's ``sources.md``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# --------------------------------------------------------------------------- organisation

#: (unit_code, name_zh, name_en) — the nine sub-centres of domain.md plus the office.
UNITS: list[tuple[str, str, str]] = [
    ("office", "后勤管理处", "Logistics Management Office"),
    ("catering", "饮食服务中心", "Catering Service Centre"),
    ("printing", "文印中心", "Printing and Copying Centre"),
    ("utilities", "水电中心", "Water and Power Centre"),
    ("supplies", "物资供应中心", "Supplies Centre"),
    ("apartments", "学生公寓管理中心", "Student Apartments Centre"),
    ("property", "物业中心", "Property Management Centre"),
    ("laundry", "洗涤中心", "Laundry Centre"),
    ("guesthouse", "招待所", "Guesthouse"),
    ("bathhouse", "浴室热水供应", "Bathhouse and Hot Water"),
]
CENTRE_UNITS: list[str] = [u for u, _, _ in UNITS if u != "office"]
UNIT_NAME_ZH: dict[str, str] = {u: zh for u, zh, _ in UNITS}

#: category -> (respond_within_min, complete_within_h)   (ref/sla.csv)
SLA: dict[str, tuple[int, int]] = {
    "电路": (30, 4),
    "给排水": (30, 4),
    "灯具": (60, 24),
    "门窗": (120, 48),
    "家具": (120, 48),
    "保洁": (60, 8),
    "其他": (240, 72),
}

SURVEY_SCALE = ["非常满意", "满意", "一般", "不满意", "非常不满意"]

CANTEEN_HEADER = ["流水号", "卡号", "身份", "交易时间", "商户名称", "终端号", "交易金额", "交易类型", "原流水号"]
CARD_KINDS = ["学生", "教职工", "其他"]
TX_TYPES = ["消费", "冲正", "退款"]
METER_HEADER = ["meter_id", "read_at", "reading", "status"]
STAFF_HEADER = ["month", "staff_id", "unit_code", "role", "origin", "payer", "monthly_cost_yuan"]
LEDGER_HEADER = ["month", "unit_code", "entry_type", "category", "amount_yuan", "funding_source", "memo"]
WORK_ORDER_FIELDS = [
    "order_id", "category", "unit_code", "building_code", "room", "created_at", "dispatched_at",
    "arrived_at", "completed_at", "status", "rating", "reopened", "updated_at",
]
TZ_SUFFIX = "+08:00"

BASE_SEED = 20010701  # the reform launched in July 2000; fixed so every run writes the same bytes


def rng_for(*keys: int) -> np.random.Generator:
    """An independent, reproducible stream per (scenario, feed, day...) key."""
    return np.random.default_rng([BASE_SEED, *[int(k) for k in keys]])


FEED_KEYS = {"canteen": 1, "meters": 2, "work_orders": 3, "surveys": 4, "staff": 5, "ledger": 6, "ref": 7}


# --------------------------------------------------------------------------- money / formatting


def fen_str(fen: int) -> str:
    """Integer fen -> yuan text with exactly two decimals (no float anywhere)."""
    sign = "-" if fen < 0 else ""
    a = abs(int(fen))
    return f"{sign}{a // 100}.{a % 100:02d}"


def fen_array_to_pa(fen: np.ndarray) -> pa.Array:
    """Vectorised integer fen -> pyarrow string array ``-12.30`` (via decimal128, no float)."""
    fen = np.ascontiguousarray(fen, dtype=np.int64)
    n = len(fen)
    buf = np.empty((n, 2), dtype=np.int64)
    buf[:, 0] = fen
    buf[:, 1] = fen >> 63  # sign-extend into the high 64 bits of the int128
    dec = pa.Array.from_buffers(pa.decimal128(18, 2), n, [None, pa.py_buffer(buf)])
    return dec.cast(pa.string())


_HMS: pa.Array | None = None


def hms_table() -> pa.Array:
    """86,400 strings ``HH:MM:SS`` indexed by second of day."""
    global _HMS
    if _HMS is None:
        s = np.arange(86400)
        hh = np.char.zfill((s // 3600).astype(str), 2)
        mm = np.char.zfill((s // 60 % 60).astype(str), 2)
        ss = np.char.zfill((s % 60).astype(str), 2)
        _HMS = pa.array(np.strings.add(np.strings.add(np.strings.add(hh, ":"), np.strings.add(mm, ":")), ss))
    return _HMS


def iso_local(ts: dt.datetime | None) -> str | None:
    """Naive local (Asia/Shanghai) datetime -> ISO-8601 with +08:00 offset, seconds precision."""
    if ts is None:
        return None
    return ts.strftime("%Y-%m-%dT%H:%M:%S") + TZ_SUFFIX


# --------------------------------------------------------------------------- calendar


@dataclass(frozen=True)
class DayKind:
    kind: str  # term | weekend | golden_week | winter | spring_festival | summer
    holiday: bool


def day_kind(d: dt.date) -> DayKind:
    """Academic calendar of a Chinese college (2001 dates; generic rules for other years)."""
    md = (d.month, d.day)
    if d.year == 2001:
        if dt.date(2001, 1, 22) <= d <= dt.date(2001, 1, 28):
            return DayKind("spring_festival", True)
        if dt.date(2001, 1, 13) <= d <= dt.date(2001, 2, 25):
            return DayKind("winter", True)
        if dt.date(2001, 7, 14) <= d <= dt.date(2001, 8, 31):
            return DayKind("summer", True)
    else:
        if (1, 15) <= md <= (2, 25):
            return DayKind("winter", True)
        if (7, 15) <= md <= (8, 31):
            return DayKind("summer", True)
    if (5, 1) <= md <= (5, 7) or (10, 1) <= md <= (10, 7):
        return DayKind("golden_week", False)
    if d.weekday() >= 5:
        return DayKind("weekend", False)
    return DayKind("term", False)


def month_start(d: dt.date) -> dt.date:
    return d.replace(day=1)


def months_covering(start: dt.date, end: dt.date) -> list[dt.date]:
    out, m = [], month_start(start)
    while m <= end:
        out.append(m)
        m = (m.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return out


# --------------------------------------------------------------------------- canteen model

PERIODS = ["breakfast", "lunch", "dinner", "night"]
# seconds of day: (peak, sd, lo, hi) — inside kpis.md's meal windows (<10, 10–14, 14–20, ≥20)
PERIOD_TIME = [
    (7 * 3600 + 10 * 60, 30 * 60, 6 * 3600 + 30 * 60, 10 * 3600 - 1),
    (12 * 3600, 25 * 60, 10 * 3600 + 30 * 60, 14 * 3600 - 1),
    (17 * 3600 + 45 * 60, 35 * 60, 16 * 3600 + 30 * 60, 20 * 3600 - 1),
    (21 * 3600, 40 * 60, 20 * 3600, 23 * 3600),
]
# P(period | card kind): student, staff, other
PERIOD_P = np.array([
    [0.30, 0.40, 0.26, 0.04],
    [0.20, 0.50, 0.28, 0.02],
    [0.15, 0.45, 0.35, 0.05],
])
PERIOD_PRICE = np.array([1.5, 3.4, 3.0, 2.2])  # mean yuan in 2001


@dataclass
class CardBook:
    numbers: pa.Array  # card numbers as text (raw personal data: the pipeline pseudonymises)
    kind: np.ndarray  # 0 学生, 1 教职工, 2 其他
    weight: np.ndarray  # propensity to eat on campus
    stay: np.ndarray  # bool: present during holidays

    @classmethod
    def build(cls, rng: np.random.Generator, n_students: int, n_staff: int, n_other: int) -> "CardBook":
        n = n_students + n_staff + n_other
        nums = _unique_numbers(rng, n)
        kind = np.concatenate([np.zeros(n_students, np.int8), np.ones(n_staff, np.int8),
                               np.full(n_other, 2, np.int8)])
        weight = rng.gamma(4.0, 0.25, n)
        weight[kind == 1] *= 0.55
        weight[kind == 2] *= 0.35
        stay = np.where(kind == 0, rng.random(n) < 0.14, rng.random(n) < 0.45)
        return cls(pa.array(nums).cast(pa.string()), kind, weight, stay)


def _unique_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """n distinct 8-digit numbers (fast for large n)."""
    lo, hi = 10_000_000, 100_000_000
    out = np.unique(rng.integers(lo, hi, int(n * 1.2) + 1000))
    while len(out) < n:
        out = np.unique(np.concatenate([out, rng.integers(lo, hi, n)]))
    return rng.permutation(out)[:n] if len(out) > n else out


@dataclass
class OutletModel:
    names: list[str]
    codes: list[str]
    operator: list[str]
    windows: np.ndarray
    price_mult: np.ndarray
    # weights[group][period] -> weights over outlets ; group 0 students/other, 1 staff
    weights: np.ndarray  # shape (2, 4, n_outlets)
    terminals: pa.Array = field(init=False)
    term_offset: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        labels: list[str] = []
        offs = []
        for code, w in zip(self.codes, self.windows):
            offs.append(len(labels))
            labels += [f"{code}-{k:02d}" for k in range(1, int(w) + 1)]
        self.terminals = pa.array(labels)
        self.term_offset = np.array(offs, dtype=np.int64)
        self.weights = self.weights / self.weights.sum(axis=2, keepdims=True)


@dataclass
class CanteenDay:
    """One day's valid transactions, sorted by time (seconds of day)."""

    card: np.ndarray
    sec: np.ndarray
    outlet: np.ndarray
    term: np.ndarray
    fen: np.ndarray
    typ: np.ndarray  # 0 消费, 1 冲正, 2 退款
    orig: np.ndarray  # row index of the original purchase, -1 if none
    referenced: np.ndarray  # bool: purchase that has a reversal/refund

    def __len__(self) -> int:
        return len(self.sec)


def canteen_day(rng: np.random.Generator, n_purchases: int, cards: CardBook, outlets: OutletModel,
                holiday: bool, reversal_rate: float = 0.003, refund_rate: float = 0.0008) -> CanteenDay:
    """Vectorised: n purchases plus reversals (冲正) and same-day refunds (退款)."""
    n = int(n_purchases)
    w = cards.weight * (cards.stay if holiday else 1.0)
    cum = np.cumsum(w)
    card = np.searchsorted(cum, rng.random(n) * cum[-1], side="right").astype(np.int64)
    card = np.minimum(card, len(w) - 1)
    kind = cards.kind[card]
    # meal period by card kind
    u = rng.random(n)
    period = np.empty(n, np.int64)
    for k in range(3):
        m = kind == k
        period[m] = np.searchsorted(np.cumsum(PERIOD_P[k]), u[m], side="right")
    period = np.minimum(period, 3)
    # time inside the period
    peak = np.array([p[0] for p in PERIOD_TIME])[period]
    sd = np.array([p[1] for p in PERIOD_TIME])[period]
    lo = np.array([p[2] for p in PERIOD_TIME])[period]
    hi = np.array([p[3] for p in PERIOD_TIME])[period]
    sec = np.rint(peak + sd * rng.standard_normal(n)).astype(np.int64)
    out_of_window = (sec < lo) | (sec > hi)  # tails: spread evenly over the window, no pile-up
    sec[out_of_window] = lo[out_of_window] + (rng.random(int(out_of_window.sum()))
                                              * (hi - lo + 1)[out_of_window]).astype(np.int64)
    # outlet by (staff?, period)
    group = (kind == 1).astype(np.int64)
    cw = np.cumsum(outlets.weights, axis=2)  # (2,4,n_out)
    uo = rng.random(n)
    outlet = np.empty(n, np.int64)
    for g in range(2):
        for p in range(4):
            m = (group == g) & (period == p)
            if m.any():
                outlet[m] = np.searchsorted(cw[g, p], uo[m], side="right")
    outlet = np.minimum(outlet, len(outlets.names) - 1)
    term = outlets.term_offset[outlet] + (rng.random(n) * outlets.windows[outlet]).astype(np.int64)
    # amount: lognormal around the period price, scaled per outlet; mostly multiples of 0.10
    yuan = PERIOD_PRICE[period] * outlets.price_mult[outlet] * np.exp(0.35 * rng.standard_normal(n) - 0.06)
    fen = np.rint(yuan * 100).astype(np.int64)
    dime = rng.random(n) < 0.8
    fen[dime] = np.rint(fen[dime] / 10).astype(np.int64) * 10
    fen = np.clip(fen, 20, 3000)

    order = np.argsort(sec, kind="stable")
    card, sec, outlet, term, fen = card[order], sec[order], outlet[order], term[order], fen[order]

    # reversals: same card, terminal and amount, seconds later
    nrev = rng.binomial(n, reversal_rate) if n else 0
    nref = rng.binomial(n, refund_rate) if n else 0
    pick = rng.choice(n, size=min(n, nrev + nref), replace=False) if n else np.empty(0, np.int64)
    rev_src, ref_src = pick[:nrev], pick[nrev:]
    rev_sec = np.minimum(sec[rev_src] + rng.integers(3, 90, len(rev_src)), 86399)
    ref_sec = np.minimum(sec[ref_src] + rng.integers(300, 5400, len(ref_src)), 86399)
    full = rng.random(len(ref_src)) < 0.5
    part = np.maximum(10, np.rint(fen[ref_src] * rng.uniform(0.2, 0.8, len(ref_src)) / 10).astype(np.int64) * 10)
    ref_fen = np.where(full, fen[ref_src], np.minimum(part, fen[ref_src]))

    all_card = np.concatenate([card, card[rev_src], card[ref_src]])
    all_sec = np.concatenate([sec, rev_sec, ref_sec])
    all_outlet = np.concatenate([outlet, outlet[rev_src], outlet[ref_src]])
    all_term = np.concatenate([term, term[rev_src], term[ref_src]])
    all_fen = np.concatenate([fen, -fen[rev_src], -ref_fen])
    all_typ = np.concatenate([np.zeros(n, np.int8), np.ones(len(rev_src), np.int8),
                              np.full(len(ref_src), 2, np.int8)])
    all_orig = np.concatenate([np.full(n, -1, np.int64), rev_src, ref_src])
    o2 = np.argsort(all_sec, kind="stable")  # originals come first: they are earlier rows
    inv = np.empty_like(o2)
    inv[o2] = np.arange(len(o2))
    orig = all_orig[o2]
    orig = np.where(orig >= 0, inv[np.maximum(orig, 0)], -1)
    referenced = np.zeros(len(o2), bool)
    referenced[orig[orig >= 0]] = True
    return CanteenDay(all_card[o2], all_sec[o2], all_outlet[o2], all_term[o2], all_fen[o2],
                      all_typ[o2], orig, referenced)


def canteen_table(day: dt.date, cd: CanteenDay, serial: np.ndarray, cards: CardBook,
                  outlets: OutletModel) -> pa.Table:
    """Format a CanteenDay as the export's string columns (Chinese headers)."""
    n = len(cd)
    orig_serial = np.where(cd.orig >= 0, serial[np.maximum(cd.orig, 0)], 0)
    orig_arr = pa.array(orig_serial, mask=cd.orig < 0).cast(pa.string())
    times = pc.binary_join_element_wise(day.isoformat(), hms_table().take(pa.array(cd.sec)), " ")
    return pa.table({
        "流水号": pa.array(serial).cast(pa.string()),
        "卡号": cards.numbers.take(pa.array(cd.card)),
        "身份": pa.array(CARD_KINDS).take(pa.array(cards.kind[cd.card].astype(np.int64))),
        "交易时间": times,
        "商户名称": pa.array(outlets.names).take(pa.array(cd.outlet)),
        "终端号": outlets.terminals.take(pa.array(cd.term)),
        "交易金额": fen_array_to_pa(cd.fen),
        "交易类型": pa.array(TX_TYPES).take(pa.array(cd.typ.astype(np.int64))),
        "原流水号": orig_arr,
    }) if n else pa.table({h: pa.array([], pa.string()) for h in CANTEEN_HEADER})


# --------------------------------------------------------------------------- meters model

# hourly shape per building type (24 weights, hour h = interval [h, h+1))
def _shape(bumps: list[tuple[float, float, float]], base: float = 0.15) -> np.ndarray:
    h = np.arange(24) + 0.5
    w = np.full(24, base)
    for centre, width, height in bumps:
        w = w + height * np.exp(-0.5 * ((h - centre) / width) ** 2)
    return w / w.sum()


HOUR_SHAPE = {
    "teaching": _shape([(10, 2.0, 1.0), (15, 2.0, 0.9), (20, 1.5, 0.8)], 0.08),
    "laboratory": _shape([(10, 2.0, 1.0), (15, 2.5, 1.0)], 0.2),
    "library": _shape([(10, 2.0, 0.8), (15, 2.0, 0.9), (20, 1.5, 1.0)], 0.1),
    "office": _shape([(10, 1.5, 1.0), (15, 1.5, 1.0)], 0.1),
    "dormitory": _shape([(7, 1.0, 0.6), (13, 1.0, 0.4), (21, 1.5, 1.2)], 0.2),
    "sports": _shape([(16, 2.0, 1.0), (20, 1.0, 0.8)], 0.05),
    "outdoor": _shape([(1, 3.0, 1.0), (21, 2.0, 1.0), (23.5, 1.5, 0.6)], 0.01),
    "canteen": _shape([(6.5, 0.8, 0.8), (11.5, 1.2, 1.2), (17.3, 1.2, 1.0)], 0.1),
    "guesthouse": _shape([(7.5, 1.0, 0.5), (21, 2.0, 1.0)], 0.4),
    "laundry": _shape([(10, 2.0, 1.0), (15, 2.0, 1.0)], 0.05),
    "bathhouse": _shape([(13, 1.5, 0.6), (19, 2.0, 1.2)], 0.05),
    "printing": _shape([(10, 2.0, 1.0), (16, 2.5, 1.0)], 0.05),
    "shop": _shape([(12, 2.0, 0.8), (21, 1.5, 1.0)], 0.2),
    "warehouse": _shape([(10, 2.0, 1.0), (15, 2.0, 0.8)], 0.2),
}

# day factor by building type and DayKind.kind
_DAY_FACTOR = {
    #             term weekend golden winter spring_f summer
    "teaching":   (1.00, 0.40, 0.25, 0.12, 0.05, 0.15),
    "laboratory": (1.00, 0.45, 0.30, 0.20, 0.10, 0.25),
    "library":    (1.00, 0.70, 0.30, 0.15, 0.05, 0.20),
    "office":     (1.00, 0.30, 0.30, 0.55, 0.10, 0.60),
    "dormitory":  (1.00, 1.05, 0.70, 0.14, 0.10, 0.16),
    "sports":     (1.00, 1.20, 0.60, 0.20, 0.05, 0.30),
    "outdoor":    (1.00, 1.00, 1.00, 1.00, 1.00, 1.00),
    "canteen":    (1.00, 0.82, 0.40, 0.12, 0.05, 0.13),
    "guesthouse": (1.00, 1.10, 1.40, 0.50, 0.30, 1.10),
    "laundry":    (1.00, 1.10, 0.50, 0.15, 0.00, 0.20),
    "bathhouse":  (1.00, 1.10, 0.60, 0.12, 0.02, 0.12),
    "printing":   (1.00, 0.50, 0.25, 0.10, 0.00, 0.15),
    "shop":       (1.00, 1.00, 0.60, 0.20, 0.10, 0.25),
    "warehouse":  (1.00, 0.20, 0.20, 0.40, 0.05, 0.50),
}
_KIND_INDEX = {"term": 0, "weekend": 1, "golden_week": 2, "winter": 3, "spring_festival": 4, "summer": 5}

SEASON = {
    "electricity": np.array([1.15, 1.10, 1.00, 0.95, 0.95, 1.10, 1.15, 1.05, 1.05, 0.95, 1.00, 1.10]),
    "water": np.array([0.85, 0.85, 0.90, 1.00, 1.10, 1.20, 1.25, 1.20, 1.10, 1.00, 0.90, 0.85]),
}


def day_factor(building_type: str, d: dt.date) -> float:
    return _DAY_FACTOR[building_type][_KIND_INDEX[day_kind(d).kind]]


@dataclass
class MeterSpec:
    meter_id: str
    utility: str
    building_code: str
    building_type: str
    payer: str
    multiplier: int
    per_day: float  # real units (kWh / m3) on a term weekday
    cadence: str = "hourly"  # or "daily" (one reading at 08:00)


# --------------------------------------------------------------------------- work-order model

WO_CATEGORY_P = {"电路": 0.20, "给排水": 0.22, "灯具": 0.15, "门窗": 0.14, "家具": 0.12, "保洁": 0.09, "其他": 0.08}
# hour-of-day weights for ticket creation (07:00–23:00)
_WO_HOURS = np.array([0, 0, 0, 0, 0, 0, 0.2, 0.8, 1.2, 1.2, 1.1, 0.9, 0.6, 0.8, 1.0, 1.0, 0.9, 0.8,
                      0.9, 1.0, 1.0, 0.8, 0.5, 0.2])
_RATING_OK = np.array([0.02, 0.03, 0.10, 0.30, 0.55])  # P(rating = 1..5) when on time
_RATING_LATE = np.array([0.08, 0.12, 0.30, 0.30, 0.20])


@dataclass
class Ticket:
    order_id: str
    category: str
    unit_code: str
    building_code: str
    room: str | None
    created: dt.datetime
    # (time the change happened, {field: new value}) in time order, first = creation
    events: list[tuple[dt.datetime, dict]] = field(default_factory=list)

    def snapshots(self, first: dt.date, last: dt.date) -> list[tuple[dt.date, dict]]:
        """The ticket's state at the end of every day (first..last) on which it changed."""
        state = {"order_id": self.order_id, "category": self.category, "unit_code": self.unit_code,
                 "building_code": self.building_code, "room": self.room,
                 "created_at": iso_local(self.created), "dispatched_at": None, "arrived_at": None,
                 "completed_at": None, "status": "open", "rating": None, "reopened": False,
                 "updated_at": None}
        out: list[tuple[dt.date, dict]] = []
        for i, (t, change) in enumerate(self.events):
            if t.date() > last:
                break
            state.update(change)
            state["updated_at"] = iso_local(t)
            nxt = self.events[i + 1][0].date() if i + 1 < len(self.events) else None
            if t.date() >= first and nxt != t.date():
                out.append((t.date(), {k: state[k] for k in WORK_ORDER_FIELDS}))
        return out


def simulate_tickets(rng: np.random.Generator, days: list[dt.date], per_day: float,
                     buildings: list[tuple[str, str]], id_prefix: str = "WO") -> list[Ticket]:
    """Repair tickets created on ``days`` (≈ per_day on a term weekday), with their life cycle
    open → dispatched → in_progress → completed → closed (some cancelled, some reopened)."""
    cats = list(WO_CATEGORY_P)
    cat_p = np.array(list(WO_CATEGORY_P.values()))
    cat_p = cat_p / cat_p.sum()
    hour_p = _WO_HOURS / _WO_HOURS.sum()
    dorms = [b for b, t in buildings if t == "dormitory"]
    others = [b for b, t in buildings if t in ("teaching", "laboratory", "library", "office", "sports")]
    service = [b for b, t in buildings if t not in ("dormitory", "teaching", "laboratory", "library",
                                                      "office", "sports", "outdoor")]
    tickets: list[Ticket] = []
    for d in days:
        factor = {"term": 1.0, "weekend": 0.8, "golden_week": 0.6, "winter": 0.35,
                  "spring_festival": 0.2, "summer": 0.35}[day_kind(d).kind]
        n = max(1, int(rng.poisson(per_day * factor)))
        secs = np.sort(rng.choice(24, size=n, p=hour_p) * 3600 + rng.integers(0, 3600, n))
        for seq, sec in enumerate(secs, start=1):
            created = dt.datetime.combine(d, dt.time()) + dt.timedelta(seconds=int(sec))
            cat = cats[int(rng.choice(len(cats), p=cat_p))]
            r = rng.random()
            if cat in ("电路", "给排水", "灯具"):
                unit = "utilities"
                pool = dorms if r < 0.55 else (others if r < 0.9 else service)
            elif cat in ("门窗", "家具"):
                pool = dorms if r < 0.8 else others
                unit = "apartments" if pool is dorms else "property"
            elif cat == "保洁":
                unit, pool = "property", (others if r < 0.7 else dorms)
            else:
                pool = dorms if r < 0.5 else others
                unit = "apartments" if pool is dorms else "property"
            b = pool[int(rng.integers(len(pool)))]
            room = None
            if b in dorms or rng.random() < 0.6:
                room = f"{int(rng.integers(1, 7))}{int(rng.integers(1, 31)):02d}"
            t = Ticket(f"{id_prefix}{d:%Y%m%d}{seq:04d}", cat, unit, b, room, created)
            _life_cycle(rng, t)
            tickets.append(t)
    return tickets


def _life_cycle(rng: np.random.Generator, t: Ticket) -> None:
    resp_min, comp_h = SLA[t.category]
    c = t.created
    ev = t.events
    ev.append((c, {"status": "open"}))
    disp = c + dt.timedelta(seconds=int(rng.integers(60, 12 * 60)))
    if rng.random() < 0.03:  # cancelled by the requester
        cancel = c + dt.timedelta(seconds=int(rng.integers(10 * 60, 180 * 60)))
        if cancel > disp:
            ev.append((disp, {"status": "dispatched", "dispatched_at": iso_local(disp)}))
        ev.append((cancel, {"status": "cancelled"}))
        return
    ev.append((disp, {"status": "dispatched", "dispatched_at": iso_local(disp)}))
    on_resp = rng.random() < 0.965
    resp = resp_min * 60 * (rng.uniform(0.25, 0.95) if on_resp else rng.uniform(1.1, 4.0))
    arr = max(c + dt.timedelta(seconds=int(resp)), disp + dt.timedelta(seconds=60))
    ev.append((arr, {"status": "in_progress", "arrived_at": iso_local(arr)}))
    on_time = rng.random() < (0.97 if t.unit_code == "utilities" else 0.94)
    dur = comp_h * 3600 * (rng.uniform(0.2, 0.9) if on_time else rng.uniform(1.05, 3.0))
    done = max(c + dt.timedelta(seconds=int(dur)), arr + dt.timedelta(seconds=int(rng.integers(300, 2400))))
    ev.append((done, {"status": "completed", "completed_at": iso_local(done)}))
    late = (done - c).total_seconds() > comp_h * 3600
    if rng.random() < 0.02:  # reopened: the fault came back
        reopen = done + dt.timedelta(seconds=int(rng.integers(2 * 3600, 48 * 3600)))
        ev.append((reopen, {"status": "in_progress", "completed_at": None, "reopened": True}))
        done = reopen + dt.timedelta(seconds=int(rng.integers(3600, 6 * 3600)))
        ev.append((done, {"status": "completed", "completed_at": iso_local(done)}))
        late = True
    if rng.random() < 0.85:  # confirmed (and mostly rated) by the requester
        close = done + dt.timedelta(seconds=int(rng.integers(3600, 72 * 3600)))
        rating = None
        if rng.random() < 0.9:
            rating = int(rng.choice(5, p=_RATING_LATE if late else _RATING_OK)) + 1
        ev.append((close, {"status": "closed", "rating": rating}))
