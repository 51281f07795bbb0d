"""The event catalog: static HTML pages a person reads, under docs/events/ (`make docs`).

An index (topics, event types, producers, consumers), one page per topic (its event types, key
and ordering, partitions, dead-letter topic, readers) and one page per event type (producer,
consumers with their handler and the version they read, key and ordering, every version with
its JSON Schema and an example payload, the upcasters, deprecation, and the suite versions
that first and last published it). Everything comes from `tools.contract_map` (the registry and
the handler maps) and the git history of the committed schemas; the pages are deterministic
(fixed ids and dates in the examples, no build time), self-contained (inline CSS, no script,
no CDN) and linked relatively, so they read the same from disk and from the gateway's
`/events/`.
"""

from __future__ import annotations

import html
import json
import subprocess
import tomllib
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from shared_events import registry
from shared_events.envelope import to_kafka
from shared_events.registry import EventSpec
from shared_events.schema_export import SCHEMA_DIR, render, schema_path
from shared_events.topics import ALL_TOPICS, dead_letter_topic, topic_spec
from tools.contract_map import ROOT, Consumption, EventEntry, contract_map

OUT_DIR = ROOT / "docs" / "events"

# Older versions a producer still publishes beside the newest one (one record each, the same
# key, `ce_dataversions` listing them), and the setting that turns the twin off.
PUBLISHED_TWINS: dict[tuple[str, int], str] = {
    ("inventory.stock.committed", 1): "INVENTORY_PUBLISH_COMMITTED_V1",
}

# The fixed instant and namespace every example is drawn from, so the pages never change
# unless the contract does.
EXAMPLE_TIME = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
EXAMPLE_NAMESPACE = uuid.UUID("6f1c2a5e-3b7d-4e0a-9c55-0e8d2b1f7a10")

# Plausible values for fields by name; anything else gets a value from its schema.
NAMED_EXAMPLES: dict[str, Any] = {
    "sku": "TEA-OOLONG-250G",
    "skus": ["TEA-OOLONG-250G", "TEA-OOLONG-500G"],
    "lot": "L2026-11-A",
    "from_lot": "L2026-10-B",
    "currency": "CNY",
    "country": "CN",
    "region": "Fujian",
    "producer": "Anxi Tea Cooperative",
    "email": "member@example.com",
    "recipient": "member@example.com",
    "locale": "zh-CN",
    "trace_code": "7Q4M2KXD9P",
    "trace_codes": ["7Q4M2KXD9P"],
    "coupon_code": "WELCOME-10",
    "product_name": "Tieguanyin oolong, 250 g",
    "description": "A roasted Anxi oolong.",
    "phone": "+8613800138000",
    "channel": "EMAIL",
    "template": "order_confirmed",
    "old_tier": "SILVER",
    "new_tier": "GOLD",
    "inspection_ref": "CIQ-2026-118204",
    "payment_token": "tok_test_visa",
}


# ---- where each version came from: the git history of the committed schemas ---------------


@dataclass(frozen=True, slots=True)
class Release:
    """The suite versions that first and last published one (type, version)."""

    first: str
    last: str


