"""Read models: members (from `membership.member.*`) and whose order is whose (from
`order.order.placed`). Each runs in the consuming handler's transaction.

A member's phone number (E.164, where their SMS go) comes with both member events: null means
they have none, so they get email only. An event without the key at all comes from a producer
older than the field: it says nothing about the number, which is then left as it is."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from chassis.db import insert_ignore
from notification_service.service import preferences
from notification_service.service.cache import NotificationCache
from notification_service.tables import MemberOrderRow, RecipientRow
from shared_events.membership import MemberRegisteredV1, MemberUpdatedV1
from shared_events.order import OrderPlacedV1


async def record_member(session: AsyncSession, event: MemberRegisteredV1) -> RecipientRow:
    """The welcome goes out with the WELCOME_GIFT coupon that membership issues in the same
    transaction, right after this event: the member is known by then. Messages parked for the
    member before this event are released by the caller, in this transaction."""
    row = await session.get(RecipientRow, event.member_id)
    if row is None:
        row = RecipientRow(
            member_id=event.member_id,
            email=event.email,
            name=event.name,
            locale=event.locale,
            phone=event.phone,
            membership_consent=False,  # what membership registers every member with
            updated_at=datetime.now(UTC),
        )
    else:
        row.email, row.name, row.locale = event.email, event.name, event.locale
        if _tells_phone(event):
            row.phone = event.phone
        row.updated_at = datetime.now(UTC)
    session.add(row)
    return row


def _tells_phone(event: MemberRegisteredV1 | MemberUpdatedV1) -> bool:
    """Whether the event carries the `phone` key (null included): see the module docstring."""
    return "phone" in event.model_fields_set


async def update_member(
    session: AsyncSession, event: MemberUpdatedV1, cache: NotificationCache
) -> None:
    """Name, locale and phone change the recipient; consent goes to the preferences owned
    here, but only when membership's consent changed. The member also sets it here
    (`PUT /notifications/preferences`), which membership never hears of: every profile edit
    repeats membership's old value, and applying it would undo a withdrawal made here (a
    member who said no would get marketing again after changing their name). So the latest
    change wins, on either side."""
    row = await session.get(RecipientRow, event.member_id)
    told = event.marketing_consent
    if row is None:
        changed = True
    elif row.membership_consent is None:  # a member from before the column: only a withdrawal
        changed = not told
    else:
        changed = row.membership_consent != told
    if row is not None:
        row.name, row.locale, row.updated_at = event.name, event.locale, datetime.now(UTC)
        if _tells_phone(event):
            row.phone = event.phone
        row.membership_consent = told
        session.add(row)
    if changed:
        await preferences.change(session, event.member_id, {"marketing_consent": told}, cache)


async def recipient(session: AsyncSession, member_id: str) -> RecipientRow | None:
    return await session.get(RecipientRow, member_id)


async def record_order(session: AsyncSession, event: OrderPlacedV1) -> None:
    await insert_ignore(
        session,
        MemberOrderRow,
        {
            "order_id": event.order_id,
            "member_id": event.member_id,
            "currency": event.total.currency,
            "total": event.total.amount,
            "placed_at": event.placed_at,
        },
    )


async def member_of_order(session: AsyncSession, order_id: str) -> str | None:
    row = await session.get(MemberOrderRow, order_id)
    return row.member_id if row else None
