"""One OpenAPI document for the whole storefront API, merged from the services' own."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from gateway_service.service.routing import upstream_for

# Names the services whose documents are missing from a merge (they did not answer).
NOT_ANSWERING = "x-services-not-answering"


def is_complete(document: dict[str, Any]) -> bool:
    """Whether every service's document is in the merge (such a merge is kept the longest)."""
    return NOT_ANSWERING not in document.get("info", {})


async def merged_openapi(client: httpx.AsyncClient, urls: dict[str, str]) -> dict[str, Any]:
    async def fetch(name: str, url: str) -> tuple[str, dict[str, Any] | None]:
        try:
            response = await client.get(f"{url}/openapi.json", timeout=3.0)
            response.raise_for_status()
            document: dict[str, Any] = response.json()
        except (httpx.HTTPError, ValueError):
            return name, None
        return name, document

    fetched = await asyncio.gather(*(fetch(name, url) for name, url in urls.items()))
    documents = [(name, document) for name, document in fetched if document is not None]
    missing = sorted(name for name, document in fetched if document is None)
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for name, document in documents:
        for path, item in document.get("paths", {}).items():
            if upstream_for(path) == name:  # only what the gateway routes to that service
                paths[path] = item
        schemas.update(document.get("components", {}).get("schemas", {}))
    info: dict[str, Any] = {"title": "Commerce suite storefront API", "version": "1"}
    if missing:
        info[NOT_ANSWERING] = missing
    return {
        "openapi": "3.1.0",
        "info": info,
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": schemas},
    }
