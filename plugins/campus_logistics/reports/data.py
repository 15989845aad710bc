"""What a finance report holds, read from the ``mart.report_*`` views and ``mart.kpi_definition``.

Only mart objects are read, so a report can be produced by ``finance_reader`` as well as by the
pipeline. Output formats (``excel.py``, …) render a :class:`Report`; they never query.

* **Monthly report** for month M: each topic's monthly view, rows of month M; then 预计全年, the
  year-end projections as of M (``mart.report_kpi_projection``, campus).
* **Annual report** for year Y: each topic's monthly rows of Y, then the annual view's row(s) of Y
  (labelled 全年) mapped onto the same columns by label, so the months and the year sit together
  and can be checked against each other (flows add up, stocks are December's, rates recomputed);
  then 预计全年, the year-end projections as of each month-end beside the year's actual.

Both open with a **headline** (:func:`_headline`): the savings total, personnel and utilities
savings, campus satisfaction against its target, and the targets missed, each with its 同比.
Units are shown by name (the views' 单位名称, from ``mart.unit``), never by code.

Column kinds come from the views' SQL types (numeric scale 2 = yuan or quantity, scale 6 = rate,
integer = count), so a new view column needs no change here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

ANNUAL_LABEL = "全年"
UNIT_COLUMN = "单位"
UNIT_NAME_COLUMN = "单位名称"  # V015: the unit's Chinese name from mart.unit, shown instead of its code


@dataclass(frozen=True)
class Topic:
    key: str
    title_zh: str
    title_en: str

    @property
    def monthly_view(self) -> str:
        return f"mart.report_monthly_{self.key}"

    @property
    def annual_view(self) -> str:
        return f"mart.report_annual_{self.key}"


TOPICS: tuple[Topic, ...] = (
    Topic("savings", "改革节约", "Reform savings"),
    Topic("staffing", "人员编制", "Staffing against norms"),
    Topic("utilities", "水电节约与回收", "Utilities saved and recovered"),
    Topic("centre_books", "中心经营与社会资金", "Centre surplus and outside capital"),
    Topic("satisfaction", "满意度", "Satisfaction"),
    Topic("service", "服务标准", "Service standards"),
)

DEFINITION_COLUMNS = ("指标代码", "中文名称", "英文名称", "计量单位", "粒度", "类型", "计算公式", "数据来源")


@dataclass(frozen=True)
class Column:
    label: str
    kind: str  # period | date | year | text | money | quantity | count | rate | score


@dataclass
class Sheet:
    key: str
    title_zh: str
    title_en: str
    source: str  # the view(s) the rows come from
    columns: list[Column]
    rows: list[tuple] = field(default_factory=list)


@dataclass(frozen=True)
class HeadlineItem:
    """One of the figures a reader is handed first: the value, its change and which way it went."""

    label: str
    value: object  # Decimal, int or None (not computable)
    kind: str  # money | rate | count
    change: object = None  # 同比: against the same period a year earlier
    note: str = ""

    @property
    def direction(self) -> str:
        if self.change is None:
            return "—"
        return "↑ 上升" if self.change > 0 else "↓ 下降" if self.change < 0 else "→ 持平"


@dataclass
class Report:
    year: int
    month: int | None
    title: str
    period_label: str
    generated_at: datetime
    sheets: list[Sheet]
    definitions: Sheet
    headline: list[HeadlineItem] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return "annual" if self.month is None else "monthly"


_DATE_OID, _INT_OIDS, _NUMERIC_OID = 1082, (20, 21, 23), 1700


def _column(desc) -> Column:
    label = desc.name
    if desc.type_code == _DATE_OID:
        return Column(label, "period" if label == "月份" else "date")
    if desc.type_code in _INT_OIDS:
        return Column(label, "year" if label == "年度" else "count")
    if desc.type_code == _NUMERIC_OID:
        if desc.scale == 6:
            return Column(label, "rate")
        if "元" in label:
            return Column(label, "money")
        return Column(label, "score" if label.endswith("均分") else "quantity")
    return Column(label, "text")


def _order(columns: list[Column]) -> str:
    """Campus first, then units by code; within a unit by period."""
    labels = [c.label for c in columns]
    keys = []
    if UNIT_COLUMN in labels:
        keys += [f'("{UNIT_COLUMN}" <> \'campus\')', f'"{UNIT_COLUMN}"']
    keys += [f'"{c}"' for c in ("月份", "调查日期", "年度") if c in labels]
    return ", ".join(keys) or "1"


def _query(cur, view: str, where: str, params: tuple) -> tuple[list[Column], list[tuple]]:
    cur.execute(f"SELECT * FROM {view} LIMIT 0")
    columns = [_column(d) for d in cur.description]
    cur.execute(f"SELECT * FROM {view} WHERE {where} ORDER BY {_order(columns)}", params)
    return _named_units(columns, cur.fetchall())


def _named_units(columns: list[Column], rows: list[tuple]) -> tuple[list[Column], list[tuple]]:
    """A reader sees 学生公寓管理中心 (单位名称) in the 单位 column, never the unit's code."""
    labels = [c.label for c in columns]
    if UNIT_NAME_COLUMN not in labels or UNIT_COLUMN not in labels:
        return columns, rows
    code_i, name_i = labels.index(UNIT_COLUMN), labels.index(UNIT_NAME_COLUMN)
    keep = [j for j in range(len(columns)) if j != name_i]
    named = [tuple(r[name_i] if j == code_i else r[j] for j in keep) for r in rows]
    return [columns[j] for j in keep], named


