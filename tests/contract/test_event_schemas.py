"""The committed JSON Schemas are the published contract: code and files must agree, and a
published version may only gain optional fields."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import shared_events
from shared_events import registry
from shared_events.compat import breaking_changes
from shared_events.schema_export import SCHEMA_DIR, json_schema, render, schema_path

SPECS = list(registry)

# Topic moves made before the version was ever released, so no downstream team subscribed to
# the old topic (issue 12: views left catalog.events for their own topic, before any release).
# Only the move named here is forgiven; any other difference still fails.
UNRELEASED_TOPIC_MOVES = {("catalog.product.viewed", 1): ("catalog.events", "catalog.views")}
REPO = SCHEMA_DIR.parents[2]


def committed_files() -> list[Path]:
    return sorted(SCHEMA_DIR.glob("*/v*.json"))


def first_published(path: Path) -> dict[str, Any] | None:
    """The file as it was when it was first committed (the version downstream teams saw)."""
    rel = path.relative_to(REPO)
    try:
        commits = subprocess.run(  # noqa: S603
            ["git", "log", "--diff-filter=A", "--format=%H", "--", str(rel)],  # noqa: S607
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        if not commits:
            return None
        text = subprocess.run(  # noqa: S603
            ["git", "show", f"{commits[-1]}:{rel}"],  # noqa: S607
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def test_every_event_of_the_catalog_is_registered() -> None:
    types = {spec.type for spec in SPECS}
    assert {
        "catalog.product.created",
        "catalog.product.updated",
        "catalog.product.published",
        "catalog.product.unpublished",
        "catalog.price.changed",
    } <= types
    assert shared_events.catalog  # importing the package registered them


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.type}.v{s.version}")
def test_code_and_committed_schema_agree(spec: Any) -> None:
    path = schema_path(spec)
    assert path.exists(), f"{path} is missing: run `make schemas` and commit the file"
    assert path.read_text() == render(spec), f"{path} is stale: run `make schemas`"


@pytest.mark.parametrize("path", committed_files(), ids=lambda p: p.parent.name + "/" + p.name)
def test_every_committed_schema_belongs_to_a_registered_event(path: Path) -> None:
    version = int(path.stem[1:])
    spec = registry.spec(path.parent.name, version)
    assert json.loads(path.read_text())["$id"] == spec.dataschema


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.type}.v{s.version}")
def test_published_version_only_gained_optional_fields(spec: Any) -> None:
    published = first_published(schema_path(spec))
    if published is None:
        # Not committed yet: this change publishes it, so it is its own baseline.
        published = json.loads(schema_path(spec).read_text())
    moved = UNRELEASED_TOPIC_MOVES.get((spec.type, spec.version))
    if moved and published.get("x-topic") == moved[0] and spec.topic == moved[1]:
        published = {**published, "x-topic": moved[1]}
    assert breaking_changes(published, json_schema(spec)) == []


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.type}.v{s.version}")
def test_committed_schemas_are_valid_json_schema(spec: Any) -> None:
    jsonschema.Draft202012Validator.check_schema(json.loads(schema_path(spec).read_text()))
