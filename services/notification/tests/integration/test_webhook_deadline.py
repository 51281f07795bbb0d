"""A webhook receiver that answers slowly, or without end, over a real socket: the send has one
deadline for the whole exchange and never reads the answer's body, so no receiver can hold the
dispatch round (every email, SMS and webhook of the replica waits on it)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from notification_service.adapters.channel import DeliveryError, Message
from notification_service.adapters.webhook import WebhookSender

pytestmark = pytest.mark.integration

TIMEOUT = 1.0


@asynccontextmanager
async def trickling_receiver(head: bytes, *, every: float = 0.3) -> AsyncIterator[str]:
    """Reads the request, sends `head` whole, then one byte every `every` seconds for ever."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(head)
            while True:
                await writer.drain()
                await asyncio.sleep(every)
                writer.write(b"x")
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        server.close()


def sender() -> WebhookSender:
    return WebhookSender(
        allowed_hosts=frozenset({"127.0.0.1"}),
        timeout_seconds=TIMEOUT,
        allow_private_addresses=True,
    )


async def test_an_answer_whose_body_never_ends_is_taken_at_its_status() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n"
    async with trickling_receiver(head) as url:
        began = time.monotonic()
        await asyncio.wait_for(sender().send(Message("d-1", url, "t", "{}", secret="s")), 5)
    assert time.monotonic() - began < TIMEOUT + 1


async def test_headers_sent_a_byte_at_a_time_fail_at_the_deadline_and_are_retried() -> None:
    async with trickling_receiver(b"HTTP/1.1 200 OK\r\n") as url:
        began = time.monotonic()
        with pytest.raises(DeliveryError) as failed:
            await asyncio.wait_for(sender().send(Message("d-1", url, "t", "{}", secret="s")), 5)
    assert not failed.value.permanent and "in time" in failed.value.reason
    assert time.monotonic() - began < TIMEOUT + 1
