"""Write the JSON Schema of every registered event under `schemas/<type>/v<N>.json`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from shared_events.envelope import SCHEMA_BASE_URI
from shared_events.registry import EventRegistry, EventSpec, registry

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"


def json_schema(spec: EventSpec) -> dict[str, Any]:
    schema = spec.model.model_json_schema(mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": spec.dataschema,
        "x-event-type": spec.type,
        "x-event-version": spec.version,
        "x-topic": spec.topic,
        **schema,
    }


def render(spec: EventSpec) -> str:
    return json.dumps(json_schema(spec), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def schema_path(spec: EventSpec, root: Path = SCHEMA_DIR) -> Path:
    return root / spec.type / f"v{spec.version}.json"


def write_all(reg: EventRegistry = registry, root: Path = SCHEMA_DIR) -> list[Path]:
    written = []
    for spec in reg:
        path = schema_path(spec, root)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(spec))
        written.append(path)
    return written


def main() -> None:
    import shared_events  # noqa: F401  (registers every event)

    for path in write_all():
        print(f"wrote {path.relative_to(SCHEMA_DIR.parent)}", file=sys.stderr)
    print(f"schemas under {SCHEMA_DIR} (base URI {SCHEMA_BASE_URI})", file=sys.stderr)


if __name__ == "__main__":
    main()
