"""The FastAPI app the Airflow plugin mounts at ``/reform``.

Every route depends on Airflow's own authentication and authorisation (the user's JWT, from the
``Authorization`` header or the UI's cookie, and the auth manager's WEBSITE view permission), so
nothing here is readable without logging in to Airflow. The Data Docs site is served through a
route of its own, not a ``StaticFiles`` mount, because mounts bypass router dependencies.
The warehouse is the one the tasks use (``warehouse.resolve_url``).

Values from files never become markup: every response carries a strict Content-Security-Policy and
``X-Content-Type-Options: nosniff``. The pages run no script at all. The Data Docs (GX's pages and
scripts) are shown in an ``<iframe sandbox="allow-scripts">`` and served with a CSP ``sandbox``,
so they run at an opaque origin: they can neither read the Airflow API nor send a request
anywhere. Their static assets (vendored libraries, GX's styles and images: no data) are served
without login, because a sandboxed page fetches them without the UI's cookie.
"""

from __future__ import annotations

import base64
import hashlib
import threading

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, RedirectResponse
from starlette.datastructures import MutableHeaders

URL_PREFIX = "/reform"
# The pages: inline CSS and SVG, no script, framed only by Airflow's UI (same origin).
PAGE_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-src 'self'; "
            "frame-ancestors 'self'; form-action 'none'; base-uri 'none'")
# The Data Docs: GX's scripts run, but at an opaque origin (no allow-same-origin) with no network.
DOCS_CSP = ("sandbox allow-scripts; default-src 'none'; script-src 'self' 'unsafe-inline'; "
            "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'none'; "
            "frame-ancestors 'self'; form-action 'none'; base-uri 'none'")
# The Data Docs frame: the one script opens the links a framed Data Docs page asks for (the frame's
# own navigations would go without the UI's cookie), Data Docs pages only.
DOCS_FRAME_JS = """
var frame = document.getElementById("data-docs"), root = new URL("./", location.href).href;
window.addEventListener("message", function (e) {
  var url = e.data && e.data.campusDataDocs;
  if (e.source !== frame.contentWindow || typeof url !== "string") return;
  var u = new URL(url, root);
  if (u.origin === location.origin && u.href.indexOf(root) === 0 && /\\.html$/.test(u.pathname)) frame.src = u.href;
});
"""
DOCS_FRAME = ("<iframe id='data-docs' sandbox='allow-scripts' src='index.html' title='Data Docs (Great Expectations)' "
              "style='border:0;width:100%;height:calc(100vh - 70px)'></iframe>"
              f"<script>{DOCS_FRAME_JS}</script>")
FRAME_CSP = PAGE_CSP.replace("default-src 'none';", "default-src 'none'; script-src '{}';".format(
    "sha256-" + base64.b64encode(hashlib.sha256(DOCS_FRAME_JS.encode()).digest()).decode()))


def _csp_for(scope) -> str:
    """The Data Docs' own pages and assets get the sandbox; the pages (and the Docs' frame) do not."""
    path = scope.get("path", "")
    root = scope.get("root_path", "")
    rel = path[len(root):] if root and path.startswith(root) else path
    if rel == "/data-docs/":
        return FRAME_CSP
    return DOCS_CSP if rel.startswith("/data-docs/") else PAGE_CSP


