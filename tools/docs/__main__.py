"""`python -m tools.docs` (`make docs`): run every builder in BUILDERS, in order.

A builder takes no argument and returns the paths it wrote (files already up to date are left
alone and not listed)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from tools.contract_map import ROOT
from tools.docs import asyncapi, catalog

BUILDERS: list[tuple[str, Callable[[], list[Path]]]] = [
    ("AsyncAPI documents (docs/asyncapi)", asyncapi.build),
    ("event catalog (docs/events)", catalog.build_catalog),
]


def main() -> None:
    for name, build in BUILDERS:
        written = build()
        for path in written:
            print(f"wrote {path.relative_to(ROOT)}", file=sys.stderr)
        print(f"{name}: up to date ({len(written)} written)", file=sys.stderr)


if __name__ == "__main__":
    main()
