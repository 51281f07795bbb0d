"""The CloudEvents 1.0 envelope and its Kafka binary binding.

Every attribute travels as a `ce_<name>` header; the Kafka value is the event data alone
(JSON), and the Kafka key is `subject`. Binary mode keeps the value small and lets routers
read the type without parsing the body. The binding is written here (about 40 lines) rather
than taken from the `cloudevents` package so that this contract depends on pydantic only.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
SCHEMA_BASE_URI = "https://schemas.commerce-suite.dev/events"
HEADER_PREFIX = "ce_"

# Attributes in the order they are written as headers.
_ATTRIBUTES = (
    "id",
    "source",
    "specversion",
    "type",
    "time",
    "subject",
    "datacontenttype",
    "dataschema",
    "dataversion",
    "dataversions",
    "traceparent",
    "correlationid",
    "causationid",
)
_REQUIRED = ("id", "source", "specversion", "type", "time", "subject", "dataschema")


class EnvelopeError(ValueError):
    """A Kafka message that is not a valid envelope of this suite (a poison message)."""


def schema_uri(event_type: str, version: int) -> str:
    return f"{SCHEMA_BASE_URI}/{event_type}/v{version}.json"


class Envelope(BaseModel):
    """One CloudEvent: context attributes plus JSON data."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    source: str
    specversion: str = SPEC_VERSION
    type: str
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    subject: str
    datacontenttype: str = CONTENT_TYPE
    dataschema: str
    dataversion: int
    # Extension attribute: set on a record published in several versions (one record per
    # version, each with its own id), listing all of them. A consumer written for one of them
    # skips the others, whose twin in its version is on the topic too. None on other records.
    dataversions: tuple[int, ...] | None = None
    traceparent: str | None = None
    correlationid: str | None = None
    causationid: str | None = None
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class KafkaRecord:
    """What goes on the wire: key, value and headers."""

    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def encode_data(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def to_kafka(envelope: Envelope, value: bytes | None = None) -> KafkaRecord:
    """Binary binding. Pass `value` when the data is already encoded (the outbox stores it so)."""
    headers: list[tuple[str, bytes]] = []
    for name in _ATTRIBUTES:
        attr = getattr(envelope, name)
        if attr is None:
            continue
        if isinstance(attr, datetime):
            text = attr.isoformat()
        elif isinstance(attr, tuple):
            text = format_versions(attr)
        else:
            text = str(attr)
        headers.append((HEADER_PREFIX + name, text.encode()))
    headers.append(("content-type", CONTENT_TYPE.encode()))
    body = value if value is not None else encode_data(envelope.data)
    return KafkaRecord(key=envelope.subject.encode(), value=body, headers=headers)


def from_kafka(value: bytes | None, headers: list[tuple[str, bytes]] | tuple[Any, ...]) -> Envelope:
    """Parse a binary-mode message; raise EnvelopeError for anything that is not one."""
    attrs: dict[str, Any] = {}
    for name, raw in headers:
        if name.startswith(HEADER_PREFIX) and raw is not None:
            attrs[name[len(HEADER_PREFIX) :]] = raw.decode(errors="replace")
    missing = [name for name in _REQUIRED if name not in attrs]
    if missing:
        raise EnvelopeError(f"missing CloudEvents attributes: {', '.join(missing)}")
    if attrs["specversion"] != SPEC_VERSION:
        raise EnvelopeError(f"unsupported specversion {attrs['specversion']!r}")
    attrs.setdefault("dataversion", _version_from_schema(attrs["dataschema"]))
    if "dataversions" in attrs:
        attrs["dataversions"] = parse_versions(attrs["dataversions"])
    try:
        data = json.loads(value or b"null")
    except ValueError as exc:
        raise EnvelopeError(f"data is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise EnvelopeError("data must be a JSON object")
    known = {k: v for k, v in attrs.items() if k in _ATTRIBUTES}
    try:
        return Envelope(**known, data=data)
    except ValueError as exc:
        raise EnvelopeError(str(exc)) from exc


def format_versions(versions: tuple[int, ...]) -> str:
    """The `ce_dataversions` header's text: `1,2`."""
    return ",".join(map(str, versions))


def parse_versions(text: str) -> tuple[int, ...]:
    """`1,2` -> (1, 2); EnvelopeError for anything else."""
    try:
        versions = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise EnvelopeError(f"dataversions {text!r} is not a list of versions") from None
    if any(v < 1 for v in versions):
        raise EnvelopeError(f"dataversions {text!r} is not a list of versions")
    return versions


def _version_from_schema(dataschema: str) -> int:
    tail = dataschema.rsplit("/", 1)[-1]
    if tail.startswith("v") and tail.endswith(".json") and tail[1:-5].isdigit():
        return int(tail[1:-5])
    raise EnvelopeError(f"cannot read a version from dataschema {dataschema!r}")
