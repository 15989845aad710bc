"""The FastAPI app the Airflow plugin mounts at ``/reform``.

Every route depends on Airflow's own authentication and authorisation (the user's JWT, from the
``Authorization`` header or the UI's cookie, and the auth manager's WEBSITE view permission), so
nothing here is readable without logging in to Airflow. The Data Docs site is served through a
route of its own, not a ``StaticFiles`` mount, because mounts bypass router dependencies.
The warehouse is the one the tasks use (``warehouse.resolve_url``).
"""

from __future__ import annotations

import threading

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

URL_PREFIX = "/reform"


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
    def reform(year: int | None = Query(None, ge=1990, le=2100), month: int | None = Query(None, ge=1, le=12)):
        from .pages import reform_page

        with _connect() as conn:
            return reform_page(conn, year, month)

    @router.get("/report.html", response_class=HTMLResponse)
    def report(year: int = Query(..., ge=1990, le=2100), month: int | None = Query(None, ge=1, le=12)):
        from ..reports.html import render_html_report

        with _connect() as conn:
            return render_html_report(conn, year, month)

    @router.get("/quality", response_class=HTMLResponse)
    def quality():
        from .pages import quality_page

        with _connect() as conn:
            return quality_page(conn)

    @router.get("/quality/rejected", response_class=HTMLResponse)
    def rejected(feed: str | None = None, file: str | None = None, rule: str | None = None,
                 page: int = Query(1, ge=1)):
        from .pages import rejected_page

        with _connect() as conn:
            return rejected_page(conn, feed, file, rule, page)

    @router.get("/data-docs")
    def data_docs_root():
        return RedirectResponse(f"{URL_PREFIX}/data-docs/index.html")

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
        return FileResponse(target)

    app.include_router(router)
    return app


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
