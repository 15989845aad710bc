"""The Airflow UI plugin in a real ``airflow api-server``: its pages answer only to a logged-in user,
show the figures of a small scenario loaded through the pipeline (worked out by hand in
tests/fixtures_ui.py), and render in headless Chromium — the Data Docs with no network at all.

Screenshots are rewritten on every run: tests/artifacts/reform_kpis.png, kpi_lineage.png, data_quality.png,
rejected_rows.png, data_docs.png, data_docs_validation.png. One api-server for the module (~25 s with the scenario
load); embedded pass only.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from campus_logistics_tools import airflow_runtime as rt

pytestmark = pytest.mark.embedded_only

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "ui-test-password"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, token: str | None = None, cookie: str | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if cookie:
        req.add_header("Cookie", f"_token={cookie}")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode("utf-8")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode("utf-8", "replace")


@pytest.fixture(scope="module")
def scenario(pg_admin_url, template_db, tmp_path_factory):
    """A warehouse with the scenario loaded, and the Data Docs its loads built."""
    from tests.fixtures_ui import load_scenario, loaded_warehouse, write_scenario

    yield from loaded_warehouse(pg_admin_url, template_db, tmp_path_factory, write_scenario, load_scenario)


@pytest.fixture(scope="module")
def server(scenario, tmp_path_factory):
    """``airflow api-server`` with the project's plugins folder and SimpleAuthManager (admin)."""
    rt.ensure_metadata_db()
    home = Path(os.environ["AIRFLOW_HOME"])
    passwords = tmp_path_factory.mktemp("auth") / "passwords.json"
    passwords.write_text(json.dumps({"admin": PASSWORD}))
    port = _free_port()
    env = dict(os.environ)
    env.update({
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API_AUTH__JWT_SECRET": "ui-test-" + "x" * 64,
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "CAMPUS_LOGISTICS_WAREHOUSE_URL": scenario["url"],
        "CAMPUS_LOGISTICS_DATA_DOCS_DIR": str(scenario["docs"]),
    })
    log = open(home / f"api-server-{port}.log", "w")
    proc = subprocess.Popen([*rt.airflow_command(), "api-server", "--host", "127.0.0.1", "--port", str(port),
                             "--workers", "1"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (home / f"api-server-{port}.log").read_text()[-3000:]
            try:
                if _get(f"{base}/api/v2/monitor/health")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "api-server did not come up"
            time.sleep(0.5)
        req = urllib.request.Request(f"{base}/auth/token", data=json.dumps({"username": "admin", "password": PASSWORD}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=30) as resp:
            token = json.loads(resp.read())["access_token"]
        yield {"base": base, "token": token}
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("Debian chromium is not installed (make test installs it when run as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield b
        b.close()


def _page(browser, server, *, offline: bool = False):
    """A logged-in page (the UI's ``_token`` cookie); ``offline``: every non-local host unresolvable."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.add_cookies([{"name": "_token", "value": server["token"], "url": server["base"]}])
    page = ctx.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    if offline:
        page.route(re.compile(r"^(?!https?://127\.0\.0\.1[:/]).*"), lambda route: route.abort())
    return ctx, page, requests


def test_plugin_is_loaded_with_its_views(server):
    status, body = _get(f"{server['base']}/api/v2/plugins", token=server["token"])
    assert status == 200, body
    plugins = {p["name"]: p for p in json.loads(body)["plugins"]}
    ui = plugins["campus_logistics_ui"]
    assert {v["name"] for v in ui["external_views"]} == {"改革指标 Reform KPIs", "数据质量 Data quality",
                                                        "数据文档 Data Docs (GX)"}
    assert [a["url_prefix"] for a in ui["fastapi_apps"]] == ["/reform", "/reform-time"]
    assert [(r["bundle_url"], r["destination"]) for r in ui["react_apps"]] == [("/reform-time/shanghai-time.js",
                                                                                "dashboard")]
    # the package itself is not scanned as plugins; the lineage listener (campus_logistics_lineage.py)
    # and the OpenLineage provider's plugin are the only others
    assert set(plugins) == {"campus_logistics_ui", "campus_logistics_lineage", "OpenLineageProviderPlugin"}


def _ui_timezone(browser, server, *, picked: str | None = None) -> str | None:
    """The time zone Airflow's UI keeps after its home page loaded, in a browser set to London."""
    ctx = browser.new_context(timezone_id="Europe/London")
    ctx.add_cookies([{"name": "_token", "value": server["token"], "url": server["base"]}])
    if picked:  # what User → Timezone stores
        ctx.add_init_script(f"if (!localStorage.getItem('timezone')) localStorage.setItem('timezone', '\"{picked}\"')")
    try:
        page = ctx.new_page()
        scripts: list[str] = []
        page.on("response", lambda r: scripts.append(r.url) if r.url.endswith("shanghai-time.js") else None)
        page.goto(server["base"] + "/", wait_until="networkidle")
        for _ in range(120):  # the UI loads plugin modules after its own bundle: slow on a loaded machine
            if scripts:
                break
            page.wait_for_timeout(500)
        assert scripts, "the UI did not load the plugin's time-zone module"
        page.wait_for_function("() => localStorage.getItem('timezone') !== null", timeout=60_000)
        return page.evaluate("() => JSON.parse(localStorage.getItem('timezone'))")
    finally:
        ctx.close()


def test_airflow_ui_shows_shanghai_time_unless_the_user_picked_a_zone(browser, server):
    status, body = _get(server["base"] + "/reform-time/shanghai-time.js")
    assert status == 200 and "Asia/Shanghai" in body  # no data in it: served without login
    assert _ui_timezone(browser, server) == "Asia/Shanghai"
    assert _ui_timezone(browser, server, picked="UTC") == "UTC"


@pytest.mark.parametrize("path", ["/reform/", "/reform/quality", "/reform/quality/rejected?feed=canteen",
                                  "/reform/report.html?year=2001", "/reform/data-docs/",
                                  "/reform/explain?kpi=canteen_revenue_yuan&unit=campus&period=2001-03",
                                  "/reform/data-docs/index.html"])
def test_every_route_refuses_unauthenticated_requests(server, path):
    status, body = _get(server["base"] + path)
    assert status == 401, (status, body[:300])
    assert "Reform" not in body and "jQuery" not in body
    status, _ = _get(server["base"] + path, token="not-a-jwt")
    assert status in (401, 403)
    status, _ = _get(server["base"] + path, token=server["token"])
    assert status == 200


def test_data_docs_path_cannot_leave_the_site(server):
    status, _ = _get(server["base"] + "/reform/data-docs/..%2f..%2fresults", token=server["token"])
    assert status == 404


def _cell(page, selector: str) -> str:
    return page.locator(selector).first.inner_text().strip()


def test_reform_kpis_page_shows_the_scenario(browser, server):
    ctx, page, _ = _page(browser, server)
    try:
        page.goto(server["base"] + "/reform/", wait_until="load")
        assert page.locator("h1").inner_text().startswith("改革指标")
        # latest per unit: March 2001 personnel savings 27,300.00 (Feb 27,300.00: no change)
        row = "tr[data-kpi='personnel_cost_saved_yuan'][data-unit='campus']"
        assert _cell(page, f"{row} td.value") == "27,300.00"
        assert _cell(page, f"{row} td.trend") == "→ 0"
        assert _cell(page, f"{row} td.measure") == "元" and _cell(page, f"{row} td.period") == "2001年3月"
        assert page.locator("tr.topic th").first.inner_text().startswith("人员与经费")
        assert _cell(page, "tr[data-kpi='repair_on_time_rate'][data-unit='property'] td.value") == "50.0%"
        assert _cell(page, "tr[data-kpi='satisfaction_rate'][data-unit='campus'] td.value") == "71.4%"
        # charts for March 2001 (the latest month)
        savings = page.locator("#chart-savings g.point[data-series^='学校节约人员经费']")
        assert [savings.nth(i).get_attribute("data-value") for i in range(savings.count())] == \
            ["27,100.50", "27,300.00", "27,300.00"]
        bars = lambda cid: {b.get_attribute("data-label"): b.get_attribute("data-value")  # noqa: E731
                            for b in page.locator(f"#{cid} g.bar").all()}
        assert bars("chart-satisfaction") == {"水电中心": "50.0%", "物业中心": "100.0%", "全校": "71.4%"}
        assert bars("chart-repair") == {"物业中心": "50.0%", "水电中心": "100.0%", "全校": "66.7%"}
        capture = page.locator("#chart-capture g.point[data-series='全校']")
        assert capture.count() == 1 and capture.get_attribute("data-value") == "15.0%"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "reform_kpis.png"), full_page=True)
        # the filters are links: February, property centre only — savings up on January, in green
        page.goto(server["base"] + "/reform/?year=2001&month=2", wait_until="load")
        assert page.locator("tr[data-kpi='personnel_cost_saved_yuan'][data-unit='campus'] td.trend span.good") \
            .inner_text() == "▲ 199.50"
        page.click("p.filter[data-filter='unit'] a:has-text('物业中心')")
        page.wait_for_load_state("load")
        assert page.locator("tr[data-unit='property']").count() > 0 and page.locator("tr[data-unit='campus']").count() == 0
    finally:
        ctx.close()


def test_a_kpi_value_links_to_its_audit_trail(browser, server):
    """Average ticket, March 2001, campus: 31.50 ÷ 4 = 7.875 → 7.88 (revenue 5.00 + 8.50 + 12.00 + 6.00 from
    4 transactions; the row at 第九食堂, line 5 of canteen_20010305.csv, quarantined)."""
    ctx, page, _ = _page(browser, server)
    try:
        page.goto(server["base"] + "/reform/?year=2001&month=3", wait_until="load")
        page.click("tr[data-kpi='canteen_avg_ticket_yuan'][data-unit='campus'] td.value a")
        page.wait_for_load_state("load")
        assert page.locator("h1").inner_text().startswith("审计追溯 Audit trail — 客单价")
        assert page.locator("b.value").inner_text() == "7.88"
        assert page.locator("tr[data-input='canteen_revenue_yuan'] td.num").inner_text() == "31.50"
        assert page.locator("tr[data-input='canteen_transactions'] td.num").inner_text() == "4"
        d5 = "tr[data-file='canteen_20010305.csv']"
        assert [_cell(page, f"{d5} td.{c}") for c in ("read", "loaded", "quarantined", "counted")] == ["4", "3", "1", "3"]
        assert "quarantined line 5" in _cell(page, f"{d5} div.sample.quarantined") and \
            "outlet_known" in _cell(page, f"{d5} div.sample.quarantined")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "kpi_lineage.png"), full_page=True)
    finally:
        ctx.close()


