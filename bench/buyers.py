"""The flash sale's buyers: many distinct members (the gateway caps the units per member), set up
without paying membership's registration for each of them.

Registering a member through the API costs one argon2id hash (~53 ms of CPU at membership's
OWASP parameters) and logging in another (the verify): 2,000 buyers took ~400 s. This fixture
keeps membership's security as it is and pays only what a buyer really does before a sale:

- ONE hash of the shared bench password, made here with membership's own `HASHER` (the same
  argon2id parameters, so membership neither rehashes it nor verifies it any faster);
- the buyers' rows written straight into membership's database in one transaction: the member
  row as registration writes it (`customer`, `BRONZE`, no points) and its credential with that
  hash; and, since registration's `member.registered` event is skipped, notification's recipient
  row that the event would have produced, so their confirmations are mailed as any other's.
  Registration's welcome coupons are not issued (a flash-sale order names no coupon);
- then every buyer logs in through the gateway, concurrently (bounded: membership verifies in
  its worker threads, on the machine's cores): a real argon2id verify and a real token each.

So the set-up costs one verify per buyer instead of a hash and a verify, and runs the cores
full. Minting tokens with membership's key from its database would be faster still, but would
no longer be membership's login: not done.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import create_async_engine

from bench.databases import Databases
from bench.storefront import PASSWORD, Headers, Storefront


def bench_password_hash() -> str:
    """One argon2id hash of the bench password, with membership's parameters."""
    from membership_service.adapters.passwords import HASHER

    return str(HASHER.hash(PASSWORD))


async def insert_buyers(dbs: Databases, count: int) -> list[str]:
    """`count` customers with the bench password in membership's database (and as recipients
    in notification's); their emails."""
    from membership_service.tables import CredentialRow, MemberRow
    from notification_service.tables import RecipientRow

    password_hash = await asyncio.to_thread(bench_password_hash)
    run, at = uuid.uuid4().hex[:6], datetime.now(UTC)
    members, credentials, recipients, emails = [], [], [], []
    for i in range(count):
        member_id, email = str(uuid.uuid4()), f"flash-{run}-{i}@example.com"
        emails.append(email)
        members.append(
            {
                "id": member_id,
                "email": email,
                "name": "Bench Buyer",
                "locale": "en",
                "role": "customer",
                "marketing_consent": False,
                "tier": "BRONZE",
                "tier_reviewed_at": at,
                "points_balance": 0,
                "points_held": 0,
                "created_at": at,
                "updated_at": at,
            }
        )
        credentials.append(
            {"member_id": member_id, "password_hash": password_hash, "updated_at": at}
        )
        recipient = {"member_id": member_id, "email": email, "name": "Bench Buyer"}
        recipients.append({**recipient, "locale": "en", "updated_at": at})
    rows = (
        ("membership", ((MemberRow, members), (CredentialRow, credentials))),
        ("notification", ((RecipientRow, recipients),)),
    )
    for service, tables in rows:
        engine = create_async_engine(dbs.urls[service])
        try:
            async with engine.begin() as conn:
                for table, values in tables:
                    await conn.execute(insert(table.__table__), values)
        finally:
            await engine.dispose()
    return emails


async def log_in_all(store: Storefront, emails: list[str], concurrency: int) -> list[Headers]:
    gate = asyncio.Semaphore(concurrency)

    async def one(email: str) -> Headers:
        async with gate:
            return await store.login(email, PASSWORD)

    return list(await asyncio.gather(*(one(e) for e in emails)))


async def flash_buyers(
    store: Storefront, dbs: Databases, count: int, concurrency: int
) -> tuple[list[Headers], float, str]:
    """(logged-in buyers, set-up seconds, how they were set up)."""
    started = time.perf_counter()
    emails = await insert_buyers(dbs, count)
    buyers = await log_in_all(store, emails, concurrency)
    how = (
        f"inserted with one precomputed argon2id hash, then {count} logins ({concurrency} at once)"
    )
    return buyers, time.perf_counter() - started, how
