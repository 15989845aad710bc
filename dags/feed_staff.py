"""Airflow DAG: monthly HR roster (人员花名册) → validated → warehouse (thin file)."""

from campus_logistics.dag_factory import feed_dag

dag = feed_dag(
    "staff",
    description="人员花名册 HR roster: monthly → checked → warehouse",
    doc_md="""
### HR roster (人员花名册)
Loads `staff/staff_YYYYMM.csv` (UTF-8, a BOM is allowed) for each month of the run's data interval,
or for the months of the `start`–`end` range given when triggered by hand. Every file is gated
(encoding, header, non-empty, not truncated), its rows are checked with Great Expectations (month of
the file, known unit, role/origin/payer, exact money), `staff_id` is pseudonymised (HMAC) before
anything is written, bad rows go to `quality.rejected_rows` with their rule, an identical repeat of
a person is collapsed and a person on two units (or with conflicting rows) is quarantined. The file
replaces its month in `core.staff_month`, with its reconciliation in `quality.file_reconciliation`.
The `kpi` DAG then recomputes the staffing KPIs of the months this run changed.
""",
)
