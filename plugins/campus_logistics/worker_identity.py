"""The name a worker records in ``task_instance.hostname`` (Airflow's ``[core] hostname_callable``).

In containers every Celery worker has its own hostname, so Airflow's default (the FQDN) already
tells them apart. Several workers on one host share that FQDN, and then nobody can see which of
them ran a task. There, set ``AIRFLOW__CORE__HOSTNAME_CALLABLE=campus_logistics.worker_identity.hostname``
and give each worker its own ``CAMPUS_LOGISTICS_WORKER_NAME`` (e.g. the ``--celery-hostname``).
The same name is sent with every task heartbeat, so it must not change while a worker runs.
"""

from __future__ import annotations

import socket

from .settings import current

ENV_NAME = "CAMPUS_LOGISTICS_WORKER_NAME"


def hostname() -> str:
    """``CAMPUS_LOGISTICS_WORKER_NAME`` if set, else the host's FQDN (Airflow's default)."""
    return current().worker_name or socket.getfqdn()
