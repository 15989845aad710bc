"""Airflow DAG: daily repair / service tickets → validated → warehouse (thin file)."""

from campus_logistics.dag_factory import feed_dag

dag = feed_dag(
    "work_orders",
    description="报修工单 Repair tickets: daily → checked → warehouse",
    doc_md="""
### Repair and service tickets (报修工单)
Loads `work_orders/work_orders_YYYYMMDD.json` for each day of the run's data interval, or for the
`start`–`end` days given when triggered by hand. Each file is a JSON array of every ticket created
or changed that day in its current state. The file is gated (not empty, UTF-8, valid JSON, not
truncated, an array), every ticket is checked with Great Expectations (fields, category in
`ref/sla.csv`, unit in `ref/sub_centres.csv`, times, status, rating 1–5, completion consistency)
and bad tickets are quarantined in `quality.rejected_rows` with their rule. Every version is kept
in `core.work_order_version` with its file; `core.work_order` holds each ticket's newest version
(newest `updated_at` wins, whatever order the files are loaded in). The `kpi` DAG then recomputes
the months whose repair KPIs this run changed.
""",
)
