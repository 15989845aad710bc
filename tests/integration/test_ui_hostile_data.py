"""Values from files never become markup or script on any page the UI plugin serves.

Files of every feed carry script payloads in every field (free text, checked fields that quarantine
the row, identifiers, dates, numbers) and in reference names; they are loaded through the real
pipeline, the Data Docs are built, and a real ``airflow api-server`` serves the plugin. Headless
Chromium opens every page (Reform KPIs, each KPI's audit trail, the HTML reports, Data quality, every page of rejected rows,
the Data Docs frame and every Data Docs page): no payload runs (it would log a marker to the console
and fetch from a local listener), no request leaves the server, and the payloads show as text.
Every response carries a strict Content-Security-Policy and ``X-Content-Type-Options: nosniff``; the
Data Docs are sandboxed (an opaque origin that cannot read the Airflow API). Embedded pass only.
"""

from __future__ import annotations

import http.server
import re
import threading
from pathlib import Path

import pytest

from tests.integration.test_ui_plugin import _free_port, _get, _page, browser, server  # noqa: F401  (fixtures)

pytestmark = pytest.mark.embedded_only

BEACON_PORT = _free_port()
MARKER = "xss-ran"
PAYLOADS = [
    f"<img src=x onerror=\"console.log('{MARKER}');fetch('http://127.0.0.1:{BEACON_PORT}/onerror')\">",
    f"</script><script>console.log('{MARKER}');new Image().src='http://127.0.0.1:{BEACON_PORT}/script'</script>",
    f"'\"><svg onload=\"console.log('{MARKER}')\"></svg><img src='http://127.0.0.1:{BEACON_PORT}/attr'>",
]


def _variants(base, keys, unique=None):
    """``base`` with each of ``keys`` replaced by each payload in turn (``unique``: the id field, kept unique)."""
    rows = []
    for key in keys:
        for j, p in enumerate(PAYLOADS):
            row = dict(base) if isinstance(base, dict) else list(base)
            if unique is not None:
                row[unique] = f"{row[unique]}-{key}-{j}"
            row[key] = p if key != unique else f"{p}{key}{j}"
            rows.append(row if isinstance(base, dict) else tuple(row))
    return rows


def write_hostile_landing(root: Path) -> None:
    """Every feed's files with a payload in every field, and payloads in reference names."""
    from tests.fixtures import OUTLETS, purchase, reversal, write_canteen, write_csv, write_minimal_ref
    from tests.fixtures_meters import write_meter_ref, write_meters
    from tests.fixtures_monthly import SUB_CENTRES, write_ledger, write_monthly_ref, write_staff
    from tests.fixtures_tickets import SURVEY_HEAD, at, t, ticket, write_sla, write_survey, write_work_orders

    write_minimal_ref(root)
    units = [(c, PAYLOADS[0], PAYLOADS[1], s, d) if c == "office" else (c, zh, en, s, d)
             for c, zh, en, s, d in SUB_CENTRES]
    write_monthly_ref(root, sub_centres=units)
    write_csv(root / "ref" / "outlets.csv", ["outlet_name", "outlet_code", "unit_code", "operator"],
              [*(o for o in OUTLETS if o[2] in {u[0] for u in units}), (PAYLOADS[2], "C9", "catering", "centre")])
    write_meter_ref(root)
    write_sla(root)

    canteen = _variants(purchase("P", "10001", "2001-03-05 12:00:00"), range(9), unique=0)
    canteen += [purchase("OK1", "10002", "2001-03-05 12:10:00", outlet=PAYLOADS[2], terminal=PAYLOADS[1]),
                purchase("OK2", "10003", "2001-03-05 12:20:00"),
                reversal("OK3", "10003", "2001-03-05 12:30:00", orig="OK2", amount="-10.00")]
    write_canteen(root, "2001-03-05", canteen)
    write_meters(root, "2001-03-01", _variants(("E1", "2001-03-01T12:00:00+08:00", "5", "ok"), range(4))
                 + [("E1", "2001-03-01T13:00:00+08:00", "6", "ok")])
    write_staff(root, "2001-03", _variants(("2001-03", "S1", "office", "cook", "social_hire", "centre", "100.00"),
                                           range(7), unique=1)
                + [("2001-03", "S0", "office", "cook", "social_hire", "centre", "100.00")])
    write_ledger(root, "2001-03", _variants(("2001-03", "catering", "cost", "food", "1.00", "centre", "memo"), range(7))
                 + [("2001-03", "catering", "cost", PAYLOADS[0], "2.00", "centre", PAYLOADS[1])])
    base = ticket("W", "电路", "utilities", t("03-05 09:00"), status="completed", dispatched=t("03-05 09:05"),
                  arrived=t("03-05 09:20"), completed=t("03-05 11:00"), rating=5)
    write_work_orders(root, "2001-03-05", _variants(base, list(base), unique="order_id") + [base])
    head = SURVEY_HEAD + ["水电中心"]
    write_survey(root, "2001-03-16", head,
                 [list(r) for r in _variants(["R", at("2001-03-15", "09:00"), "学生", "满意"], range(4), unique=0)]
                 + [["R0", at("2001-03-15", "09:00"), "学生", "满意"]])