def _monthly_sheet(cur, topic: Topic, year: int, month: int) -> Sheet:
    columns, rows = _query(cur, topic.monthly_view, '"月份" = %s', (date(year, month, 1),))
    return Sheet(topic.key, topic.title_zh, topic.title_en, topic.monthly_view, columns, rows)


def _annual_sheet(cur, topic: Topic, year: int) -> Sheet:
    columns, months = _query(cur, topic.monthly_view, '"月份" >= %s AND "月份" < %s',
                             (date(year, 1, 1), date(year + 1, 1, 1)))
    annual_columns, annual = _query(cur, topic.annual_view, '"年度" = %s', (year,))
    labels = [c.label for c in columns]
    # Annual-only columns (none today) are appended so nothing of the annual view is dropped.
    extra = [c for c in annual_columns if c.label not in labels and c.label != "年度"]
    columns = columns + extra
    labels = [c.label for c in columns]
    rows = [tuple(r) + (None,) * len(extra) for r in months]
    for r in annual:
        by_label = dict(zip([c.label for c in annual_columns], r))
        rows.append(tuple(ANNUAL_LABEL if lab == "月份" else by_label.get(lab) for lab in labels))
    if UNIT_COLUMN in labels:  # each unit's months, then its year
        i = labels.index(UNIT_COLUMN)
        units = list(dict.fromkeys(r[i] for r in rows))  # the views' order: 全校 first, then by code
        rows = [r for u in units for r in rows if r[i] == u]
    return Sheet(topic.key, topic.title_zh, topic.title_en, f"{topic.monthly_view} + {topic.annual_view}",
                 columns, rows)


PROJECTION_VIEW = "mart.report_kpi_projection"
PROJECTION_COLUMNS = (("截至月份", "period"), ("指标名称", "text"), ("已有实际月数", "count"),
                      ("本年累计（元）", "money"), ("预计全年（元）", "money"), ("预测区间下限（元）", "money"),
                      ("预测区间上限（元）", "money"), ("预测方法", "text"), ("方法说明", "text"),
                      ("全年实际（元）", "money"))


def _projection_sheet(cur, year: int, month: int | None) -> Sheet:
    """预计全年 (campus): the year-end projection as of each month-end of the year (annual report) or as of
    the report's month (monthly report), beside the year's actual so far."""
    labels = ", ".join(f'"{c}"' for c, _ in PROJECTION_COLUMNS)
    where = '"年度" = %s AND "单位" = \'campus\'' + ('' if month is None else ' AND "截至月份" = %s')
    params = (year,) if month is None else (year, date(year, month, 1))
    cur.execute(f'SELECT {labels} FROM {PROJECTION_VIEW} WHERE {where} ORDER BY "指标代码", "截至月份"', params)
    return Sheet("projection", "预计全年", "Year-end projection", PROJECTION_VIEW,
                 [Column(c, kind) for c, kind in PROJECTION_COLUMNS], cur.fetchall())


GRAIN_LABELS = {"day": "日", "month": "月", "wave": "调查批次", "year": "年"}
KIND_LABELS = {"flow": "流量（按期合计）", "stock": "存量（期末值）", "rate": "比率（全期重算）"}

SAVINGS_CODES = ("personnel_cost_saved_yuan", "utilities_saved_total_yuan")


def _period_value(cur, code: str, grain: str, start: date, unit: str = "campus"):
    cur.execute("""SELECT value, baseline FROM mart.kpi_value
                   WHERE kpi_code = %s AND unit_code = %s AND grain = %s AND period_start = %s""",
                (code, unit, grain, start))
    return cur.fetchone() or (None, None)


def _savings_total(cur, grain: str, start: date):
    """节约合计 = personnel cost saved + utilities saved in total (as the savings views); None unless both known."""
    values = [_period_value(cur, c, grain, start)[0] for c in SAVINGS_CODES]
    return None if None in values else sum(values)


def _minus(a, b):
    return None if a is None or b is None else a - b


