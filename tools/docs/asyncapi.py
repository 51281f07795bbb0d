"""One AsyncAPI 3.0 document per service, drawn from `tools.contract_map` (the registry and the
handler maps): the topics it publishes to and consumes from, every event type in every
version with its committed JSON Schema, the CloudEvents binary-mode headers, the Kafka key,
the consumer group, deprecations and upcasters. Written to docs/asyncapi/<service>.json by
`make docs`; each service serves its file at `/asyncapi.json`, the gateway merges them.

Why not FastStream's generator: it documents what is declared to FastStream, and the chassis
declares one batch subscriber per service over all its topics, whose body is a list of raw
records routed on the `ce_type` header inside `ServiceConsumer`; it publishes through the
outbox relay's own producer, not FastStream publishers. FastStream would describe one
"array of binary" message per topic and no sent message at all, and knows nothing of event
types, versions, binary-mode headers, keys or upcasters, which are what a downstream team
needs. So the documents are plain dicts built here, in a fixed order, dumped as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from shared_events.envelope import CONTENT_TYPE, SPEC_VERSION
from shared_events.registry import EventSpec
from shared_events.schema_export import schema_path
from shared_events.topics import dead_letter_topic
from tools.contract_map import ROOT, Consumption, EventEntry, contract_map

ASYNCAPI_DIR = ROOT / "docs" / "asyncapi"
KAFKA_BINDING = "0.5.0"
Document = dict[str, Any]


def message_id(spec: EventSpec) -> str:
    """The payload class name (`StockCommittedV2`): unique in the registry, and what a reader
    greps for."""
    return str(spec.model.__name__)


def channel_id(topic: str) -> str:
    return topic.replace(".", "_")


def payload_schema(spec: EventSpec, deprecated: bool) -> tuple[Any, dict[str, Any]]:
    """The committed JSON Schema of this version, and its `$defs` lifted into
    components/schemas as `<message id>.<name>`: AsyncAPI resolves `$ref` as a JSON
    Reference from the document root, so `#/$defs/...` inside the payload would not resolve."""
    schema = json.loads(schema_path(spec).read_text())
    prefix = message_id(spec)
    defs = schema.pop("$defs", {})
    if deprecated:
        schema["deprecated"] = True

    def relink(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                key: (
                    f"#/components/schemas/{prefix}.{value.removeprefix('#/$defs/')}"
                    if key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/")
                    else relink(value)
                )
                for key, value in node.items()
            }
        if isinstance(node, list):
            return [relink(item) for item in node]
        return node

    lifted = {f"{prefix}.{name}": relink(body) for name, body in sorted(defs.items())}
    return relink(schema), lifted


HEADERS = "CloudEventHeaders"


def common_headers() -> dict[str, Any]:
    """The CloudEvents attributes as Kafka headers (binary mode: the value is the data alone),
    shared by every message; each message pins its own type, schema and version."""
    text: dict[str, Any] = {"type": "string"}
    properties: dict[str, Any] = {
        "ce_id": {**text, "format": "uuid", "description": "The event id: deduplicate on it."},
        "ce_source": {**text, "description": "The producing service: `/services/<name>`."},
        "ce_specversion": {**text, "const": SPEC_VERSION},
        "ce_type": {**text, "description": "The event type."},
        "ce_time": {**text, "format": "date-time", "description": "When it happened (ISO 8601)."},
        "ce_subject": {**text, "description": "The subject; the Kafka key is the same."},
        "ce_datacontenttype": {**text, "const": CONTENT_TYPE},
        "ce_dataschema": {**text, "format": "uri", "description": "The payload's JSON Schema."},
        "ce_dataversion": {**text, "pattern": "^[1-9][0-9]*$", "description": "Its version."},
        "ce_dataversions": {
            **text,
            "pattern": "^[0-9]+(,[0-9]+)*$",
            "description": (
                "Only on a record published in several versions, one record per version: "
                "all of them (`1,2`). A consumer written for another of them skips this one."
            ),
        },
        "ce_traceparent": {
            **text,
            "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
            "description": "W3C trace context of the request that caused the event.",
        },
        "ce_correlationid": {**text, "description": "The id shared by one business flow."},
        "ce_causationid": {**text, "description": "The id of the event or request that caused it."},
        "content-type": {**text, "const": CONTENT_TYPE},
    }
    required = [
        "ce_id",
        "ce_source",
        "ce_specversion",
        "ce_type",
        "ce_time",
        "ce_subject",
        "ce_datacontenttype",
        "ce_dataschema",
        "ce_dataversion",
        "content-type",
    ]
    return {"type": "object", "required": required, "properties": properties}


def headers_schema(spec: EventSpec) -> dict[str, Any]:
    """The common headers with this message's type, schema, version and subject."""
    text: dict[str, Any] = {"type": "string"}
    return {
        "type": "object",
        "allOf": [{"$ref": f"#/components/schemas/{HEADERS}"}],
        "properties": {
            "ce_type": {**text, "const": spec.type},
            "ce_subject": {**text, "description": f"The {spec.key}; the Kafka key is the same."},
            "ce_dataschema": {**text, "const": spec.dataschema},
            "ce_dataversion": {**text, "const": str(spec.version)},
        },
    }