def load_hostile_landing(root: Path) -> None:
    from tests.fixtures_monthly import load

    for feed, start, end in (("canteen", "2001-03-05", "2001-03-05"), ("meters", "2001-03-01", "2001-03-01"),
                             ("staff", "2001-03-01", "2001-03-31"), ("ledger", "2001-03-01", "2001-03-31"),
                             ("work_orders", "2001-03-05", "2001-03-05"), ("surveys", "2001-03-16", "2001-03-16")):
        result = load(feed, root, start, end, run_id=f"hostile-{feed}", allow_missing=True)
        assert result.rejected == [], (feed, result.rejected)


# what each payload shows as text once escaped (JSON records show the quotes escaped, so quote-free parts)
VISIBLE = ["<img src=x onerror=", "</script><script>console.log(", "><svg onload="]


@pytest.fixture(scope="module")
def scenario(pg_admin_url, template_db, tmp_path_factory):
    """A warehouse with the hostile files of every feed loaded, and the Data Docs their loads built."""
    from tests.fixtures_ui import loaded_warehouse

    yield from loaded_warehouse(pg_admin_url, template_db, tmp_path_factory, write_hostile_landing, load_hostile_landing)


@pytest.fixture(scope="module")
def beacon():
    """A local HTTP listener every payload would call; the paths it was asked for."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802  (http.server's name)
            hits.append(self.path)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", BEACON_PORT), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield hits
    finally:
        srv.shutdown()
        srv.server_close()


def _docs_pages(scenario) -> list[str]:
    site = scenario["docs"] / "site"
    return ["index.html", *sorted(str(p.relative_to(site)) for p in (site / "validations").rglob("*.html"))]


def test_no_value_from_a_file_runs_as_script_on_any_page(browser, server, scenario, beacon):
    from campus_logistics.quality_docs.assets import external_assets

    base = server["base"]
    ctx, page, requests = _page(browser, server, offline=True)
    ran: list[str] = []
    refused: list[str] = []  # what the CSP stopped: nothing may need stopping, since nothing got in
    page.on("console", lambda m: ran.append(m.text) if MARKER in m.text else None)
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("dialog", lambda d: (ran.append(f"dialog {d.message}"), d.dismiss()))
    texts: dict[str, str] = {}

    def visit(path: str) -> None:
        response = page.goto(base + path, wait_until="networkidle")
        assert response.status == 200, (path, response.status)
        page.wait_for_timeout(200)  # an onerror/onload handler has fired by now
        texts[path] = "\n".join(f.inner_text("body") for f in page.frames if f.url.startswith(base))

    try:
        for path in ("/reform/", "/reform/report.html?year=2001", "/reform/report.html?year=2001&month=3",
                     "/reform/quality"):
            visit(path)
        # every KPI's audit trail (the first link of each KPI on the Reform KPIs page): file names, sample ids
        page.goto(base + "/reform/", wait_until="load")
        trails = {}
        for href in page.eval_on_selector_all("td.value a", "els => els.map(e => e.getAttribute('href'))"):
            trails.setdefault(href.split("&")[0], href)
        assert len(trails) >= 6, trails
        for href in trails.values():
            visit("/reform/" + href)
        visit("/reform/quality/rejected")
        pages = int(re.search(r"page 1 of (\d+)", texts["/reform/quality/rejected"]).group(1))
        for n in range(2, pages + 1):
            visit(f"/reform/quality/rejected?page={n}")
        visit("/reform/data-docs/")  # the frame, with GX's index inside
        docs = _docs_pages(scenario)
        assert len(docs) >= 7  # the index and at least one validation page per feed
        for rel in docs:
            assert external_assets((scenario["docs"] / "site" / rel).read_text(encoding="utf-8")) == [], rel
            visit(f"/reform/data-docs/{rel}")
        assert ran == [], ran
        assert refused == [], refused
        assert beacon == [], beacon
        assert all(u.startswith(base + "/") for u in requests), [u for u in requests if not u.startswith(base)]
        # the payloads are there, as text: in the rejected rows' records and in the Data Docs' unexpected values
        rejected = "".join(v for k, v in texts.items() if "/rejected" in k)
        docs_text = "".join(v for k, v in texts.items() if "/validations/" in k)
        for fragment in VISIBLE:
            assert fragment in rejected and fragment in docs_text, fragment
        lineage = "".join(v for k, v in texts.items() if "/explain?" in k)
        assert any(fragment in lineage for fragment in VISIBLE), lineage[:2000]
    finally:
        ctx.close()


def test_data_docs_run_sandboxed_at_an_opaque_origin(browser, server):
    """GX's scripts work in the frame, but cannot read the Airflow API (nor send anything)."""
    base = server["base"]
    ctx, page, requests = _page(browser, server, offline=True)
    refused: list[str] = []  # GX's own pages must work under their CSP
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    try:
        page.goto(base + "/reform/data-docs/", wait_until="networkidle")
        assert page.locator("iframe").get_attribute("sandbox") == "allow-scripts"
        [frame] = [f for f in page.frames if f.url.endswith("/reform/data-docs/index.html")]
        assert frame.evaluate("typeof jQuery.fn.bootstrapTable") == "function"  # assets load without cookies
        assert frame.evaluate("typeof jQuery.fn.tooltip") == "function"  # bootstrap.js: CORS + integrity hold
        assert frame.evaluate("window.origin") == "null"
        assert refused == [], refused
        outcome = frame.evaluate("""() => fetch('/api/v2/variables').then(r => 'status ' + r.status, e => 'blocked')""")
        assert outcome == "blocked"
        assert frame.evaluate("() => { try { return document.cookie } catch (e) { return 'no access' } }") == "no access"
        frame.locator("tbody tr", has_text="hostile-canteen").first.click()  # bootstrap-table's row link
        page.wait_for_timeout(1000)
        [frame] = [f for f in page.frames if "/validations/" in f.url]
        assert "/validations/canteen/hostile-canteen/" in frame.url and "Expectation" in frame.inner_text("body")
        frame.locator("a", has_text="Home").first.click()  # and a plain link back to the index
        page.wait_for_timeout(1000)
        assert [f.url for f in page.frames if f.url.endswith("/reform/data-docs/index.html")]
        assert all("/api/v2/variables" in m for m in refused), refused  # only the fetch tried above
    finally:
        ctx.close()


