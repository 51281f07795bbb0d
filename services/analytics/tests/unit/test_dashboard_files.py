"""The `/ops` page's files ship in the service's wheel (what the image installs), and the page
names only files the service serves."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from analytics_service.service.dashboard import ASSETS

PACKAGE = Path(__file__).resolve().parents[2]
STATIC = PACKAGE / "src" / "analytics_service" / "static"


def test_every_file_served_exists_and_nothing_else_is_there() -> None:
    assert sorted(p.name for p in STATIC.iterdir()) == sorted(ASSETS)


def test_the_page_loads_only_its_own_files() -> None:
    page = (STATIC / "index.html").read_text()
    linked = set(re.findall(r'(?:src|href)="([^"]+)"', page))
    assert linked == {"/ops/dashboard.css", "/ops/dashboard.js"}
    assert {name.removeprefix("/ops/") for name in linked} <= set(ASSETS)


def test_the_wheel_holds_the_page(tmp_path: Path) -> None:
    # uv builds the wheel as the image's `uv sync --no-editable` does (hatchling, the package's
    # own build settings); offline, from the uv cache `make install` filled.
    uv = shutil.which("uv")
    command = [uv] if uv else [sys.executable, "-m", "uv"]
    built = subprocess.run(  # noqa: S603 - uv and fixed arguments
        [*command, "build", "--wheel", "--offline", "--out-dir", str(tmp_path), str(PACKAGE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("analytics_service-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"analytics_service/static/{name}" for name in ASSETS} <= names
