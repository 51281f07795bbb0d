"""The backoff gates of `domain.attempts` in Redis: one script call to check an attempt, one
to record its outcome.

A gate is a hash {failures, next_at}: `next_at` (ms, Redis' clock, shared by every replica)
is when the next attempt may go. The check passes only when every gate that applies is open,
and then *claims* the gates in backoff (moves their `next_at` on by the current delay), so
that a thousand attempts arriving together while a gate opens get one guess, not a thousand.
"""

from __future__ import annotations

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

# KEYS[1]: the proven marker; KEYS[2..]: the gates. ARGV: n, the n delays, then per gate its
# free failures and 1 if it is lifted for a proven address. {0}: go on; {1, gate, ms}: wait.
CHECK = (
    _NOW
    + """
local proven = nil
local claims = {}
for i = 2, #KEYS do
  local free = tonumber(ARGV[n + 2 * i - 2])
  local exempt = ARGV[n + 2 * i - 1] == '1'
  if exempt and proven == nil then proven = redis.call('EXISTS', KEYS[1]) == 1 end
  if not (exempt and proven) then
    local state = redis.call('HMGET', KEYS[i], 'failures', 'next_at')
    local failures = tonumber(state[1] or '0')
    if failures >= free then
      local wait = tonumber(state[2] or '0') - now
      if wait > 0 then return {1, i - 2, wait} end
      claims[#claims + 1] = {KEYS[i], now + delay(failures, free)}
    end
  end
end
for _, claim in ipairs(claims) do redis.call('HSET', claim[1], 'next_at', claim[2]) end
return {0}
"""
)

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

    def _key(self, suffix: str) -> str:
        return f"{self.namespace}:{suffix}"

    async def check_login(self, email: str, address: str) -> None:
        proven = self._key(self.policy.proven_key(email, address))
        await self._pass(self.policy.login_gates(email, address), proven)

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

    async def _pass(self, gates: Sequence[Gate], proven_key: str) -> None:
        args: list[int | float] = [*self._delays()]
        for gate in gates:
            args += [gate.free, int(gate.exempt_when_proven)]
        keys = [proven_key, *(self._key(g.key) for g in gates)]
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
