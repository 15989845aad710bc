"""The pseudonymisation key: required (and strong) outside the embedded demo, the same for every load
of a warehouse, and rotatable in one transaction (``python -m campus_logistics pseudonym rotate``)."""

from __future__ import annotations

import hashlib
import hmac
import os
from datetime import date

import pytest

from campus_logistics.errors import ConfigurationError
from tests.conftest import drop_database, new_database
from tests.fixtures import purchase, reversal, write_canteen
from tests.fixtures_monthly import person, write_monthly_ref, write_staff
from tests.warehouse_snapshot import diff, snapshot

KEY_ENV = "CAMPUS_LOGISTICS_PSEUDONYM_KEY"
NEW_KEY = "9f1c2b7e4d6a8035c1e2f3a4b5c6d7e8"

pytestmark = pytest.mark.embedded_only  # server-independent: one pass


def _load(landing, url=None, start="2001-03-05", end="2001-03-06"):
    from campus_logistics.kpis.compute import recompute
    from campus_logistics.pipeline import run_feed

    days = {}
    for feed in ("canteen", "staff"):
        s, e = date.fromisoformat(start), date.fromisoformat(end)
        days[feed] = run_feed(feed, landing, s if feed == "canteen" else s.replace(day=1), e, url=url,
                              allow_missing=True).affected_days
    recompute(days_by_feed=days, url=url)


def _write(landing):
    write_monthly_ref(landing)
    day1 = write_canteen(landing, "2001-03-05", [
        purchase("A1", "10001", "2001-03-05 07:30:00", amount="5.00"),
        purchase("A2", "10002", "2001-03-05 12:00:00", outlet="第二食堂", amount="8.50"),
        purchase("A3", "10003", "2001-03-05 12:30:00", outlet="第九食堂", amount="3.00"),  # quarantined
        purchase("A4", "10004", "2001-03-05 13:00:00", amount="4.00"),
        purchase("A4", "10005", "2001-03-05 13:00:00", amount="4.00"),  # conflicting duplicate: quarantined
    ])
    with open(day1, "ab") as f:  # malformed: the card shifted right by an unquoted comma
        f.write("A5,x,10006,学生,2001-03-05 14:00:00,第一食堂,T01,1.00,消费,\n".encode("gb18030"))
    write_canteen(landing, "2001-03-06", [
        reversal("B1", "10002", "2001-03-06 08:00:00", orig="A2", amount="-8.50", outlet="第二食堂"),
        purchase("B2", "10007", "2001-03-06 12:10:00", amount="6.00"),
    ])
    write_staff(landing, "2001-03", [
        person("2001-03", "S001", "catering", "cook", "social_hire", "centre", "3000.00"),
        person("2001-03", "S002", "nowhere", "cook", "social_hire", "centre", "3000.00"),  # quarantined
    ])


@pytest.mark.parametrize("key, message", [
    (None, "no pseudonymisation key"),
    ("changeme", "too short, a default value or not random"),
    ("0123456789", "too short"),
    ("a" * 40, "not random"),
    ("changemechangemechangeme", "not random"),
    ("secret", "too short"),
])
def test_missing_or_weak_key_is_refused_outside_the_embedded_demo(key, message, landing, warehouse, sql,
                                                                  monkeypatch, tmp_path):
    from campus_logistics.pipeline import run_feed

    monkeypatch.setenv("CAMPUS_LOGISTICS_PGDATA", str(tmp_path / "not-this-warehouse"))  # not the demo's
    monkeypatch.delenv("AIRFLOW_VAR_PSEUDONYM_KEY", raising=False)
    monkeypatch.delenv("AIRFLOW_VAR_PSEUDONYM_SECRET_KEY", raising=False)
    if key is None:
        monkeypatch.delenv(KEY_ENV)
    else:
        monkeypatch.setenv(KEY_ENV, key)
    _write(landing)
    with pytest.raises(ConfigurationError, match=message):
        run_feed("canteen", landing, date(2001, 3, 5), date(2001, 3, 6))
    assert sql("SELECT count(*) FROM core.canteen_txn")[0][0] == 0
    assert sql("SELECT count(*) FROM quality.rejected_rows")[0][0] == 0


