"""Airflow DAG: daily campus-card canteen transactions → validated → warehouse (thin file)."""

from campus_logistics.dag_factory import feed_dag

dag = feed_dag(
    "canteen",
    description="一卡通消费流水 Canteen transactions: daily campus-card POS export → checked → warehouse",
    doc_md="""
### Canteen transactions (一卡通消费流水)
Loads `canteen/canteen_YYYYMMDD.csv` (GB18030) for each day of the run's data interval, or for the
`start`–`end` days given when triggered by hand. Every file is gated (encoding, header, non-empty,
not truncated), its rows are checked with Great Expectations, bad rows are quarantined in
`quality.rejected_rows` with their rule, card numbers are pseudonymised, and the file is published
to `core.canteen_txn` in one transaction with its reconciliation in `quality.file_reconciliation`.
Late transactions land on their own day. The `kpi` DAG then recomputes the days this run changed.
""",
)
