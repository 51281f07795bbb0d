"""How the launcher stops short: a failure to tell, or a stop someone asked for."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


class SuiteError(Exception):
    """A failure told in one line, followed by the tails of the logs that explain it."""

    def __init__(self, message: str, logs: Iterable[Path] = ()) -> None:
        super().__init__(message)
        self.logs = tuple(logs)


class StopRequested(Exception):
    """Ctrl-C or SIGTERM arrived: stop everything, exit 0."""
