"""Per-member quantity caps on flash-sale SKUs, shared by every gateway replica through Redis.

A member may buy at most `limit` units of a flash-sale SKU during the sale window, across all
of their orders. The gateway claims the units before it forwards `POST /orders` and gives the
claim back when the order service refuses the order, so a refused order does not use up the
allowance. A replay under the same `Idempotency-Key` claims nothing again: the key's marker
holds the quantities it claimed, and the key sent with other quantities is a 422 (otherwise a
retry after a 503, whose order the service never saw, could carry any quantity past the cap).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import redis.asyncio as aioredis

from chassis.errors import ProblemError
from gateway_service.adapters.redis_scripts import CLAIM_SCRIPT


def capped_quantities(body: bytes, limits: Mapping[str, int]) -> dict[str, int]:
    """The flash-sale SKUs an order body asks for, with their summed quantities. A body that
    is not an order passes untouched: the order service answers it with its own 4xx. A SKU is
    read as the order service reads it, surrounding white space trimmed (`RequestModel`), so
    `" TEA-1 "` is counted as `TEA-1`; Python's `strip` trims all that pydantic's does, and a
    few control characters more, which the service then refuses (the claim is given back)."""
    if not limits:
        return {}
    try:
        document: Any = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
        return {}
    items = document.get("items") if isinstance(document, dict) else None
    wanted: dict[str, int] = {}
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        sku, quantity = item.get("sku"), item.get("quantity")
        if not isinstance(sku, str) or (sku := sku.strip()) not in limits:
            continue
        if isinstance(quantity, int) and quantity > 0:
            wanted[sku] = wanted.get(sku, 0) + quantity
    return wanted


# Tries at writing a key's marker while other requests under the key claim and give back.
MARK_TRIES = 3
# A marker written before markers held quantities (a rolling upgrade): taken for a replay.
LEGACY_MARK = b"1"


def claim_mark(wanted: Mapping[str, int]) -> bytes:
    """What an Idempotency-Key's marker holds: the flash-sale quantities it claimed."""
    return json.dumps(sorted(wanted.items()), separators=(",", ":")).encode()


def is_retry(mark: object, wanted: Mapping[str, int]) -> bool:
    """Whether a request whose key's marker is `mark` (None: the key claimed nothing) retries
    the order that claimed; a 422 when the key claimed for other quantities."""
    if mark is None:
        return False
    found = mark if isinstance(mark, bytes) else str(mark).encode()
    if found not in (LEGACY_MARK, claim_mark(wanted)):
        raise ProblemError(
            422,
            "this Idempotency-Key was used for an order of other flash-sale quantities",
            code="idempotency-key-reused",
        )
    return True


class FlashSaleLimits:
    def __init__(
        self, redis: aioredis.Redis, prefix: str, limits: Mapping[str, int], window_seconds: int
    ) -> None:
        self.redis = redis
        self.prefix = f"{prefix}gateway:flash"
        self.limits = dict(limits)
        self.window_seconds = window_seconds
        self._claim = redis.register_script(CLAIM_SCRIPT)

    def _key(self, member: str, sku: str) -> str:
        return f"{self.prefix}:{sku}:{member}"

    def seen_key(self, member: str, idempotency_key: str) -> str:
        """The key that exists once this member's Idempotency-Key has claimed (its order may
        exist); the edge reads it in the rate limits' round trip."""
        return f"{self.prefix}:seen:{member}:{idempotency_key}"

    async def mark_of(self, member: str, idempotency_key: str | None) -> object:
        """What this Idempotency-Key claimed (`claim_mark`; None: nothing), asked alone: for
        an order whose lookup did not ride with the rate limits."""
        if idempotency_key is None:
            return None
        return await self.redis.get(self.seen_key(member, idempotency_key))

    async def claim(
        self, member: str, wanted: Mapping[str, int], idempotency_key: str | None
    ) -> bool:
        """Take `wanted` from the member's allowance, or raise a 422. False when nothing was
        taken because this Idempotency-Key already took it (a replay)."""
        if not wanted:
            return False
        if idempotency_key is not None and not await self._mark(member, idempotency_key, wanted):
            # Claimed meanwhile under this key: the same order sent twice at once passes
            # unclaimed (the other copy holds its units); another order was refused.
            return False
        skus = sorted(wanted)
        args: list[int] = []
        for sku in skus:
            args += [wanted[sku], self.limits[sku]]
        keys = [self._key(member, s) for s in skus]
        over = await self._claim(keys=keys, args=[*args, self.window_seconds])
        if int(over):
            if idempotency_key is not None:
                await self.redis.delete(self.seen_key(member, idempotency_key))
            sku = skus[int(over) - 1]
            raise ProblemError(
                422,
                f"{sku} is on flash sale: at most {self.limits[sku]} per member",
                code="flash-sale-limit",
            )
        return True

    async def _mark(self, member: str, idempotency_key: str, wanted: Mapping[str, int]) -> bool:
        """Write the key's marker; False when the key holds one for these quantities already
        (422 for others). A marker gone between the two reads (its claim refused and given
        back meanwhile) is written again: a request never passes on a claim nobody holds."""
        seen, mark = self.seen_key(member, idempotency_key), claim_mark(wanted)
        for _ in range(MARK_TRIES):
            if await self.redis.set(seen, mark, nx=True, ex=self.window_seconds):
                return True
            found = await self.redis.get(seen)
            if found is not None:
                is_retry(found, wanted)  # 422 for other quantities
                return False
        raise ProblemError(
            409,
            "another request with this Idempotency-Key is in progress; retry",
            code="idempotency-busy",
        )

    async def release(
        self, member: str, wanted: Mapping[str, int], idempotency_key: str | None
    ) -> None:
        """Give back a claim whose order was refused."""
        async with self.redis.pipeline(transaction=True) as pipe:
            for sku, quantity in wanted.items():
                pipe.decrby(self._key(member, sku), quantity)
            if idempotency_key is not None:
                pipe.delete(self.seen_key(member, idempotency_key))
            await pipe.execute()
