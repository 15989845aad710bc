"""The audit trail (审计追溯) of one stored KPI value: where a figure in ``mart.kpi_value`` came from.

``explain(conn, code, unit, period, grain)`` returns, for a value that is stored:

* the KPI's catalog entry (names, unit, kind, formula, sources);
* the stored value, its baseline, the run that computed it and when;
* how it was made from other stored values: an annual flow's months (summed), an annual stock's
  month taken, and the KPIs the catalog declares as its ``inputs`` (``admin_posts_saved`` =
  norm − headcount, …) with their stored values and, where the inputs are the whole arithmetic,
  the value recomputed from them;
* per source feed, the landing files that fed the period (a file's rows dated in it, or a file
  named for a day or month in it): checksum, run, reconciliation counts, quarantined rows by rule,
  and a few sample rows that counted, were quarantined or collapsed as duplicates, by line and id — personal
  identifiers only as the pseudonyms stored on ingest;
* the reference files in force (``core.ref_file``) and the tables they fill.

The command line (``explain``) prints :func:`to_text`; the UI renders the same dictionary as HTML.
Everything shown is bounded: a few samples per file, at most :data:`MAX_FILES` files per feed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from ..errors import UsageError
from .catalog import KPI, by_code
from .periods import next_start

SAMPLES = 3  # sample rows per file and kind (counted, quarantined)
MAX_FILES = 400  # files listed per feed; the rest as "+N more"
YEARS = (1990, 2100)  # the periods a question may name (as the UI's year filter)
KIND_ZH = {"flow": "流量（年 = 各月之和）", "stock": "存量（年 = 年内最后有数据的月份）",
           "rate": "比率/均值（按期间重新计算）"}
OP_TEXT = {"+": "+", "-": "−", "/": "÷", "of": "参照 of"}


class ExplainError(UsageError):
    """An explanation that cannot be given: unknown KPI, malformed period, value not stored."""


@dataclass(frozen=True)
class FeedRows:
    """Where a feed's loaded rows live in ``core``, as SQL over the alias ``t`` (and its joins)."""

    source: str  # FROM … (alias t)
    day: str  # the row's day (a date expression) for the period
    unit: str | None  # the row's unit for a unit's KPI (None: campus only)
    line: str  # the row's line in its file (NULL when not kept)
    ident: str  # an id of the row: never a raw personal identifier (pseudonyms are stored)
    detail: str  # a short text of what the row says
    counted: str  # what a counted row is (中文 English)
    record_ids: tuple[str, ...]  # keys of a quarantined record that identify it (pseudonymised on ingest)


_TZ = "%(tz)s"
FEED_ROWS: dict[str, FeedRows] = {
    "canteen": FeedRows("core.canteen_txn t", "t.txn_date", "t.unit_code", "NULL::int",
                        "t.txn_id || ' card ' || left(t.card_hash, 12) || '…'",
                        "t.txn_type || ' ' || t.amount_yuan::text || ' ' || t.outlet_code",
                        "交易 transactions", ("流水号", "卡号")),
    "meters": FeedRows("core.meter_daily t JOIN core.meter m ON m.meter_id = t.meter_id", "t.day", "m.payer",
                       "NULL::int", "t.meter_id",
                       "t.day::text || ' ' || coalesce(t.consumption::text, 'unknown') || ' (' || t.readings || ' readings)'",
                       "表·日 meter-days", ("meter_id",)),
    "work_orders": FeedRows(
        "core.work_order t JOIN core.work_order_version v ON v.order_id = t.order_id AND v.updated_at = t.updated_at "
        "AND v.source_file = t.source_file",
        f"(coalesce(t.completed_at, t.created_at) AT TIME ZONE {_TZ})::date", "t.unit_code", "v.source_line",
        "t.order_id", "t.status || ' ' || t.category", "工单（当前版本）work orders (current version)", ("order_id",)),
    "surveys": FeedRows("core.survey_answer t", "t.wave_date", "t.unit_code", "t.source_row", "t.response_no",
                        "t.unit_code || ': ' || coalesce(t.answer, '—')", "答卷单元格 answer cells",
                        ("序号", "response_no")),
    "staff": FeedRows("core.staff_month t", "t.month", "t.unit_code", "t.source_line",
                      "'staff ' || left(t.staff_hash, 12) || '…'",
                      "t.unit_code || ' ' || t.role || ' ' || t.origin || ' ' || t.payer || ' ' || t.monthly_cost_yuan::text",
                      "人员·月 person-months", ("staff_id",)),
    "ledger": FeedRows("core.ledger_line t", "t.month", "t.unit_code", "t.source_line", "NULL::text",
                       "t.unit_code || ' ' || t.entry_type || ' ' || t.amount_yuan::text || ' ' || t.funding_source",
                       "账目行 ledger lines", ()),
}


