"""Data Docs without the internet: GX's pages link bootstrap, jQuery, vega, font-awesome… on public
CDNs and its logo on S3, which campus networks block. After each build the pages are rewritten to
copies vendored from the npm registry (``include/vendor/data_docs``, see its README), copied into
the site's ``static/vendor/``; the logo comes from GX's own ``static/images``.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from ..settings import current

VENDOR_DIR = current().vendor_dir  # read once, at import, like paths.SQL_DIR

# CDN URL (as GX 1.24's templates write it) -> file under VENDOR_DIR
CDN_ASSETS = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap@4.3.1/dist/css/bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap@4.3.1/dist/js/bootstrap.min.js",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css":
        "bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css":
        "bootstrap-datepicker@1.9.0/dist/css/bootstrap-datepicker.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js":
        "bootstrap-datepicker@1.9.0/dist/js/bootstrap-datepicker.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": "bootstrap-table@1.19.1/dist/bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": "bootstrap-table@1.19.1/dist/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css":
        "bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css":
        "bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js":
        "bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": "fontawesome-free@6.6.0/css/all.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper.js@1.12.9/dist/umd/popper.min.js",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery@3.7.1/dist/jquery.min.js",
    "https://cdn.jsdelivr.net/npm/vega@5": "vega@5.33.1/build/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite@5.23.0/build/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed@6.29.0/build/vega-embed.min.js",
}
S3_IMAGES = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"
# GX's footer on every page (cloud-footer.j2): a vendor's newsletter sign-up, nothing about the data.
NEWSLETTER = re.compile(r"<footer>\s*<p>[^<]*newsletter\s*<a [^>]*greatexpectations\.io/newsletter[^>]*>[^<]*</a></p>\s*</footer>", re.I)
# A resource (src/href/url()) on another host: what must not remain in a page after the rewrite.
EXTERNAL_ASSET = re.compile(r"""(?:src|href)\s*=\s*["']https?://[^"']+\.(?:js|css|png|svg|gif|ico|woff2?|ttf)(?:\?[^"']*)?["']"""
                            r"""|<script[^>]+src\s*=\s*["']https?://|<link[^>]+href\s*=\s*["']https?://""", re.I)
_URL_PATTERN = re.compile("|".join(re.escape(u) for u in sorted(CDN_ASSETS, key=len, reverse=True))
                          + "|" + re.escape(S3_IMAGES))


def install_vendor(site: Path) -> None:
    """Copy the vendored assets into ``<site>/static/vendor`` (once; cheap to repeat)."""
    target = site / "static" / "vendor"
    marker = target / ".complete"
    if marker.exists():
        return
    for rel in set(CDN_ASSETS.values()):
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(VENDOR_DIR / rel, target / rel)
    fonts = VENDOR_DIR / "fontawesome-free@6.6.0" / "webfonts"  # all.min.css loads ../webfonts/*
    shutil.copytree(fonts, target / "fontawesome-free@6.6.0" / "webfonts", dirs_exist_ok=True)
    marker.write_text("ok\n")


def rewrite_page(page: Path, site: Path) -> bool:
    """Point a page's CDN/S3 links at the local copies (relative, so the site works from any URL
    prefix or from disk) and drop GX's newsletter footer; returns whether anything changed."""
    text = page.read_text(encoding="utf-8")
    up = os.path.relpath(site, page.parent).replace(os.sep, "/")
    prefix = "" if up == "." else up + "/"

    def local(m: re.Match) -> str:
        url = m.group(0)
        if url == S3_IMAGES:
            return prefix + "static/images/"
        return prefix + "static/vendor/" + CDN_ASSETS[url]

    new = _URL_PATTERN.sub(local, NEWSLETTER.sub("", text))
    if new != text:
        page.write_text(new, encoding="utf-8")
    return new != text


def external_assets(page_text: str) -> list[str]:
    """Resources a page would still fetch from another host (should be none)."""
    return [m.group(0) for m in EXTERNAL_ASSET.finditer(page_text)]


def _gx_static() -> Path:
    from great_expectations.render import view

    return Path(view.__file__).resolve().parent / "static"


def static_file(rel: str) -> Path | None:
    """The source of the site's ``static/<rel>`` when it is one of the vendored assets or one of GX's
    own static files (styles, fonts, images), else None.

    Served without login (a sandboxed Data Docs page fetches them without cookies), so the file is
    looked up in the vendored copies and GX's package, never in the built site: no data can be
    reached this way.
    """
    if rel.startswith("vendor/"):
        base, name = VENDOR_DIR.resolve(), rel[len("vendor/"):]
        allowed = name in set(CDN_ASSETS.values()) or name.startswith("fontawesome-free@6.6.0/webfonts/")
    else:
        base, name = _gx_static(), rel
        allowed = True
    if not allowed or not name:
        return None
    target = (base / name).resolve()
    return target if base in target.parents and target.is_file() else None


# Served pages run sandboxed at an opaque origin, and a navigation such a frame starts itself goes
# without the UI's cookie (SameSite=Lax): framed, a page asks its parent (the plugin's Data Docs
# frame, ``ui/app.py``) to open a link instead; opened on its own, it navigates as usual.
FRAMED_NAVIGATION_JS = """
function campusDataDocsOpen(href) {
  var url = new URL(href, location.href).href;
  if (window.parent !== window) { window.parent.postMessage({campusDataDocs: url}, "*"); } else { location.href = url; }
}
document.addEventListener("click", function (e) {
  var a = e.target.closest ? e.target.closest("a[href]") : null;
  if (!a || window.parent === window) return;
  var url = new URL(a.getAttribute("href"), location.href);
  if (url.pathname === location.pathname && url.search === location.search) return;
  e.preventDefault();
  campusDataDocsOpen(url.href);
}, true);
"""
_ROW_LINK = 'window.location = $element.data("href");'  # GX's index: a row opens its validation page


def framed_navigation(page_html: str) -> str:
    """A Data Docs page whose links work inside the plugin's sandboxed frame."""
    page_html = page_html.replace(_ROW_LINK, 'campusDataDocsOpen($element.data("href"));')
    script = f"<script>{FRAMED_NAVIGATION_JS}</script>"
    at = page_html.rfind("</body>")
    return page_html + script if at < 0 else page_html[:at] + script + page_html[at:]
