"""The event catalog's pages (`make docs` writes them to docs/events/): served as they are
under `/events/`, read from disk on each request (a few small files; no cache to go stale)."""

from __future__ import annotations

from pathlib import Path

from starlette.responses import FileResponse, RedirectResponse, Response

from chassis.errors import NotFound


def catalog_page(root: Path, path: str) -> Response:
    """The page at `path` under `root`: `""` is the index, `types/<type>.html` an event
    type's page. Only `.html` files inside `root` are served; anything else is a 404."""
    if path in ("", "index.html"):
        path = "index.html"
    base = root.resolve()
    try:
        page = (base / path).resolve()
        found = page.suffix == ".html" and page.is_relative_to(base) and page.is_file()
    except (ValueError, OSError):  # a NUL byte in the path, a name longer than the system's
        found = False
    if not found:
        raise NotFound(f"no event catalog page {path!r} (the catalog is built by `make docs`)")
    return FileResponse(page, media_type="text/html; charset=utf-8")


def catalog_root_redirect() -> Response:
    """`/events` -> `/events/`: the pages link relatively (`types/...`), from the directory."""
    return RedirectResponse("/events/", status_code=308)
