"""Tooling around the platform, not part of what Airflow workers run: the landing-zone generator
(``generate``), the benchmark (``bench``) and the local Airflow runtime (``airflow_runtime``:
metadata DB, in-process ``dag.test`` runs, ``airflow standalone``). The CLI imports it lazily."""
