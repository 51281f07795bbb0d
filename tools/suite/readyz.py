"""The launcher's own `/readyz`, served when `run --readyz-port` asks for it.

Every service's `/readyz` says that service is up; only the launcher knows that it has seen them
all ready and is supervising them (before that, a crash ends the start instead of being
restarted). `tools.launched` reads this beside the services' own, so a program that starts the
suite knows it is ready without reading what the launcher prints. The answer has the services'
shape: 200 `{"status": "ready", "checks": {...}}`, else 503 with the checks that are not "ok".
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Checks = Callable[[], Mapping[str, str]]


class ReadinessServer:
    """A small HTTP server on a thread of its own answering `GET /readyz` from `checks()`."""

    def __init__(self, host: str, port: int, checks: Checks) -> None:
        self.server = ThreadingHTTPServer((host, port), _handler(checks))
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, name="launcher-readyz", daemon=True
        )

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _handler(checks: Checks) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/readyz":
                self.send_error(404)
                return
            current = dict(checks())
            ready = all(state == "ok" for state in current.values())
            body = {"status": "ready" if ready else "not ready", "checks": current}
            payload = json.dumps(body).encode()
            self.send_response(200 if ready else 503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the console is for people, and a poll every 0.2 s would drown it."""

    return Handler
