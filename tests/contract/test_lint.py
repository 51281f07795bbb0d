"""`make lint` as part of `make test`: ruff (lint and format) and mypy strict over the libraries
and every service's source, so CI refuses what a reviewer would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

COMMANDS = {
    "ruff check": [sys.executable, "-m", "ruff", "check", "."],
    "ruff format": [sys.executable, "-m", "ruff", "format", "--check", "."],
    "mypy": [sys.executable, "-m", "mypy"],
}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_tree_is_clean(name: str) -> None:
    result = subprocess.run(  # noqa: S603 (fixed argv, our own tools)
        COMMANDS[name], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, f"{name} found problems:\n{result.stdout}\n{result.stderr}"
