"""Registration over HTTP: the member, the coupons and the events read back from the topic."""

from __future__ import annotations

import httpx
import pytest
from sqlmodel import func, select

from membership_service.tables import CouponRow, CredentialRow, MemberRow

from .conftest import PASSWORD, Membership, Starter, assert_valid

pytestmark = pytest.mark.integration

REGISTERED = "membership.member.registered"
ISSUED = "membership.coupon.issued"


async def test_registration_emits_the_member_and_two_coupons(membership: Membership) -> None:
    member = await membership.register("  Li.Lei@Example.COM ", name="Li Lei", locale="en")
    assert set(member) >= {"id", "email", "name", "locale", "tier", "roles"}
    assert (member["email"], member["locale"], member["tier"], member["roles"]) == (
        "li.lei@example.com",
        "en",
        "BRONZE",
        ["customer"],
    )

    events = await membership.events_until(member["id"], ISSUED, count=2)
    assert [e.type for e in events] == [REGISTERED, ISSUED, ISSUED]
    for envelope in events:
        assert_valid(envelope)
        assert envelope.source == "/services/membership" and envelope.subject == member["id"]
    registered, *issued = events
    assert registered.data["email"] == "li.lei@example.com"
    assert registered.data["locale"] == "en"
    gifts = {e.data["kind"]: e.data for e in issued}
    assert set(gifts) == {"WELCOME_GIFT", "FIRST_ORDER"}
    assert gifts["WELCOME_GIFT"]["amount_off"] == {"amount": 1_000, "currency": "CNY"}
    assert gifts["WELCOME_GIFT"]["min_spend"] == {"amount": 5_000, "currency": "CNY"}
    assert gifts["FIRST_ORDER"]["first_order_only"] is True

    token = (await membership.login("LI.LEI@example.com"))["access_token"]
    me = await membership.me(token)
    assert {c["code"] for c in me["coupons"]} == {g["coupon_code"] for g in gifts.values()}
    assert all(c["status"] == "ACTIVE" for c in me["coupons"])


async def test_a_phone_given_at_registration_is_stored_published_and_shown_to_its_owner(
    membership: Membership,
) -> None:
    member = await membership.register(phone=" +8613812345678 ")
    assert member["phone"] == "+8613812345678"
    [registered, *_] = await membership.events_until(member["id"], REGISTERED)
    assert_valid(registered)
    assert registered.data["phone"] == "+8613812345678"
    token = (await membership.login(member["email"]))["access_token"]
    assert (await membership.me(token))["phone"] == "+8613812345678"

    without = await membership.register()
    assert without["phone"] is None
    [registered, *_] = await membership.events_until(without["id"], REGISTERED)
    assert_valid(registered)
    assert registered.data["phone"] is None


async def test_a_taken_email_is_409_and_changes_nothing(membership: Membership) -> None:
    member = await membership.register()
    again = await membership.http.post(
        "/api/v1/auth/register",
        json={"email": member["email"].upper(), "password": "another password", "name": "X"},
    )
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json()["detail"] == "this email cannot be registered"
    async with membership.runtime.database.sessions() as session:
        count = (
            await session.exec(
                select(func.count())
                .select_from(MemberRow)
                .where(MemberRow.email == member["email"])
            )
        ).one()
        coupons = (
            await session.exec(
                select(func.count())
                .select_from(CouponRow)
                .where(CouponRow.member_id == member["id"])
            )
        ).one()
    assert (count, coupons) == (1, 2)


BAD_BODIES: list[dict[str, object]] = [
    {"role": "admin"},
    {"tier": "PLATINUM"},
    {"points": 1_000_000},
    {"password": "too short"},
    {"password": "x" * 129},
    {"email": "not-an-email"},
    {"locale": "fr"},
    {"name": " "},
    {"phone": "13812345678"},  # E.164 only: the country code with its +
    {"phone": "+86 138 1234 5678"},
    {"phone": "+86-138-1234-5678"},
    {"phone": "+08613812345678"},
    {"phone": "+12345"},
    {"phone": "+8613812345678901"},
    {"phone": 8613812345678},
    {"phone": ""},
]


async def test_bad_or_unknown_fields_are_422_and_create_nothing(membership: Membership) -> None:
    email = "mass-assign@example.com"
    for body in BAD_BODIES:
        response = await membership.http.post(
            "/api/v1/auth/register",
            json={"email": email, "password": PASSWORD, "name": "Eve", **body},
        )
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert PASSWORD not in response.text
    async with membership.runtime.database.sessions() as session:
        emails = (await session.exec(select(MemberRow.email))).all()
    assert emails == ["root@example.com"]  # the bootstrap admin, nobody else


async def test_passwords_are_stored_as_argon2id(membership: Membership) -> None:
    member = await membership.register()
    async with membership.runtime.database.sessions() as session:
        credential = await session.get(CredentialRow, member["id"])
    assert credential is not None
    assert credential.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


async def test_register_replays_with_an_idempotency_key(membership: Membership) -> None:
    body = {"email": "retry@example.com", "password": PASSWORD, "name": "Retry"}
    headers = {"Idempotency-Key": "register-once"}
    first = await membership.http.post("/api/v1/auth/register", json=body, headers=headers)
    again = await membership.http.post("/api/v1/auth/register", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"


async def test_two_people_who_choose_the_same_idempotency_key_both_register(
    membership: Membership,
) -> None:
    headers = {"Idempotency-Key": "1"}  # a poor key, chosen by two apps
    responses = [
        await membership.http.post(
            "/api/v1/auth/register",
            json={"email": f"{who}-same-key@example.com", "password": PASSWORD, "name": who},
            headers=headers,
        )
        for who in ("ann", "bob")
    ]
    assert [r.status_code for r in responses] == [201, 201], responses[1].text
    assert "Idempotent-Replayed" not in responses[1].headers
    assert [r.json()["email"] for r in responses] == [
        "ann-same-key@example.com",
        "bob-same-key@example.com",
    ]


async def test_taken_emails_slow_down_registrations_from_that_address(
    start_membership: Starter,
) -> None:
    """Enumeration through registration: each taken email is a 409, but after
    MEMBERSHIP_REGISTER_MAX_TAKEN_PER_IP of them from one address, every registration from it
    (a new email too) waits, with 429 and Retry-After; new emails never count."""
    async with start_membership(login_backoff_base_seconds=30) as membership:

        async def register(email: str, address: str) -> httpx.Response:
            return await membership.http.post(
                "/api/v1/auth/register",
                json={"email": email, "password": PASSWORD, "name": "Probe"},
                headers={"X-Forwarded-For": address},
            )

        prober, other = "192.0.2.7", "192.0.2.8"
        taken = [(await membership.register())["email"] for _ in range(2)]
        for i in range(10):  # new emails from the prober: never counted
            assert (await register(f"new-{i}@example.com", prober)).status_code == 201
        free = membership.settings.register_max_taken_per_ip
        for i in range(free):
            assert (await register(taken[i % 2], prober)).status_code == 409
        for email in (taken[0], "fresh@example.com"):
            limited = await register(email, prober)
            assert limited.status_code == 429, limited.text
            assert limited.headers["content-type"] == "application/problem+json"
            assert 1 <= int(limited.headers["Retry-After"]) <= 60
        # Another address is not held by it.
        assert (await register("fresh@example.com", other)).status_code == 201
        assert (await register(taken[0], other)).status_code == 409
