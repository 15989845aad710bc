"""Great Expectations Data Docs, built once per DAG run from the validation results of its loads.

Every ``ValidationDefinition.run`` leaves its result in the validation context's in-memory store.
At the end of a feed's load, :func:`save` moves those results into a filesystem results store
(``<docs dir>/results``) under the feed's suite name and the Airflow run id; the run's ``check``
task then builds the static site (``<docs dir>/site``) for that run's results once (:func:`build`:
rendering costs about as much as validating a 100,000-row day, so it is not paid per load task)
and rewrites the new pages to local assets. The in-memory store is emptied either way, so a
long-lived worker does not accumulate results.

Before anything is written, results are trimmed to GX's 20-value samples and values of personal
columns (card numbers, staff ids) are replaced by their pseudonyms, as in the quarantine. GX writes
table cells (unexpected values, observed values) into its pages without escaping, so every text a
result carries (besides the expectation arguments and meta, which GX's string templates escape)
is HTML-escaped first: a value from a file shows as text, never as markup or script.
``CAMPUS_LOGISTICS_DATA_DOCS_DIR`` moves the docs (default ``<repo>/var/data_docs``);
``CAMPUS_LOGISTICS_DATA_DOCS=off`` turns the build off; ``CAMPUS_LOGISTICS_DATA_DOCS_KEEP`` bounds
how many results the site keeps (the oldest are dropped; default 500).
"""

from __future__ import annotations

import fcntl
import html
import logging
import re
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from ..settings import current
from ..load.validate import FILES_SEP
from . import assets

log = logging.getLogger(__name__)

SITE_NAME = "campus_logistics"
PERSONAL_COLUMNS = frozenset({"卡号", "staff_id"})
SAMPLE = 20  # what GX's own SUMMARY format keeps; the pages show no more
_LIST_KEYS = ("unexpected_list", "unexpected_index_list", "partial_unexpected_list",
              "partial_unexpected_index_list", "partial_unexpected_counts")
_lock = threading.Lock()
_docs_contexts: dict[str, object] = {}


def docs_dir() -> Path:
    return current().data_docs_dir


def site_dir(root: Path | None = None) -> Path:
    return (root or docs_dir()) / "site"


def enabled() -> bool:
    return current().data_docs


def _safe(name: str) -> str:
    """A run id as a path segment (Airflow's contain ':' and '+')."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "run"


def batch_title(feed: str, files: list[str]) -> str:
    """What the Data Docs call a batch: its feed and source file(s). GX's index writes it into its
    table unescaped (its page header escapes it), so markup characters of a file name become "_"."""
    if not files:
        return feed
    shown = files[0] if len(files) == 1 else f"{files[0]} … {files[-1]} ({len(files)} files)"
    return re.sub(r"[<>&\"'`]", "_", f"{feed}: {shown}")


def batch_name(feed: str, files: list[str], seen: dict, suite: str, i: int) -> str:
    """The batch's id in the results store and the site's paths: the source file (the first of a
    window of files), a part number when one run validates the same file(s) in several batches;
    without files (a check over the whole load), the feed and the batch's position."""
    if not files:
        return f"{feed}-{i:03d}"
    base = _safe(files[0] if len(files) == 1 else f"{files[0]}_to_{files[-1]}")
    seen[(suite, base)] = seen.get((suite, base), 0) + 1
    return base if seen[(suite, base)] == 1 else f"{base}-part{seen[(suite, base)]}"


def _docs_context(root: Path):
    """An ephemeral GX context whose results store and Data Docs site live under ``root``."""
    key = str(root.resolve())
    ctx = _docs_contexts.get(key)
    if ctx is not None:
        return ctx
    from ..load.validate import _gx

    gx = _gx()
    from great_expectations.data_context.types.base import DataContextConfig, InMemoryStoreBackendDefaults

    cfg = DataContextConfig(store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False))
    cfg.stores["validation_results_store"] = {
        "class_name": "ValidationResultsStore",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(root / "results")},
    }
    cfg.data_docs_sites = {SITE_NAME: {
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(site_dir(root))},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        "site_section_builders": {"expectations": "None", "profiling": "None"},
    }}
    ctx = gx.get_context(project_config=cfg, mode="ephemeral")
    _docs_contexts[key] = ctx
    return ctx