def _response(base: str, path: str, token: str | None = None) -> tuple[int, dict[str, str], str]:
    """Status, headers (lower-case names) and body of one request, redirects not followed."""
    import http.client
    from urllib.parse import urlsplit

    netloc = urlsplit(base).netloc
    conn = http.client.HTTPConnection(netloc, timeout=30)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read().decode("utf-8", "replace")
    finally:
        conn.close()


def _assert_strict(headers: dict[str, str], docs: bool) -> None:
    csp = headers.get("content-security-policy", "")
    assert headers.get("x-content-type-options") == "nosniff", headers
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    assert directives["default-src"] == ["'none'"] and directives["frame-ancestors"] == ["'self'"], csp
    assert "'unsafe-eval'" not in csp and "*" not in csp, csp
    if docs:  # GX's pages: scripts at an opaque origin, no network
        assert directives["sandbox"] == ["allow-scripts"] and directives["connect-src"] == ["'none'"], csp
    else:  # the plugin's own pages: no script but the Data Docs frame's own, by its hash
        assert all(v.startswith("'sha256-") for v in directives.get("script-src", [])), csp
        assert "sandbox" not in directives and "'unsafe-inline'" not in directives.get("script-src", []), csp


def test_every_response_carries_a_strict_csp_and_nosniff(server, scenario):
    base, token = server["base"], server["token"]
    validation = next(p for p in _docs_pages(scenario) if p.startswith("validations/"))
    (scenario["docs"] / "site" / "static" / "written-by-the-build.txt").write_text("data")
    cases = [  # path, token, expected status, Data Docs (sandboxed)?
        ("/reform/", token, 200, False), ("/reform/quality", token, 200, False),
        ("/reform/quality/rejected?feed=canteen", token, 200, False), ("/reform/report.html?year=2001", token, 200, False),
        ("/reform/data-docs", token, 307, False), ("/reform/data-docs/", token, 200, False),
        ("/reform/data-docs/index.html", token, 200, True), (f"/reform/data-docs/{validation}", token, 200, True),
        ("/reform/data-docs/static/vendor/jquery@3.7.1/dist/jquery.min.js", None, 200, True),  # public: vendored
        ("/reform/data-docs/static/images/favicon.ico", None, 200, True),
        ("/reform/data-docs/static/written-by-the-build.txt", None, 404, True),  # nothing the build wrote
        ("/reform/data-docs/static/written-by-the-build.txt", token, 404, True),
        ("/reform/data-docs/static/vendor/..%2f..%2f..%2findex.html", None, 404, True),
        ("/reform/data-docs/static/%2e%2e/index.html", None, 404, True),
        ("/reform/data-docs/no-such-page.html", token, 404, True), ("/reform/no-such-page", token, 404, False),
        ("/reform/?year=abc", token, 422, False),
        ("/reform/", None, 401, False), ("/reform/data-docs/index.html", None, 401, True),
        ("/reform/quality", "not-a-jwt", 401, False),
    ]
    for path, tok, status, docs in cases:
        got, headers, body = _response(base, path, tok)
        assert got == status or (tok == "not-a-jwt" and got == 403), (path, got, body[:200])
        _assert_strict(headers, docs)
    _, _, frame = _response(base, "/reform/data-docs/", token)
    assert "sandbox='allow-scripts' src='index.html'" in frame and "allow-same-origin" not in frame


def test_an_error_response_carries_the_headers_too(monkeypatch):
    """A page whose warehouse is unreachable fails with 500: that response is strict as well."""
    from fastapi.testclient import TestClient

    from campus_logistics.ui.app import create_app

    monkeypatch.setenv("CAMPUS_LOGISTICS_WAREHOUSE_URL", "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")
    with TestClient(create_app(dependencies=[]), raise_server_exceptions=False) as client:
        resp = client.get("/quality")
    assert resp.status_code == 500
    _assert_strict({k.lower(): v for k, v in resp.headers.items()}, docs=False)
