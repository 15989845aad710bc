"""Airflow's distributed engine on this machine, without Docker: the production topology in CI.

The same components as ``docker-compose.yaml`` — API server, scheduler, DAG processor and
CeleryExecutor workers — each a separate process (its own session / process group), against the
PostgreSQL server (a fresh metadata database and a fresh warehouse database) and Redis (a database
number nobody else is using). Every process runs from the project's own venv with an environment
built here from scratch: nothing leaks in from the test session or the developer's shell.

Used by ``tests/dags/test_distributed_celery.py`` (see that module for what the test proves) and
by the bench's backfill section (``bench.backfill_quarter``: the same range with 1 and with 2
workers).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from campus_logistics.settings import TIME_ZONE

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
SIMPLE_AUTH = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_db(url: str, db: str, scheme: str | None = None) -> str:
    parts = urlsplit(url)
    return urlunsplit((scheme or parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment))


def free_redis_db(host: str = "127.0.0.1", port: int = 6379) -> int:
    """An empty Redis database number (1-15), chosen at random so parallel runs do not meet."""
    import random

    import redis

    candidates = list(range(1, 16))
    random.shuffle(candidates)
    for n in candidates:
        client = redis.Redis(host=host, port=port, db=n)
        try:
            if client.dbsize() == 0:
                return n
        finally:
            client.close()
    raise RuntimeError("no empty Redis database among 1-15")


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path
    killed: bool = False

    @property
    def pgid(self) -> int:
        return self.popen.pid  # started with start_new_session: its pid is its process group id

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, n: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        return ""


def process_tree(pid: int) -> list:
    """``pid`` and all its descendants (psutil processes), collected before anything is signalled:
    the Airflow supervisor puts each task process in a process group of its own, so killing the
    worker's group alone would leave the running task behind."""
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def stop_group(pgid: int, sig: int = signal.SIGTERM, grace: float = 15.0) -> None:
    """Signal a process group and every descendant of its leader, then SIGKILL whatever is left
    after ``grace`` seconds."""
    import psutil

    tree = process_tree(pgid)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)
    for p in tree:
        with contextlib.suppress(psutil.Error):
            p.send_signal(sig)
    _, alive = psutil.wait_procs(tree, timeout=grace)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    psutil.wait_procs(alive, timeout=5)


