"""Airflow's UI in Asia/Shanghai time by default.

Airflow 3 has no server setting for the UI's time zone (Airflow 2's ``default_ui_timezone`` is
gone): the UI shows the browser's zone, or the one the user picked under User → Timezone, which
it keeps in the browser's ``localStorage["timezone"]``. The plugin registers a React app on the
home dashboard whose module, when the UI imports it, stores Asia/Shanghai there if the user has
picked nothing, and tells the UI (its ``local-storage`` event), so every time shown switches at
once. A zone the user picked is never overridden. The module renders nothing and holds no data,
so it is served without login, like the Data Docs' static assets.
"""

from __future__ import annotations

import json

from ..settings import TIME_ZONE

URL_PREFIX = "/reform-time"
SCRIPT_NAME = "shanghai-time.js"
BUNDLE_URL = f"{URL_PREFIX}/{SCRIPT_NAME}"
UI_TIMEZONE = TIME_ZONE
REACT_APP_NAME = "campus_logistics_ui_timezone"
STORAGE_KEY = "timezone"  # the Airflow UI's own key (its TimezoneProvider's useLocalStorage)

SCRIPT = f"""// campus-logistics: Airflow's UI in {UI_TIMEZONE} time unless the user picked a zone.
(() => {{
  const key = {json.dumps(STORAGE_KEY)};
  try {{
    if (window.localStorage.getItem(key) === null) {{
      window.localStorage.setItem(key, {json.dumps(json.dumps(UI_TIMEZONE))});
      window.dispatchEvent(new StorageEvent("local-storage", {{ key }}));
    }}
  }} catch (e) {{
    // storage disabled: the browser's own zone stays
  }}
}})();
globalThis[{json.dumps(REACT_APP_NAME)}] = function CampusLogisticsTimezone() {{ return null; }};
"""

REACT_APP = {"name": REACT_APP_NAME, "bundle_url": BUNDLE_URL, "destination": "dashboard",
             "url_route": "shanghai-time"}


async def app(scope, receive, send):
    """A minimal ASGI app (nothing to import at plugin load): GET the script, 404 otherwise."""
    if scope["type"] != "http":
        return
    ok = scope["method"] in ("GET", "HEAD") and scope["path"].endswith("/" + SCRIPT_NAME)
    body = SCRIPT.encode() if ok else b"not found"
    headers = [(b"content-type", b"text/javascript; charset=utf-8" if ok else b"text/plain; charset=utf-8"),
               (b"content-length", str(len(body)).encode()), (b"x-content-type-options", b"nosniff"),
               (b"cache-control", b"no-cache")]
    await send({"type": "http.response.start", "status": 200 if ok else 404, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
