"""KPI targets (``ref/targets.csv`` → ``core.target``): alert when a monthly or wave value of a KPI
is on the wrong side of its bound (``min``: below it, ``max``: above it) for the target's unit.

Checked by the ``kpi`` DAG for the periods it just recomputed. A breach is alerted once: the same
KPI, unit, period and value already delivered (``quality.alert_log``) is not sent again, so a
recompute that changes nothing stays quiet while a changed value alerts anew.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from . import SUBJECT_PREFIX, Alert, AlertDeliveryFailed, send

KIND = "kpi_target"
GRAINS = ("month", "wave")


@dataclass(frozen=True)
class Breach:
    kpi_code: str
    name_zh: str | None
    unit_code: str
    grain: str
    period_start: date
    value: Decimal
    bound: str  # min | max
    target: Decimal

    @property
    def key(self) -> str:
        return f"{self.kpi_code}|{self.unit_code}|{self.grain}|{self.period_start}|{self.value}"

    def line(self) -> str:
        side = "低于下限" if self.bound == "min" else "高于上限"
        return (f"{self.name_zh or self.kpi_code} ({self.kpi_code}) {self.unit_code} {self.grain} {self.period_start}: "
                f"{self.value} {side} {self.target} ({'below min' if self.bound == 'min' else 'above max'})")


def find_breaches(cur, months: list[date], waves: list[date]) -> list[Breach]:
    cur.execute(
        """SELECT v.kpi_code, d.name_zh, v.unit_code, v.grain, v.period_start, v.value, t.bound, t.value
           FROM mart.kpi_value v
           JOIN core.target t ON t.kpi_code = v.kpi_code AND t.unit_code = v.unit_code
           LEFT JOIN mart.kpi_definition d ON d.kpi_code = v.kpi_code
           WHERE ((v.grain = 'month' AND v.period_start = ANY(%s)) OR (v.grain = 'wave' AND v.period_start = ANY(%s)))
             AND ((t.bound = 'min' AND v.value < t.value) OR (t.bound = 'max' AND v.value > t.value))
           ORDER BY v.period_start, v.kpi_code, v.unit_code""",
        (list(months), list(waves)),
    )
    return [Breach(*r) for r in cur.fetchall()]


def check_targets(days, *, url: str | None = None, run_id: str | None = None) -> dict:
    """Alert the new breaches among the months and waves of ``days``; raise if a channel failed."""
    from ..kpis.compute import periods_for
    from ..warehouse import connect

    days = [date.fromisoformat(d) if isinstance(d, str) else d for d in days]
    periods = periods_for(days)
    with connect(url) as conn:
        cur = conn.cursor()
        breaches = find_breaches(cur, periods["month"], periods["wave"])
        cur.execute("SELECT alert_key FROM quality.alert_log WHERE kind = %s AND alert_key = ANY(%s) AND failed = '{}'",
                    (KIND, [b.key for b in breaches]))
        already = {r[0] for r in cur.fetchall()}
    new = [b for b in breaches if b.key not in already]
    result = {"breaches": len(breaches), "alerted": [b.key for b in new], "channels": [], "failed": {}}
    if not new:
        return result
    body = "KPI 未达目标 / KPIs outside their targets (ref/targets.csv)\n\n" + "\n".join(b.line() for b in new)
    if run_id:
        body += f"\n\nRun: {run_id}"
    alert = Alert(KIND, f"{SUBJECT_PREFIX} KPI 未达目标 {len(new)} 项 / {len(new)} KPI target breach(es)", body,
                  {"breaches": [{"kpi_code": b.kpi_code, "unit_code": b.unit_code, "grain": b.grain,
                                 "period_start": b.period_start.isoformat(), "value": str(b.value),
                                 "bound": b.bound, "target": str(b.target)} for b in new]})
    delivery = send(alert)
    record(url, KIND, [b.key for b in new], alert, delivery)
    result.update(channels=delivery.sent, failed=delivery.failed)
    if not delivery.ok:
        raise AlertDeliveryFailed(f"KPI target alert not delivered by {sorted(delivery.failed)}: {delivery.failed}")
    return result


def record(url: str | None, kind: str, keys: list[str], alert: Alert, delivery) -> None:
    from ..warehouse import connect

    with connect(url) as conn:
        with conn.cursor().copy("COPY quality.alert_log (kind, alert_key, subject, body, channels, failed) FROM STDIN") as cp:
            for key in keys:
                cp.write_row((kind, key, alert.subject, alert.body, delivery.sent, sorted(delivery.failed)))