def message(entry: EventEntry, spec: EventSpec) -> dict[str, Any]:
    newest = entry.latest.version
    deprecated = spec.version < newest
    body: dict[str, Any] = {
        "name": spec.type,
        "title": f"{spec.type} v{spec.version}",
        "summary": f"Published by {entry.producer} on {entry.topic}, keyed by the {spec.key}.",
        "contentType": CONTENT_TYPE,
        "headers": headers_schema(spec),
        "payload": {"$ref": f"#/components/schemas/{message_id(spec)}"},
        "correlationId": {
            "description": "The business flow this event belongs to.",
            "location": "$message.header#/ce_correlationid",
        },
        "bindings": {
            "kafka": {
                "key": {
                    "type": "string",
                    "description": (
                        f"The {spec.key} (ce_subject): the events of one {spec.key} are in "
                        "one partition, in the order they were published."
                    ),
                },
                "bindingVersion": KAFKA_BINDING,
            }
        },
        "x-event-type": spec.type,
        "x-event-version": spec.version,
    }
    if deprecated:
        body["description"] = f"Deprecated: v{newest} supersedes it."
        body["x-deprecated"] = True
    if spec.version in entry.upcasters_from:
        body["x-upcaster-to"] = spec.version + 1
    return body


def read_versions(entry: EventEntry, handled: int) -> list[EventSpec]:
    """What a consumer written for version `handled` takes in: that version, and older ones an
    unbroken chain of upcasters turns into it."""
    taken = [spec for spec in entry.versions if spec.version == handled]
    for spec in sorted(entry.versions, key=lambda s: -s.version):
        if spec.version < handled:
            if not all(v in entry.upcasters_from for v in range(spec.version, handled)):
                break
            taken.append(spec)
    return sorted(taken, key=lambda s: s.version)


