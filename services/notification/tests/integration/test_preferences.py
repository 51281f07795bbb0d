"""Preferences: a channel opted out gets nothing; marketing needs consent."""

from __future__ import annotations

import asyncio

import pytest

from shared_events.membership import MemberUpdatedV1, TierChangedV1

from .conftest import Notification, cny, new_id
from .servers import text_of

pytestmark = pytest.mark.integration


def tier_changed(member_id: str, old: str, new: str) -> TierChangedV1:
    return TierChangedV1(
        member_id=member_id,
        old_tier=old,
        new_tier=new,
        discount_percent=5,
        spend_12m=cny(1_000_000),
    )


async def test_preferences_default_then_change(notification: Notification) -> None:
    member = notification.member(new_id("m"))
    url = "/api/v1/notifications/preferences"
    assert (await notification.http.get(url)).status_code == 401
    got = await notification.http.get(url, headers=member)
    assert got.status_code == 200
    assert got.json() == {
        "email": True,
        "sms": True,
        "webhook": True,
        "marketing_consent": False,
        "updated_at": None,
    }
    put = await notification.http.put(url, json={"sms": False}, headers=member)
    assert put.status_code == 200
    assert put.json()["sms"] is False and put.json()["email"] is True
    assert put.json()["updated_at"] is not None
    refused = await notification.http.put(
        url, json={"email": False, "tier": "GOLD"}, headers=member
    )
    assert refused.status_code == 422
    assert (await notification.http.get(url, headers=member)).json()["email"] is True


async def test_opting_out_of_email_stops_emails(notification: Notification) -> None:
    member_id, order_id = new_id("m"), new_id("o")
    address = f"{member_id}@example.com"
    await notification.register(member_id, address, "en", "Dave")
    await notification.mail.wait_for(address)  # the welcome, before opting out

    put = await notification.http.put(
        "/api/v1/notifications/preferences",
        json={"email": False},
        headers=notification.member(member_id),
    )
    assert put.status_code == 200 and put.json()["email"] is False
    confirmed = await notification.confirm(order_id, member_id)
    await notification.handled(confirmed)
    await asyncio.sleep(0.3)  # a round of the dispatch job

    assert [d.template for d in await notification.deliveries(member_id=member_id)] == ["welcome"]
    assert len(notification.mail.to(address)) == 1


async def test_tier_upgrade_is_marketing_and_needs_consent(notification: Notification) -> None:
    member_id = new_id("m")
    address = f"{member_id}@example.com"
    await notification.register(member_id, address, "zh-CN", "王芳")
    await notification.mail.wait_for(address)

    no_consent = await notification.publish(tier_changed(member_id, "BRONZE", "SILVER"), member_id)
    await notification.handled(no_consent)
    assert await notification.deliveries(cause_event_id=str(no_consent.id)) == []

    # Consent arrives from membership (the profile) as well as through our own PUT.
    consent = MemberUpdatedV1(
        member_id=member_id, name="王芳", locale="zh-CN", marketing_consent=True
    )
    await notification.publish(consent, member_id)
    downgrade = await notification.publish(tier_changed(member_id, "GOLD", "SILVER"), member_id)
    upgrade = await notification.publish(tier_changed(member_id, "SILVER", "GOLD"), member_id)

    mails = await notification.mail.wait_for(address, count=2)
    assert mails[-1]["Subject"] == "恭喜升级为金卡会员！"
    assert "已从银卡会员升级为金卡会员" in text_of(mails[-1])
    await notification.handled(upgrade)
    assert await notification.deliveries(cause_event_id=str(downgrade.id)) == []
    preferences = await notification.http.get(
        "/api/v1/notifications/preferences", headers=notification.member(member_id)
    )
    assert preferences.json()["marketing_consent"] is True


async def test_a_withdrawal_here_survives_a_profile_edit_at_membership(
    notification: Notification,
) -> None:
    """Consent given in the profile, withdrawn here (membership never hears of it), then the
    name changed: the profile event repeats the old consent and must not bring marketing
    back. A later change of consent at membership is applied again."""
    member_id = new_id("m")
    address = f"{member_id}@example.com"
    await notification.register(member_id, address, "en", "Erin")
    await notification.mail.wait_for(address)  # the welcome
    url, member = "/api/v1/notifications/preferences", notification.member(member_id)

    def profile(name: str, consent: bool) -> MemberUpdatedV1:
        return MemberUpdatedV1(
            member_id=member_id, name=name, locale="en", marketing_consent=consent
        )

    await notification.handled(await notification.publish(profile("Erin", True), member_id))
    assert (await notification.http.get(url, headers=member)).json()["marketing_consent"] is True
    withdrawn = await notification.http.put(url, json={"marketing_consent": False}, headers=member)
    assert withdrawn.json()["marketing_consent"] is False
    renamed = await notification.publish(profile("Erin Li", True), member_id)
    await notification.handled(renamed)
    assert (await notification.http.get(url, headers=member)).json()["marketing_consent"] is False
    upgrade = await notification.publish(tier_changed(member_id, "SILVER", "GOLD"), member_id)
    await notification.handled(upgrade)
    assert await notification.deliveries(cause_event_id=str(upgrade.id)) == []
    # Membership's own change of consent still counts, both ways.
    for consent in (False, True):
        changed = await notification.publish(profile("Erin Li", consent), member_id)
        await notification.handled(changed)
        got = (await notification.http.get(url, headers=member)).json()
        assert got["marketing_consent"] is consent


async def test_an_opt_in_here_survives_a_profile_edit_that_keeps_the_default(
    notification: Notification,
) -> None:
    """Membership registers every member without consent; a member who opts in here and then
    edits their name at membership (consent still the default there) stays opted in."""
    member_id = new_id("m")
    address = f"{member_id}@example.com"
    await notification.register(member_id, address, "en", "Finn")
    await notification.mail.wait_for(address)
    url, member = "/api/v1/notifications/preferences", notification.member(member_id)
    opted_in = await notification.http.put(url, json={"marketing_consent": True}, headers=member)
    assert opted_in.json()["marketing_consent"] is True
    renamed = MemberUpdatedV1(
        member_id=member_id, name="Finn Wu", locale="en", marketing_consent=False
    )
    await notification.handled(await notification.publish(renamed, member_id))
    assert (await notification.http.get(url, headers=member)).json()["marketing_consent"] is True
