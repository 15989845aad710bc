"""Nothing secret in the repository: every tracked file (``git ls-files``, whatever it is: code, docs,
compose files, CI scripts) is searched for secret-looking literals. The rules and the placeholders
they allow are listed in docs/security.md."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.conftest import ROOT

# placeholders a URL or a setting may show instead of a password (docs/security.md)
PLACEHOLDERS = {"password", "PASSWORD", "pass", "p", "***", "<password>", "...", "…"}
INTERPOLATION = re.compile(r"^(\$\{?[A-Za-z_][A-Za-z0-9_]*(:?-[^}]*)?\}?|\{\{.*\}\}|%\(.*\)s|<[^>]+>)$")

RULES: list[tuple[str, re.Pattern]] = [
    ("private key", re.compile(r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY(?: BLOCK)?-----")),
    ("AWS access key id", re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}\b")),
    ("AWS secret access key", re.compile(r"(?i)aws_?secret_?access_?key\W{0,4}[=:]\W{0,3}[A-Za-z0-9/+]{40}")),
    ("Fernet key", re.compile(r"(?<![A-Za-z0-9_\-])[A-Za-z0-9_\-]{43}=(?![A-Za-z0-9_=\-])")),
    ("GitHub/Slack/Google token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|xox[abpr]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_\-]{35})\b")),
    ("the tests' pseudonymisation key outside tests/", re.compile(r"test-key-0123456789abcdef")),
]
URL_PASSWORD = re.compile(r"\b[a-z][a-z0-9+.\-]*://([^/\s:@'\"`]+):([^@\s/'\"`]*)@")
# KEY: value / KEY=value / "key": "value" where the key names a secret (not inside ${KEY:?…} interpolation)
SETTING = re.compile(
    r"(?i)(?<!\$\{)\b([A-Za-z0-9_.]*(?:password|passwd|secret|token|fernet_key|api_key|private_key|pseudonym_key))"
    r"(?![A-Za-z0-9_])['\"]?\s*[:=]\s*['\"]?([^\s'\",{}\[#]+)")
# settings are searched in configuration, not in code, prose or vendored assets (names there are references)
NOT_CONFIG = re.compile(r"(\.(py|js|mjs|css|html|md|rst|txt|svg|map|png|jpg|lock)$|(^|/)vendor/)")
FILES_NEVER_TRACKED = re.compile(
    r"(^|/)(\.env(\.(?!example$|sample$|template$)[^/]+)?|id_rsa|id_ed25519|.*\.pem|.*\.p12|.*\.pfx|.*\.key|airflow\.cfg|"
    r"simple_auth_manager_passwords\.json.*|.*\.kdbx)$")


def _is_placeholder(value: str) -> bool:
    """Empty, a documented placeholder, an interpolation (${VAR}, $(command), {{ var }}, <placeholder>) or a
    file path."""
    return (value == "" or value in PLACEHOLDERS or bool(INTERPOLATION.match(value))
            or value.startswith(("/", "./", "$", "<", "{{")))


def find_secrets(path: str, text: str) -> list[str]:
    """Findings as 'path:line: rule' (never the secret itself)."""
    found = []
    for n, line in enumerate(text.splitlines(), 1):
        for rule, pattern in RULES:
            if pattern.search(line) and not (rule.startswith("the tests'") and path.startswith("tests/")):
                found.append(f"{path}:{n}: {rule}")
        for m in URL_PASSWORD.finditer(line):
            if not _is_placeholder(m.group(2)):
                found.append(f"{path}:{n}: password in a URL")
        if not NOT_CONFIG.search(path) and not line.lstrip().startswith(("#", "//")):
            for m in SETTING.finditer(line):
                value = m.group(2)
                if not _is_placeholder(value) and value.lower() not in {"true", "false", "none", "null"} \
                        and not re.fullmatch(r"[A-Z0-9_]+", value):  # naming an env variable, not a value
                    found.append(f"{path}:{n}: secret-looking setting {m.group(1)}")
    return found


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    return [p for p in out.stdout.decode().split("\0") if p]


def test_no_secret_in_any_tracked_file():
    files = tracked_files()
    assert "pyproject.toml" in files and len(files) > 50
    findings = [f"{p}: a file of a kind that holds secrets is tracked" for p in files if FILES_NEVER_TRACKED.search(p)]
    for p in files:
        path = ROOT / p
        if not path.is_file():
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192]:  # binary: searched as text too, a key pasted into it still shows
            text = data.decode("latin-1")
        else:
            text = data.decode("utf-8", errors="replace")
        findings += find_secrets(p, text)
    assert findings == []


def _planted() -> dict[str, str]:
    """One sample per rule, assembled here so this file itself holds none of them."""
    b64 = "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5d2FsZG8x"[:43]
    return {
        "private key": "-----BEGIN " + "RSA PRIVATE KEY-----",
        "AWS access key id": "AKIA" + "ABCDEFGHIJKLMNOP",
        "AWS secret access key": "aws_secret_access_key = " + "A" * 20 + "b/c+" * 5,
        "Fernet key": "AIRFLOW__CORE__FERNET_KEY: " + b64 + "=",
        "GitHub/Slack/Google token": "token ghp_" + "a1B2" * 9,
        "password in a URL": "sql_alchemy_conn = postgresql://airflow:" + "hunter2" + "@db/airflow",
        "secret-looking setting": "POSTGRES_PASSWORD: " + "hunter2",
    }


@pytest.mark.parametrize("rule", list(_planted()))
def test_the_search_finds_each_kind_of_secret(rule):
    found = find_secrets("docker-compose.yaml", _planted()[rule])
    assert any(rule in f for f in found), found
    assert "hunter2" not in " ".join(found)


@pytest.mark.parametrize("text", [
    "postgresql://user:password@host:5432/db",
    "postgresql://postgres@127.0.0.1:5432/postgres",
    "postgresql://postgres:@/postgres?host=/dir",
    "sql_alchemy_conn = postgresql://airflow:${POSTGRES_PASSWORD}@db/airflow",
    "POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:-}",
    "AIRFLOW_VAR_PSEUDONYM_SECRET_KEY: ${PSEUDONYM_SECRET_KEY}",
    "password_file: /run/secrets/pg",
])
def test_placeholders_and_references_are_not_secrets(text):
    assert find_secrets("docker-compose.yaml", text) == []


def test_the_tests_key_is_allowed_only_under_tests():
    line = 'os.environ["CAMPUS_LOGISTICS_PSEUDONYM_KEY"] = "test-key-' + '0123456789abcdef" * 2'
    assert find_secrets("tests/conftest.py", line) == []
    assert find_secrets("plugins/campus_logistics/x.py", line) != []


@pytest.mark.parametrize("path, flagged", [
    (".env", True), ("deploy/.env.production", True), ("certs/server.pem", True), ("var/pseudonym.key", True),
    ("var/airflow/airflow.cfg", True), (".env.example", False), ("docs/security.md", False),
])
def test_files_that_hold_secrets_must_not_be_tracked(path, flagged):
    assert bool(FILES_NEVER_TRACKED.search(path)) is flagged
