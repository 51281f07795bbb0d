"""The backoff gates of `domain.attempts` in Redis: one script call to check an attempt, one
to record its outcome.

A gate is a hash {failures, next_at, inflight}: `next_at` (ms, Redis' clock, shared by every
replica) is when the next attempt may go. The check passes only when every gate that applies is
open, and then *claims* the gates in backoff (moves their `next_at` on by the current delay), so
that a thousand attempts arriving together while a gate opens get one guess, not a thousand.
Below a gate's free failures a login *holds* one of them until its outcome is recorded: a
failure is known only once the password was checked (tens of ms), and guesses sent together
would otherwise all pass before the first is counted (dozens instead of five). The holds are a
sorted set beside the gate (`<gate>:held`), one member per login attempt, scored by when it
lapses (`HOLD_MS`): a login gives back only its own hold, and one never given back (a crash,
Redis away at that moment) lapses by itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import redis.asyncio as aioredis

from chassis.errors import BackingStoreUnavailable, ProblemError
from chassis.logging import get_logger
from chassis.redis_outage import RedisAway, RedisOutage
from membership_service.deps import MembershipRuntime
from membership_service.domain.attempts import AttemptPolicy, Gate, retry_after_seconds

log = get_logger(__name__)

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = tonumber(ARGV[1])
local function delay(failures, free)  -- ARGV[2..n+1]: the delays in ms, the last repeats
  return tonumber(ARGV[1 + math.min(failures - free + 1, n)])
end
"""

# How long a login's hold on a free failure lasts at most: a login's outcome is known within a
# second; one never given back lapses after this.
HOLD_MS = 10_000

# KEYS[1]: the proven marker; KEYS[2..g+1]: the g gates; KEYS[g+2..2g+1]: their holds. ARGV:
# n, the n delays, then per gate its free failures, 1 if it is lifted for a proven address and
# 1 if a login holds one of its free failures, then the attempt's id and HOLD_MS.
# {0}: go on; {1, gate, ms}: wait.
CHECK = (
    _NOW
    + """
local g = (#KEYS - 1) / 2
local attempt = ARGV[n + 3 * g + 2]
local hold_ms = tonumber(ARGV[n + 3 * g + 3])
local proven = nil
local claims = {}
local holds = {}
for i = 2, g + 1 do
  local free = tonumber(ARGV[n + 3 * i - 4])
  local exempt = ARGV[n + 3 * i - 3] == '1'
  local hold = ARGV[n + 3 * i - 2] == '1'
  if exempt and proven == nil then proven = redis.call('EXISTS', KEYS[1]) == 1 end
  if not (exempt and proven) then
    local state = redis.call('HMGET', KEYS[i], 'failures', 'next_at')
    local failures = tonumber(state[1] or '0')
    if failures >= free then
      local wait = tonumber(state[2] or '0') - now
      if wait > 0 then return {1, i - 2, wait} end
      claims[#claims + 1] = {KEYS[i], now + delay(failures, free)}
    elseif hold then
      -- The free failures left are held by logins in flight: wait for their outcome.
      local held = KEYS[i + g]
      redis.call('ZREMRANGEBYSCORE', held, '-inf', now)
      if failures + redis.call('ZCARD', held) >= free then return {1, i - 2, 1000} end
      holds[#holds + 1] = held
    end
  end
end
for _, claim in ipairs(claims) do redis.call('HSET', claim[1], 'next_at', claim[2]) end
for _, held in ipairs(holds) do
  redis.call('ZADD', held, now + hold_ms, attempt)
  redis.call('PEXPIRE', held, hold_ms)
end
return {0}
"""
)

# KEYS: the holds of a login's gates; ARGV[1]: the attempt's id. Only its own hold goes.
RELEASE = """
for i = 1, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
return 0
"""

# KEYS: the gates. ARGV: n, the n delays, how long failures are remembered (s), then per gate
# its free failures. Every gate counts the failure, lifted or not.
FAILED = (
    _NOW
    + """
local memory = tonumber(ARGV[n + 2])
for i = 1, #KEYS do
  local free = tonumber(ARGV[n + 2 + i])
  local failures = redis.call('HINCRBY', KEYS[i], 'failures', 1)
  if failures >= free then redis.call('HSET', KEYS[i], 'next_at', now + delay(failures, free)) end
  redis.call('EXPIRE', KEYS[i], memory)
end
return 0
"""
)


