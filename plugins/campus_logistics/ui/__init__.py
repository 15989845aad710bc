"""Pages inside the Airflow UI: reform KPIs, data quality and the Great Expectations Data Docs."""
