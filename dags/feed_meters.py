"""Airflow DAG: daily meter readings (energy-monitoring platform) → validated → warehouse (thin file)."""

from campus_logistics.dag_factory import feed_dag

dag = feed_dag(
    "meters",
    description="能耗监测 Meter readings: daily → checked → warehouse",
    doc_md="""
### Meter readings (能耗监测平台)
Loads `meters/meters_YYYYMMDD.csv` (UTF-8; `meter_id, read_at, reading, status`) for each day of the
run's data interval, or for the `start`–`end` days given when triggered by hand. Every file is gated
(encoding, header, non-empty, not truncated); rows are checked with Great Expectations (known meter,
parseable time inside the file's local day, numeric register, status `ok`/`estimated`/`replaced`),
duplicates are collapsed or quarantined, and each meter's readings are judged in time order:
registers going backwards without `replaced` (`negative_delta`) and hundredfold jumps
(`hundredfold_jump`) are quarantined in `quality.rejected_rows`, never summed. Plausible readings land
in `core.meter_reading`; the daily consumption per meter (register difference × multiplier, NULL when
the previous day's last reading is unknown) in `core.meter_daily`. Loading a day also refreshes the
next day if it is already loaded. The `kpi` DAG then recomputes the utilities KPIs of the days changed.
""",
)
