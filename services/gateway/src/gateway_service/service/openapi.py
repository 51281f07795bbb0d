"""One OpenAPI document for the whole storefront API, merged from the services' own."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from gateway_service.service.routing import upstream_for


async def merged_openapi(client: httpx.AsyncClient, urls: dict[str, str]) -> dict[str, Any]:
    async def fetch(name: str, url: str) -> tuple[str, dict[str, Any]]:
        try:
            response = await client.get(f"{url}/openapi.json", timeout=3.0)
            response.raise_for_status()
            document: dict[str, Any] = response.json()
        except (httpx.HTTPError, ValueError):
            document = {}
        return name, document

    documents = await asyncio.gather(*(fetch(name, url) for name, url in urls.items()))
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for name, document in documents:
        for path, item in document.get("paths", {}).items():
            if upstream_for(path) == name:  # only what the gateway routes to that service
                paths[path] = item
        schemas.update(document.get("components", {}).get("schemas", {}))
    return {
        "openapi": "3.1.0",
        "info": {"title": "Commerce suite storefront API", "version": "1"},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": schemas},
    }
