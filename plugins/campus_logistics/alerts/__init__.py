"""Alerts to the data office: a failed task, a KPI on the wrong side of its target, a late feed file.

An :class:`Alert` goes to every configured channel (``channels.py``): always the task log, and
e-mail through the Airflow SMTP provider and a JSON webhook when they are configured. Checks that
produce alerts live in ``targets.py`` (``ref/targets.csv``) and ``late.py`` (daily feed files not in
the landing directory by their due hour); ``on_task_failure`` is every task's failure callback.

Nothing here imports Airflow, psycopg or pandas at module level: ``dag_factory`` refers to the
callback at DAG parse time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ..errors import RetryableError

log = logging.getLogger(__name__)

SUBJECT_PREFIX = "[campus-logistics]"


@dataclass(frozen=True)
class Alert:
    kind: str  # task_failure | kpi_target | late_feed
    subject: str
    body: str
    details: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"source": "campus-logistics", "kind": self.kind, "subject": self.subject, "text": self.body,
                "details": self.details}


@dataclass
class Delivery:
    sent: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # channel -> error

    @property
    def ok(self) -> bool:
        return not self.failed


class AlertDeliveryFailed(RetryableError, RuntimeError):
    """A configured channel could not deliver: the task fails so Airflow retries it."""


def send(alert: Alert) -> Delivery:
    """Deliver to every configured channel; a failing channel never stops the others."""
    from .channels import configured_channels

    delivery = Delivery()
    for channel in configured_channels():
        try:
            channel.send(alert)
            delivery.sent.append(channel.name)
        except Exception as exc:  # noqa: BLE001 - report every channel's failure, keep going
            delivery.failed[channel.name] = f"{type(exc).__name__}: {exc}"
            log.error("alert channel %s failed for %r: %s", channel.name, alert.subject, delivery.failed[channel.name])
    return delivery


def on_task_failure(context) -> None:
    """``on_failure_callback`` of every task: says which DAG, task and run failed, and why.

    Runs after the task's final try (retries exhausted). It must never raise: the task has
    already failed and Airflow only logs a callback's error.
    """
    try:
        ti = context.get("ti") or context.get("task_instance")
        dag_id = getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", "?")
        task_id = getattr(ti, "task_id", "?")
        run_id = getattr(ti, "run_id", None) or context.get("run_id", "?")
        error = context.get("exception")
        error_text = f"{type(error).__name__}: {error}" if error is not None else "(no exception recorded)"
        details = {"dag_id": dag_id, "task_id": task_id, "run_id": run_id,
                   "try_number": getattr(ti, "try_number", None), "error": error_text[:4000],
                   "log_url": getattr(ti, "log_url", None)}
        body = (f"任务失败 / Task failed\n\nDAG: {dag_id}\nTask: {task_id}\nRun: {run_id}\n"
                f"Try: {details['try_number']}\nError: {error_text[:4000]}\n"
                + (f"Log: {details['log_url']}\n" if details["log_url"] else ""))
        send(Alert("task_failure", f"{SUBJECT_PREFIX} 任务失败 task failed: {dag_id}.{task_id}", body, details))
    except Exception:  # noqa: BLE001
        log.exception("failure alert could not be built or sent")
