"""The AsyncAPI documents under docs/asyncapi are generated from the code (`make docs`): the
committed files must equal what the code generates now, be valid AsyncAPI 3.0 documents, and
say what the registry and the handler maps say. Each service serves its own."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import jsonschema
import pytest

from payment_service.config import PaymentSettings
from payment_service.main import create_app as create_payment
from shared_events import registry
from shared_events.envelope import to_kafka
from shared_events.inventory import StockCommittedV1, StockCommittedV2
from tools.contract_map import EventEntry, contract_map
from tools.docs.asyncapi import (
    ASYNCAPI_DIR,
    channel_id,
    document_path,
    documents,
    message_id,
    render,
)

GENERATED = documents()
ENTRIES = contract_map()
COMPONENT_KEY = re.compile(r"^[a-zA-Z0-9.\-_]+$")
STALE = "is stale: run `make docs` and commit docs/asyncapi"


def committed(service: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(document_path(service).read_text())
    return loaded


def test_the_committed_files_are_what_the_code_generates() -> None:
    files = sorted(path.stem for path in ASYNCAPI_DIR.glob("*.json"))
    assert files == sorted(GENERATED), f"docs/asyncapi {STALE} (services: {sorted(GENERATED)})"
    for service, document in GENERATED.items():
        path = document_path(service)
        assert path.read_text() == render(document), f"{path.name} {STALE}"


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"{ref}: only local references are used"
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
        node = node[part]
    return node


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in refs(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in refs(item)]
    return []


@pytest.mark.parametrize("service", sorted(GENERATED))
def test_each_file_is_a_valid_asyncapi_3_document(service: str) -> None:
    document = committed(service)
    assert document["asyncapi"] == "3.0.0"
    assert isinstance(document["info"]["title"], str) and document["info"]["title"]
    assert isinstance(document["info"]["version"], str) and document["info"]["version"]
    for server in document["servers"].values():
        assert server["host"] and server["protocol"] == "kafka"
    for ref in refs(document):
        resolve(document, ref)
    for kind, items in document["components"].items():
        assert all(COMPONENT_KEY.match(key) for key in items), kind
    for cid, channel in document["channels"].items():
        assert isinstance(channel["address"], str) and channel["messages"], cid
        assert channel["bindings"]["kafka"]["topic"] == channel["address"]
        for mid, ref in channel["messages"].items():
            assert ref == {"$ref": f"#/components/messages/{mid}"}
    for oid, operation in document["operations"].items():
        assert operation["action"] in ("send", "receive"), oid
        channel_ref = operation["channel"]["$ref"]
        assert channel_ref.startswith("#/channels/")
        for ref in operation["messages"]:
            # An operation's messages are messages of its own channel.
            assert ref["$ref"].startswith(f"{channel_ref}/messages/"), (oid, ref)
    for mid, message in document["components"]["messages"].items():
        assert message["payload"] == {"$ref": f"#/components/schemas/{mid}"}
        assert message["headers"]["type"] == "object"
        assert message["bindings"]["kafka"]["key"]["type"] == "string"
    # Every message is in a channel.
    in_channels = {m for c in document["channels"].values() for m in c["messages"]}
    assert in_channels == set(document["components"]["messages"])


def messages_of(operation: dict[str, Any]) -> set[str]:
    return {ref["$ref"].rsplit("/", 1)[-1] for ref in operation["messages"]}


def sent_by(service: str) -> list[EventEntry]:
    return [entry for entry in ENTRIES.values() if entry.producer == service]


@pytest.mark.parametrize("service", sorted(GENERATED))
def test_each_document_says_what_the_registry_and_handlers_say(service: str) -> None:
    document = GENERATED[service]
    operations = document["operations"]
    messages = document["components"]["messages"]
    for entry in sent_by(service):
        send = operations[f"{service}_send_{channel_id(entry.topic)}"]
        for spec in entry.versions:
            mid = message_id(spec)
            assert mid in messages_of(send)
            headers = messages[mid]["headers"]["properties"]
            assert headers["ce_type"]["const"] == spec.type
            assert headers["ce_dataschema"]["const"] == spec.dataschema
            assert headers["ce_dataversion"]["const"] == str(spec.version)
            assert spec.key in messages[mid]["bindings"]["kafka"]["key"]["description"]
            newer = spec.version < entry.latest.version
            assert document["components"]["schemas"][mid].get("deprecated", False) is newer
            assert messages[mid].get("x-upcaster-to") == (
                spec.version + 1 if spec.version in entry.upcasters_from else None
            )
    for entry in ENTRIES.values():
        for row in entry.consumers:
            if row.service != service:
                continue
            receive = operations[f"{service}_receive_{row.consumer.replace('-', '_')}"]
            assert receive["bindings"]["kafka"]["groupId"]["enum"] == [service]
            assert receive["x-handlers"][f"{row.event_type} v{row.version}"] == row.handler
            handled = next(s for s in entry.versions if s.version == row.version)
            assert message_id(handled) in messages_of(receive)


def test_the_common_headers_are_the_binary_mode_attributes() -> None:
    headers = GENERATED["order"]["components"]["schemas"]["CloudEventHeaders"]
    assert set(headers["required"]) >= {"ce_id", "ce_source", "ce_type", "ce_subject"}
    assert {"ce_dataversions", "ce_traceparent", "ce_correlationid", "ce_causationid"} <= set(
        headers["properties"]
    )
    assert "ce_dataversions" not in headers["required"]


def test_a_published_record_has_the_headers_its_message_describes() -> None:
    document = GENERATED["inventory"]
    v1 = StockCommittedV1(order_id="o-1", lines=[])
    v2 = StockCommittedV2(order_id="o-1", lines=[])
    for payload in (v1, v2):
        envelope = registry.envelope(
            payload,
            subject="o-1",
            correlation_id="o-1",
            causation_id="e-0",
            traceparent="00-" + "1" * 32 + "-" + "2" * 16 + "-01",
            dataversions=registry.versions_of(v2, [v1]),
        )
        record = to_kafka(envelope)
        headers = {name: value.decode() for name, value in record.headers}
        message = document["components"]["messages"][type(payload).__name__]
        schema = {
            "allOf": [
                document["components"]["schemas"]["CloudEventHeaders"],
                {k: v for k, v in message["headers"].items() if k != "allOf"},
            ]
        }
        jsonschema.validate(headers, schema)
        common = document["components"]["schemas"]["CloudEventHeaders"]["properties"]
        assert set(headers) <= set(common), set(headers) - set(common)
        assert record.key == b"o-1"


def test_a_version_with_a_newer_one_is_deprecated_and_upcast() -> None:
    document = GENERATED["inventory"]
    v1 = document["components"]["messages"]["StockCommittedV1"]
    assert v1["x-deprecated"] is True and v1["x-upcaster-to"] == 2
    assert "deprecated" not in document["components"]["schemas"]["StockCommittedV2"]
    # order and analytics read v2 and take a lone v1 record upcast.
    order = GENERATED["order"]["operations"]["order_receive_order_saga_inventory"]
    assert {"StockCommittedV1", "StockCommittedV2"} <= messages_of(order)
    analytics = GENERATED["analytics"]["operations"]["analytics_receive_analytics_inventory"]
    assert {"StockCommittedV1", "StockCommittedV2"} <= messages_of(analytics)


async def test_a_service_serves_its_committed_document() -> None:
    app = create_payment(PaymentSettings())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://payment") as client:
        response = await client.get("/asyncapi.json")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.content == document_path("payment").read_bytes()
        openapi = (await client.get("/openapi.json")).json()
        assert "/asyncapi.json" not in openapi["paths"]