@dataclass
class Cluster:
    """Metadata DB + warehouse DB + Redis db + Airflow components, torn down by ``close()``."""

    pg_admin_url: str  # postgresql://postgres@127.0.0.1:5432/postgres
    workdir: Path
    landing: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    redis_host: str = "127.0.0.1"
    redis_port: int = 6379
    worker_concurrency: int = 2  # task slots per Celery worker

    def __post_init__(self) -> None:
        tag = uuid.uuid4().hex[:10]
        self.meta_db = f"cl_af_{tag}"
        self.warehouse_db = f"cl_wh_{tag}"
        self.redis_db: int | None = None
        self.home = self.workdir / "airflow-home"
        self.logs = self.workdir / "logs"
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.password = secrets.token_urlsafe(18)
        self.procs: dict[str, Proc] = {}
        self._created: list[str] = []
        self._token: str | None = None

    # --- databases --------------------------------------------------------------------------
    @property
    def warehouse_url(self) -> str:
        return with_db(self.pg_admin_url, self.warehouse_db)

    def _create_databases(self) -> None:
        import psycopg

        with psycopg.connect(self.pg_admin_url, autocommit=True) as conn:
            for db in (self.meta_db, self.warehouse_db):
                conn.execute(f'CREATE DATABASE "{db}"')
                self._created.append(db)

    def _drop_databases(self) -> None:
        import psycopg

        with psycopg.connect(self.pg_admin_url, autocommit=True) as conn:
            for db in self._created:
                conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        self._created.clear()

    # --- environment ------------------------------------------------------------------------
    def env(self, **overrides: str) -> dict[str, str]:
        from cryptography.fernet import Fernet

        from campus_logistics.warehouse import connection_json

        if not hasattr(self, "_secrets"):
            self._secrets = {
                "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
                "AIRFLOW__API__SECRET_KEY": secrets.token_hex(32),
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(64),
                "AIRFLOW_VAR_PSEUDONYM_SECRET_KEY": secrets.token_hex(32),
            }
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CAMPUS_LOGISTICS_"))}
        meta = with_db(self.pg_admin_url, self.meta_db, "postgresql+psycopg2")
        env = {
            **base,
            **self._secrets,
            "PATH": f"{VENV_BIN}{os.pathsep}{base.get('PATH', '')}",
            "PYTHONUNBUFFERED": "1",
            "GX_ANALYTICS_ENABLED": "False",
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DEFAULT_TIMEZONE": TIME_ZONE,
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "campus_logistics.worker_identity.hostname",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": meta,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.base_url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__CELERY__BROKER_URL": f"redis://{self.redis_host}:{self.redis_port}/{self.redis_db}",
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + with_db(self.pg_admin_url, self.meta_db),
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.worker_concurrency),
            # Fast scheduling for a short test: a killed worker's task is declared dead after 15 s
            # without heartbeat (production: 300 s), checked every 2 s.
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "15",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            # Only the runs the test triggers: no scheduled run for "today" when a DAG is unpaused.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "2",
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "2",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW_CONN_WAREHOUSE": connection_json(self.warehouse_url),
            "CAMPUS_LOGISTICS_LANDING": str(self.landing),
            "CAMPUS_LOGISTICS_PGDATA": str(self.workdir / "no-embedded-warehouse"),
        }
        env.update(self.extra_env)
        env.update(overrides)
        return env

    # --- processes --------------------------------------------------------------------------
    def start(self, name: str, *args: str, **env: str) -> Proc:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / f"{name}.log"
        fh = open(log, "ab")
        popen = subprocess.Popen([str(VENV_BIN / "airflow"), *args], env=self.env(**env), stdout=fh,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.workdir,
                                 start_new_session=True)
        fh.close()
        proc = Proc(name, popen, log)
        self.procs[name] = proc
        return proc

    def start_worker(self, name: str, concurrency: int | None = None) -> Proc:
        # --skip-serve-logs: two workers on one host would clash on the log server port; the API
        # server reads the task logs from the shared AIRFLOW_HOME/logs instead.
        return self.start(name, "celery", "worker", "--celery-hostname", f"{name}@%h", "--concurrency",
                          str(concurrency or self.worker_concurrency), "--skip-serve-logs", CAMPUS_LOGISTICS_WORKER_NAME=name)

    def kill(self, name: str) -> None:
        """SIGKILL a component with every process under it (the worker and the tasks it runs), as
        if its machine died."""
        proc = self.procs[name]
        proc.killed = True
        stop_group(proc.pgid, signal.SIGKILL, grace=5)
        with contextlib.suppress(Exception):
            proc.popen.wait(timeout=5)

    def up(self, workers: tuple[str, ...] = ("w1", "w2"), timeout: float = 90) -> None:
        """Create the databases, migrate both, start every component and wait until usable."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.redis_db = free_redis_db(self.redis_host, self.redis_port)
        self._create_databases()
        pw = self.home / "passwords.json"
        fd = os.open(pw, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"admin": self.password}, fh)
        # What docker-compose.yaml's airflow-init runs: the warehouse found through AIRFLOW_CONN_WAREHOUSE.
        for cmd in ([str(VENV_BIN / "python"), "-m", "campus_logistics", "warehouse", "migrate"],
                    [str(VENV_BIN / "airflow"), "db", "migrate"]):
            done = subprocess.run(cmd, env=self.env(), capture_output=True, text=True, timeout=180, cwd=self.workdir)
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd[-3:])} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        self.start("api-server", "api-server", "--port", str(self.port), "--host", "127.0.0.1")
        self.start("scheduler", "scheduler")
        self.start("dag-processor", "dag-processor")
        for w in workers:
            self.start_worker(w)
        deadline = time.monotonic() + timeout
        self._wait(lambda: self._health_ok(), deadline, "API server health")
        self._wait(lambda: all(self._worker_ready(w) for w in workers), deadline, "Celery workers ready")

    def _wait(self, check, deadline: float, what: str) -> None:
        while time.monotonic() < deadline:
            dead = [p.name for p in self.procs.values() if not p.alive() and p.name in self._expected_alive()]
            if dead:
                raise RuntimeError(f"{', '.join(dead)} exited while waiting for {what}:\n"
                                   + "\n".join(self.procs[d].tail() for d in dead))
            if check():
                return
            time.sleep(0.5)
        raise TimeoutError(f"timed out waiting for {what}\n" + self.diagnostics())

    def _expected_alive(self) -> set[str]:
        return {n for n, p in self.procs.items() if not p.killed}

    def _health_ok(self) -> bool:
        import httpx

        try:
            r = httpx.get(f"{self.base_url}/api/v2/monitor/health", timeout=2)
        except httpx.HTTPError:
            return False
        return r.status_code == 200

    def _worker_ready(self, name: str) -> bool:
        """Celery logs "<name>@<host> ready." once it consumes from the broker."""
        with contextlib.suppress(OSError):
            return re.search(rf"\b{re.escape(name)}@\S+ ready\.", self.procs[name].log.read_text(errors="replace")) is not None
        return False

    def diagnostics(self) -> str:
        return "\n".join(f"--- {p.name} (alive={p.alive()}) ---\n{p.tail(25)}" for p in self.procs.values())

    def close(self) -> None:
        """Stop every component by process group, then drop the databases and the Redis db."""
        for proc in reversed(list(self.procs.values())):
            stop_group(proc.pgid, signal.SIGTERM, grace=10)
            with contextlib.suppress(Exception):
                proc.popen.wait(timeout=5)
        if self.redis_db is not None:
            import redis

            client = redis.Redis(host=self.redis_host, port=self.redis_port, db=self.redis_db)
            with contextlib.suppress(Exception):
                client.flushdb()
            client.close()
        self._drop_databases()

    # --- REST API ---------------------------------------------------------------------------
    def token(self) -> str:
        import httpx

        if self._token is None:
            r = httpx.post(f"{self.base_url}/auth/token", json={"username": "admin", "password": self.password},
                           timeout=10)
            r.raise_for_status()
            self._token = r.json()["access_token"]
        return self._token

    def api(self, method: str, path: str, **kwargs):
        import httpx

        r = httpx.request(method, f"{self.base_url}/api/v2{path}",
                          headers={"Authorization": f"Bearer {self.token()}"}, timeout=15, **kwargs)
        return r
