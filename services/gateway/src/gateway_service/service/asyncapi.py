"""One AsyncAPI document for the whole suite, merged from the services' own `/asyncapi.json`:
one channel per topic (the messages every service names on it), every service's operations
(their ids start with the service's name, so none collide)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from gateway_service.service.openapi import NOT_ANSWERING

Document = dict[str, Any]


async def fetch_documents(client: httpx.AsyncClient, urls: dict[str, str]) -> dict[str, Document]:
    """Each service's document; a service that does not answer with one is left out."""

    async def fetch(url: str) -> Document | None:
        try:
            response = await client.get(f"{url}/asyncapi.json", timeout=3.0)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError):
            return None
        return document if isinstance(document, dict) else None

    found = await asyncio.gather(*(fetch(url) for url in urls.values()))
    return {name: doc for name, doc in zip(urls, found, strict=True) if doc is not None}


def merge(documents: dict[str, Document], missing: list[str]) -> Document:
    servers: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    components: dict[str, dict[str, Any]] = {"messages": {}, "schemas": {}}
    for document in documents.values():
        servers.update(document.get("servers", {}))
        for cid, channel in document.get("channels", {}).items():
            merged = channels.setdefault(cid, {**channel, "messages": {}})
            merged["messages"].update(channel.get("messages", {}))
        operations.update(document.get("operations", {}))
        for kind, items in components.items():
            items.update(document.get("components", {}).get(kind, {}))
    for channel in channels.values():
        channel["messages"] = dict(sorted(channel["messages"].items()))
    versions = sorted({str(d.get("info", {}).get("version", "")) for d in documents.values()})
    info: Document = {
        "title": "Commerce suite events",
        "version": versions[-1] if versions else "0",
        "description": (
            "Every topic of the suite with what each service publishes and consumes on it, "
            "merged from the services' own `/asyncapi.json`."
        ),
    }
    if missing:
        info[NOT_ANSWERING] = sorted(missing)
    return {
        "asyncapi": "3.0.0",
        "info": info,
        "defaultContentType": "application/json",
        "servers": dict(sorted(servers.items())),
        "channels": dict(sorted(channels.items())),
        "operations": dict(sorted(operations.items())),
        "components": {kind: dict(sorted(items.items())) for kind, items in components.items()},
    }


async def merged_asyncapi(client: httpx.AsyncClient, urls: dict[str, str]) -> Document:
    documents = await fetch_documents(client, urls)
    return merge(documents, [name for name in urls if name not in documents])
