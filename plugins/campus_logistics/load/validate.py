"""Row-level validation with Great Expectations 1.x.

Each feed declares its rules as GX expectations tagged with ``meta={"rule": <id>}``. A batch (one
chunk of one file, as a pandas DataFrame carrying a ``_row`` column with the row's line number)
is validated with ``COMPLETE`` results keyed by ``_row``, so every failing row comes back with the
rules it broke: a ready quarantine list. A missing column or an expectation that raised is not a
row failure but a schema error, reported as such.

GX is imported lazily (it takes seconds), silenced, and run in one ephemeral context per process.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

log = logging.getLogger(__name__)

ROW = "_row"
_lock = threading.Lock()
_context = None
_validators: dict[tuple, Any] = {}

FILES_SEP = "\n"  # between file names in a result's run name (no file name holds a newline)


def _gx():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    for name in ("great_expectations", "great_expectations.core", "great_expectations.data_context"):
        logging.getLogger(name).setLevel(logging.WARNING)
    import great_expectations as gx

    return gx


def expectations():
    """The ``great_expectations.expectations`` module (imported on first use)."""
    _gx()
    import great_expectations.expectations as gxe

    return gxe


@dataclass(frozen=True)
class Rule:
    """One row-level rule: its id (what the quarantine records) and how to build its expectation."""

    rule_id: str
    build: Callable[[Any], Any]  # gxe module -> Expectation
    description: str = ""


@dataclass
class BatchResult:
    success: bool
    failures: dict[int, list[str]] = field(default_factory=dict)  # row number -> rule ids
    schema_errors: list[str] = field(default_factory=list)
    rule_counts: dict[str, int] = field(default_factory=dict)
    evaluated: int = 0

    def merge(self, other: "BatchResult") -> None:
        self.success = self.success and other.success
        for row, rules in other.failures.items():
            self.failures.setdefault(row, []).extend(rules)
        self.schema_errors.extend(other.schema_errors)
        for rule, n in other.rule_counts.items():
            self.rule_counts[rule] = self.rule_counts.get(rule, 0) + n
        self.evaluated += other.evaluated


def _get_context():
    global _context
    if _context is None:
        gx = _gx()
        _context = gx.get_context(mode="ephemeral")
        try:
            _context.variables.progress_bars = {"globally": False}
        except Exception:  # older/newer context variables shape: progress bars are cosmetic
            pass
    return _context


class Validator:
    """A GX validation definition for one suite, reusable across batches and files."""

    def __init__(self, suite_name: str, rules: Sequence[Rule]):
        gx = _gx()
        gxe = expectations()
        ctx = _get_context()
        self.suite_name = suite_name
        self.rule_order = [r.rule_id for r in rules]
        suite = gx.ExpectationSuite(name=suite_name)
        for rule in rules:
            exp = rule.build(gxe)
            exp.meta = {**(exp.meta or {}), "rule": rule.rule_id}
            suite.add_expectation(exp)
        suite = ctx.suites.add(suite)
        source = ctx.data_sources.add_pandas(f"{suite_name}_source")
        batch_def = source.add_dataframe_asset(f"{suite_name}_asset").add_batch_definition_whole_dataframe("whole")
        self._vd = ctx.validation_definitions.add(gx.ValidationDefinition(name=f"{suite_name}_vd", data=batch_def, suite=suite))

    def validate(self, df, key: str = ROW, files: Sequence[str] = ()) -> BatchResult:
        """Validate a batch; failures are keyed by the batch's ``key`` column (default: line number).
        ``files``: the landed files the batch's rows come from, which name the batch in the Data Docs
        (carried as the result's run name; ``quality_docs.publish`` replaces it by the Airflow run id)."""
        from great_expectations.core.run_identifier import RunIdentifier

        result = self._vd.run(
            run_id=RunIdentifier(run_name=FILES_SEP.join(files)) if files else None,
            batch_parameters={"dataframe": df},
            result_format={"result_format": "COMPLETE", "unexpected_index_column_names": [key],
                           "return_unexpected_index_query": False},
        )
        out = BatchResult(success=bool(result.success), evaluated=len(df))
        for res in result.results:
            rule = (res.expectation_config.meta or {}).get("rule", res.expectation_config.type)
            if res.success:
                continue
            raised = [v for v in (res.exception_info or {}).values() if isinstance(v, dict) and v.get("raised_exception")]
            if raised or not res.result:
                msg = "; ".join(str(v.get("exception_message")) for v in raised) or "expectation could not be evaluated"
                out.schema_errors.append(f"{rule}: {msg}")
                continue
            rows = [int(item[key]) for item in res.result.get("unexpected_index_list") or []]
            out.rule_counts[rule] = out.rule_counts.get(rule, 0) + len(rows)
            for row in rows:
                out.failures.setdefault(row, []).append(rule)
        order = {r: i for i, r in enumerate(self.rule_order)}
        for rules in out.failures.values():
            rules.sort(key=lambda r: order.get(r, len(order)))
        return out


def validator(suite_name: str, rules: Sequence[Rule], key: tuple = ()) -> Validator:
    """A cached Validator; ``key`` distinguishes suites whose rules depend on reference data."""
    cache_key = (suite_name, tuple(r.rule_id for r in rules), key)
    with _lock:
        v = _validators.get(cache_key)
        if v is None:
            name = f"{suite_name}_{len(_validators)}"
            v = _validators[cache_key] = Validator(name, rules)
        return v