def test_embedded_demo_generates_and_keeps_its_own_key(monkeypatch, tmp_path):
    from campus_logistics.pseudonym import load_key

    monkeypatch.delenv(KEY_ENV)
    monkeypatch.delenv("AIRFLOW_VAR_PSEUDONYM_KEY", raising=False)
    monkeypatch.delenv("AIRFLOW_VAR_PSEUDONYM_SECRET_KEY", raising=False)
    monkeypatch.setenv("CAMPUS_LOGISTICS_PGDATA", str(tmp_path / "var" / "warehouse"))
    key = load_key(allow_embedded_fallback=True)
    path = tmp_path / "var" / "pseudonym.key"
    assert path.read_text().strip().encode() == key and len(key) == 64
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert load_key(allow_embedded_fallback=True) == key


def test_load_with_another_key_is_refused(landing, warehouse, sql, monkeypatch):
    from campus_logistics.pipeline import run_feed

    _write(landing)
    _load(landing)
    before = snapshot(warehouse)
    monkeypatch.setenv(KEY_ENV, NEW_KEY)
    with pytest.raises(ConfigurationError, match="pseudonym rotate"):
        run_feed("canteen", landing, date(2001, 3, 5), date(2001, 3, 6))
    assert diff(before, snapshot(warehouse)) == ""


def _hmac(key: str, raw: str) -> str:
    return hmac.new(key.encode(), raw.encode(), hashlib.sha256).hexdigest()


def test_rotation_rekeys_everything_in_one_transaction(landing, warehouse, sql, monkeypatch, pg_admin_url,
                                                       template_db, capsys):
    from campus_logistics.cli import main

    old_key = os.environ[KEY_ENV]
    _write(landing)
    _load(landing)
    assert sql("SELECT count(*) FROM quality.rejected_rows")[0][0] == 4  # outlet, duplicate, malformed, unit
    before = snapshot(warehouse)
    monkeypatch.setenv("CAMPUS_LOGISTICS_WAREHOUSE_URL", warehouse)  # the CLI sets these; restored after
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", "")
    monkeypatch.setenv("OLD_PSEUDONYM_KEY", old_key)
    monkeypatch.setenv("NEW_PSEUDONYM_KEY", NEW_KEY)
    args = ["pseudonym", "rotate", "--landing", str(landing), "--old-key-env", "OLD_PSEUDONYM_KEY",
            "--new-key-env", "NEW_PSEUDONYM_KEY", "--warehouse", warehouse]

    # refused, changing nothing: a wrong old key, a weak new key, a loaded file missing from the landing
    monkeypatch.setenv("OLD_PSEUDONYM_KEY", "5e8d0c1b2a394857f6e5d4c3b2a19080")
    assert main(args) == 1 and "not the key this warehouse" in capsys.readouterr().err
    monkeypatch.setenv("OLD_PSEUDONYM_KEY", old_key)
    monkeypatch.setenv("NEW_PSEUDONYM_KEY", "changeme")
    assert main(args) == 1 and "not random" in capsys.readouterr().err
    monkeypatch.setenv("NEW_PSEUDONYM_KEY", NEW_KEY)
    day2 = landing / "canteen" / "canteen_20010306.csv"
    day2.rename(day2.with_suffix(".bak"))
    assert main(args) == 1 and "match no identifier in the landing files" in capsys.readouterr().err
    assert diff(before, snapshot(warehouse)) == ""
    day2.with_suffix(".bak").rename(day2)

    assert main(args) == 0, capsys.readouterr().err
    assert "core.canteen_txn 5" in capsys.readouterr().out
    # the warehouse now equals a clean load of the same files under the new key
    name, clean_url = new_database(pg_admin_url, template_db)
    try:
        monkeypatch.setenv(KEY_ENV, NEW_KEY)
        _load(landing, url=clean_url)
        assert diff(snapshot(clean_url, history=False), snapshot(warehouse, history=False)) == ""
    finally:
        drop_database(pg_admin_url, name)
    cards = {r[0] for r in sql("SELECT card_hash FROM core.canteen_txn")}
    assert cards == {_hmac(NEW_KEY, c) for c in ("10001", "10002", "10004", "10007")}
    text = str(sql("SELECT record::text FROM quality.rejected_rows"))
    assert _hmac(NEW_KEY, "10006") in text and _hmac(NEW_KEY, "S002") in text
    assert not any(_hmac(old_key, c) in text for c in ("10003", "10005", "10006", "S002"))
    # loads go on under the new key, changing nothing; the old key is refused
    rotated = snapshot(warehouse, history=False)
    _load(landing)
    assert diff(rotated, snapshot(warehouse, history=False)) == ""
    monkeypatch.setenv(KEY_ENV, old_key)
    with pytest.raises(ConfigurationError, match="not the one this warehouse"):
        _load(landing)


