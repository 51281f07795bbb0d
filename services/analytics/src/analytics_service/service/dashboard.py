"""The operators' dashboard: a plain HTML page, its stylesheet and script, shipped in the
package (`analytics_service/static`, in the wheel) and served as they are. The page draws its
charts as SVG itself and asks `/api/v1/admin/analytics/dashboard` for the figures with the
admin token it gets at its own login form: nothing is fetched from anywhere but the suite."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

from chassis.errors import NotFound

# The only files served, each with its type: a name is looked up here, never joined to a path.
ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
}
# Everything from this origin, nothing inline and nothing from a CDN: the page works offline,
# and an injected script or style could not run. Figures are fetched from the same origin.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Small files: revalidated each load, so a new release shows at once.
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str


@cache
def asset(name: str) -> Asset:
    """One of the page's files (read once per process), or 404."""
    media_type = ASSETS.get(name)
    if media_type is None:
        raise NotFound(f"no dashboard file {name}")
    body = resources.files("analytics_service").joinpath("static", name).read_bytes()
    return Asset(body, media_type)
