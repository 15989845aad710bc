"""What an operator meets in the Airflow UI before any page: the plugin's menu entries (Chinese,
English beside), `make airflow PORT=…` and the `--port` help, and the Asia/Shanghai time zone the
local Airflow and the production compose file run with."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CJK = re.compile(r"[\u4e00-\u9fff]")


def test_menu_entries_are_chinese_with_english_beside():
    sys.path.insert(0, str(ROOT / "plugins"))
    try:
        from campus_logistics_ui import CampusLogisticsUIPlugin
    finally:
        sys.path.remove(str(ROOT / "plugins"))

    views = CampusLogisticsUIPlugin.external_views
    assert [v["name"] for v in views] == ["改革指标 Reform KPIs", "数据质量 Data quality", "数据文档 Data Docs (GX)"]
    for v in views:
        chinese, english = v["name"].split(" ", 1)
        assert CJK.fullmatch(chinese[0]) and all(CJK.match(c) for c in chinese), v["name"]
        assert english.isascii() and english[0].isupper(), v["name"]
        assert (v["destination"], v["category"]) == ("nav", "browse")
        assert v["href"].startswith("/reform/") and v["url_route"].isascii()  # routes stay ASCII


def test_plugin_sets_the_ui_time_zone_on_the_dashboard():
    """The React app the UI imports on its home page (a real browser runs it in test_ui_plugin.py)."""
    import asyncio

    from campus_logistics.ui import timezone

    sys.path.insert(0, str(ROOT / "plugins"))
    try:
        from campus_logistics_ui import CampusLogisticsUIPlugin
    finally:
        sys.path.remove(str(ROOT / "plugins"))
    (react_app,) = CampusLogisticsUIPlugin.react_apps
    assert react_app["destination"] == "dashboard" and react_app["url_route"]  # no url_route: Airflow drops it
    prefixes = {a["url_prefix"]: a["app"] for a in CampusLogisticsUIPlugin.fastapi_apps}
    assert react_app["bundle_url"].startswith(timezone.URL_PREFIX + "/") and timezone.URL_PREFIX in prefixes

    sent = []

    async def call(path):
        sent.clear()

        async def send(message):
            sent.append(message)

        await prefixes[timezone.URL_PREFIX]({"type": "http", "method": "GET", "path": path}, None, send)
        return sent[0]["status"], dict(sent[0]["headers"]), sent[1]["body"].decode()

    status, headers, body = asyncio.run(call(react_app["bundle_url"]))
    assert status == 200 and headers[b"content-type"].startswith(b"text/javascript")
    assert 'localStorage.setItem(key, "\\"Asia/Shanghai\\"")' in body  # JSON, as the UI stores it
    assert "getItem(key) === null" in body  # a zone the user picked stays
    assert f'globalThis["{react_app["name"]}"]' in body  # the component the UI looks up by name
    assert asyncio.run(call(timezone.URL_PREFIX + "/other.js"))[0] == 404


def test_make_airflow_passes_port():
    out = subprocess.run(["make", "-n", "airflow", "PORT=8091", "LANDING=var/landing/x"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "-m campus_logistics airflow --landing var/landing/x --port 8091" in out.stdout
    default = subprocess.run(["make", "-n", "airflow", "LANDING=var/landing/x"], cwd=ROOT, capture_output=True,
                             text=True, timeout=60)
    assert "--port 8080" in default.stdout


def test_airflow_command_port_has_help():
    out = subprocess.run([sys.executable, "-m", "campus_logistics", "airflow", "--help"], capture_output=True,
                         text=True, timeout=60, env=dict(os.environ, COLUMNS="200"))
    assert out.returncode == 0, out.stderr
    assert re.search(r"--port PORT\s+port of the Airflow UI", out.stdout), out.stdout


def test_local_airflow_runs_in_shanghai_time():
    """Airflow 3 has no server-side UI time zone (``[webserver] default_ui_timezone`` is gone): the
    installation's zone is ``[core] default_timezone``; the UI's is set by the plugin (below)."""
    from airflow.configuration import conf

    from campus_logistics_tools import airflow_runtime as rt

    assert not conf.has_option("webserver", "default_ui_timezone") and not conf.has_option("api", "default_ui_timezone")
    assert rt.standalone_env(8091)["AIRFLOW__CORE__DEFAULT_TIMEZONE"] == "Asia/Shanghai"


def test_compose_runs_every_airflow_service_in_shanghai_time():
    import yaml

    compose = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
    airflow_services = {n: s for n, s in compose["services"].items()
                        if "AIRFLOW__CORE__EXECUTOR" in (s.get("environment") or {})}
    assert len(airflow_services) >= 5
    for name, service in airflow_services.items():
        env = service.get("environment") or {}
        assert env.get("AIRFLOW__CORE__DEFAULT_TIMEZONE") == "Asia/Shanghai", name