def test_data_quality_page_reconciles_files_and_browses_rejected_rows(browser, server):
    from tests.fixtures_monthly import hmac_of
    from tests.fixtures_ui import BAD_CARD

    ctx, page, _ = _page(browser, server)
    try:
        page.goto(server["base"] + "/reform/quality", wait_until="load")
        row = "table.files tr[data-file='canteen_20010305.csv']"
        assert [_cell(page, f"{row} td.{c}") for c in ("read", "loaded", "quarantined")] == ["4", "3", "1"]
        assert page.locator(f"{row} td.runid a").get_attribute("href") == "../dags/feed_canteen/runs/ui-canteen"
        staff = "table.feeds tr[data-feed='staff']"   # 10 + 12 + 11 read, 10 + 11 + 11 loaded, 1 duplicate
        assert [_cell(page, f"{staff} td.{c}") for c in ("read", "loaded", "quarantined")] == ["33", "32", "0"]
        assert _cell(page, "table.reasons tr[data-feed='canteen'][data-rule='outlet_known'] td.count") == "1"
        assert "食堂/窗口不在参考数据中" in _cell(page, "table.reasons tr[data-rule='outlet_known'] td.rule")
        page.click("table.feeds tr[data-feed='staff'] a")  # the feed's files only
        page.wait_for_load_state("load")
        assert "page 1 of 1 (3 files)" in _cell(page, ".pageinfo")
        status, body = _get(server["base"] + "/reform/quality?feed=staff&all=1&page=1", token=server["token"])
        assert status == 200 and "page 1 of 1 (3 files)" in body
        page.goto(server["base"] + "/reform/quality", wait_until="load")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "data_quality.png"), full_page=True)
        page.click(f"{row} td.quarantined a")
        page.wait_for_load_state("load")
        assert "page 1 of 1 (1 rows)" in page.locator(".pageinfo").first.inner_text()
        record = page.locator("table.rejected td.record").first.inner_text()
        assert hmac_of(BAD_CARD) in record and BAD_CARD not in record.split() and "第九食堂" in record
        page.screenshot(path=str(ARTIFACTS / "rejected_rows.png"), full_page=True)
    finally:
        ctx.close()