class TooManyAttempts(ProblemError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(
            429,
            "too many attempts; try again later",
            code="too-many-attempts",
            headers={"Retry-After": str(retry_after)},
        )


class AttemptLimiter:
    def __init__(
        self,
        redis: aioredis.Redis,
        namespace: str,
        policy: AttemptPolicy,
        outage: RedisOutage,
    ) -> None:
        self.redis = redis
        self.namespace = namespace
        self.policy = policy
        # Shared with the service's other routes that need Redis (`BaseRuntime.redis_outage`).
        self.outage = outage
        self._check = redis.register_script(CHECK)
        self._failed = redis.register_script(FAILED)
        self._release = redis.register_script(RELEASE)

    def _key(self, suffix: str) -> str:
        return f"{self.namespace}:{suffix}"

    async def check_login(self, email: str, address: str) -> str:
        """Pass, or 429. A login that passes holds a free failure of its gates until
        `release_login` (after its outcome is recorded); returns the attempt's id for it."""
        attempt = uuid.uuid4().hex
        proven = self._key(self.policy.proven_key(email, address))
        await self._pass(self.policy.login_gates(email, address), proven, attempt)
        return attempt

    async def release_login(self, email: str, address: str, attempt: str) -> None:
        """Give back the attempt's holds (its failure, if any, is recorded by then); one that
        cannot be given back lapses after HOLD_MS."""
        keys = [self._held(g) for g in self.policy.login_gates(email, address) if g.held]
        try:
            await self.outage.ask(lambda: self._release(keys=keys, args=[attempt]), skip=False)
        except aioredis.RedisError as exc:
            log.warning("could not release a login attempt", error=str(exc))

    def _held(self, gate: Gate) -> str:
        return self._key(f"{gate.key}:held")

    async def login_failed(self, email: str, address: str) -> None:
        await self._record(self.policy.login_gates(email, address))

    async def login_succeeded(self, email: str, address: str) -> None:
        """Clear this address's failures for the account and remember the address as proven."""
        pair = self.policy.login_gates(email, address)[0]

        async def record() -> None:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.delete(self._key(pair.key))
                pipe.set(
                    self._key(self.policy.proven_key(email, address)),
                    1,
                    ex=self.policy.proven_seconds,
                )
                await pipe.execute()

        try:
            await self.outage.ask(record, skip=False)  # the login happened: always tried
        except aioredis.RedisError as exc:  # the login stands; the next one may wait longer
            log.warning("could not record the successful login", error=str(exc))

    async def check_registration(self, address: str) -> None:
        gates = self.policy.registration_gates(address)
        await self._pass(gates, self._key(gates[0].key))  # no gate is lifted for the proven

    async def registration_taken(self, address: str) -> None:
        await self._record(self.policy.registration_gates(address))

    async def _pass(self, gates: Sequence[Gate], proven_key: str, attempt: str = "") -> None:
        args: list[int | float | str] = [*self._delays()]
        for gate in gates:
            args += [gate.free, int(gate.exempt_when_proven), int(gate.held and bool(attempt))]
        args += [attempt, HOLD_MS]
        keys = [proven_key, *(self._key(g.key) for g in gates), *(self._held(g) for g in gates)]
        try:
            verdict = await self.outage.ask(lambda: self._check(keys=keys, args=args))
        except aioredis.RedisError as exc:
            raise self._unavailable(exc) from None
        if verdict[0]:
            gate, wait_ms = gates[int(verdict[1])], int(verdict[2])
            log.warning("attempt slowed down", scope=gate.scope, wait_ms=wait_ms)
            raise TooManyAttempts(retry_after_seconds(wait_ms))

    async def _record(self, gates: Sequence[Gate]) -> None:
        args = [*self._delays(), self.policy.memory_seconds, *(g.free for g in gates)]
        try:
            await self.outage.ask(
                lambda: self._failed(keys=[self._key(g.key) for g in gates], args=args)
            )
        except aioredis.RedisError as exc:
            raise self._unavailable(exc) from None

    def _delays(self) -> list[int]:
        delays = self.policy.delays_ms()
        return [len(delays), *delays]

    @staticmethod
    def _unavailable(exc: Exception) -> ProblemError:
        # Closed, not open: without its counters the limiter cannot protect the accounts. While
        # Redis is known to be away the check fails at once (RedisAway), logged once by then.
        if not isinstance(exc, RedisAway):
            log.error("attempt limiter unavailable", error=str(exc))
        return BackingStoreUnavailable()


def attempt_limiter(runtime: MembershipRuntime) -> AttemptLimiter:
    settings = runtime.settings
    return AttemptLimiter(
        runtime.redis,
        f"{settings.redis_key_prefix}membership:attempts",
        settings.attempt_policy,
        runtime.redis_outage,
    )
