"""Airflow plugin: each task instance's OpenLineage datasets are its own (campus_logistics.lineage_events).

Airflow's hook lineage collector lives as long as the process. A worker runs each task instance in
a process of its own, but ``dag.test`` (and the ``run`` command, which uses it) runs every task of
a run in one process: without this, the next task's events would repeat the load's files and
tables. The listener runs after the OpenLineage provider's (``trylast``), which has sent the
task's event by then, and empties the collector.
"""

from airflow.plugins_manager import AirflowPlugin
from airflow.providers.common.compat.sdk import hookimpl

from campus_logistics.lineage_events import forget


class _ForgetAfterTask:
    @hookimpl(trylast=True)
    def on_task_instance_success(self):
        forget()

    @hookimpl(trylast=True)
    def on_task_instance_failed(self):
        forget()

    @hookimpl(trylast=True)
    def on_task_instance_skipped(self):
        forget()


class CampusLogisticsLineagePlugin(AirflowPlugin):
    name = "campus_logistics_lineage"
    listeners = [_ForgetAfterTask()]