_READ_VARIABLES_THROUGH_THE_API = """
import json, sys
from airflow.models import Variable
from airflow.api_fastapi.app import create_app
from fastapi.testclient import TestClient

name, value = sys.argv[1], sys.argv[2]
Variable.set(name, value)
try:
    client = TestClient(create_app())
    token = client.get("/auth/token").json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    one = client.get(f"/api/v2/variables/{name}", headers=headers)
    listed = client.get("/api/v2/variables", headers=headers)
    print(json.dumps({"one": [one.status_code, one.text], "list": [listed.status_code, listed.text]}))
finally:
    Variable.delete(name)
"""


def test_the_key_variable_is_masked_by_the_airflow_api():
    """The variable the pipeline reads its key from is shown as *** by Airflow's REST API (the
    Variables page reads the same API): its name holds a word Airflow's secrets masker hides."""
    import json
    import subprocess
    import sys

    from campus_logistics import pseudonym
    from campus_logistics_tools.airflow_runtime import ensure_metadata_db

    ensure_metadata_db()
    key = "e1d2c3b4a5968778695a4b3c2d1e0f9a"
    env = {**os.environ, "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True"}
    out = subprocess.run([sys.executable, "-c", _READ_VARIABLES_THROUGH_THE_API, pseudonym.AIRFLOW_VARIABLE, key],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["one"][0] == 200 and got["list"][0] == 200, got
    assert json.loads(got["one"][1])["value"] == "***"
    listed = {v["key"]: v["value"] for v in json.loads(got["list"][1])["variables"]}
    assert listed[pseudonym.AIRFLOW_VARIABLE] == "***"
    assert key not in got["one"][1] + got["list"][1]


def test_the_deprecated_airflow_name_still_works_with_a_warning(monkeypatch, caplog):
    """``pseudonym_key`` (shown in clear by Airflow) is still read, with a DeprecationWarning and a log
    warning naming the new name; the new name wins, silently, when both are set."""
    import warnings

    from campus_logistics.pseudonym import load_key

    monkeypatch.delenv(KEY_ENV)
    monkeypatch.delenv("AIRFLOW_VAR_PSEUDONYM_SECRET_KEY", raising=False)
    monkeypatch.setenv("AIRFLOW_VAR_PSEUDONYM_KEY", NEW_KEY)
    with pytest.warns(DeprecationWarning, match="pseudonym_secret_key"):
        assert load_key(allow_embedded_fallback=False) == NEW_KEY.encode()
    assert any("pseudonym_secret_key" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)
    assert NEW_KEY not in caplog.text
    other = "5e8d0c1b2a394857f6e5d4c3b2a19080"
    monkeypatch.setenv("AIRFLOW_VAR_PSEUDONYM_SECRET_KEY", other)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        assert load_key(allow_embedded_fallback=False) == other.encode()


def test_the_key_is_masked_in_airflow_task_logs_whatever_its_source(monkeypatch):
    """A key from CAMPUS_LOGISTICS_PSEUDONYM_KEY or the deprecated name (neither of which Airflow masks by
    itself) is registered with Airflow's secrets masker once loaded inside Airflow."""
    import airflow.sdk  # noqa: F401  (inside Airflow, as in a task)
    from airflow.sdk._shared.secrets_masker import redact

    from campus_logistics.pseudonym import load_key

    key = "7d1e0c9b8a7f6e5d4c3b2a1908f7e6d5"
    monkeypatch.setenv(KEY_ENV, key)
    assert load_key(allow_embedded_fallback=False) == key.encode()
    assert redact(f"connecting with {key}") == "connecting with ***"