def _latest_satisfaction(cur, year: int, month: int | None):
    """The campus satisfaction rate of the period: the year's row, or the month's last survey wave."""
    if month is None:
        return _period_value(cur, "satisfaction_rate", "year", date(year, 1, 1))[0]
    lo, hi = date(year, month, 1), date(year + month // 12, month % 12 + 1, 1)
    cur.execute("""SELECT value FROM mart.kpi_value WHERE kpi_code = 'satisfaction_rate' AND unit_code = 'campus'
                   AND grain = 'wave' AND period_start >= %s AND period_start < %s
                   ORDER BY period_start DESC LIMIT 1""", (lo, hi))
    row = cur.fetchone()
    return row[0] if row else None


def _missed_targets(cur, grain: str, start: date) -> list[str]:
    """'name（unit）' of every KPI value of the period on the wrong side of its target (mart.target)."""
    cur.execute("""SELECT coalesce(d.name_zh, v.kpi_code), coalesce(u.name_zh, v.unit_code)
                   FROM mart.kpi_value v JOIN mart.target t USING (kpi_code, unit_code)
                   LEFT JOIN mart.kpi_definition d USING (kpi_code)
                   LEFT JOIN mart.unit u ON u.code = v.unit_code
                   WHERE v.grain = %s AND v.period_start = %s
                     AND ((t.bound = 'min' AND v.value < t.value) OR (t.bound = 'max' AND v.value > t.value))
                   ORDER BY v.unit_code <> 'campus', v.unit_code, v.kpi_code""", (grain, start))
    return [f"{name}（{unit}）" for name, unit in cur.fetchall()]


def _headline(cur, year: int, month: int | None) -> list[HeadlineItem]:
    """The figures a vice-president asks for first, each with its 同比 (campus)."""
    grain = "year" if month is None else "month"
    start = date(year, month or 1, 1)
    before = date(year - 1, month or 1, 1) if year > date.min.year else None  # year 1 has no year before it

    def value(kpi: str, d: date | None):
        return None if d is None else _period_value(cur, kpi, grain, d)[0]

    total, total_before = _savings_total(cur, grain, start), before and _savings_total(cur, grain, before)
    personnel = [value("personnel_cost_saved_yuan", d) for d in (start, before)]
    utilities = [value("utilities_saved_total_yuan", d) for d in (start, before)]
    _, bill_baseline = _period_value(cur, "utilities_conservation_saved_yuan", grain, start)
    satisfaction = _latest_satisfaction(cur, year, month)
    satisfaction_before = before and _latest_satisfaction(cur, year - 1, month)
    cur.execute("""SELECT value FROM mart.target WHERE kpi_code = 'satisfaction_rate' AND unit_code = 'campus'
                   AND bound = 'min'""")
    target = cur.fetchone()
    missed = _missed_targets(cur, grain, start)
    return [
        HeadlineItem("节约合计（元）", total, "money", _minus(total, total_before),
                     "学校节约人员经费 + 水电费节约合计，均相对改革前基线"),
        HeadlineItem("学校节约人员经费（元）", personnel[0], "money", _minus(*personnel), "相对改革前定编"),
        HeadlineItem("水电费节约合计（元）", utilities[0], "money", _minus(*utilities),
                     "节约 + 回收" + ("" if bill_baseline is None else f"；基准水电费 {bill_baseline:,.2f} 元")),
        HeadlineItem("全校满意率", satisfaction, "rate", _minus(satisfaction, satisfaction_before),
                     "无目标" if not target else
                     f"目标 ≥ {target[0] * 100:.1f}%：" + ("—" if satisfaction is None else
                                                       "达标" if satisfaction >= target[0] else "未达标")),
        HeadlineItem("未达标指标数", len(missed), "count", None, "、".join(missed) or "全部达标"),
    ]


def _definitions(cur) -> Sheet:
    cur.execute("""SELECT kpi_code, name_zh, name_en, unit, array_to_string(grains, ', '), kind, formula,
                          array_to_string(source_feeds, ', ')
                   FROM mart.kpi_definition ORDER BY kpi_code""")
    from ..kpis.catalog import measure_label

    rows = [(code, zh, en, measure_label(unit), "、".join(GRAIN_LABELS.get(g, g) for g in (grains or "").split(", ") if g),
             KIND_LABELS.get(kind, kind), formula, sources)
            for code, zh, en, unit, grains, kind, formula, sources in cur.fetchall()]
    return Sheet("definitions", "指标定义", "KPI definitions", "mart.kpi_definition",
                 [Column(c, "text") for c in DEFINITION_COLUMNS], rows)


def load_report(year: int, month: int | None = None, *, url: str | None = None) -> Report:
    """Read a monthly (``month`` given) or annual report from the warehouse."""
    import pendulum

    from ..warehouse import connect

    if month is not None and not 1 <= month <= 12:
        from ..errors import UsageError

        raise UsageError(f"month must be 1–12, got {month}")
    with connect(url) as conn:
        cur = conn.cursor()
        if month is None:
            sheets = [_annual_sheet(cur, t, year) for t in TOPICS] + [_projection_sheet(cur, year, None)]
            title, period = f"后勤社会化改革年度报告（{year}年）", f"{year}年"
        else:
            sheets = [_monthly_sheet(cur, t, year, month) for t in TOPICS] + [_projection_sheet(cur, year, month)]
            title, period = f"后勤社会化改革月度报告（{year}年{month}月）", f"{year}年{month}月"
        definitions = _definitions(cur)
        headline = _headline(cur, year, month)
    from ..settings import TIME_ZONE

    now = pendulum.now(TIME_ZONE).replace(microsecond=0)
    return Report(year, month, title, period, now, sheets, definitions, headline)