@contextmanager
def _file_lock(root: Path):
    """Parallel load tasks (other processes) share the site: one build at a time."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".build.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def escape_text(value):
    """``value`` with every string in it (dict keys too, nested lists and dicts) HTML-escaped."""
    if isinstance(value, str):
        return html.escape(value, quote=True)
    if isinstance(value, dict):
        return {escape_text(k): escape_text(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(escape_text(v) for v in value)
    return value


def _escape_result(result) -> None:
    """HTML-escape, in place, the texts of a suite result that GX may write into its pages raw
    (table cells: unexpected values, observed values, exception messages). Expectation arguments
    (e.g. a value set from a reference file) and the meta (batch identifiers) go through GX's
    string templates, which escape them already."""
    for res in result.results:
        if res.result:
            res.result = escape_text(res.result)
        if res.exception_info:
            res.exception_info = escape_text(res.exception_info)


def scrub(result, pseudonymise: Callable[[str], str] | None) -> None:
    """Trim one suite result to samples, pseudonymise personal columns' values and HTML-escape every
    text, in place."""

    def pseudo(v):
        if v is None or pseudonymise is None:
            return None if pseudonymise is None else v
        return pseudonymise(str(v))

    for res in result.results:
        r = res.result or {}
        column = (res.expectation_config.kwargs or {}).get("column")
        for k in _LIST_KEYS:
            if isinstance(r.get(k), list):
                r[k] = r[k][:SAMPLE]
        r.pop("unexpected_index_query", None)
        for k in ("unexpected_index_list", "partial_unexpected_index_list"):
            for item in r.get(k) or []:
                if isinstance(item, dict):
                    for col in PERSONAL_COLUMNS & set(item):
                        item[col] = pseudo(item[col])
        if column in PERSONAL_COLUMNS:
            for k in ("unexpected_list", "partial_unexpected_list"):
                if k in r:
                    r[k] = [pseudo(v) for v in r[k]]
            for item in r.get("partial_unexpected_counts") or []:
                if isinstance(item, dict) and "value" in item:
                    item["value"] = pseudo(item["value"])
    _escape_result(result)


def _drain_memory_store() -> list:
    """(key, result) of every result the validation context holds, removing them from it."""
    from ..load import validate as validation

    if validation._context is None:
        return []
    store = validation._context.validation_results_store
    out = []
    for key in store.list_keys():
        try:
            out.append((key, store.get(key)))
        finally:
            store.remove_key(key)
    return out


def _prune(ctx, keep: int) -> None:
    store = ctx.validation_results_store
    keys = sorted(store.list_keys(), key=lambda k: (k.run_id.run_time, k.to_tuple()))
    for key in keys[:max(0, len(keys) - keep)]:
        store.remove_key(key)


def save(feed: str, run_id: str, pseudonymise: Callable[[str], str] | None = None,
         root: Path | None = None) -> int:
    """Move the results this process validated since the last call into the results store, under
    ``run_id``, trimmed, pseudonymised and escaped; returns how many. Cheap (no pages): a load task
    saves, and the run's ``check`` task builds the pages once (:func:`build`)."""
    with _lock:
        drained = _drain_memory_store()
        if not drained or not enabled():
            return 0
        from great_expectations.core.run_identifier import RunIdentifier
        from great_expectations.data_context.types.resource_identifiers import (ExpectationSuiteIdentifier,
                                                                                ValidationResultIdentifier)

        root = root or docs_dir()
        with _file_lock(root):
            ctx = _docs_context(root)
            drained.sort(key=lambda kr: kr[0].run_id.run_time)
            run_name = _safe(run_id)
            names: dict[tuple, int] = {}
            for i, (key, result) in enumerate(drained, 1):
                suite = re.sub(r"_\d+$", "", key.expectation_suite_identifier.name)  # validator cache suffix
                result.suite_name = suite
                result.meta["feed"], result.meta["airflow_run_id"] = feed, run_id
                files = [f for f in (key.run_id.run_name or "").split(FILES_SEP) if f]
                result.meta["source_files"] = files
                # GX shows this as the batch's "Data asset" (page header and index column)
                result.meta.setdefault("batch_spec", {})["data_asset_name"] = batch_title(feed, files)
                scrub(result, pseudonymise)
                run = RunIdentifier(run_name=run_name, run_time=key.run_id.run_time)
                result.meta["run_id"] = run  # the page's breadcrumb: the run, no longer the file names
                new_key = ValidationResultIdentifier(ExpectationSuiteIdentifier(suite), run,
                                                     batch_name(feed, files, names, suite, i))
                ctx.validation_results_store.set(new_key, result)
            _prune(ctx, current().data_docs_keep)
        return len(drained)


def build(run_id: str, root: Path | None = None) -> Path | None:
    """Build the site's pages for the results saved under ``run_id`` (every load of the run, in
    whichever process it ran) and the index; returns the index (None: nothing saved, or turned off)."""
    if not enabled():
        return None
    started = time.perf_counter()
    root = root or docs_dir()
    site = site_dir(root)
    run_name = _safe(run_id)
    with _lock, _file_lock(root):
        ctx = _docs_context(root)
        keys = [k for k in ctx.validation_results_store.list_keys() if k.run_id.run_name == run_name]
        if not keys:
            return None
        ctx.build_data_docs(site_names=[SITE_NAME], resource_identifiers=keys)
        assets.install_vendor(site)
        touched = {site / "validations" / k.expectation_suite_identifier.name / run_name for k in keys}
        for page in [site / "index.html", *(p for d in touched for p in d.rglob("*.html"))]:
            assets.rewrite_page(page, site)
    log.info("Data Docs: %d validation result(s) of run %s published to %s in %.2f s",
             len(keys), run_id, site, time.perf_counter() - started)
    return site / "index.html"


def publish(feed: str, run_id: str, pseudonymise: Callable[[str], str] | None = None,
            root: Path | None = None) -> Path | None:
    """:func:`save` then :func:`build`: the pages of what this process validated since the last
    call (None when nothing was validated or the build is turned off)."""
    if not save(feed, run_id, pseudonymise, root):
        return None
    return build(run_id, root)