class _Builder:
    """Accumulates one service's channels, operations and components."""

    def __init__(self, entries: dict[str, EventEntry]) -> None:
        self.entries = entries
        self.channels: dict[str, Any] = {}
        self.operations: dict[str, Any] = {}
        self.messages: dict[str, Any] = {}
        self.schemas: dict[str, Any] = {}

    def add_message(self, entry: EventEntry, spec: EventSpec) -> str:
        mid = message_id(spec)
        if mid not in self.messages:
            self.messages[mid] = message(entry, spec)
            payload, lifted = payload_schema(spec, spec.version < entry.latest.version)
            self.schemas[mid] = payload
            self.schemas.update(lifted)
        channel = self.channel(entry.topic)
        channel["messages"][mid] = {"$ref": f"#/components/messages/{mid}"}
        return f"#/channels/{channel_id(entry.topic)}/messages/{mid}"

    def channel(self, topic: str) -> dict[str, Any]:
        cid = channel_id(topic)
        if cid not in self.channels:
            self.channels[cid] = {
                "address": topic,
                "title": topic,
                "description": (
                    f"Records that keep failing are dead-lettered to {dead_letter_topic(topic)}."
                ),
                "messages": {},
                "bindings": {"kafka": {"topic": topic, "bindingVersion": KAFKA_BINDING}},
            }
        channel: dict[str, Any] = self.channels[cid]
        return channel

    def sends(self, service: str, entries: Iterable[EventEntry]) -> None:
        by_topic: dict[str, list[str]] = {}
        for entry in entries:
            for spec in sorted(entry.versions, key=lambda s: s.version):
                by_topic.setdefault(entry.topic, []).append(self.add_message(entry, spec))
        for topic, refs in sorted(by_topic.items()):
            self.operations[f"{service}_send_{channel_id(topic)}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{channel_id(topic)}"},
                "title": f"{service} publishes on {topic}",
                "summary": "Through the outbox: staged in the use case's transaction.",
                "messages": [{"$ref": ref} for ref in refs],
            }

    def receives(self, service: str, consumptions: Iterable[Consumption]) -> None:
        by_consumer: dict[tuple[str, str], list[Consumption]] = {}
        for row in consumptions:
            by_consumer.setdefault((row.consumer, row.topic), []).append(row)
        for (consumer, topic), rows in sorted(by_consumer.items()):
            refs: list[str] = []
            handlers: dict[str, str] = {}
            for row in sorted(rows, key=lambda r: r.event_type):
                entry = self.entries[row.event_type]
                for spec in read_versions(entry, row.version):
                    refs.append(self.add_message(entry, spec))
                handlers[f"{row.event_type} v{row.version}"] = row.handler
            self.operations[f"{service}_receive_{consumer.replace('-', '_')}"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{channel_id(topic)}"},
                "title": f"{consumer} reads {topic}",
                "summary": (
                    f"In consumer group {service}; other types on the topic are skipped. "
                    "Older versions listed are upcast to the version the handler reads."
                ),
                "messages": [{"$ref": ref} for ref in refs],
                "bindings": {
                    "kafka": {
                        "groupId": {"type": "string", "enum": [service]},
                        "clientId": {"type": "string", "enum": [service]},
                        "bindingVersion": KAFKA_BINDING,
                    }
                },
                "x-consumer": consumer,
                "x-handlers": handlers,
                "x-dead-letter-topic": dead_letter_topic(topic),
            }


def service_document(service: str, entries: dict[str, EventEntry]) -> Document:
    builder = _Builder(entries)
    builder.sends(service, (e for e in entries.values() if e.producer == service))
    builder.receives(
        service, (c for e in entries.values() for c in e.consumers if c.service == service)
    )
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": f"{service} service events",
            "version": package_version("shared-events"),
            "description": (
                f"What the {service} service publishes and consumes on Kafka. Every record is "
                "a CloudEvent in binary mode: the attributes are `ce_*` headers, the value is "
                "the event data (JSON), the key is the subject. Generated by `make docs`."
            ),
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "kafka": {
                "host": "127.0.0.1:9092",
                "protocol": "kafka",
                "description": (
                    "The broker of `make run`; elsewhere each service's "
                    "<PREFIX>KAFKA_BOOTSTRAP_SERVERS."
                ),
            }
        },
        "channels": dict(sorted(builder.channels.items())),
        "operations": dict(sorted(builder.operations.items())),
        "components": {
            "messages": dict(sorted(builder.messages.items())),
            "schemas": dict(sorted({HEADERS: common_headers(), **builder.schemas}.items())),
        },
    }


def services(entries: dict[str, EventEntry]) -> list[str]:
    """Every service that publishes or consumes an event."""
    names = {e.producer for e in entries.values()}
    names |= {c.service for e in entries.values() for c in e.consumers}
    return sorted(names)


def documents() -> dict[str, Document]:
    entries = contract_map()
    return {service: service_document(service, entries) for service in services(entries)}


def render(document: Document) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def document_path(service: str, root: Path = ASYNCAPI_DIR) -> Path:
    return root / f"{service}.json"


def build(root: Path = ASYNCAPI_DIR) -> list[Path]:
    """Write every service's document; the paths written (the unchanged ones are left)."""
    written = []
    root.mkdir(parents=True, exist_ok=True)
    for service, document in documents().items():
        path, text = document_path(service, root), render(document)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            written.append(path)
    return written
