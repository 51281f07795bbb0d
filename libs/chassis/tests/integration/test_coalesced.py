"""`CoalescedScript` on a real Redis: concurrent calls go out as one pipeline, each gets its
own reply (or its own error), and a caller that goes away costs the others nothing."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from chassis.coalesced import CoalescedScript

pytestmark = pytest.mark.integration

# INCRBY the key by ARGV[1]; a negative step is refused by the script itself.
STEP = """
if tonumber(ARGV[1]) < 0 then return redis.error_reply('negative step') end
return redis.call('INCRBY', KEYS[1], ARGV[1])
"""


async def test_concurrent_calls_share_one_round_trip_and_keep_their_replies(
    redis_client: aioredis.Redis, redis_key_prefix: str
) -> None:
    script = CoalescedScript(redis_client, STEP)
    key = f"{redis_key_prefix}n"
    replies = await asyncio.gather(*(script([key], [step]) for step in (1, 10, 100, 1000)))
    assert replies == [1, 11, 111, 1111]  # in the order called, each its own
    assert script.round_trips == 1
    assert await script([key], [1]) == 1112
    assert script.round_trips == 2


async def test_a_call_whose_script_fails_fails_alone(
    redis_client: aioredis.Redis, redis_key_prefix: str
) -> None:
    script = CoalescedScript(redis_client, STEP)
    key = f"{redis_key_prefix}n"
    results = await asyncio.gather(
        script([key], [1]), script([key], [-1]), script([key], [2]), return_exceptions=True
    )
    assert results[0] == 1 and results[2] == 3
    assert isinstance(results[1], ResponseError) and "negative step" in str(results[1])


async def test_a_cancelled_caller_leaves_the_others_their_replies(
    redis_client: aioredis.Redis, redis_key_prefix: str
) -> None:
    script = CoalescedScript(redis_client, STEP)
    key = f"{redis_key_prefix}n"
    gone = asyncio.ensure_future(script([key], [5]))
    kept = asyncio.ensure_future(script([key], [1]))
    await asyncio.sleep(0)  # both queued; the pipeline not sent yet
    gone.cancel()
    assert await kept in (1, 6)  # the cancelled call may still have been counted
    assert gone.cancelled()
