"""The bench report (`bench/results.md`) says on which machine each figure was measured."""

from __future__ import annotations


def test_a_backfill_measured_on_another_machine_says_so(tmp_path):
    """The report keeps the last full run's sections when only the backfill is re-run: it names the
    backfill's own machine wherever that differs, and says nothing extra when it does not."""
    from campus_logistics_tools.bench import write_report

    def machine(cpu):
        return {"cpu": cpu, "cores": 2, "memory_gib": 23.5, "postgresql": "18.4", "python": "3.11.7",
                "apache-airflow": "3.3.2", "great-expectations": "1.24.1", "pandas": "3.1.1", "pyarrow": "26.0.1"}

    run = {"workers": 1, "seconds": 10.0, "states": {"canteen": "success"}, "partitions_by_worker": {"canteen": {"w1": 3}}}
    backfill = {"when": "w", "students": 40_000, "start": "2024-09-01", "end": "2024-11-30", "days": 91,
                "rows": {"canteen": 1, "meters": 1}, "runs": [run], "machine": machine("CPU B")}
    results = {"when": "w", "args": "--backfill", "warehouse_kind": "embedded", "machine": machine("CPU A"),
               "backfill": backfill}
    write_report(results, tmp_path / "apart")
    report = (tmp_path / "apart" / "results.md").read_text(encoding="utf-8")
    assert "the backfill section, re-run apart, names its own" in report
    assert "on another machine: CPU B, 2 cores, 23.5 GiB; PostgreSQL 18.4." in report

    write_report({**results, "backfill": {**backfill, "machine": machine("CPU A")}}, tmp_path / "same")
    report = (tmp_path / "same" / "results.md").read_text(encoding="utf-8")
    assert "another machine" not in report and "re-run apart" not in report
