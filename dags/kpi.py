"""Airflow DAG: recompute the reform KPIs for exactly the periods the feed loads touched (thin file)."""

from campus_logistics.dag_factory import kpi_dag
from campus_logistics.registry import FEEDS

dag = kpi_dag(
    list(FEEDS),
    description="改革指标 Reform KPIs: recompute the periods the feed loads changed, then reports and target alerts",
    doc_md="""
### Reform KPIs
Triggered by the feed DAGs' assets (`campus_logistics://feeds/<feed>`): each event carries the days
its load changed, and this DAG recomputes those days, their months and their years in
`mart.kpi_value` (annual flows summed, stocks at the last month, rates recomputed), refreshes
`mart.kpi_definition` from the KPI catalog, and the canteen drill-down. Trigger by hand with
`{"start": "YYYY-MM-DD", "end": "YYYY-MM-DD"}` or `{"days": [...]}` to recompute a range.
Then `report` writes the finance workbooks of the affected months and years to
`CAMPUS_LOGISTICS_REPORT_DIR`, and `targets` alerts KPIs outside `ref/targets.csv`.
""",
)
