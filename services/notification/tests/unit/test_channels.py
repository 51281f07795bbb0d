"""Channel adapters without the network: the SMS sandbox, the email message, the refusals
a webhook makes before connecting, and an SMTP server that is not there."""

from __future__ import annotations

import asyncio
import socket
from email import message_from_bytes, policy

import pytest

from chassis.testing.infra import free_port
from notification_service.adapters.channel import DeliveryError, Message
from notification_service.adapters.email import SmtpEmail, build_email
from notification_service.adapters.sms import SandboxSms
from notification_service.adapters.webhook import MAX_LOOKUPS_IN_FLIGHT, WebhookSender


async def test_sandbox_sms_records_messages_and_sends_nothing() -> None:
    sms = SandboxSms()
    await sms.send(Message("d-1", "+8613800138000", "订单已发货：o-1", "您的订单 o-1 已发货"))
    [record] = sms.messages_to("+8613800138000")
    assert (record.delivery_id, record.text, record.segments) == ("d-1", "您的订单 o-1 已发货", 1)


async def test_sandbox_sms_refuses_numbers_that_are_not_e164() -> None:
    with pytest.raises(DeliveryError) as refused:
        await SandboxSms().send(Message("d-1", "13800138000", "hi", "hi"))
    assert refused.value.permanent


async def test_sandbox_sms_sends_a_long_text_in_segments_up_to_a_limit() -> None:
    sms = SandboxSms()
    await sms.send(Message("d-1", "+8613800138000", "", "字" * 70))
    await sms.send(Message("d-2", "+8613800138000", "", "字" * 100))
    await sms.send(Message("d-3", "+8613800138000", "", "字" * 1000))
    assert [(len(s.text), s.segments) for s in sms.sent] == [(70, 1), (100, 2), (335, 5)]


def test_email_has_text_and_html_and_traces_back_to_its_delivery() -> None:
    message = Message("d-7", "li@example.com", "订单已确认：o-1", "您好\n", "<p>您好</p>")
    # Read back from the bytes that go on the wire, as a mail client would.
    wire = build_email(message, "商店 <no-reply@shop.example>").as_bytes()
    email = message_from_bytes(wire, policy=policy.default)
    assert email["To"] == "li@example.com" and email["Subject"] == "订单已确认：o-1"
    assert email["From"] == "商店 <no-reply@shop.example>"
    assert email["X-Notification-Delivery"] == "d-7" and "d-7" in email["Message-ID"]
    assert email.get_body(("plain",)).get_content() == "您好\n"  # type: ignore[union-attr]
    assert "<p>您好</p>" in email.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert wire.isascii()  # encoded: no 8-bit data for a server without SMTPUTF8


def test_a_text_only_email_is_one_part_and_an_ascii_subject_is_left_as_it_is() -> None:
    wire = build_email(Message("d-8", "a@example.com", "Order o-2", "Hi\n"), "a@b.c").as_bytes()
    email = message_from_bytes(wire, policy=policy.default)
    assert not email.is_multipart() and email.get_content() == "Hi\n"
    assert b"Subject: Order o-2\n" in wire


async def test_smtp_server_down_is_a_retryable_error() -> None:
    email = SmtpEmail(host="127.0.0.1", port=free_port(), mail_from="a@b.c", timeout_seconds=2)
    with pytest.raises(DeliveryError) as failed:
        await email.send(Message("d-1", "li@example.com", "s", "t"))
    assert not failed.value.permanent


@pytest.mark.parametrize(
    ("url", "secret", "reason"),
    [
        ("http://evil.example/hook", "whsec_x", "not allowed"),
        ("http://127.0.0.1:1/hook", None, "no secret"),
    ],
)
async def test_webhook_refuses_before_connecting(url: str, secret: str | None, reason: str) -> None:
    sender = WebhookSender(allowed_hosts=frozenset({"127.0.0.1"}), timeout_seconds=1)
    with pytest.raises(DeliveryError) as refused:
        await sender.send(Message("d-1", url, "t", "{}", secret=secret))
    assert refused.value.permanent and reason in refused.value.reason


