"""What a finance report holds, read from the ``mart.report_*`` views and ``mart.kpi_definition``.

Only mart objects are read, so a report can be produced by ``finance_reader`` as well as by the
pipeline. Output formats (``excel.py``, …) render a :class:`Report`; they never query.

* **Monthly report** for month M: each topic's monthly view, rows of month M.
* **Annual report** for year Y: each topic's monthly rows of Y, then the annual view's row(s) of Y
  (labelled 全年) mapped onto the same columns by label, so the months and the year sit together
  and can be checked against each other (flows add up, stocks are December's, rates recomputed).

Column kinds come from the views' SQL types (numeric scale 2 = yuan or quantity, scale 6 = rate,
integer = count), so a new view column needs no change here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

ANNUAL_LABEL = "全年"
UNIT_COLUMN = "单位"


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


@dataclass
class Report:
    year: int
    month: int | None
    title: str
    period_label: str
    generated_at: datetime
    sheets: list[Sheet]
    definitions: Sheet

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
    return columns, cur.fetchall()


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
        units = sorted({r[i] for r in rows}, key=lambda u: (u != "campus", u))
        rows = [r for u in units for r in rows if r[i] == u]
    return Sheet(topic.key, topic.title_zh, topic.title_en, f"{topic.monthly_view} + {topic.annual_view}",
                 columns, rows)


def _definitions(cur) -> Sheet:
    cur.execute("""SELECT kpi_code, name_zh, name_en, unit, array_to_string(grains, ', '), kind, formula,
                          array_to_string(source_feeds, ', ')
                   FROM mart.kpi_definition ORDER BY kpi_code""")
    return Sheet("definitions", "指标定义", "KPI definitions", "mart.kpi_definition",
                 [Column(c, "text") for c in DEFINITION_COLUMNS], cur.fetchall())


def load_report(year: int, month: int | None = None, *, url: str | None = None) -> Report:
    """Read a monthly (``month`` given) or annual report from the warehouse."""
    import pendulum

    from ..warehouse import connect

    if month is not None and not 1 <= month <= 12:
        raise ValueError(f"month must be 1–12, got {month}")
    with connect(url) as conn:
        cur = conn.cursor()
        if month is None:
            sheets = [_annual_sheet(cur, t, year) for t in TOPICS]
            title, period = f"后勤社会化改革年度报告（{year}年）", f"{year}年"
        else:
            sheets = [_monthly_sheet(cur, t, year, month) for t in TOPICS]
            title, period = f"后勤社会化改革月度报告（{year}年{month}月）", f"{year}年{month}月"
        definitions = _definitions(cur)
    now = pendulum.now("Asia/Shanghai").replace(microsecond=0)
    return Report(year, month, title, period, now, sheets, definitions)
