"""Run the project's Airflow 3.3 DAGs locally: environment, metadata DB, ``dag.test`` and standalone.

Nothing here imports Airflow at module level.  Airflow reads its configuration (``AIRFLOW_HOME``,
``AIRFLOW__*`` variables, ``airflow.cfg``) once, when ``airflow`` is first imported, so
:func:`prepare_airflow_env` must run before *any* ``import airflow...`` (``airflow.sdk`` included)
in the process.  The functions below import Airflow lazily, after preparing the environment.

Public API
----------
``prepare_airflow_env(home=None, dags_folder=None, *, quiet=True) -> dict``
    Set the ``AIRFLOW_*`` environment for this project; returns what it set.
``ensure_metadata_db(*, force=False) -> bool``
    ``airflow db migrate`` once per AIRFLOW_HOME / Airflow version / DB URL (file-locked).
``run_dag(dag_id, conf=None, *, logical_date=None, disable_retries=True) -> RunResult``
    Run a DAG in-process with ``dag.test()``; raises :class:`DagRunFailed` if the run fails.
``load_dag(dag_id)``
    Parse the configured DAG bundles and return the SDK ``DAG`` object.
``extra_dag_folder(path, name="extra")``
    Context manager adding a local DAG bundle (e.g. a test's tmp dags folder) for the duration.
``start_standalone(port=8080, *, home=None, dags_folder=None) -> None``
    ``airflow standalone`` (UI + scheduler + dag-processor + triggerer) for ``make airflow``.

Command line: ``python -m campus_logistics_tools.airflow_runtime {standalone,migrate,run} ...``.

How task code reads run data in Airflow 3.3 (verified under ``dag.test`` and a real scheduler)
-----------------------------------------------------------------------------------------------
(a) Manual run conf / params::

        @task
        def load(params=None, dag_run=None):      # or ctx = get_current_context(); ctx["params"]
            feed = params["feed"]                  # DAG params, overridden by the run conf
            raw = dag_run.conf                     # the run conf exactly as triggered (dict)

    ``dag_run.conf`` is ``run_conf`` of ``dag.test`` / the trigger payload; ``params`` are the
    DAG's ``params`` merged with the conf (``[core] dag_run_conf_overrides_params`` is True by
    default, and conf keys absent from ``params`` are added too).

(b) Data interval::

        @task
        def kpi(data_interval_start=None, data_interval_end=None): ...

    Scheduled run of ``CronDataIntervalTimetable("0 2 * * *", timezone="Asia/Shanghai")``: the
    run that starts after 02:00 Shanghai on day D covers ``[D-1 02:00, D 02:00)`` Shanghai
    (values are pendulum datetimes in UTC: ``D-2 18:00Z .. D-1 18:00Z``; use
    ``.in_timezone("Asia/Shanghai")``); its ``logical_date`` equals ``data_interval_start`` and
    its run id is ``scheduled__<interval end, UTC ISO>``.  Manual runs: with no logical date (the Airflow 3
    default for UI/REST triggers, and ``run_dag(..., logical_date=None)``) both are ``None``
    (as is ``logical_date``); with a logical date L the timetable's *manual* interval is used,
    i.e. the last complete cron interval ending at or before L.

(c) Asset event with extras from ``@task(outlets=[Asset("campus_logistics://canteen")])``::

        outlet_events[CANTEEN].extra = {"rows": 42}      # outlet_events=None in the signature
        # or, in a generator task:  yield Metadata(CANTEEN, {"rows": 42}); return value still works

    The event is recorded when the task succeeds (also under ``dag.test``: rows in
    ``asset_event`` with ``extra``, ``source_dag_id``, ``source_run_id``).  Consumer DAG runs are
    queued only for *unpaused* consumer DAGs in the same metadata DB.

(d) In a DAG with ``schedule=[Asset(...)]`` / ``AssetAny(...)``::

        @task
        def consume(triggering_asset_events=None):
            for asset, events in triggering_asset_events.items():   # keys: Asset (uri, name)
                for ev in events:
                    ev.extra, ev.source_dag_id, ev.source_run_id, ev.source_task_id, ev.timestamp
            events = triggering_asset_events[CANTEEN]   # index by Asset/AssetAlias, not by str

    A manual / ``dag.test`` run of the consumer gets an empty mapping; the consumer's own
    ``logical_date`` / data interval are None (run id ``asset_triggered__...``).

Connections and variables from the environment (inside tasks, also under ``dag.test``)::

        from airflow.sdk import Connection, Variable
        from airflow.sdk.exceptions import AirflowNotFoundException
        conn = Connection.get("warehouse")      # AIRFLOW_CONN_WAREHOUSE (JSON or URI form)
        key = Variable.get("pseudonym_key")      # AIRFLOW_VAR_PSEUDONYM_KEY
        Variable.get("absent", default=None)     # None; without default: AirflowRuntimeError

    An absent connection raises ``airflow.sdk.exceptions.AirflowNotFoundException`` (subclass of
    ``AirflowException``), from ``Connection.get`` and ``BaseHook.get_connection`` alike.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import decimal
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_HOME = REPO_ROOT / "var" / "airflow"
DEFAULT_DAGS_FOLDER = REPO_ROOT / "dags"
DEFAULT_PLUGINS_FOLDER = REPO_ROOT / "plugins"
DEFAULT_TIMEZONE = "Asia/Shanghai"
DEFAULT_PORT = 8080

MARKER_FILE = ".campus_logistics_db_version"
LOCK_FILE = ".campus_logistics_db.lock"
PASSWORDS_FILE = "simple_auth_manager_passwords.json"
BUNDLE_CONFIG_ENV = "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"
LOCAL_BUNDLE_CLASS = "airflow.dag_processing.bundles.local.LocalDagBundle"

# Values this module put into os.environ (key -> value).  A key we set ourselves may be re-derived
# later (e.g. the SQLite URL after the home changes); a key the user set is never overwritten.
_OWNED: dict[str, str] = {}


# --------------------------------------------------------------------------------------------
# Environment
# --------------------------------------------------------------------------------------------
def _set(key: str, value: str, *, force: bool = False) -> None:
    """Set a default (``force=False``: only if unset, or still the value we set earlier) or an
    explicit choice (``force=True``: always; afterwards treated like a user setting)."""
    current = os.environ.get(key)
    if force:
        os.environ[key] = value
        _OWNED.pop(key, None)
    elif current is None or _OWNED.get(key) == current:
        os.environ[key] = value
        _OWNED[key] = value


def _configured_airflow_home() -> str | None:
    """AIRFLOW_HOME Airflow configured itself with, if it is already imported in this process."""
    cfg = sys.modules.get("airflow.configuration")
    return getattr(cfg, "AIRFLOW_HOME", None) if cfg is not None else None


def prepare_airflow_env(
    home: Path | str | None = None,
    dags_folder: Path | str | None = None,
    *,
    quiet: bool = True,
) -> dict[str, str]:
    """Put this project's Airflow settings into ``os.environ``; return the variables it changed.

    Explicit ``home`` / ``dags_folder`` arguments win.  Everything else is a default applied only
    if the variable is unset (or was set by an earlier call of this function):

    ========================================  ==============================================
    ``AIRFLOW_HOME``                           ``<repo>/var/airflow``
    ``AIRFLOW__CORE__DAGS_FOLDER``             ``<repo>/dags``
    ``AIRFLOW__CORE__PLUGINS_FOLDER``          ``<repo>/plugins``
    ``AIRFLOW__CORE__LOAD_EXAMPLES``           ``False``
    ``AIRFLOW__CORE__DEFAULT_TIMEZONE``        ``Asia/Shanghai``
    ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN``    ``sqlite:///<AIRFLOW_HOME>/airflow.db``
    ``AIRFLOW__LOGGING__LOGGING_LEVEL``        ``WARNING`` when ``quiet`` (task errors still show)
    ``GX_ANALYTICS_ENABLED``                   ``False``
    ========================================  ==============================================

    Deliberately *not* set:

    * ``AIRFLOW__CORE__UNIT_TEST_MODE`` -- it makes Airflow load its own ``unit_tests.cfg``
      (Airflow's test DAGs folder, ``load_examples=True``, a *random* fernet key and JWT secret per
      process), which breaks sharing one AIRFLOW_HOME between processes.  Not needed by dag.test.
    * Fernet key, JWT secret, API secret key: the first Airflow start writes
      ``AIRFLOW_HOME/airflow.cfg`` with random values, which every later process of that home
      reuses.  ``dag.test()`` talks to an in-process execution API and needs no secret or URL.

    Raises ``RuntimeError`` if Airflow was already imported in this process with another
    AIRFLOW_HOME (its configuration can no longer change).
    """
    before = dict(os.environ)
    owned_before = dict(_OWNED)
    if home is not None:
        _set("AIRFLOW_HOME", str(Path(home).resolve()), force=True)
    else:
        _set("AIRFLOW_HOME", str(DEFAULT_HOME))
    home_path = Path(os.environ["AIRFLOW_HOME"])

    configured = _configured_airflow_home()
    if configured is not None and Path(configured).resolve() != home_path.resolve():
        if "AIRFLOW_HOME" in before:
            os.environ["AIRFLOW_HOME"] = before["AIRFLOW_HOME"]
        else:
            os.environ.pop("AIRFLOW_HOME", None)
        _OWNED.clear()
        _OWNED.update(owned_before)
        raise RuntimeError(
            f"Airflow is already imported in this process with AIRFLOW_HOME={configured}; "
            f"cannot switch to {home_path}. Call prepare_airflow_env() before anything imports "
            "airflow (in tests: at the top of tests/conftest.py)."
        )
    home_path.mkdir(parents=True, exist_ok=True)

    if dags_folder is not None:
        _set("AIRFLOW__CORE__DAGS_FOLDER", str(Path(dags_folder).resolve()), force=True)
    else:
        _set("AIRFLOW__CORE__DAGS_FOLDER", str(DEFAULT_DAGS_FOLDER))
    _set("AIRFLOW__CORE__PLUGINS_FOLDER", str(DEFAULT_PLUGINS_FOLDER))
    _set("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    _set("AIRFLOW__CORE__DEFAULT_TIMEZONE", DEFAULT_TIMEZONE)
    _set("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{home_path / 'airflow.db'}")
    if quiet:
        _set("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    _set("GX_ANALYTICS_ENABLED", "False")
    return {k: v for k, v in os.environ.items() if before.get(k) != v}


TEST_SESSION_ENV = "CAMPUS_LOGISTICS_TEST_AIRFLOW_HOME"


def prepare_test_session(
    base: Path | str | None = None,
    *,
    dags_folder: Path | str | None = None,
    cleanup: bool = True,
) -> Path:
    """Give this (test) process its own throw-away AIRFLOW_HOME; idempotent per process.

    Call it at import time of ``tests/conftest.py`` -- before anything imports Airflow -- so the
    whole pytest session shares one home (one SQLite metadata DB, migrated once by
    :func:`ensure_metadata_db`).  Later calls in the same process return the same home.  A home
    recorded by a *parent* process (``CAMPUS_LOGISTICS_TEST_AIRFLOW_HOME`` is ``"<pid>:<path>"``)
    is not reused: pytest-xdist workers each get their own home, as SQLite does not like
    concurrent writers.  The DAGs folder defaults to ``<repo>/dags``; tests with their own DAG
    files add them with :func:`extra_dag_folder`.  The metadata DB is always a SQLite file in
    the new home (an ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` from the shell is dropped).  The home
    is deleted at exit if ``cleanup``.
    """
    recorded = os.environ.get(TEST_SESSION_ENV, "")
    pid, _, path = recorded.partition(":")
    if pid == str(os.getpid()) and path:
        return Path(path)
    import atexit
    import shutil
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="cl-airflow-", dir=str(base) if base is not None else None))
    home = root / "home"
    if recorded and path:
        # Values a parent test session derived from its home (e.g. the SQLite URL) must not leak.
        for key, value in list(os.environ.items()):
            if key.startswith("AIRFLOW") and path in value:
                del os.environ[key]
    # Never let a test session write into a metadata DB configured in the developer's shell.
    os.environ.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)
    prepare_airflow_env(home=home, dags_folder=dags_folder if dags_folder is not None else DEFAULT_DAGS_FOLDER)
    os.environ[TEST_SESSION_ENV] = f"{os.getpid()}:{home}"
    if cleanup:
        atexit.register(shutil.rmtree, root, True)
    return home


def airflow_home() -> Path:
    """The prepared AIRFLOW_HOME (prepares the environment if needed)."""
    if "AIRFLOW_HOME" not in os.environ:
        prepare_airflow_env()
    return Path(os.environ["AIRFLOW_HOME"])


def airflow_command() -> list[str]:
    """The ``airflow`` CLI of the current interpreter's venv (not whatever is first on PATH)."""
    exe = Path(sys.executable).parent / "airflow"  # no resolve(): a venv's python is a symlink
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-m", "airflow"]


# --------------------------------------------------------------------------------------------
# Metadata DB
# --------------------------------------------------------------------------------------------
def _airflow_version() -> str:
    from importlib.metadata import version

    return version("apache-airflow")


def _sqlite_path(url: str) -> Path | None:
    if not url.startswith("sqlite:///"):
        return None
    return Path(url[len("sqlite:///") :].split("?", 1)[0])


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _db_signature() -> str:
    import hashlib

    url = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
    url_hash = hashlib.sha256(url.encode()).hexdigest()[:16]  # the URL may hold a password
    return json.dumps({"airflow": _airflow_version(), "db_url_sha256": url_hash}, sort_keys=True)


def _db_is_current(marker: Path, signature: str) -> bool:
    try:
        if marker.read_text() != signature:
            return False
    except OSError:
        return False
    db_file = _sqlite_path(os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", ""))
    return db_file is None or db_file.exists()


def ensure_metadata_db(*, force: bool = False, timeout: float = 600) -> bool:
    """Run ``airflow db migrate`` if this AIRFLOW_HOME has not been migrated for this Airflow.

    A marker file ``AIRFLOW_HOME/.campus_logistics_db_version`` records the Airflow version and
    a hash of the DB URL of the last successful migration; when both match (and the SQLite file exists)
    this is a cheap no-op.  Concurrent callers (several processes, pytest-xdist workers sharing a
    home) serialise on an ``fcntl`` lock file and re-check the marker after acquiring it, so only
    one of them migrates.  The migrate subprocess also writes ``airflow.cfg`` (with its random
    fernet key / JWT secret) into a fresh home.  Returns True if it migrated.
    """
    prepare_airflow_env()
    home = airflow_home()
    marker = home / MARKER_FILE
    signature = _db_signature()
    if not force and _db_is_current(marker, signature):
        return False
    with _file_lock(home / LOCK_FILE):
        if not force and _db_is_current(marker, signature):
            return False
        proc = subprocess.run(
            [*airflow_command(), "db", "migrate"],
            env=dict(os.environ),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout or "")[-4000:]
            raise RuntimeError(f"`airflow db migrate` failed (exit {proc.returncode}):\n{tail}")
        tmp = marker.with_suffix(".tmp")
        tmp.write_text(signature)
        os.replace(tmp, marker)
    return True


# --------------------------------------------------------------------------------------------
# DAG loading
# --------------------------------------------------------------------------------------------
class DagNotFound(LookupError):
    """The DAG id is in no configured bundle (or its file failed to import)."""


def _bundle_config() -> list[dict[str, Any]]:
    raw = os.environ.get(BUNDLE_CONFIG_ENV)
    if raw:
        return json.loads(raw)
    return [
        {
            "name": "dags-folder",
            "classpath": LOCAL_BUNDLE_CLASS,
            "kwargs": {"path": os.environ.get("AIRFLOW__CORE__DAGS_FOLDER", str(DEFAULT_DAGS_FOLDER))},
        }
    ]


@contextlib.contextmanager
def extra_dag_folder(path: Path | str, name: str = "extra") -> Iterator[str]:
    """Temporarily add ``path`` as a local DAG bundle called ``name`` (listed first).

    Airflow reads ``[dag_processor] dag_bundle_config_list`` afresh for every bundle manager, so
    this works after Airflow is imported -- e.g. a test module that writes its own tiny DAGs
    into a tmp folder while the session's AIRFLOW_HOME keeps the project's ``dags/``.
    """
    previous = os.environ.get(BUNDLE_CONFIG_ENV)
    config = [b for b in _bundle_config() if b.get("name") != name]
    config.insert(0, {"name": name, "classpath": LOCAL_BUNDLE_CLASS, "kwargs": {"path": str(Path(path).resolve())}})
    os.environ[BUNDLE_CONFIG_ENV] = json.dumps(config)
    try:
        yield name
    finally:
        if previous is None:
            os.environ.pop(BUNDLE_CONFIG_ENV, None)
        else:
            os.environ[BUNDLE_CONFIG_ENV] = previous


def load_dag(dag_id: str):
    """Parse the configured DAG bundles (``dags-folder`` = DAGS_FOLDER, plus any extra ones) and
    return the Task SDK ``DAG`` for ``dag_id``.

    This is what ``airflow dags test`` does in 3.3 (``BundleDagBag`` per bundle).  The bundle that
    already owns the DAG in the metadata DB is parsed first.  ``dag.test()`` itself then writes the
    serialized DAG (and a DagVersion) into the metadata DB, so no separate sync is needed -- but
    the DAG file must live inside a configured bundle, not just anywhere.
    """
    prepare_airflow_env()
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag
    from airflow.models.dag import DagModel

    bundles = list(DagBundlesManager().get_all_dag_bundles())
    with contextlib.suppress(Exception):
        owner = DagModel.get_current(dag_id)
        if owner is not None and owner.bundle_name:
            bundles.sort(key=lambda b: b.name != owner.bundle_name)
    import_errors: dict[str, str] = {}
    for bundle in bundles:
        if not bundle.is_initialized:
            bundle.initialize()
        bag = BundleDagBag(dag_folder=bundle.path, bundle_path=bundle.path, bundle_name=bundle.name)
        dag = bag.dags.get(dag_id)
        if dag is not None:
            return dag
        import_errors.update({f"{bundle.name}:{k}": v for k, v in bag.import_errors.items()})
    detail = "".join(f"\n--- {f}\n{e.strip()}" for f, e in import_errors.items())
    names = ", ".join(f"{b.name}={b.path}" for b in bundles)
    raise DagNotFound(f"DAG {dag_id!r} not found in bundles [{names}]" + (f"; import errors:{detail}" if detail else ""))


# --------------------------------------------------------------------------------------------
# Running DAGs in-process
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass
class RunResult:
    """Outcome of :func:`run_dag`.  Everything is plain JSON-able data."""

    dag_id: str
    run_id: str
    state: str
    logical_date: str | None
    data_interval: tuple[str, str] | None
    conf: dict[str, Any]
    task_states: dict[str, str]
    failed_tasks: list[str]
    errors: dict[str, str]  # task_id -> "ExcType: message" of the exception raised in the task
    tracebacks: dict[str, str]
    xcoms: dict[str, Any]  # task_id -> return value (list by map_index for mapped tasks)
    duration_s: float

    @property
    def ok(self) -> bool:
        return self.state == "success"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class DagRunFailed(RuntimeError):
    """A DAG run ended in a state other than ``success``.  ``.result`` holds the RunResult."""

    def __init__(self, result: RunResult):
        self.result = result
        parts = [f"DAG {result.dag_id!r} run {result.run_id!r} ended {result.state}"]
        for task_id in result.failed_tasks:
            parts.append(f"task {task_id!r} failed: {result.errors.get(task_id, '(no exception captured)')}")
        others = sorted(t for t, s in result.task_states.items() if s not in ("success", "failed", "skipped"))
        if others:
            parts.append("not run: " + ", ".join(f"{t} ({result.task_states[t]})" for t in others))
        super().__init__("; ".join(parts))


class _FailureListener:
    """Airflow listener recording the exception of every failing task instance in this process.

    ``on_task_instance_failed(previous_state, task_instance, error)`` is called by the task runner's
    ``finalize()`` with the exception object -- under ``dag.test()`` that runs in this process
    (``dag.test`` itself only logs the error and returns the DagRun).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.errors: dict[tuple[str, str], dict[str, tuple[str, str]]] = {}

    def on_task_instance_failed(self, previous_state, task_instance, error) -> None:
        key = (str(getattr(task_instance, "dag_id", "")), str(getattr(task_instance, "run_id", "")))
        task_id = str(getattr(task_instance, "task_id", "?"))
        map_index = getattr(task_instance, "map_index", -1)
        if map_index is not None and map_index >= 0:
            task_id = f"{task_id}[{map_index}]"
        if error is None:
            text, tb = "(task failed without an exception)", ""
        else:
            text = f"{type(error).__name__}: {error}"
            tb = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        with self._lock:
            self.errors.setdefault(key, {})[task_id] = (text, tb)

    def pop(self, dag_id: str, run_id: str) -> dict[str, tuple[str, str]]:
        with self._lock:
            return self.errors.pop((dag_id, run_id), {})


_LISTENER: _FailureListener | None = None


def _failure_listener() -> _FailureListener:
    global _LISTENER
    if _LISTENER is None:
        from airflow.listeners import hookimpl
        from airflow.sdk.listener import get_listener_manager

        class _Registered(_FailureListener):
            @hookimpl
            def on_task_instance_failed(self, previous_state, task_instance, error) -> None:
                super().on_task_instance_failed(previous_state, task_instance, error)

        listener = _Registered()
        get_listener_manager().add_listener(listener)
        _LISTENER = listener
    return _LISTENER


def _json_default(value: Any) -> Any:
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "to_dict"):
        with contextlib.suppress(Exception):
            return value.to_dict()
    return str(value)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=_json_default))


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _quiet_noise() -> None:
    import warnings

    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette.testclient`")


def run_dag(
    dag_id: str,
    conf: Mapping[str, Any] | None = None,
    *,
    logical_date: _dt.datetime | None = None,
    disable_retries: bool = True,
) -> RunResult:
    """Run ``dag_id`` once in this process with ``dag.test()`` and return a :class:`RunResult`.

    * ``conf`` becomes ``dag_run.conf`` (and overrides/extends ``params``).
    * ``logical_date=None`` (default) is an Airflow 3 manual run without logical date:
      ``logical_date`` and ``data_interval_start/end`` are None inside tasks, and the run id is
      ``manual__<now ISO>_<random>`` -- unique per call.  With a datetime, the DAG's timetable
      infers the manual data interval for it (for a cron-interval DAG: the last complete interval).
    * ``disable_retries`` sets ``retries=0`` on the parsed tasks: ``dag.test`` honours
      ``retry_delay`` by sleeping in its loop, so a failing task with retries would stall the call.

    Raises :class:`DagRunFailed` (message: DAG, run id, each failed task with the exception text
    raised in it, tasks that never ran) if the run does not succeed; :class:`DagNotFound` if no
    bundle defines the DAG.

    Caveat (Airflow 3.3.2 ``dag.test``): before creating its run it *deletes* an existing run of
    the same DAG with the same logical date -- for ``logical_date=None`` that is a previous
    no-logical-date run (and its task instances and XComs).  Results are therefore collected
    right away; do not rely on older runs' rows, and do not run one DAG concurrently in two
    processes that share a metadata DB.
    """
    prepare_airflow_env()
    ensure_metadata_db()
    _quiet_noise()

    dag = load_dag(dag_id)
    if disable_retries:
        for task in dag.tasks:
            task.retries = 0
    listener = _failure_listener()

    started = time.monotonic()
    dagrun = dag.test(run_conf=dict(conf) if conf is not None else None, logical_date=logical_date)
    duration = time.monotonic() - started
    return _collect_result(dag_id, dagrun, listener, duration)


def _collect_result(dag_id: str, dagrun, listener: _FailureListener, duration: float) -> RunResult:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    run_id = dagrun.run_id
    captured = listener.pop(dag_id, run_id)
    task_states: dict[str, str] = {}
    failed: list[str] = []
    xcoms: dict[str, Any] = {}
    with create_session() as session:
        tis = dagrun.get_task_instances(session=session)
        for ti in sorted(tis, key=lambda t: (t.task_id, t.map_index)):
            label = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
            state = str(ti.state.value if hasattr(ti.state, "value") else ti.state)
            task_states[label] = state
            if ti.state == TaskInstanceState.FAILED:
                failed.append(label)
        rows = session.scalars(XComModel.get_many(run_id=run_id, dag_ids=dag_id, key="return_value")).all()
        mapped: dict[str, dict[int, Any]] = {}
        for row in rows:
            value = _jsonable(XComModel.deserialize_value(row))
            if row.map_index is not None and row.map_index >= 0:
                mapped.setdefault(row.task_id, {})[row.map_index] = value
            else:
                xcoms[row.task_id] = value
        for task_id, by_index in mapped.items():
            xcoms[task_id] = [by_index[i] for i in sorted(by_index)]
        state = str(dagrun.state.value if hasattr(dagrun.state, "value") else dagrun.state)
        interval = None
        if dagrun.data_interval_start is not None and dagrun.data_interval_end is not None:
            interval = (_iso(dagrun.data_interval_start), _iso(dagrun.data_interval_end))
        result = RunResult(
            dag_id=dag_id,
            run_id=run_id,
            state=state,
            logical_date=_iso(dagrun.logical_date),
            data_interval=interval,
            conf=_jsonable(dagrun.conf or {}),
            task_states=task_states,
            failed_tasks=failed,
            errors={t: captured[t][0] if t in captured else "(no exception captured; see the task log output)" for t in failed},
            tracebacks={t: captured[t][1] for t in failed if t in captured},
            xcoms=xcoms,
            duration_s=round(duration, 3),
        )
    if not result.ok:
        raise DagRunFailed(result)
    return result


# --------------------------------------------------------------------------------------------
# airflow standalone
# --------------------------------------------------------------------------------------------
def _ensure_passwords_file(home: Path, user: str = "admin") -> tuple[Path, str | None]:
    """Create ``AIRFLOW_HOME/simple_auth_manager_passwords.json`` with a random password for
    ``user`` if it has none yet.  Returns (path, new password or None if it already existed)."""
    path = home / PASSWORDS_FILE
    data: dict[str, str] = {}
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(path.read_text())
    if isinstance(data, dict) and data.get(user):
        return path, None
    password = secrets.token_urlsafe(18)
    data = dict(data) if isinstance(data, dict) else {}
    data[user] = password
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
    return path, password


def standalone_env(port: int = DEFAULT_PORT) -> dict[str, str]:
    """The environment ``airflow standalone`` runs with (prepared env + UI/auth/port settings)."""
    prepare_airflow_env()
    home = airflow_home()
    env = dict(os.environ)
    if _OWNED.get("AIRFLOW__LOGGING__LOGGING_LEVEL") == env.get("AIRFLOW__LOGGING__LOGGING_LEVEL"):
        env["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "INFO"  # our quiet default is for in-process runs
    # `airflow standalone` starts its components as plain "airflow ..." looked up on PATH.
    venv_bin = str(Path(airflow_command()[0]).parent) if len(airflow_command()) == 1 else None
    if venv_bin and env.get("PATH", "").split(os.pathsep)[0] != venv_bin:
        env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
    env.setdefault("AIRFLOW__CORE__PARALLELISM", "4")
    env.setdefault(
        "AIRFLOW__CORE__AUTH_MANAGER",
        "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
    )
    env.setdefault("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "admin:admin")
    env.setdefault("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(home / PASSWORDS_FILE))
    env.setdefault("AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL", "30")  # see new DAG files sooner
    env.setdefault("AIRFLOW__API__HOST", "127.0.0.1")  # local UI; set 0.0.0.0 to expose it
    if port != DEFAULT_PORT:
        env.setdefault("AIRFLOW__API__PORT", str(port))
    if port != DEFAULT_PORT or env["AIRFLOW__API__HOST"] == "127.0.0.1":
        # Workers reach the execution API via BASE_URL; the default is http://localhost:8080, i.e.
        # the wrong port (every task fails) or a "localhost" that may resolve to ::1.
        env.setdefault("AIRFLOW__API__BASE_URL", f"http://127.0.0.1:{port}")
    return env


class _Stop(Exception):
    pass


def _stop_group(proc: subprocess.Popen, grace: float = 30.0) -> None:
    """SIGTERM the whole process group of ``proc`` (api-server, scheduler, dag-processor,
    triggerer and the executor's workers), then SIGKILL whatever is left after ``grace``."""
    pgid = proc.pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        proc.poll()
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        proc.wait(timeout=5)


def start_standalone(
    port: int = DEFAULT_PORT,
    *,
    home: Path | str | None = None,
    dags_folder: Path | str | None = None,
) -> None:
    """Run ``airflow standalone`` in the foreground until it exits or we get Ctrl-C / SIGTERM.

    Uses the project environment (see :func:`prepare_airflow_env`), ``parallelism=4``,
    SimpleAuthManager with user ``admin`` whose random password is generated once into
    ``AIRFLOW_HOME/simple_auth_manager_passwords.json`` (printed when created, never stored in the
    repo), the API bound to 127.0.0.1, and for a non-default port ``AIRFLOW__API__PORT`` +
    ``AIRFLOW__API__BASE_URL``.  Any of these set in the environment beforehand wins.  The
    venv's ``bin`` goes first on PATH: standalone starts its components as plain ``airflow``.
    Other fixed ports: worker log server 8793 and triggerer log server 8794
    (``AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT`` / ``..._TRIGGER_LOG_SERVER_PORT``).
    The server runs in its own session / process group; on Ctrl-C, SIGTERM or SIGHUP the whole
    group is terminated (a plain SIGTERM to ``airflow standalone`` alone orphans the scheduler
    and its workers).  REST: ``POST /auth/token`` with ``{"username": "admin", "password": ...}``
    gives ``access_token`` for ``Authorization: Bearer``.
    """
    prepare_airflow_env(home=home, dags_folder=dags_folder, quiet=False)
    ensure_metadata_db()
    env = standalone_env(port)
    pw_path, new_password = _ensure_passwords_file(airflow_home())
    print(f"Airflow UI: http://127.0.0.1:{port}/  user: admin", flush=True)
    if new_password:
        print(f"Generated password for admin (shown once, stored in {pw_path}): {new_password}", flush=True)
    else:
        print(f"Password for admin: see {pw_path}", flush=True)

    proc = subprocess.Popen([*airflow_command(), "standalone"], env=env, start_new_session=True)

    def _on_signal(signum, _frame):
        raise _Stop(signum)

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            previous[sig] = signal.signal(sig, _on_signal)
    try:
        proc.wait()
    except (_Stop, KeyboardInterrupt):
        print("Stopping Airflow standalone ...", flush=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _stop_group(proc)


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m campus_logistics_tools.airflow_runtime")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_sa = sub.add_parser("standalone", help="airflow standalone with the project settings")
    p_sa.add_argument("--port", type=int, default=int(os.environ.get("AIRFLOW_PORT", DEFAULT_PORT)))
    sub.add_parser("migrate", help="airflow db migrate if needed")
    p_run = sub.add_parser("run", help="run one DAG in-process with dag.test()")
    p_run.add_argument("dag_id")
    p_run.add_argument("--conf", default="{}", help="JSON run conf")
    args = parser.parse_args(argv)

    if args.cmd == "standalone":
        start_standalone(args.port)
        return 0
    if args.cmd == "migrate":
        print("migrated" if ensure_metadata_db() else "up to date")
        return 0
    try:
        result = run_dag(args.dag_id, json.loads(args.conf))
    except DagRunFailed as exc:
        print(json.dumps(exc.result.to_dict(), indent=2, ensure_ascii=False), file=sys.stderr)
        print(exc, file=sys.stderr)
        return 1
    print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