class SecurityHeaders:
    """ASGI middleware: the CSP and nosniff on every response (pages, assets, redirects, 401/404,
    and a 500 sent here when the app fails before it answered)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        csp, started = _csp_for(scope), False

        async def send_with_headers(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = csp
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "same-origin"
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            if not started:
                await PlainTextResponse("Internal Server Error", status_code=500)(scope, receive, send_with_headers)
            raise


def _auth():
    from airflow.api_fastapi.auth.managers.models.resource_details import AccessView
    from airflow.api_fastapi.core_api.security import requires_access_view

    return [Depends(requires_access_view(AccessView.WEBSITE))]


def _connect():
    from ..warehouse import connect

    return connect()


def create_app(dependencies=None) -> FastAPI:
    """``dependencies`` replaces Airflow's auth only where no Airflow is configured (never in the plugin)."""
    app = FastAPI(title="Campus logistics: reform KPIs and data quality", docs_url=None, redoc_url=None,
                  openapi_url=None)
    router = APIRouter(dependencies=_auth() if dependencies is None else dependencies)

    @router.get("/", response_class=HTMLResponse)
    def reform(year: int | None = Query(None, ge=1990, le=2100), month: int | None = Query(None, ge=1, le=12),
               unit: str | None = Query(None, max_length=64), measure: str | None = Query(None, max_length=32)):
        from .pages import reform_page

        with _connect() as conn:
            return reform_page(conn, year, month, unit, measure)

    @router.get("/explain", response_class=HTMLResponse)
    def lineage(kpi: str = Query(..., min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$"),
                unit: str = Query("campus", min_length=1, max_length=64),
                period: str = Query(..., min_length=4, max_length=10, pattern=r"^[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?$"),
                grain: str | None = Query(None, pattern=r"^(day|month|wave|year)$")):
        from ..kpis.explain import ExplainError
        from .pages import explain_page, page

        try:
            with _connect() as conn:
                return explain_page(conn, kpi, unit, period, grain)
        except ExplainError as exc:  # an unknown KPI, a period out of range, a value not stored: said, escaped
            from html import escape

            return HTMLResponse(page("Audit trail", f"<h1>审计追溯 Audit trail</h1><p class='bad'>{escape(str(exc))}</p>"
                                                   "<p><a href='./'>‹ 改革指标 Reform KPIs</a></p>"), status_code=404)

    @router.get("/report.html", response_class=HTMLResponse)
    def report(year: int = Query(..., ge=1990, le=2100), month: int | None = Query(None, ge=1, le=12)):
        from ..reports.html import render_html_report

        with _connect() as conn:
            return render_html_report(conn, year, month)

    @router.get("/quality", response_class=HTMLResponse)
    def quality(feed: str | None = Query(None, max_length=64), show_all: bool = Query(False, alias="all"),
                page: int = Query(1, ge=1)):
        from .pages import quality_page

        with _connect() as conn:
            return quality_page(conn, feed, show_all, page)

    @router.get("/quality/rejected", response_class=HTMLResponse)
    def rejected(feed: str | None = None, file: str | None = None, rule: str | None = None,
                 page: int = Query(1, ge=1)):
        from .pages import rejected_page

        with _connect() as conn:
            return rejected_page(conn, feed, file, rule, page)

    @router.get("/data-docs")
    def data_docs_root():
        return RedirectResponse(f"{URL_PREFIX}/data-docs/")

    @router.get("/data-docs/", response_class=HTMLResponse)
    def data_docs_frame():
        from .pages import page

        return page("Data Docs", DOCS_FRAME).replace("href='./'", "href='../'").replace(
            "href='quality'", "href='../quality'").replace("href='data-docs/'", "href='./'")

    @router.get("/data-docs/{path:path}")
    def data_docs(path: str):
        from ..quality_docs import site_dir

        site = site_dir().resolve()
        target = (site / (path or "index.html")).resolve()
        if site not in target.parents and target != site:
            raise HTTPException(status_code=404)
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            if path in ("", "index.html"):
                return HTMLResponse("<p>No Data Docs yet: they are built after each feed load.</p>")
            raise HTTPException(status_code=404)
        if target.suffix == ".html":
            from ..quality_docs.assets import framed_navigation

            return HTMLResponse(framed_navigation(target.read_text(encoding="utf-8")))
        return FileResponse(target)

    app.include_router(_static_router())  # before the router: its data-docs route would match first
    app.include_router(router)
    app.add_middleware(SecurityHeaders)
    return app


def _static_router() -> APIRouter:
    """The Data Docs' static assets, without login: vendored libraries and GX's own styles, fonts
    and images only (``quality_docs.assets.static_file``), never a file the build wrote."""
    router = APIRouter()

    @router.get("/data-docs/static/{path:path}")
    def data_docs_static(path: str):
        from ..quality_docs.assets import static_file

        target = static_file(path)
        if target is None:
            raise HTTPException(status_code=404)
        return FileResponse(target, headers={"Access-Control-Allow-Origin": "*"})  # the opaque origin's CORS fetches

    return router


class LazyApp:
    """The ASGI app the plugin registers, built on its first request.

    Every Airflow component imports the plugins folder, but only the API server serves these
    pages; building the app pulls in Airflow's API security stack (~2 s), so it waits until then.
    """

    def __init__(self, factory=create_app):
        self._factory, self._app, self._lock = factory, None, threading.Lock()

    def get(self) -> FastAPI:
        with self._lock:
            if self._app is None:
                self._app = self._factory()
            return self._app

    async def __call__(self, scope, receive, send):
        await self.get()(scope, receive, send)


app = LazyApp()
