"""Write services/<name>/Dockerfile for every service from deploy/service.Dockerfile.in.

    uv run python -m tools.dockerfiles          # or: make dockerfiles
    uv run python -m tools.dockerfiles --check  # exit 1 when a Dockerfile is stale

One template keeps the seven images identical but for name, module, port and env prefix, all
read from the service's settings (`tools.suite.services`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tools.suite.places import ROOT
from tools.suite.services import SERVICES, ServiceRow

TEMPLATE = ROOT / "deploy" / "service.Dockerfile.in"


# Files a service serves besides its package, copied to the same place as in the repository:
# the gateway serves the event catalog (docs/events, `make docs`) at /events/.
def extra_files(name: str) -> tuple[str, ...]:
    """Files from outside the service's folder that its image serves: the gateway the event
    catalog, every other service its AsyncAPI document (`/asyncapi.json`)."""
    return ("docs/events",) if name == "gateway" else (f"docs/asyncapi/{name}.json",)


def service_rows() -> list[ServiceRow]:
    return list(SERVICES)


def render(row: ServiceRow) -> str:
    text = TEMPLATE.read_text()
    for token, value in {
        "{name}": row.name,
        "{module}": row.module,
        "{package}": row.module.replace("_", "-"),
        "{prefix}": row.env_prefix,
        "{port}": str(row.port),
        "{extra_copies}": "".join(f"COPY {path} {path}\n" for path in extra_files(row.name)),
    }.items():
        text = text.replace(token, value)
    return text


def dockerfile(row: ServiceRow) -> Path:
    return ROOT / "services" / row.name / "Dockerfile"


def stale() -> list[Path]:
    return [
        dockerfile(row)
        for row in service_rows()
        if not dockerfile(row).exists() or dockerfile(row).read_text() != render(row)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    if args.check:
        for path in stale():
            print(f"stale: {path.relative_to(ROOT)} (run `make dockerfiles`)", file=sys.stderr)
        raise SystemExit(1 if stale() else 0)
    for row in service_rows():
        dockerfile(row).write_text(render(row))
        print(f"wrote {dockerfile(row).relative_to(ROOT)}")


if __name__ == "__main__":
    main()