async def test_webhook_unreachable_is_retryable() -> None:
    sender = WebhookSender(
        allowed_hosts=frozenset({"127.0.0.1"}), timeout_seconds=1, allow_private_addresses=True
    )
    url = f"http://127.0.0.1:{free_port()}/hook"
    with pytest.raises(DeliveryError) as failed:
        await sender.send(Message("d-1", url, "t", "{}", secret="whsec_x"))
    assert not failed.value.permanent


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "127.0.0.2"])
async def test_an_allowed_name_on_a_private_address_is_refused_before_connecting(
    host: str,
) -> None:
    """Server-side request forgery: the allow-list names hosts, the check looks at where the
    name leads. Nothing listens at the port; a connection attempt would be a retryable error."""
    sender = WebhookSender(allowed_hosts=frozenset({host}), timeout_seconds=1)
    url = f"http://{host}:{free_port()}/hook"
    with pytest.raises(DeliveryError) as refused:
        await sender.send(Message("d-1", url, "t", "{}", secret="whsec_x"))
    assert refused.value.permanent and "refused address" in refused.value.reason


async def test_an_idn_host_is_resolved_as_it_was_allow_listed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`xn--strae-oqa.example` (straße) is resolved under that name, never as `strasse.example`
    (IDNA 2003's reading of the Unicode form: another domain, another owner)."""
    asked: list[str] = []

    async def getaddrinfo(host: str, port: int, **_: object) -> list[tuple[object, ...]]:
        asked.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.1", port))]

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", getaddrinfo)
    host = "xn--strae-oqa.example"
    sender = WebhookSender(allowed_hosts=frozenset({host}), timeout_seconds=1)
    with pytest.raises(DeliveryError) as refused:  # 10.0.0.1 is private: refused, not sent
        await sender.send(Message("d-1", f"https://{host}/hook", "t", "{}", secret="s"))
    assert refused.value.permanent and asked == [host]


async def test_a_stalled_name_resolution_fails_at_the_webhooks_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A DNS server that does not answer: the send gives up at the webhook's own deadline,
    retryable, instead of holding the dispatch round (every message of the replica) for as
    long as the resolver keeps waiting. Here the resolver never answers."""
    never = asyncio.Event()

    async def stalled_getaddrinfo(*_: object, **__: object) -> list[tuple[object, ...]]:
        await never.wait()
        raise AssertionError("unreachable")

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", stalled_getaddrinfo)
    host = "hooks.example"
    sender = WebhookSender(allowed_hosts=frozenset({host}), timeout_seconds=0.2)
    message = Message("d-1", f"https://{host}/hook", "t", "{}", secret="s")
    with pytest.raises(DeliveryError) as failed:
        # The outer bound only ends the test should the deadline not hold (it hung before).
        await asyncio.wait_for(sender.send(message), 30)
    assert not failed.value.permanent and "in time" in failed.value.reason


async def test_stalled_name_lookups_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stalled lookup keeps its thread of the loop's pool after its send gave up: past
    MAX_LOOKUPS_IN_FLIGHT of them, a send fails at once (retried later) instead of starting
    another, so they cannot take every thread the database and Redis reconnects need."""
    never, started = asyncio.Event(), []

    async def stalled_getaddrinfo(*_: object, **__: object) -> list[tuple[object, ...]]:
        started.append(1)
        await never.wait()
        raise AssertionError("unreachable")

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", stalled_getaddrinfo)
    host = "hooks.example"
    sender = WebhookSender(allowed_hosts=frozenset({host}), timeout_seconds=0.05)
    message = Message("d-1", f"https://{host}/hook", "t", "{}", secret="s")
    reasons = []
    for _ in range(MAX_LOOKUPS_IN_FLIGHT + 2):
        with pytest.raises(DeliveryError) as failed:
            await asyncio.wait_for(sender.send(message), 30)
        reasons.append(failed.value.reason)
    assert len(started) == MAX_LOOKUPS_IN_FLIGHT
    assert ["stalled" in reason for reason in reasons] == [False] * MAX_LOOKUPS_IN_FLIGHT + [
        True,
        True,
    ]
    never.set()  # the stalled lookups end: their count goes back
