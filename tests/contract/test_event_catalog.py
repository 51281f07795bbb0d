"""The event catalog (docs/events, `make docs`): the committed pages are what the code
generates, every registered version and every handler is in them, the links resolve, the
examples are valid, and the gateway serves the pages at /events."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import PurePosixPath

import httpx
import jsonschema
import pytest

import shared_events
from chassis.testing.infra import free_port
from chassis.testing.tokens import TestTokenIssuer
from gateway_service.config import GatewaySettings
from gateway_service.main import create_app as create_gateway
from inventory_service.config import InventorySettings
from shared_events.schema_export import json_schema
from shared_events.topics import dead_letter_topic
from tools.contract_map import contract_map, handler_maps
from tools.docs.catalog import (
    OUT_DIR,
    PUBLISHED_TWINS,
    example_payload,
    render_catalog,
    topic_href,
    type_href,
)

PAGES = render_catalog()


class Anchors(HTMLParser):
    """The hrefs, ids and resource attributes of one page."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.ids: set[str] = set()
        self.tags: set[str] = set()
        self.resources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            if name == "href" and value is not None:
                self.hrefs.append(value)
            if name == "id" and value is not None:
                self.ids.add(value)
            if name == "src" and value is not None:
                self.resources.append(value)


def parsed(page: str) -> Anchors:
    anchors = Anchors()
    anchors.feed(PAGES[page])
    return anchors


def test_the_committed_pages_are_what_the_code_generates() -> None:
    committed = {
        path.relative_to(OUT_DIR).as_posix(): path.read_text() for path in OUT_DIR.rglob("*.html")
    }
    stale = sorted(
        name for name in PAGES.keys() | committed.keys() if PAGES.get(name) != committed.get(name)
    )
    assert not stale, f"docs/events is stale, run `make docs`: {stale}"


def test_every_registered_version_has_its_page_schema_and_example() -> None:
    for spec in shared_events.registry:
        page = PAGES[type_href(spec.type)]
        assert f'id="v{spec.version}"' in page, (spec.type, spec.version)
        assert spec.dataschema in page
        assert f"<code>{spec.type}</code>" in PAGES["index.html"]
        assert spec.key and spec.key in page


def test_every_handler_of_every_service_is_in_the_catalog() -> None:
    handlers = 0
    for service, consumers in handler_maps().items():
        for consumer in consumers:
            for model, fn in consumer.handlers.items():
                name = f"{fn.__module__}.{fn.__qualname__}"
                page = PAGES[type_href(model.event_type)]
                assert name in page, (service, name)
                assert consumer.name in page
                assert name in PAGES["index.html"]
                assert name in PAGES[topic_href(consumer.topic)]
                handlers += 1
    assert handlers > 30  # the suite's handler maps, not an empty import


def test_every_topic_page_names_its_dead_letter_topic_and_types() -> None:
    for entry in contract_map().values():
        page = PAGES[topic_href(entry.topic)]
        assert dead_letter_topic(entry.topic) in page
        assert type_href(entry.type, "../") in page


def test_links_resolve_and_nothing_is_fetched_from_elsewhere() -> None:
    for name in PAGES:
        anchors = parsed(name)
        assert not anchors.resources, name  # no images or scripts to load
        assert not anchors.tags & {"script", "link", "iframe"}, name
        for href in anchors.hrefs:
            assert "://" not in href, (name, href)
            target, _, fragment = href.partition("#")
            if target:
                resolved = str(PurePosixPath(name).parent / target)
                parts: list[str] = []
                for part in resolved.split("/"):
                    if part == "..":
                        parts.pop()
                    elif part not in ("", "."):
                        parts.append(part)
                target = "/".join(parts)
            else:
                target = name
            assert target in PAGES, (name, href)
            if fragment:
                assert fragment in parsed(target).ids, (name, href)


def test_every_example_payload_is_valid_against_its_schema_and_model() -> None:
    for spec in shared_events.registry:
        payload = example_payload(spec)
        jsonschema.validate(payload, json_schema(spec))
        spec.model.model_validate(payload)
        assert example_payload(spec) == payload  # deterministic
        assert json.dumps(payload, indent=2, ensure_ascii=False).splitlines()[1] in PAGES[
            type_href(spec.type)
        ].replace("&quot;", '"')


def test_deprecated_versions_say_so_and_the_committed_v1_twin_names_its_switch() -> None:
    page = PAGES[type_href("inventory.stock.committed")]
    assert "deprecated</span> by v2" in page
    assert "INVENTORY_PUBLISH_COMMITTED_V1" in page
    assert "v1 → v2" in page and "_committed_v1_to_v2" in page
    for event_type, _version in PUBLISHED_TWINS:
        prefix = InventorySettings.model_config.get("env_prefix", "")
        switch = PUBLISHED_TWINS[(event_type, _version)]
        field = switch.removeprefix(str(prefix)).lower()
        assert field in InventorySettings.model_fields, switch
    assert "still published" in page


@pytest.mark.integration
async def test_the_gateway_serves_the_catalog(
    redis_url: str, redis_key_prefix: str, token_issuer: TestTokenIssuer
) -> None:
    gateway = create_gateway(
        GatewaySettings(
            redis_url=redis_url,
            redis_key_prefix=redis_key_prefix,
            jwks_url=token_issuer.jwks_url,  # type: ignore[attr-defined]
            metrics_port=free_port(),
            environment="test",
        )
    )
    async with (
        gateway.router.lifespan_context(gateway),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=gateway), base_url="http://gateway"
        ) as http,
    ):
        moved = await http.get("/events")
        assert moved.status_code == 308 and moved.headers["location"] == "/events/"
        index = await http.get("/events/")
        assert index.status_code == 200
        assert index.headers["content-type"].startswith("text/html")
        assert index.text == PAGES["index.html"]
        page = await http.get("/events/types/inventory.stock.committed.html")
        assert page.status_code == 200
        assert "INVENTORY_PUBLISH_COMMITTED_V1" in page.text
        for missing in ("/events/types/nope.html", "/events/../pyproject.toml"):
            gone = await http.get(missing)
            assert gone.status_code == 404
            assert gone.headers["content-type"] == "application/problem+json"