def _git(*args: str) -> str | None:
    try:
        result = subprocess.run(  # noqa: S603 (fixed argv)
            ["git", *args],  # noqa: S607 (git from PATH, like make)
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout if result.returncode == 0 else None


def _project_version(pyproject: str | None) -> str | None:
    if not pyproject:
        return None
    version = tomllib.loads(pyproject).get("project", {}).get("version")
    return str(version) if version else None


@cache
def _suite_version_at(commit: str) -> str:
    """The root pyproject's version at `commit`, else the commit's date and short hash."""
    version = _project_version(_git("show", f"{commit}:pyproject.toml"))
    if version:
        return version
    stamp = (_git("show", "-s", "--format=%cs %h", commit) or commit[:7]).strip()
    return stamp


@cache
def _first_commits() -> dict[str, str]:
    """Schema file (repository path) -> the first commit that added it."""
    relative = SCHEMA_DIR.relative_to(ROOT).as_posix()
    text = _git("log", "--diff-filter=A", "--format=@%H", "--name-only", "--", relative) or ""
    first: dict[str, str] = {}
    commit = ""
    for line in text.splitlines():
        if line.startswith("@"):
            commit = line[1:]
        elif line.strip():
            first[line.strip()] = commit  # newest first: the oldest adding commit wins
    return first


def release_of(spec: EventSpec) -> Release:
    """`first`: the suite version of the commit that added the schema file (the root
    pyproject's version then, else that commit's date and hash); a file not committed yet is
    first published by the version in the working tree. `last`: "still published", since the
    type is registered today."""
    path = schema_path(spec).relative_to(ROOT).as_posix()
    commit = _first_commits().get(path)
    if commit:
        first = _suite_version_at(commit)
    else:
        current = (ROOT / "pyproject.toml").read_text()
        first = _project_version(current) or "not released yet (schema not committed)"
    return Release(first=first, last="still published")


# ---- example payloads ------------------------------------------------------------------------


def _example_value(name: str, schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    if "$ref" in schema:
        return _example_value(name, defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return _example_value(name, schema["allOf"][0], defs)
    for union in ("anyOf", "oneOf"):
        if union in schema:
            options = [option for option in schema[union] if option.get("type") != "null"]
            return _example_value(name, options[0], defs) if options else None
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if name in NAMED_EXAMPLES and _fits(NAMED_EXAMPLES[name], schema):
        return NAMED_EXAMPLES[name]
    if kind == "object":
        if "properties" in schema:
            return {
                field: _example_value(field, sub, defs)
                for field, sub in schema["properties"].items()
            }
        extra = schema.get("additionalProperties")
        return {"grade": _example_value("grade", extra, defs)} if isinstance(extra, dict) else {}
    if kind == "array":
        singular = name[:-1] if name.endswith("s") else name
        count = max(1, int(schema.get("minItems", 1)))
        return [_example_value(singular, schema.get("items", {}), defs) for _ in range(count)]
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "date-time":
            return EXAMPLE_TIME.isoformat().replace("+00:00", "Z")
        if fmt == "date":
            return EXAMPLE_TIME.date().isoformat()
        if fmt == "uuid" or name == "id" or name.endswith("_id"):
            return str(uuid.uuid5(EXAMPLE_NAMESPACE, name))
        return name.replace("_", " ").upper() if name.endswith("reason") else f"example {name}"
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1)
        high = schema.get("maximum", schema.get("exclusiveMaximum", 10**9))
        preferred = 2800 if name in ("amount", "price", "total", "subtotal") else 2
        value = min(max(preferred, low), high)
        return value if kind == "integer" else float(value)
    if kind == "boolean":
        return True
    return None


def _fits(value: Any, schema: dict[str, Any]) -> bool:
    """A named example is used only where its field has that shape (`skus` may be strings
    in one event and objects in another)."""
    if isinstance(value, str):
        return schema.get("type") == "string" and "format" not in schema
    if isinstance(value, list):
        return schema.get("type") == "array" and schema.get("items", {}).get("type") == "string"
    return False


def example_payload(spec: EventSpec) -> dict[str, Any]:
    """A valid payload of `spec`, the same on every run: drawn from its JSON Schema, then
    validated by the model (a ValueError here is a gap in the generator, not in the model)."""
    schema = spec.model.model_json_schema(mode="validation")
    data = _example_value("", schema, schema.get("$defs", {}))
    if not isinstance(data, dict):
        raise ValueError(f"{spec.type} v{spec.version}: its schema is not an object")
    spec.model.model_validate(data)
    return data


def key_field(spec: EventSpec) -> str:
    """The payload field the subject is taken from: "order id" -> `order_id`."""
    return spec.key.lower().replace(" ", "_")


def example_record(spec: EventSpec, payload: dict[str, Any]) -> dict[str, Any]:
    """The Kafka record of the example: key, headers (CloudEvents binary mode) and value."""
    subject = str(payload.get(key_field(spec), f"<{spec.key}>"))
    newest = registry.latest(spec.type).version
    twins = {newest} | {v for (t, v) in PUBLISHED_TWINS if t == spec.type}
    envelope = registry.envelope(
        spec.model.model_validate(payload),
        subject=subject,
        dataversions=tuple(sorted(twins)) if len(twins) > 1 and spec.version in twins else None,
        id=uuid.uuid5(EXAMPLE_NAMESPACE, f"{spec.type}/v{spec.version}"),
        correlation_id=str(uuid.uuid5(EXAMPLE_NAMESPACE, "correlation")),
    ).model_copy(update={"time": EXAMPLE_TIME, "data": payload})
    record = to_kafka(envelope)
    return {
        "key": record.key.decode(),
        "headers": {name: value.decode() for name, value in record.headers},
        "value": payload,
    }


# ---- HTML ------------------------------------------------------------------------------------

STYLE = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2330;
  margin: 0; background: #f6f7f9; }
header { background: #1d2330; color: #fff; padding: .8rem 2rem; }
header a { color: #cfe0ff; text-decoration: none; }
header .crumbs { font-size: .9rem; opacity: .9; }
main { max-width: 72rem; margin: 0 auto; padding: 1rem 2rem 3rem; }
h1 { font-size: 1.6rem; margin: .4rem 0; } h1 code { font-size: 1.5rem; }
h2 { font-size: 1.25rem; margin-top: 2rem; border-bottom: 1px solid #d6dae2; }
h3 { font-size: 1.05rem; margin-top: 1.5rem; }
table { border-collapse: collapse; width: 100%; background: #fff; margin: .5rem 0; }
th, td { border: 1px solid #d6dae2; padding: .35rem .6rem; text-align: left;
  vertical-align: top; }
th { background: #eef1f6; font-weight: 600; }
table.facts th { width: 13rem; }
code { font: 13px/1.4 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
pre { background: #fff; border: 1px solid #d6dae2; padding: .7rem; overflow-x: auto;
  max-height: 32rem; }
a { color: #0b57d0; }
.badge { display: inline-block; padding: 0 .5rem; border-radius: .7rem; font-size: .8rem;
  font-weight: 600; }
.current { background: #d8f3dc; color: #14532d; }
.deprecated { background: #fde2c8; color: #7c2d12; }
.version { background: #fff; border: 1px solid #d6dae2; padding: .2rem 1rem 1rem;
  margin: 1rem 0; }
details summary { cursor: pointer; font-weight: 600; margin: .4rem 0; }
p.note { color: #4a5263; }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _code(text: object) -> str:
    return f"<code>{_e(text)}</code>"


def _link(href: str, text: str) -> str:
    return f'<a href="{_e(href)}">{text}</a>'


def _table(headers: Iterable[str], rows: Iterable[Iterable[str]], css: str = "") -> str:
    """A table of already escaped cells."""
    head = "".join(f"<th>{cell}</th>" for cell in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    klass = f' class="{css}"' if css else ""
    return f"<table{klass}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _facts(rows: Iterable[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in rows)
    return f'<table class="facts"><tbody>{body}</tbody></table>'


def _pre(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
    return f"<pre><code>{_e(text.rstrip())}</code></pre>"


def _page(title: str, crumbs: list[tuple[str, str]], body: str) -> str:
    trail = " &rsaquo; ".join(_link(href, _e(text)) if href else _e(text) for href, text in crumbs)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)} · Event catalog</title>\n<style>{STYLE}</style>\n</head>\n"
        f'<body>\n<header><div class="crumbs">{trail}</div></header>\n'
        f"<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def type_href(event_type: str, prefix: str = "") -> str:
    return f"{prefix}types/{event_type}.html"


def topic_href(topic: str, prefix: str = "") -> str:
    return f"{prefix}topics/{topic}.html"


def _ordering(entry: EventEntry) -> str:
    key = entry.latest.key
    return (
        f"Kafka key = subject = the {_e(key)}. Records with the same {_e(key)} go to the same "
        f"partition of {_code(entry.topic)} and are delivered in the order they were "
        "published; records of different keys have no order between them. Delivery is at "
        f"least once: deduplicate on {_code('ce_id')}."
    )


def _status(entry: EventEntry, spec: EventSpec) -> str:
    newest = entry.latest.version
    if spec.version == newest:
        return '<span class="badge current">current</span>'
    twin = PUBLISHED_TWINS.get((spec.type, spec.version))
    text = f'<span class="badge deprecated">deprecated</span> by v{newest}'
    if twin:
        text += (
            f"; still published as a twin of v{newest} (its own record, the same key, "
            f"{_code('ce_dataversions')} listing both) while {_code(twin)} is on"
        )
    else:
        text += "; no longer published: stored records reach newer consumers upcast"
    return text


def _consumer_rows(consumers: Iterable[Consumption], prefix: str) -> list[list[str]]:
    return [
        [
            _e(c.service),
            _code(c.service),
            _code(c.consumer),
            _link(type_href(c.event_type, prefix), _code(c.event_type)),
            f"v{c.version}",
            _code(c.handler),
        ]
        for c in sorted(consumers, key=lambda c: (c.service, c.consumer, c.event_type))
    ]


CONSUMER_HEADERS = ["service", "group", "consumer", "event type", "reads", "handler"]


def _upcaster(event_type: str, from_version: int) -> Callable[..., Any] | None:
    found: Callable[..., Any] | None = registry.upcaster_from(event_type, from_version)
    return found


def _version_section(entry: EventEntry, spec: EventSpec) -> str:
    release = release_of(spec)
    payload = example_payload(spec)
    schema_file = schema_path(spec).relative_to(ROOT).as_posix()
    readers = [c for c in entry.consumers if c.version == spec.version]
    facts = [
        ("status", _status(entry, spec)),
        ("model", _code(f"{spec.model.__module__}.{spec.model.__name__}")),
        ("dataschema", _code(spec.dataschema)),
        ("schema file", _code(schema_file)),
        ("first published in", f"suite {_e(release.first)}"),
        ("last published in", _e(release.last)),
        (
            "handlers written for it",
            ", ".join(_code(c.handler) for c in readers) if readers else "none",
        ),
    ]
    parts = [
        f'<section class="version" id="v{spec.version}">',
        f"<h3>Version {spec.version}</h3>",
        _facts(facts),
    ]
    doc = (spec.model.__doc__ or "").strip()
    if doc and spec.model.__doc__ != _base_doc():
        parts.append(f"<p>{_e(' '.join(doc.split()))}</p>")
    parts += [
        "<h4>Example payload (the Kafka value)</h4>",
        _pre(payload),
        "<details><summary>The whole example record: key and headers</summary>",
        _pre(example_record(spec, payload)),
        "</details>",
        "<details open><summary>JSON Schema</summary>",
        _pre(render(spec)),
        "</details>",
        "</section>",
    ]
    return "\n".join(parts)


@cache
def _base_doc() -> str | None:
    from shared_events.registry import EventPayload

    return EventPayload.__doc__


def _upcasters_section(entry: EventEntry) -> str:
    if not entry.upcasters_from:
        return "<p>None: this type has one version.</p>" if len(entry.versions) == 1 else ""
    items = []
    for version in sorted(entry.upcasters_from):
        fn = _upcaster(entry.type, version)
        name = f"{fn.__module__}.{fn.__name__}" if fn else "?"
        doc = " ".join((fn.__doc__ or "").split()) if fn else ""
        older = registry.spec(entry.type, version)
        upcast = fn(example_payload(older)) if fn else {}
        items.append(
            f"<h3>v{version} → v{version + 1}</h3><p>{_code(name)}"
            + (f": {_e(doc)}" if doc else "")
            + "</p><p class='note'>A consumer written for v"
            + f"{version + 1} reads a v{version} record (one stored before v{version + 1}, or "
            + "published without a twin) upcast, so it handles one shape. The v"
            + f"{version} example (below), upcast:</p>"
            + _pre(upcast)
        )
    return "\n".join(items)


def type_page(entry: EventEntry) -> str:
    latest = entry.latest
    releases = [release_of(spec) for spec in entry.versions]
    doc = " ".join((latest.model.__doc__ or "").split())
    versions = ", ".join(
        _link(f"#v{spec.version}", f"v{spec.version}") for spec in sorted(entry.versions, key=_v)
    )
    facts = [
        ("producer", _e(entry.producer)),
        ("topic", _link(topic_href(entry.topic, "../"), _code(entry.topic))),
        ("key (subject)", _e(latest.key)),
        ("ordering", _ordering(entry)),
        ("dead letters", f"{_code(dead_letter_topic(entry.topic))} (per reading topic)"),
        ("versions", versions),
        ("first published in", f"suite {_e(releases[0].first)}"),
        ("last published in", _e(releases[-1].last)),
    ]
    body = [
        f"<h1>{_code(entry.type)}</h1>",
        f"<p>{_e(doc)}</p>" if doc and latest.model.__doc__ != _base_doc() else "",
        _facts(facts),
        "<h2>Consumers</h2>",
        (
            _table(CONSUMER_HEADERS, _consumer_rows(entry.consumers, "../"))
            + "<p class='note'>A consumer reads the version its handler was written for: "
            "older records reach it upcast, and of an event published in several versions it "
            "reads only the record of its own.</p>"
            if entry.consumers
            else "<p>No service of the suite consumes it (published for downstream teams).</p>"
        ),
        "<h2>Upcasters</h2>",
        _upcasters_section(entry),
        "<h2>Versions</h2>",
        *(_version_section(entry, spec) for spec in sorted(entry.versions, key=_v, reverse=True)),
    ]
    crumbs = [("../index.html", "Event catalog"), (topic_href(entry.topic, "../"), entry.topic)]
    return _page(entry.type, [*crumbs, ("", entry.type)], "\n".join(part for part in body if part))


def _v(spec: EventSpec) -> int:
    return spec.version


def _topic_readers(topic: str, entries: dict[str, EventEntry]) -> list[Consumption]:
    return [c for entry in entries.values() for c in entry.consumers if c.topic == topic]


def _retention(topic: str) -> str:
    """`14 days, delete` from the topic's declaration (shared_events.topics)."""
    spec = topic_spec(topic)
    days = spec.retention_ms / 86_400_000
    shown = f"{days:g} days" if days >= 1 else f"{spec.retention_ms // 3_600_000} hours"
    return f"{shown}, {spec.cleanup_policy}"


def topic_page(topic: str, entries: dict[str, EventEntry]) -> str:
    on_topic = [entry for entry in entries.values() if entry.topic == topic]
    producers = sorted({entry.producer for entry in on_topic})
    readers = _topic_readers(topic, entries)
    groups = sorted({c.service for c in readers})
    keys = sorted({entry.latest.key for entry in on_topic})
    facts = [
        ("producer", ", ".join(_e(p) for p in producers) or "none"),
        ("partitions", str(topic_spec(topic).partitions)),
        ("retention", _retention(topic)),
        ("dead letters kept", _retention(dead_letter_topic(topic))),
        ("key", ", ".join(_e(k) for k in keys) + " (per event type, below)"),
        (
            "ordering",
            "Records with the same key go to the same partition and are delivered in the "
            "order they were published; no order across keys. At least once: deduplicate on "
            f"{_code('ce_id')}.",
        ),
        (
            "dead-letter topic",
            f"{_code(dead_letter_topic(topic))}: where each reading group puts a record it "
            "failed to handle after its retries (with the error), then moves on",
        ),
        ("read by (groups)", ", ".join(_code(g) for g in groups) or "no service of the suite"),
    ]
    type_rows = [
        [
            _link(type_href(entry.type, "../"), _code(entry.type)),
            _e(entry.latest.key),
            ", ".join(f"v{spec.version}" for spec in sorted(entry.versions, key=_v)),
            ", ".join(sorted({_e(c.service) for c in entry.consumers})) or "none",
        ]
        for entry in on_topic
    ]
    body = [
        f"<h1>Topic {_code(topic)}</h1>",
        _facts(facts),
        "<h2>Event types</h2>",
        _table(["event type", "key", "versions", "consumed by"], type_rows),
        "<h2>Who reads it</h2>",
        (
            _table(CONSUMER_HEADERS, _consumer_rows(readers, "../"))
            if readers
            else "<p>No service of the suite reads it (published for downstream teams).</p>"
        ),
    ]
    return _page(topic, [("../index.html", "Event catalog"), ("", topic)], "\n".join(body))


def index_page(entries: dict[str, EventEntry]) -> str:
    topics = [topic for topic in ALL_TOPICS if any(e.topic == topic for e in entries.values())]
    topic_rows = [
        [
            _link(topic_href(topic), _code(topic)),
            ", ".join(sorted({_e(e.producer) for e in entries.values() if e.topic == topic})),
            str(sum(1 for e in entries.values() if e.topic == topic)),
            str(topic_spec(topic).partitions),
            _retention(topic),
            _code(dead_letter_topic(topic)),
            ", ".join(sorted({_code(c.service) for c in _topic_readers(topic, entries)})) or "none",
        ]
        for topic in sorted(topics)
    ]
    type_rows = []
    for entry in entries.values():
        newest = entry.latest.version
        versions = ", ".join(
            f"v{spec.version}" + ("" if spec.version == newest else " (deprecated)")
            for spec in sorted(entry.versions, key=_v)
        )
        type_rows.append(
            [
                _link(type_href(entry.type), _code(entry.type)),
                _e(entry.producer),
                _link(topic_href(entry.topic), _code(entry.topic)),
                _e(entry.latest.key),
                versions,
                ", ".join(sorted({_e(c.service) for c in entry.consumers})) or "none",
            ]
        )
    producers: dict[str, list[str]] = {}
    for entry in entries.values():
        producers.setdefault(entry.producer, []).append(entry.type)
    producer_rows = [
        [_e(name), ", ".join(_link(type_href(t), _code(t)) for t in sorted(types))]
        for name, types in sorted(producers.items())
    ]
    consumptions = [c for entry in entries.values() for c in entry.consumers]
    body = [
        "<h1>Event catalog</h1>",
        "<p>Every event the suite publishes: who publishes it, on which topic and key, who "
        "consumes it with which handler, and every version with its JSON Schema and an "
        "example. Generated from the code by <code>make docs</code> (the registry in "
        "<code>shared_events</code> and each service's <code>handlers.CONSUMERS</code>); "
        "envelopes are CloudEvents 1.0 in Kafka binary mode (<code>ce_*</code> headers, key = "
        "subject, value = the payload).</p>",
        f"<p>{len(entries)} event types, {sum(len(e.versions) for e in entries.values())} "
        f"versions, {len(topics)} topics, {len(consumptions)} handlers.</p>",
        "<h2>Topics</h2>",
        _table(
            [
                "topic",
                "producer",
                "event types",
                "partitions",
                "retention",
                "dead-letter topic",
                "read by",
            ],
            topic_rows,
        ),
        "<h2>Event types</h2>",
        _table(["event type", "producer", "topic", "key", "versions", "consumed by"], type_rows),
        "<h2>Producers</h2>",
        _table(["service", "publishes"], producer_rows),
        "<h2>Consumers</h2>",
        _table(CONSUMER_HEADERS, _consumer_rows(consumptions, "")),
    ]
    return _page("Event catalog", [("", "Event catalog")], "\n".join(body))


def render_catalog(entries: dict[str, EventEntry] | None = None) -> dict[str, str]:
    """Every page, by its path under docs/events/."""
    entries = entries if entries is not None else contract_map()
    pages = {"index.html": index_page(entries)}
    for topic in sorted({entry.topic for entry in entries.values()}):
        pages[topic_href(topic)] = topic_page(topic, entries)
    for entry in entries.values():
        pages[type_href(entry.type)] = type_page(entry)
    return pages


def build_catalog(out_dir: Path = OUT_DIR) -> list[Path]:
    """Write the pages under `out_dir`, remove pages of types or topics that are gone; the
    files written or removed."""
    pages = render_catalog()
    changed: list[Path] = []
    for stale in sorted(out_dir.rglob("*.html")) if out_dir.exists() else []:
        if stale.relative_to(out_dir).as_posix() not in pages:
            stale.unlink()
            changed.append(stale)
    for relative, text in pages.items():
        path = out_dir / relative
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            changed.append(path)
    return changed


if __name__ == "__main__":
    for path in build_catalog():
        print(f"updated {path.relative_to(ROOT)}")
