"""Where alerts go. Configuration (environment, or Airflow variables/connections):

* **log** — always: a WARNING in the task log.
* **email** — when the Airflow connection ``smtp_alerts`` exists (id overridable with
  ``CAMPUS_LOGISTICS_ALERT_SMTP_CONN``) *and* recipients are set in ``CAMPUS_LOGISTICS_ALERT_EMAIL_TO``
  or the Airflow variable ``alert_email_to`` (comma-separated). Sent with the SMTP provider's
  ``SmtpHook`` (host, port, login, password and ``from_email``/``disable_tls``/``disable_ssl``
  extras come from the connection).
* **webhook** — when ``CAMPUS_LOGISTICS_ALERT_WEBHOOK_URL`` or the Airflow variable
  ``alert_webhook_url`` is set: the alert as JSON (``source``, ``kind``, ``subject``, ``text``,
  ``details``) POSTed to that URL.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from html import escape

from ..settings import current

log = logging.getLogger("campus_logistics.alerts")

SMTP_CONN_ENV = "CAMPUS_LOGISTICS_ALERT_SMTP_CONN"
EMAIL_TO_ENV, EMAIL_TO_VAR = "CAMPUS_LOGISTICS_ALERT_EMAIL_TO", "alert_email_to"
WEBHOOK_ENV, WEBHOOK_VAR = "CAMPUS_LOGISTICS_ALERT_WEBHOOK_URL", "alert_webhook_url"
WEBHOOK_TIMEOUT_S = 10


def _variable(variable: str) -> str | None:
    """The Airflow variable (inside tasks; absent elsewhere): where a setting left unset is looked up."""
    try:
        from airflow.sdk import Variable

        return Variable.get(variable, default=None)
    except Exception:  # noqa: BLE001 - outside a task, or no metadata DB: not configured
        return None


def _has_connection(conn_id: str) -> bool:
    if os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}"):
        return True
    try:
        from airflow.sdk import Connection

        Connection.get(conn_id)
        return True
    except Exception:  # noqa: BLE001 - AirflowNotFoundException, or no Airflow context
        return False


class LogChannel:
    name = "log"

    def send(self, alert) -> None:
        log.warning("ALERT %s: %s\n%s", alert.kind, alert.subject, alert.body)


class EmailChannel:
    name = "email"

    def __init__(self, conn_id: str, to: list[str]):
        self.conn_id, self.to = conn_id, to

    def send(self, alert) -> None:
        from airflow.providers.smtp.hooks.smtp import SmtpHook

        html = f"<pre style=\"font-family: monospace\">{escape(alert.body)}</pre>"
        with SmtpHook(smtp_conn_id=self.conn_id) as hook:
            hook.send_email_smtp(to=self.to, subject=alert.subject, html_content=html,
                                 custom_headers={"X-Campus-Logistics-Alert": alert.kind})


class WebhookChannel:
    name = "webhook"

    def __init__(self, url: str):
        self.url = url

    def send(self, alert) -> None:
        data = json.dumps(alert.as_json(), ensure_ascii=False, default=str).encode("utf-8")
        req = urllib.request.Request(self.url, data=data, method="POST",
                                     headers={"Content-Type": "application/json; charset=utf-8"})
        with urllib.request.urlopen(req, timeout=WEBHOOK_TIMEOUT_S) as resp:  # noqa: S310 - configured URL
            if not 200 <= resp.status < 300:
                raise RuntimeError(f"webhook answered HTTP {resp.status}")


def configured_channels() -> list:
    channels: list = [LogChannel()]
    s = current()
    conn_id = s.alert_smtp_conn
    to = list(s.alert_email_to) or [a.strip() for a in (_variable(EMAIL_TO_VAR) or "").split(",") if a.strip()]
    if to and _has_connection(conn_id):
        channels.append(EmailChannel(conn_id, to))
    url = s.alert_webhook_url or _variable(WEBHOOK_VAR)
    if url:
        channels.append(WebhookChannel(url))
    return channels
