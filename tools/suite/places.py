"""Where a run keeps what it writes: the checkout, the data folder, its logs and its mail."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Everything a run keeps: `.data/` unless SUITE_DATA_DIR names another folder (tests and
# benchmarks give each launched suite its own).
DATA_DIR = Path(os.environ.get("SUITE_DATA_DIR", ROOT / ".data")).resolve()
LOG_DIR = DATA_DIR / "logs"
MAIL_DIR = DATA_DIR / "mail"


def relative(path: Path) -> str:
    """Short for the console: relative to the checkout when inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
