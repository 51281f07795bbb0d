"""Member reads of the routes and token use cases (ORM rows). The order events and the jobs
read and write through the Core statements of member_rows.py."""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from chassis.locks import hold_write_lock
from membership_service.tables import MemberRow


async def member(session: AsyncSession, member_id: str, *, lock: bool = False) -> MemberRow | None:
    """`lock`: for a profile change, serialised with the order events' changes of the row
    (`member_rows.lock_member`); on SQLite, whose FOR UPDATE locks nothing, by the database's
    write lock, taken before the row is read."""
    query = select(MemberRow).where(MemberRow.id == member_id)
    if lock:
        await hold_write_lock(await session.connection())
        query = query.with_for_update()
    return (await session.exec(query)).first()


async def member_by_email(session: AsyncSession, email: str) -> MemberRow | None:
    return (await session.exec(select(MemberRow).where(MemberRow.email == email))).first()
