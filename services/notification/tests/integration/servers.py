"""The real servers the integration tests talk to besides the suite's infrastructure: an SMTP
server (aiosmtpd) that keeps what it receives, and an HTTP server that plays a webhook
subscriber. Plus `eventually`, the bounded wait every test uses."""

from __future__ import annotations

import asyncio
import email
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


async def eventually(
    check: Callable[[], Any], *, timeout: float = 10.0, what: str = "the condition"
) -> Any:
    """Poll `check` (sync or async) until it returns something truthy; bounded."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout}s")
        await asyncio.sleep(0.05)


# ---- a real SMTP server -----------------------------------------------------------------


class MailCatcher:
    """aiosmtpd handler: keeps every message it is given, and which connection brought it
    (the client's address and port: one per connection). Also runs the server: `serve`,
    `restart` (a mail server restart on the same port), `drop_connections`, `stop`."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.peers: list[tuple[str, int]] = []  # per message, the connection it came on
        self._servers: set[Any] = set()  # the server side of every connection that sent
        self._lock = threading.Lock()
        self._controller: Controller | None = None
        self._address: tuple[str, int] | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=default_policy)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.messages.append(message)
            self.peers.append(tuple(session.peer))
            self._servers.add(server)
        return "250 Message accepted for delivery"

    def connections(self) -> int:
        """How many connections delivered messages so far."""
        with self._lock:
            return len(set(self.peers))

    def serve(self, host: str, port: int) -> None:
        self._address = (host, port)
        self._controller = Controller(self, hostname=host, port=port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def restart(self) -> None:
        """Stop (every connection is closed) and listen again on the same port."""
        assert self._address is not None
        self.stop()
        with self._lock:
            self._servers.clear()
        self.serve(*self._address)

    def drop_connections(self) -> None:
        """Close every connection that has sent a message, from the server side."""
        assert self._controller is not None
        loop = self._controller.loop
        with self._lock:
            servers, self._servers = list(self._servers), set()
        for server in servers:
            if server.transport is not None:
                loop.call_soon_threadsafe(server.transport.close)

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if m["To"] == address]

    async def wait_for(
        self, address: str, count: int = 1, timeout: float = 10.0
    ) -> list[EmailMessage]:
        return await eventually(  # type: ignore[no-any-return]
            lambda: (got := self.to(address)) and len(got) >= count and got,
            timeout=timeout,
            what=f"{count} email(s) to {address}",
        )


def text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


# ---- a real HTTP server for webhooks ----------------------------------------------------


@dataclass
class Hit:
    at: float
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    """Answers every POST with `status` and remembers it."""

    status: int = 204
    hits: list[Hit] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/commerce"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.hits.append(Hit(time.monotonic(), dict(self.headers.items()), body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(hit.body) for hit in self.hits]
