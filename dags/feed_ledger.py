"""Airflow DAG: the centre's monthly second-level ledger (二级财务) → validated → warehouse (thin file)."""

from campus_logistics.dag_factory import feed_dag

dag = feed_dag(
    "ledger",
    description="后勤服务中心二级财务 Centre ledger: monthly → checked → warehouse",
    doc_md="""
### Centre ledger (后勤服务中心二级财务)
Loads `ledger/ledger_YYYYMM.csv` (UTF-8) for each month of the run's data interval, or for the
months of the `start`–`end` range given when triggered by hand. Every file is gated (encoding,
header, non-empty, not truncated), its lines are checked with Great Expectations (month of the file,
known unit, entry type, funding source, positive amount exact to the fen), bad lines go to
`quality.rejected_rows` with their rule. Identical lines are all kept (ledger lines have no id; two
equal entries can both be real). The file replaces its month in `core.ledger_line`. Because the
social-capital share is cumulative, the `kpi` DAG recomputes this month and every later loaded month.
""",
)
