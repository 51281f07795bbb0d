"""A row of the launcher's status table: one server or service, started here or found."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tools.processes import Process
from tools.suite.errors import SuiteError


@dataclass
class Component:
    """A row of the status table. `process` is None for a server this launcher did not start;
    `origin` then says where it came from."""

    name: str
    url: str
    process: Process | None = None
    log_path: Path | None = None
    origin: str = "started"  # or "reused", "from env"
    data: str = "-"  # where it keeps what it stores, for the status table

    def failure(self, what: str) -> SuiteError:
        return SuiteError(f"{self.name} {what}", [self.log_path] if self.log_path else [])
