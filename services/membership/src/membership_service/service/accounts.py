"""Members: registration (with its coupons and events), the bootstrap admin, the profile."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

from chassis.auth import Principal
from chassis.db import as_utc, insert_ignore
from chassis.errors import Conflict, NotFound
from chassis.logging import get_logger
from chassis.staging import session_stage
from membership_service.adapters.passwords import hash_password
from membership_service.deps import MembershipRuntime
from membership_service.domain.accounts import (
    AccountRuleError,
    Locale,
    Role,
    normalise_email,
    roles_of,
)
from membership_service.domain.tiers import SPEND_CURRENCY, Tier
from membership_service.schemas import Me, MemberPublic, MemberUpdate, MoneyPublic, RegisterCreate
from membership_service.service import coupons, member_rows, points, queries
from membership_service.service.limits import attempt_limiter
from membership_service.tables import MEMBERS, CredentialRow, MemberRow
from shared_events import membership as events

log = get_logger(__name__)


def _new_member(
    member_id: str,
    email: str,
    name: str,
    locale: Locale,
    role: Role,
    at: datetime,
    phone: str | None = None,
) -> dict[str, Any]:
    return {
        "id": member_id,
        "email": email,
        "name": name,
        "locale": locale.value,
        "role": role.value,
        "marketing_consent": False,
        "phone": phone,
        "tier": Tier.BRONZE.value,
        "tier_reviewed_at": at,
        "points_balance": 0,
        "points_held": 0,
        "created_at": at,
        "updated_at": at,
    }


def member_public(row: MemberRow) -> MemberPublic:
    return MemberPublic(
        id=row.id,
        email=row.email,
        name=row.name,
        locale=Locale(row.locale),
        tier=Tier(row.tier),
        roles=roles_of(Role(row.role)),
        marketing_consent=row.marketing_consent,
        phone=row.phone,
        created_at=as_utc(row.created_at),
    )


def registration_scope(email: str) -> str:
    """The Idempotency-Key scope of a registration: its email (normalised), hashed. Two people
    whose apps chose the same key do not share it, and Redis's keys name no address."""
    return "register:" + hashlib.sha256(email.encode()).hexdigest()[:32]


async def check_registration(runtime: MembershipRuntime, client: str) -> None:
    """429 while `client` is backing off after too many taken emails (enumeration)."""
    await attempt_limiter(runtime).check_registration(client)


async def register(runtime: MembershipRuntime, data: RegisterCreate, client: str) -> MemberPublic:
    """A customer, their credential, the registration coupons and the events, in one
    transaction. A taken email is a 409 that says no more than that, and counts against
    `client` (check_registration)."""
    settings = runtime.settings
    # Hashed before looking: a taken email costs the same time as a new one.
    password_hash = await hash_password(data.password)
    at, member_id = datetime.now(UTC), str(uuid.uuid4())
    async with runtime.database.transaction() as session:
        row = _new_member(
            member_id, data.email, data.name, data.locale, Role.CUSTOMER, at, data.phone
        )
        if not await insert_ignore(session, MEMBERS, row):
            await attempt_limiter(runtime).registration_taken(client)
            raise Conflict("this email cannot be registered", code="email-unavailable")
        session.add(CredentialRow(member_id=member_id, password_hash=password_hash, updated_at=at))
        stage = session_stage(runtime.outbox, session)
        stage(
            events.MemberRegisteredV1(
                member_id=member_id,
                email=data.email,
                name=data.name,
                locale=data.locale.value,
                registered_at=at,
                phone=data.phone,
            ),
            subject=member_id,
        )
        for terms in coupons.registration_terms(settings):
            coupons.issue(session, stage, terms, member_id, at)
        member = await queries.member(session, member_id)
        assert member is not None
    log.info("member registered", member_id=member_id)
    return member_public(member)


async def bootstrap_admin(runtime: MembershipRuntime) -> None:
    """Start-up hook: the admin from BOOTSTRAP_ADMIN_EMAIL / BOOTSTRAP_ADMIN_PASSWORD, created
    once. An existing account is left as it is: never promoted, its password never reset."""
    settings = runtime.settings
    try:
        email = normalise_email(settings.bootstrap_admin_email)
    except AccountRuleError:
        raise RuntimeError("BOOTSTRAP_ADMIN_EMAIL is not an email address") from None
    async with runtime.database.reads() as session:
        existing = await queries.member_by_email(session, email)
    if existing is not None:
        if existing.role != Role.ADMIN.value:
            log.warning("the bootstrap admin email belongs to a customer; not promoted")
        return
    password_hash = await hash_password(settings.bootstrap_admin_password.get_secret_value())
    at, member_id = datetime.now(UTC), str(uuid.uuid4())
    async with runtime.database.transaction() as session:
        row = _new_member(member_id, email, "Administrator", Locale.EN, Role.ADMIN, at)
        if await insert_ignore(session, MEMBERS, row):  # another replica may have won
            session.add(
                CredentialRow(member_id=member_id, password_hash=password_hash, updated_at=at)
            )
            log.info("bootstrap admin created", member_id=member_id)


async def get_me(runtime: MembershipRuntime, principal: Principal) -> Me:
    settings = runtime.settings
    at = datetime.now(UTC)
    async with runtime.database.snapshot() as session:
        member = await queries.member(session, principal.subject)
        if member is None:
            raise NotFound("no member with this token's subject")
        conn = await session.connection()
        spend = await member_rows.spend_in_window(conn, member.id, at, settings.tier_window_days)
        owned = await coupons.of_member(session, member.id)
    value = points.rules_of(settings).value(member.points_balance)
    return Me(
        **member_public(member).model_dump(),
        tier_discount_percent=settings.tiers.discount_percent(Tier(member.tier)),
        spend_12m=MoneyPublic(amount=spend, currency=SPEND_CURRENCY),
        points_balance=member.points_balance,
        points_held=member.points_held,
        points_value=MoneyPublic(amount=value, currency=SPEND_CURRENCY),
        coupons=[coupons.public(coupon, at) for coupon in owned],
    )


async def update_me(runtime: MembershipRuntime, principal: Principal, data: MemberUpdate) -> Me:
    """Name, locale, marketing consent, phone; `membership.member.updated` (the whole profile,
    phone included) when something changed. The log names the fields, never the values."""
    changes = data.model_dump(exclude_unset=True, mode="json")
    async with runtime.database.transaction() as session:
        member = await queries.member(session, principal.subject, lock=True)
        if member is None:
            raise NotFound("no member with this token's subject")
        changed = {k: v for k, v in changes.items() if getattr(member, k) != v}
        if changed:
            for field, value in changed.items():
                setattr(member, field, value)
            member.updated_at = datetime.now(UTC)
            session.add(member)
            session_stage(runtime.outbox, session)(
                events.MemberUpdatedV1(
                    member_id=member.id,
                    name=member.name,
                    locale=member.locale,
                    marketing_consent=member.marketing_consent,
                    phone=member.phone,
                ),
                subject=member.id,
            )
            log.info("member updated", member_id=member.id, fields=sorted(changed))
    return await get_me(runtime, principal)