def test_data_docs_render_offline_from_local_assets(browser, server, scenario):
    site = scenario["docs"] / "site"
    pages = [site / "index.html", *(site / "validations").rglob("*.html")]
    assert len(pages) >= 5  # index + one page per validation run of the four feeds
    from campus_logistics.quality_docs.assets import external_assets

    for p in pages:
        assert external_assets(p.read_text(encoding="utf-8")) == [], p
    ctx, page, requests = _page(browser, server, offline=True)
    failed: list[str] = []
    page.on("requestfailed", lambda r: failed.append(r.url))
    try:
        page.goto(server["base"] + "/reform/data-docs/index.html", wait_until="networkidle")
        assert failed == []
        assert requests and all(u.startswith(server["base"]) for u in requests), requests
        # bootstrap's CSS applied (it sets the body font) and jQuery + bootstrap-table ran
        assert page.evaluate("typeof window.jQuery") == "function"
        assert page.evaluate("typeof jQuery.fn.bootstrapTable") == "function"
        assert "apple-system" in page.evaluate("getComputedStyle(document.body).fontFamily") or \
            page.evaluate("getComputedStyle(document.querySelector('.container-fluid') || document.body).paddingLeft") != "0px"
        text = page.inner_text("body")
        for suite in ("canteen", "staff", "surveys", "work_orders"):
            assert suite in text
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "data_docs.png"), full_page=False)
        assert "canteen: canteen_20010305.csv" in text and "batch0" not in text and "newsletter" not in text.lower()
        # a row opens its validation page (bootstrap-table's click handler): the canteen failure
        page.locator("tr", has_text="ui-canteen").first.click()
        page.wait_for_url(re.compile(r".*/validations/canteen/ui-canteen/.*"))
        page.wait_for_load_state("networkidle")
        assert failed == [] and all(u.startswith(server["base"]) for u in requests)
        body = page.inner_text("body")
        assert "第九食堂" in body and "_outlet" in body  # the unexpected value, in the rule's column
        assert "Data asset: None" not in body and "canteen_20010305.csv" in body
        page.screenshot(path=str(ARTIFACTS / "data_docs_validation.png"), full_page=False)
    finally:
        ctx.close()
