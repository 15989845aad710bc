"""Tests of campus_logistics_tools.airflow_runtime: env, metadata DB, in-process dag.test runs, standalone.

Airflow reads its configuration when ``airflow`` is first imported, so the test AIRFLOW_HOME must be
prepared before that.  ``prepare_test_session()`` below is a no-op if ``tests/conftest.py`` already
called it (the intended set-up: one throw-away AIRFLOW_HOME per pytest process); run alone, this
module prepares its own.  The DAGs used here are written by a fixture into a tmp folder that is
added as an extra DAG bundle, so the project's own ``dags/`` are never parsed by these tests.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request

import pytest

from campus_logistics_tools import airflow_runtime as rt

AIRFLOW_HOME = rt.prepare_test_session()  # before anything imports airflow

DAG_FILE = textwrap.dedent(
    '''
    """Tiny DAGs for tests/dags/test_airflow_runtime.py."""
    import pendulum
    from airflow.sdk import Asset, dag, task

    CANTEEN = Asset("campus_logistics://canteen")
    START = pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai")


    @dag(dag_id="rt_ok", schedule=None, start_date=START, catchup=False,
         params={"feed": "canteen", "rows": 3})
    def rt_ok():
        @task
        def extract(params=None, dag_run=None):
            return {"feed": params["feed"], "rows": list(range(int(params["rows"]))),
                    "conf": dict(dag_run.conf or {})}

        @task(outlets=[CANTEEN])
        def transform(data, outlet_events=None):
            total = sum(data["rows"])
            outlet_events[CANTEEN].extra = {"feed": data["feed"], "total": total}
            return {"feed": data["feed"], "total": total}

        @task
        def load(summary, data_interval_start=None, data_interval_end=None):
            return {"loaded": summary["total"],
                    "interval": [str(data_interval_start), str(data_interval_end)]}

        load(transform(extract()))


    rt_ok()


    @dag(dag_id="rt_fail", schedule=None, start_date=START, catchup=False)
    def rt_fail():
        @task
        def ok():
            return 7

        @task(retries=3)  # run_dag(disable_retries=True) must not wait for retries
        def explode(x):
            raise ValueError(f"canteen feed has {x} bad rows")

        @task
        def after(y):
            return y

        after(explode(ok()))


    rt_fail()


    @dag(dag_id="rt_env", schedule=None, start_date=START, catchup=False)
    def rt_env():
        @task
        def read():
            from airflow.sdk import Connection, Variable
            from airflow.sdk.exceptions import AirflowNotFoundException

            out = {}
            for conn_id in ("warehouse", "warehouse_uri"):
                c = Connection.get(conn_id)
                out[conn_id] = [c.conn_type, c.host, c.login, c.schema]
            try:
                Connection.get("no_such_conn")
                out["absent"] = "found"
            except AirflowNotFoundException as exc:
                out["absent"] = type(exc).__name__
            out["key"] = Variable.get("pseudonym_key")
            out["missing_var"] = Variable.get("no_such_var", default=None)
            return out

        read()


    rt_env()
    '''
)


@pytest.fixture(scope="module")
def test_dags(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runtime_dags")
    (folder / "runtime_test_dags.py").write_text(DAG_FILE)
    rt.ensure_metadata_db()
    with rt.extra_dag_folder(folder, name="runtime-tests"):
        yield folder


# --------------------------------------------------------------------------------------------
# Environment and metadata DB
# --------------------------------------------------------------------------------------------
def test_prepare_env_defaults_and_user_values_kept(tmp_path):
    assert rt.DEFAULT_HOME == rt.REPO_ROOT / "var" / "airflow"
    assert (rt.REPO_ROOT / "plugins" / "campus_logistics_tools" / "airflow_runtime.py").exists()
    code = textwrap.dedent(
        """
        import json, sys
        from campus_logistics_tools import airflow_runtime as rt
        changed = rt.prepare_airflow_env()
        print(json.dumps({"changed": changed, "airflow_imported": "airflow" in sys.modules}))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "GX_", "CAMPUS_"))}
    env.update(AIRFLOW_HOME=str(tmp_path / "h"), AIRFLOW__CORE__DEFAULT_TIMEZONE="UTC")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    data = json.loads(out.stdout)
    changed = data["changed"]
    assert not data["airflow_imported"]
    assert "AIRFLOW_HOME" not in changed and "AIRFLOW__CORE__DEFAULT_TIMEZONE" not in changed  # user's
    assert changed["AIRFLOW__CORE__DAGS_FOLDER"] == str(rt.REPO_ROOT / "dags")
    assert changed["AIRFLOW__CORE__PLUGINS_FOLDER"] == str(rt.REPO_ROOT / "plugins")
    assert changed["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert changed["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{tmp_path / 'h' / 'airflow.db'}"
    assert changed["GX_ANALYTICS_ENABLED"] == "False"
    assert "AIRFLOW__CORE__UNIT_TEST_MODE" not in changed


def test_session_home_is_prepared_and_migrated(test_dags):
    assert os.environ["AIRFLOW_HOME"] == str(AIRFLOW_HOME)
    assert os.environ["AIRFLOW__CORE__DEFAULT_TIMEZONE"] == "Asia/Shanghai"
    marker = json.loads((AIRFLOW_HOME / rt.MARKER_FILE).read_text())
    assert marker["airflow"] == rt._airflow_version()
    started = time.monotonic()
    assert rt.ensure_metadata_db() is False  # already migrated: cheap no-op
    assert time.monotonic() - started < 0.5


def test_ensure_metadata_db_concurrent_and_version_change(tmp_path, monkeypatch):
    """Two processes migrating one fresh home at once: one migrates, the other waits and skips."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CAMPUS_"))}
    env["AIRFLOW_HOME"] = str(tmp_path / "home")
    cmd = [sys.executable, "-m", "campus_logistics_tools.airflow_runtime", "migrate"]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert sorted(o[0].strip() for o in outs) == ["migrated", "up to date"]
    assert (tmp_path / "home" / "airflow.db").exists() and (tmp_path / "home" / "airflow.cfg").exists()
    # The marker records version + DB URL; another Airflow version (or URL) means "migrate again".
    marker = tmp_path / "home" / rt.MARKER_FILE
    assert json.loads(marker.read_text())["airflow"] == rt._airflow_version()
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{tmp_path / 'home' / 'airflow.db'}")
    assert rt._db_is_current(marker, rt._db_signature()) is True
    monkeypatch.setattr(rt, "_airflow_version", lambda: "0.0.1")
    assert rt._db_is_current(marker, rt._db_signature()) is False


# --------------------------------------------------------------------------------------------
# run_dag
# --------------------------------------------------------------------------------------------
def test_run_dag_success_returns_xcoms_conf_and_asset_event(test_dags):
    result = rt.run_dag("rt_ok", {"feed": "laundry", "rows": 4})
    assert result.state == "success" and result.ok
    assert result.failed_tasks == [] and result.errors == {}
    assert result.task_states == {"extract": "success", "transform": "success", "load": "success"}
    assert result.xcoms["extract"] == {"feed": "laundry", "rows": [0, 1, 2, 3], "conf": {"feed": "laundry", "rows": 4}}
    assert result.xcoms["transform"] == {"feed": "laundry", "total": 6}
    # Manual run without logical date: no data interval inside the task.
    assert result.xcoms["load"] == {"loaded": 6, "interval": ["None", "None"]}
    assert result.logical_date is None and result.data_interval is None
    assert result.run_id.startswith("manual__")
    json.dumps(result.to_dict())  # plain JSON-able

    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        events = session.scalars(select(AssetEvent).where(AssetEvent.source_run_id == result.run_id)).all()
        assert [(e.source_task_id, e.extra) for e in events] == [("transform", {"feed": "laundry", "total": 6})]


def test_two_runs_in_one_process_and_logical_date(test_dags):
    import pendulum

    first = rt.run_dag("rt_ok", {"feed": "canteen", "rows": 2})
    second = rt.run_dag("rt_ok", {"feed": "bath", "rows": 3})
    assert first.run_id != second.run_id
    assert first.xcoms["transform"] == {"feed": "canteen", "total": 1}
    assert second.xcoms["transform"] == {"feed": "bath", "total": 3}

    dated = rt.run_dag("rt_ok", {}, logical_date=pendulum.datetime(2026, 3, 5, 9, tz="Asia/Shanghai"))
    assert dated.logical_date is not None
    assert dated.xcoms["extract"]["feed"] == "canteen"  # params default when conf is empty
    assert dated.xcoms["load"]["interval"][0] != "None"


def test_failing_task_raises_dag_run_failed(test_dags):
    started = time.monotonic()
    with pytest.raises(rt.DagRunFailed) as info:
        rt.run_dag("rt_fail", {})
    assert time.monotonic() - started < 30  # retries were disabled
    msg = str(info.value)
    assert "rt_fail" in msg and info.value.result.run_id in msg
    assert "'explode' failed: ValueError: canteen feed has 7 bad rows" in msg
    assert "after (upstream_failed)" in msg
    res = info.value.result
    assert res.state == "failed" and res.failed_tasks == ["explode"]
    assert res.errors == {"explode": "ValueError: canteen feed has 7 bad rows"}
    assert "raise ValueError" in res.tracebacks["explode"]
    assert res.xcoms == {"ok": 7}
    assert res.task_states == {"ok": "success", "explode": "failed", "after": "upstream_failed"}


def test_connections_and_variables_from_env(test_dags, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_WAREHOUSE",
        json.dumps({"conn_type": "postgres", "host": "/some/socket/dir", "login": "postgres", "schema": "postgres"}),
    )
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE_URI", "postgresql://postgres@%2Fsome%2Fsocket%2Fdir/postgres")
    monkeypatch.setenv("AIRFLOW_VAR_PSEUDONYM_KEY", "s3cret")
    out = rt.run_dag("rt_env", {}).xcoms["read"]
    assert out["warehouse"] == ["postgres", "/some/socket/dir", "postgres", "postgres"]
    assert out["warehouse_uri"] == ["postgres", "/some/socket/dir", "postgres", "postgres"]
    assert out["absent"] == "AirflowNotFoundException"
    assert out["key"] == "s3cret" and out["missing_var"] is None


def test_unknown_dag(test_dags):
    with pytest.raises(rt.DagNotFound, match="no_such_dag"):
        rt.run_dag("no_such_dag", {})


# --------------------------------------------------------------------------------------------
# airflow standalone (about 25-30 s: opt in with CAMPUS_LOGISTICS_SLOW_TESTS=1 or -m slow)
# --------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _http(url: str, data: dict | None = None, token: str | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=json.dumps(data).encode() if data is not None else None)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, {}


@pytest.mark.embedded_only  # needs no warehouse: run once per CI, not again in the server pass
def test_standalone_serves_api_and_stops_whole_group(test_dags):
    import psutil

    port = _free_port()
    env = dict(os.environ)
    env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(_free_port())
    env["AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"] = str(_free_port())
    cmd = [sys.executable, "-m", "campus_logistics_tools.airflow_runtime", "standalone", "--port", str(port)]
    wrapper = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    descendants: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 90
        while True:
            assert wrapper.poll() is None, "standalone exited early"
            try:
                status, version = _http(f"{base}/api/v2/version")
                if status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "API did not come up in 90 s"
            time.sleep(0.5)
        assert version["version"] == rt._airflow_version()
        password = json.loads((AIRFLOW_HOME / rt.PASSWORDS_FILE).read_text())["admin"]
        status, tok = _http(f"{base}/auth/token", {"username": "admin", "password": password})
        assert status in (200, 201) and tok["access_token"]
        assert _http(f"{base}/api/v2/dags")[0] == 401
        assert _http(f"{base}/api/v2/dags", token=tok["access_token"])[0] == 200
        descendants = psutil.Process(wrapper.pid).children(recursive=True)
        assert len(descendants) >= 4  # standalone + scheduler + dag-processor + api-server + ...
        wrapper.send_signal(signal.SIGINT)  # what Ctrl-C delivers
        wrapper.wait(timeout=60)
        gone, alive = psutil.wait_procs(descendants, timeout=10)
        assert alive == [], f"orphans left: {alive}"
    finally:  # safety net: kill only what this test started
        if wrapper.poll() is None:
            wrapper.kill()
        for proc in descendants:
            if proc.is_running():
                proc.kill()
