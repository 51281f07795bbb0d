"""The loop of the membership jobs (tier reviews, points expiry): the members a query picks,
a batch at a time in member-id order, each in its own transaction, until none is left or the
round's time is up. A round used to take one batch (100 members an hour for the tier job, so
a shop with more members above bronze than that fell behind for good), and one member whose
work failed failed the round, every round. Now a failing member is logged and left for the
next round; the others go on.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chassis.db import is_unavailable
from chassis.logging import get_logger
from chassis.staging import Stage, session_stage
from membership_service.deps import MembershipRuntime
from membership_service.service import member_rows
from membership_service.service.member_rows import LockedMember

log = get_logger(__name__)

# A round stops taking batches after this long; the next round goes on from the first member.
ROUND_SECONDS = 60.0

# The ids of the members due, after `after` (None: from the first), at most `limit` of them.
Pick = Callable[[str | None, int], sa.Select[Any]]
# One member's work under its row lock; returns what the job counts (tiers changed, points).
Work = Callable[[AsyncConnection, Stage, LockedMember], Awaitable[int]]


async def each_member(
    runtime: MembershipRuntime,
    job: str,
    pick: Pick,
    work: Work,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Run `work` for every member `pick` finds, in member-id order; the sum of what it
    returned."""
    batch, deadline = runtime.settings.job_batch_size, clock() + ROUND_SECONDS
    total, after = 0, None
    while clock() < deadline:
        async with runtime.database.reads() as session:
            conn = await session.connection()
            members = [str(m) for m in (await conn.execute(pick(after, batch))).scalars()]
        for member_id in members:
            total += await _one(runtime, job, member_id, work)
        if len(members) < batch:
            break
        after = members[-1]
    return total


async def _one(runtime: MembershipRuntime, job: str, member_id: str, work: Work) -> int:
    try:
        async with runtime.database.transaction() as session:
            conn = await session.connection()
            member = await member_rows.lock_member(conn, member_id)
            if member is None:
                return 0
            result = await work(conn, session_stage(runtime.outbox, session), member)
            await member_rows.save_member(conn, member)
            return result
    except Exception as error:
        if is_unavailable(error):
            raise  # the database is away: the round ends, the next one retries
        log.exception("member left for the next round", job=job, member_id=member_id)
        return 0
