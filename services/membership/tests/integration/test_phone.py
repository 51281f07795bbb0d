"""A member's phone number (E.164, where notification sends SMS): set, changed and removed by
`PATCH /me`, each change published in `membership.member.updated`; refused when not E.164; and
never written to the log."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from .conftest import Membership, Starter, assert_valid, bearer

pytestmark = pytest.mark.integration

UPDATED = "membership.member.updated"
PHONE = "+8613812345678"
NEW_PHONE = "+447700900123"


@contextmanager
def log_lines() -> Iterator[list[str]]:
    """The lines the service's log handler writes (its JSON formatter), while the block runs."""
    root = logging.getLogger()
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    keep = Keep()
    keep.setFormatter(root.handlers[0].formatter)
    root.addHandler(keep)
    try:
        yield lines
    finally:
        root.removeHandler(keep)


async def updates(membership: Membership, member_id: str, count: int) -> list[dict[str, object]]:
    events = await membership.events_until(member_id, UPDATED, count=count)
    for envelope in events:
        assert_valid(envelope)
    return [e.data for e in events if e.type == UPDATED]


async def test_patch_me_sets_changes_and_removes_the_phone(membership: Membership) -> None:
    member, token = await membership.member_token()
    assert (await membership.me(token))["phone"] is None

    async def patch(body: dict[str, object]) -> dict[str, object]:
        response = await membership.http.patch("/api/v1/me", json=body, headers=bearer(token))
        assert response.status_code == 200, response.text
        me: dict[str, object] = response.json()
        return me

    assert (await patch({"phone": PHONE}))["phone"] == PHONE
    assert (await membership.me(token))["phone"] == PHONE
    [first] = await updates(membership, member["id"], 1)
    assert first == {
        "member_id": member["id"],
        "name": "Han Meimei",
        "locale": "zh-CN",
        "marketing_consent": False,
        "phone": PHONE,
    }

    # Another field alone: the event still carries the whole profile, phone included.
    await patch({"marketing_consent": True})
    assert (await patch({"phone": f" {NEW_PHONE} "}))["phone"] == NEW_PHONE
    assert (await patch({"phone": None}))["phone"] is None  # no more SMS
    assert (await membership.me(token))["phone"] is None
    phones = [e["phone"] for e in await updates(membership, member["id"], 4)]
    assert phones == [PHONE, PHONE, NEW_PHONE, None]

    # Removing it again changes nothing and publishes nothing.
    await patch({"phone": None})
    await patch({"name": "Li Lei"})
    data = await updates(membership, member["id"], 5)
    assert [(e["name"], e["phone"]) for e in data[-2:]] == [("Han Meimei", None), ("Li Lei", None)]


async def test_a_phone_that_is_not_e164_is_422_and_changes_nothing(
    membership: Membership,
) -> None:
    _, token = await membership.member_token()
    for phone in ("13812345678", "+86 138 1234 5678", "+0123456789", "+1234", "tel:+8613812345678"):
        response = await membership.http.patch(
            "/api/v1/me", json={"phone": phone}, headers=bearer(token)
        )
        assert response.status_code == 422, (phone, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["loc"] == ["body", "phone"]
    assert (await membership.me(token))["phone"] is None


async def test_phone_numbers_never_reach_the_log(start_membership: Starter) -> None:
    async with start_membership() as membership:
        with log_lines() as lines:
            member = await membership.register(phone=PHONE)
            token = (await membership.login(member["email"]))["access_token"]
            response = await membership.http.patch(
                "/api/v1/me", json={"phone": NEW_PHONE}, headers=bearer(token)
            )
            assert response.status_code == 200
            bad = await membership.http.patch(
                "/api/v1/me", json={"phone": "+86 138 0000 0000"}, headers=bearer(token)
            )
            assert bad.status_code == 422
            await updates(membership, member["id"], 1)
    logged = [json.loads(line) for line in lines]
    events = {line["event"] for line in logged}
    assert {"member registered", "member updated"} <= events, events
    [updated] = [line for line in logged if line["event"] == "member updated"]
    assert updated["fields"] == ["phone"]  # which field changed, not its value
    text = "\n".join(lines)
    for phone in (PHONE, NEW_PHONE, "13812345678", "138 0000 0000"):
        assert phone not in text