# --- the question -------------------------------------------------------------------------------------
def parse_period(text: str, grain: str | None, kpi: KPI) -> tuple[str, date]:
    """(grain, period start) of ``YYYY`` / ``YYYY-MM`` / ``YYYY-MM-DD``; the grain defaults to the
    period's form (a date is the KPI's wave when it has no daily values)."""
    text = (text or "").strip()
    m = re.fullmatch(r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?", text)
    if not m:
        raise ExplainError(f"period {text[:40]!r} is not YYYY, YYYY-MM or YYYY-MM-DD")
    year, month, day = int(m.group(1)), m.group(2), m.group(3)
    if not YEARS[0] <= year <= YEARS[1]:
        raise ExplainError(f"period {text!r}: the year must be from {YEARS[0]} to {YEARS[1]}")
    try:
        start = date(year, int(month or 1), int(day or 1))
    except ValueError:
        raise ExplainError(f"period {text!r} is not a date in the calendar") from None
    form = "day" if day else "month" if month else "year"
    if grain is None:
        grain = "wave" if form == "day" and "day" not in kpi.grains and "wave" in kpi.grains else form
    if grain not in kpi.grains:
        raise ExplainError(f"{kpi.code} is not stored per {grain}; its grains: {', '.join(kpi.grains)}")
    if {"day": "day", "wave": "day", "month": "month", "year": "year"}[grain] != form:
        want = {"day": "YYYY-MM-DD", "wave": "YYYY-MM-DD", "month": "YYYY-MM", "year": "YYYY"}[grain]
        raise ExplainError(f"period {text!r} does not name a {grain}: write {want}")
    return grain, start


def period_text(grain: str, start: date) -> str:
    """The period as the question writes it (the inverse of :func:`parse_period`)."""
    return {"year": f"{start.year:04d}", "month": f"{start.year:04d}-{start.month:02d}"}.get(grain, start.isoformat())


def kpi_entry(code: str) -> KPI:
    kpi = by_code().get(code)
    if kpi is None:
        raise ExplainError(f"unknown KPI code {code[:64]!r} (python -m campus_logistics kpis lists the stored ones)")
    return kpi


# --- the answer ---------------------------------------------------------------------------------------
def explain(conn, code: str, unit: str, period: str, grain: str | None = None) -> dict:
    """The audit trail of one stored value, as plain JSON-able data (see the module's doc)."""
    from .. import rules
    from ..reference import REF_FILES
    from ..report import period_label
    from ..settings import TIME_ZONE

    kpi = kpi_entry(code)
    grain, start = parse_period(period, grain, kpi)
    unit = (unit or "").strip()
    if not unit or len(unit) > 64:
        raise ExplainError("a unit code (e.g. campus, catering) of at most 64 characters is needed")
    hi = next_start(grain, start)
    stored = _stored(conn, code, unit, grain, start)
    if stored is None:
        near = conn.execute("""SELECT grain, period_start FROM mart.kpi_value WHERE kpi_code = %s AND unit_code = %s
                               ORDER BY period_start DESC, grain LIMIT 5""", (code, unit)).fetchall()
        hint = ("; stored for " + unit + ": " + ", ".join(f"{g} {period_text(g, p)}" for g, p in near)) if near else \
            f"; nothing is stored for {unit}"
        raise ExplainError(f"no stored value of {code} for {unit}, {grain} {period_text(grain, start)}{hint}")
    names = dict(conn.execute("SELECT code, name_zh FROM mart.unit").fetchall())
    out = {
        "kpi": {"code": kpi.code, "name_zh": kpi.name_zh, "name_en": kpi.name_en, "unit": kpi.unit, "kind": kpi.kind,
                "kind_zh": KIND_ZH[kpi.kind], "grains": list(kpi.grains), "formula": kpi.formula,
                "sources": list(kpi.sources)},
        "unit_code": unit, "unit_name": names.get(unit, unit), "grain": grain, "period": period_text(grain, start),
        "period_start": start.isoformat(), "period_end": hi.isoformat(), "period_label": period_label(start, grain),
        **stored,
        "rollup": _rollup(conn, kpi, unit, grain, start, stored["value"]),
        "inputs": _inputs(conn, kpi, unit, grain, start),
    }
    out["check"] = _check(kpi, out["inputs"], stored["value"])
    out["feeds"] = [_feed_files(conn, feed, unit, start, hi, TIME_ZONE, rules)
                    for feed in kpi.sources if feed in FEED_ROWS]
    tables = {r.name: r.table for r in REF_FILES}
    refs = [s.split("/", 1)[1] for s in kpi.sources if s.startswith("ref/")]
    loaded = {r[0]: r for r in conn.execute("""SELECT name, checksum, rows, loaded_at, run_id FROM core.ref_file
                                               WHERE name = ANY(%s)""", (refs,)).fetchall()}
    out["references"] = [
        {"name": f"ref/{n}", "table": tables.get(n), "loaded": n in loaded,
         **({"checksum": loaded[n][1], "rows": loaded[n][2], "loaded_at": _iso(loaded[n][3]), "run_id": loaded[n][4]}
            if n in loaded else {})}
        for n in refs]
    return out


def _iso(v) -> str | None:
    """A date as ISO text; a time in the project's zone (settings.TIME_ZONE), to the second."""
    if isinstance(v, datetime):
        from zoneinfo import ZoneInfo

        from ..settings import TIME_ZONE

        return v.astimezone(ZoneInfo(TIME_ZONE)).isoformat(sep=" ", timespec="seconds")
    return v.isoformat() if isinstance(v, date) else v


def _num(v) -> str | None:
    return None if v is None else str(v)


def _stored(conn, code, unit, grain, start) -> dict | None:
    row = conn.execute("""SELECT value, baseline, run_id, computed_at FROM mart.kpi_value
                          WHERE kpi_code = %s AND unit_code = %s AND grain = %s AND period_start = %s""",
                       (code, unit, grain, start)).fetchone()
    if row is None:
        return None
    return {"value": _num(row[0]), "baseline": _num(row[1]), "run_id": row[2], "computed_at": _iso(row[3])}


def _rollup(conn, kpi: KPI, unit, grain, start, value) -> dict | None:
    """An annual flow's months (summed) or an annual stock's month taken (compute.py's roll-up rule)."""
    from .compute import _rolled_up

    if grain != "year" or not _rolled_up(kpi):
        return None
    rows = conn.execute("""SELECT period_start, value, baseline, run_id FROM mart.kpi_value
                           WHERE kpi_code = %s AND unit_code = %s AND grain = 'month'
                             AND period_start >= %s AND period_start < %s ORDER BY period_start""",
                        (kpi.code, unit, start, next_start("year", start))).fetchall()
    months = [{"period": period_text("month", p), "value": _num(v), "baseline": _num(b), "run_id": r}
              for p, v, b, r in rows]
    if kpi.kind == "flow":
        total = sum((v for _, v, _, _ in rows), Decimal(0))
        return {"rule": "sum", "rule_zh": "各月之和 sum of the months", "months": months, "total": str(total),
                "matches": total == Decimal(value)}
    taken = months[-1]["period"] if months else None
    return {"rule": "last", "rule_zh": "年内最后有数据的月份 the last month with data", "months": months,
            "taken": taken, "matches": bool(rows) and rows[-1][1] == Decimal(value)}


def _inputs(conn, kpi: KPI, unit, grain, start) -> list[dict]:
    catalog = by_code()
    out = []
    for op, code in kpi.inputs:
        other = catalog[code]
        stored = _stored(conn, code, unit, grain, start)
        out.append({"op": op, "code": code, "name_zh": other.name_zh, "name_en": other.name_en, "unit": other.unit,
                    "stored": stored is not None, **(stored or {"value": None, "baseline": None, "run_id": None,
                                                                "computed_at": None})})
    return out


def rounded(value: Decimal, unit: str) -> Decimal:
    """As the value is stored (compute.py): money to the cent, rates to 6 decimals, the rest to 2; half-up."""
    q = Decimal("0.01") if unit != "rate" else Decimal("0.000001")
    return value.quantize(q, rounding=ROUND_HALF_UP)


def _check(kpi: KPI, inputs: list[dict], value) -> dict | None:
    """The value recomputed from its inputs when they are its whole arithmetic (first op "+")."""
    ops = [i for i in inputs if i["op"] != "of"]
    if not ops or ops[0]["op"] != "+" or any(i["value"] is None for i in ops):
        return None
    acc = Decimal(0)
    for i in ops:
        v = Decimal(i["value"])
        if i["op"] == "/":
            if v == 0:
                return None
            acc = acc / v
        else:
            acc = acc + v if i["op"] == "+" else acc - v
    expr = " ".join((OP_TEXT[i["op"]] + " " if n or i["op"] != "+" else "") + i["value"] for n, i in enumerate(ops))
    got = rounded(acc, kpi.unit)
    return {"expression": expr, "recomputed": str(got), "matches": got == rounded(Decimal(value), kpi.unit)}


def _feed_files(conn, feed: str, unit: str, lo: date, hi: date, tz: str, rules) -> dict:
    """The feed's files for [lo, hi): files with rows dated in it, and files named for a day/month in it."""
    from ..registry import SPECS

    spec = FEED_ROWS[feed]
    params = {"lo": lo, "hi": hi, "unit": unit, "tz": tz}
    where = f"{spec.day} >= %(lo)s AND {spec.day} < %(hi)s"
    if unit != "campus" and spec.unit:
        where += f" AND {spec.unit} = %(unit)s"
    counted = dict(conn.execute(f"SELECT t.source_file, count(*) FROM {spec.source} WHERE {where} GROUP BY 1",
                                params).fetchall())
    f = SPECS[feed]
    recon = {r[0]: r for r in conn.execute(
        """SELECT file, rows_read, rows_loaded, rows_quarantined, rows_duplicate, checksum, run_id, reconciled_at
           FROM quality.file_reconciliation WHERE feed = %s ORDER BY file""", (feed,)).fetchall()}
    named = {fn for fn in recon if (p := f.period_of(fn)) is not None and lo <= p < hi}
    files = sorted(set(counted) | named)
    shown, more = files[:MAX_FILES], max(0, len(files) - MAX_FILES)
    samples: dict[str, list[dict]] = {}
    for fn, line, ident, detail in conn.execute(
            f"""SELECT f.file, s.line, s.ident, s.detail FROM unnest(%(files)s::text[]) AS f(file)
                CROSS JOIN LATERAL (SELECT {spec.line} AS line, {spec.ident} AS ident, {spec.detail} AS detail
                                    FROM {spec.source} WHERE {where} AND t.source_file = f.file
                                    ORDER BY 1, 2 LIMIT {SAMPLES}) s""", {**params, "files": shown}).fetchall():
        samples.setdefault(fn, []).append({"line": line, "id": ident, "detail": detail})
    by_rule: dict[str, dict[str, int]] = {}
    for fn, rule, n in conn.execute("""SELECT file, rule, count(*) FROM quality.rejected_rows
                                       WHERE feed = %s AND file = ANY(%s) GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2""",
                                    (feed, shown)).fetchall():
        by_rule.setdefault(fn, {})[rule] = n
    rejected: dict[str, list[dict]] = {}
    for fn, line, rule, record in conn.execute(
            f"""SELECT f.file, r.row_number, r.rule, r.record FROM unnest(%s::text[]) AS f(file)
                CROSS JOIN LATERAL (SELECT row_number, rule, record FROM quality.rejected_rows
                                    WHERE feed = %s AND file = f.file ORDER BY row_number, id LIMIT {SAMPLES}) r""",
            (shown, feed)).fetchall():
        rejected.setdefault(fn, []).append({"line": line, "rule": rule, "id": _record_id(record, spec.record_ids),
                                            "reason": [{"rule": r, "zh": zh, "en": en}
                                                       for r, zh, en in rules.explain_all(rule)]})
    collapsed: dict[str, list[dict]] = {}
    for fn, line, kept in conn.execute(
            f"""SELECT f.file, d.row_number, d.kept_row FROM unnest(%s::text[]) AS f(file)
                CROSS JOIN LATERAL (SELECT row_number, kept_row FROM quality.duplicate_row
                                    WHERE feed = %s AND file = f.file ORDER BY row_number LIMIT {SAMPLES}) d""",
            (shown, feed)).fetchall():
        collapsed.setdefault(fn, []).append({"line": line, "kept_row": kept, "rule": "duplicate_collapsed"})
    out_files = []
    for fn in shown:
        r = recon.get(fn)
        rule_counts = dict(by_rule.get(fn, {}))
        if r and r[4]:
            rule_counts["duplicate_collapsed"] = r[4]
        out_files.append({
            "file": fn, "counted": counted.get(fn, 0), "reconciled": r is not None,
            **({"checksum": r[5], "run_id": r[6], "reconciled_at": _iso(r[7]), "rows_read": r[1], "rows_loaded": r[2],
                "rows_quarantined": r[3], "rows_duplicate": r[4]} if r else {}),
            "rules": rule_counts, "samples_counted": samples.get(fn, []), "samples_quarantined": rejected.get(fn, []),
            "samples_duplicate": collapsed.get(fn, []),
        })
    return {"feed": feed, "counted_label": spec.counted, "files": out_files, "more_files": more,
            "counted_total": sum(counted.values())}


def _record_id(record, keys: tuple[str, ...]) -> str | None:
    """The identifying field of a quarantined record, shortened (personal ids are pseudonyms already)."""
    if not isinstance(record, dict):
        return None
    parts = []
    for k in keys:
        v = record.get(k)
        if v not in (None, ""):
            v = str(v)
            parts.append(f"{k} {v[:12] + '…' if len(v) > 16 else v}")
    return ", ".join(parts) or None


# --- as text ------------------------------------------------------------------------------------------
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def clean(v) -> str:
    """A value for a terminal: control and bidi characters from files shown as '?' (never interpreted)."""
    return _CONTROL.sub("?", "" if v is None else str(v))


def _fmt(v, unit: str) -> str:
    if v is None:
        return "—"
    from ..reports.html import fmt_value

    return fmt_value(Decimal(v), unit)


def to_text(e: dict) -> str:
    """The explanation as a readable Chinese/English report."""
    from .catalog import measure_label

    k, unit = e["kpi"], e["kpi"]["unit"]
    lines = [
        f"审计追溯 Audit trail — {k['name_zh']} {k['name_en']} ({k['code']})",
        f"单位 Unit: {clean(e['unit_name'])} ({clean(e['unit_code'])})   期间 Period: {e['period_label']} "
        f"({e['grain']} {e['period']})",
        f"值 Value: {_fmt(e['value'], unit)}{'' if unit == 'rate' else ' ' + measure_label(unit)}"
        + (f"   基线 Baseline: {_fmt(e['baseline'], unit)}" if e["baseline"] is not None else ""),
        f"计算 Computed: {clean(e['computed_at'])}   运行 Run: {clean(e['run_id']) or '—'}",
        f"类型 Kind: {k['kind']} — {k['kind_zh']}",
        f"公式 Formula: {k['formula']}",
        f"来源 Sources: {', '.join(k['sources'])}",
    ]
    ru = e.get("rollup")
    if ru:
        lines += ["", f"年值来自各月 Annual value from the stored months — {ru['rule_zh']}:"]
        lines += [f"  {m['period']}  {_fmt(m['value'], unit):>16}  run {clean(m['run_id'])}" for m in ru["months"]]
        if ru["rule"] == "sum":
            lines.append(f"  合计 total {_fmt(ru['total'], unit):>16}  {'= stored value ✓' if ru['matches'] else '≠ stored value ✗'}")
        else:
            lines.append(f"  取 taken: {ru['taken']}  {'= stored value ✓' if ru['matches'] else '≠ stored value ✗'}")
    if e["inputs"]:
        lines += ["", "输入指标 Input KPIs (same unit and period):"]
        for i in e["inputs"]:
            lines.append(f"  {OP_TEXT[i['op']]:>6} {i['name_zh']} {i['code']}: "
                         + (f"{_fmt(i['value'], i['unit'])}  run {clean(i['run_id'])}" if i["stored"] else "not stored"))
        c = e.get("check")
        if c:
            lines.append(f"  复算 recomputed: {c['expression']} = {_fmt(c['recomputed'], unit)} "
                         f"{'= stored value ✓' if c['matches'] else '≠ stored value ✗'}")
    for fd in e["feeds"]:
        lines += ["", f"来源文件 Source files — {fd['feed']} ({len(fd['files']) + fd['more_files']} file(s); "
                      f"{fd['counted_label']} in the period: {fd['counted_total']:,})"]
        for f in fd["files"]:
            head = f"  {clean(f['file'])}"
            if f["reconciled"]:
                head += (f"  sha256 {f['checksum']}  run {clean(f['run_id'])}  loaded {clean(f['reconciled_at'])}\n"
                         f"      read {f['rows_read']:,} = loaded {f['rows_loaded']:,} + quarantined "
                         f"{f['rows_quarantined']:,} + duplicates {f['rows_duplicate']:,}; in the period {f['counted']:,}")
            else:
                head += f"  (no reconciliation recorded); in the period {f['counted']:,}"
            lines.append(head)
            if f["rules"]:
                lines.append("      by rule: " + ", ".join(f"{clean(r)} {n:,}" for r, n in f["rules"].items()))
            for s in f["samples_counted"]:
                lines.append(f"      counted     {('line ' + str(s['line'])) if s['line'] is not None else '':<10} "
                             f"{clean(s['id'])}  {clean(s['detail'])}")
            for s in f["samples_quarantined"]:
                reason = "; ".join(f"{r['rule']} {r['zh']}" for r in s["reason"])
                lines.append(f"      quarantined line {s['line']:<5} {clean(s['id']) or ''}  {clean(reason)}")
            for s in f["samples_duplicate"]:
                kept = f"line {s['kept_row']}" if s["kept_row"] is not None else "a row of another file"
                lines.append(f"      collapsed   line {s['line']:<5} duplicate_collapsed: identical to {kept}")
        if fd["more_files"]:
            lines.append(f"  +{fd['more_files']:,} more file(s)")
    if e["references"]:
        lines += ["", "参照文件 Reference files:"]
        for r in e["references"]:
            lines.append(f"  {r['name']} → {r['table']}: " + (
                f"{r['rows']:,} rows, sha256 {r['checksum']}, loaded {clean(r['loaded_at'])}, run {clean(r['run_id'])}"
                if r["loaded"] else "not loaded"))
    return "\n".join(lines)
