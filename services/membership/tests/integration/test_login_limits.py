"""Password guessing and email enumeration on real Redis: the owner still gets in from a proven
address while others hammer the account; the attackers are slowed with 429 and Retry-After;
X-Forwarded-For counts only from a trusted peer; the `make run` seed gets in after a fuzzer."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from chassis.redis_outage import RETRY_SECONDS, RedisOutage
from chassis.testing.clock import ManualClock
from chassis.testing.infra import free_port, start_redis_server
from membership_service.service import limits
from tools.seed import Gateway

from .conftest import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, Membership, Starter

pytestmark = pytest.mark.integration

OWNER_ADDRESS = "198.51.100.10"
ATTACKERS = [f"203.0.113.{i}" for i in range(1, 7)]
WRONG = "not the password"


@pytest.fixture(autouse=True)
def uvicorn_believes_no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """uvicorn rewrites the client from X-Forwarded-For for peers in FORWARDED_ALLOW_IPS
    (loopback by default) before the app sees it; off here, so that these tests check the
    service's own rule (MEMBERSHIP_TRUSTED_PROXIES, chassis.forwarding)."""
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "")


async def login_from(
    membership: Membership, address: str | None, email: str, password: str
) -> httpx.Response:
    headers = {"X-Forwarded-For": address} if address else {}
    return await membership.http.post(
        "/api/v1/auth/login", json={"email": email, "password": password}, headers=headers
    )


def assert_slowed(response: httpx.Response, cap_seconds: float) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("too-many-attempts")
    assert 1 <= int(response.headers["Retry-After"]) <= cap_seconds


async def test_the_owner_gets_in_from_a_proven_address_while_others_hammer_the_account(
    start_membership: Starter,
) -> None:
    # A first delay longer than the test, so that no attacker's retry slips through by timing.
    async with start_membership(login_backoff_base_seconds=30) as membership:
        member = await membership.register()
        email = member["email"]
        proven = await login_from(membership, OWNER_ADDRESS, email, PASSWORD)
        assert proven.status_code == 200, proven.text

        answers = [
            await login_from(membership, address, email, WRONG)
            for _ in range(3)
            for address in ATTACKERS
        ]
        statuses = [a.status_code for a in answers]
        free = membership.settings.login_max_failures_per_email
        assert statuses == [401] * free + [429] * (len(answers) - free)
        for limited in answers[free:]:
            assert_slowed(limited, membership.settings.login_backoff_max_seconds)

        # The owner, from the proven address, is not held by the email's backoff ...
        owner = await login_from(membership, OWNER_ADDRESS, email.upper(), PASSWORD)
        assert owner.status_code == 200, owner.text
        # ... but an address that never logged in to it waits, even with the right password.
        assert_slowed(await login_from(membership, "192.0.2.55", email, PASSWORD), 60)
        # Another account is not touched.
        other = await membership.register()
        assert (await login_from(membership, ATTACKERS[0], other["email"], PASSWORD)).is_success

        keys = [
            key.decode() if isinstance(key, bytes) else key
            async for key in membership.runtime.redis.scan_iter(
                f"{membership.settings.redis_key_prefix}membership:attempts:*"
            )
        ]
        assert any(":login:proven:" in key for key in keys)
        for key in keys:  # only digests: no email, no address
            assert "example" not in key and "198.51" not in key and "203.0" not in key


async def test_the_owner_is_slowed_on_their_own_address_but_never_locked_out(
    start_membership: Starter,
) -> None:
    settings = {"login_backoff_base_seconds": 0.5, "login_backoff_max_seconds": 1.0}
    async with start_membership(**settings) as membership:
        member = await membership.register()
        email = member["email"]
        assert (await login_from(membership, OWNER_ADDRESS, email, PASSWORD)).is_success
        free = membership.settings.login_max_failures_per_ip_and_email
        for _ in range(free):  # an attacker behind the owner's own address (the same NAT)
            assert (await login_from(membership, OWNER_ADDRESS, email, WRONG)).status_code == 401
        limited = await login_from(membership, OWNER_ADDRESS, email, PASSWORD)
        assert_slowed(limited, 1)
        await asyncio.sleep(int(limited.headers["Retry-After"]))
        assert (await login_from(membership, OWNER_ADDRESS, email, PASSWORD)).is_success
        # The success cleared this address's failures for the account: free ones again.
        assert (await login_from(membership, OWNER_ADDRESS, email, WRONG)).status_code == 401


async def test_guesses_arriving_together_at_an_open_gate_get_one_try(
    start_membership: Starter,
) -> None:
    settings = {"login_backoff_base_seconds": 2.0, "login_backoff_max_seconds": 2.0}
    async with start_membership(**settings) as membership:
        member = await membership.register()
        for address in ATTACKERS[: membership.settings.login_max_failures_per_email]:
            assert (
                await login_from(membership, address, member["email"], WRONG)
            ).status_code == 401
        await asyncio.sleep(2.2)  # the email's gate opens
        answers = await asyncio.gather(
            *(login_from(membership, f"192.0.2.{i}", member["email"], WRONG) for i in range(10))
        )
        # The first through claims the gate: the others wait instead of guessing meanwhile.
        assert sorted(a.status_code for a in answers) == [401] + [429] * 9


async def test_rotating_x_forwarded_for_from_an_untrusted_peer_does_not_escape(
    start_membership: Starter,
) -> None:
    settings: dict[str, Any] = {
        "trusted_proxies": ["10.255.0.1"],  # not the test client's 127.0.0.1
        "login_max_failures_per_ip": 3,
        "login_backoff_base_seconds": 30,
    }
    async with start_membership(**settings) as membership:
        for i in range(3):  # spraying: one guess per email, a new forged address each time
            response = await login_from(
                membership, f"192.0.2.{i}", f"victim-{i}@example.com", WRONG
            )
            assert response.status_code == 401
        assert_slowed(await login_from(membership, "192.0.2.99", "victim-9@example.com", WRONG), 60)


async def test_from_a_trusted_peer_the_forwarded_client_is_counted(
    start_membership: Starter,
) -> None:
    settings = {"login_max_failures_per_ip": 3, "login_backoff_base_seconds": 30}
    async with start_membership(**settings) as membership:  # trusts 127.0.0.1 by default
        for i in range(3):
            response = await login_from(membership, "192.0.2.1", f"victim-{i}@example.com", WRONG)
            assert response.status_code == 401
        assert_slowed(await login_from(membership, "192.0.2.1", "v@example.com", WRONG), 60)
        # The nearest untrusted hop is the client; what it claims to forward is not believed.
        forged = await login_from(membership, "198.51.100.1, 192.0.2.1", "v@example.com", WRONG)
        assert_slowed(forged, 60)
        # Another forwarded client, and the proxy itself, are counted apart.
        assert (
            await login_from(membership, "192.0.2.2", "v@example.com", WRONG)
        ).status_code == 401
        assert (await login_from(membership, None, "v@example.com", WRONG)).status_code == 401


@dataclass(frozen=True)
class Account:
    email: str
    password: str


async def test_the_make_run_seed_logs_in_after_a_fuzzer_hammered_the_admin(
    start_membership: Starter,
) -> None:
    """Under `make run` the seed and a fuzzer are both 127.0.0.1 and use the admin's email.
    No gate waits longer than its cap, which is within the seed's retry budget; here the cap is
    short to keep the test quick."""
    settings = {"login_backoff_base_seconds": 0.2, "login_backoff_max_seconds": 1.0}
    async with start_membership(**settings) as membership:

        async def fuzz() -> set[int]:
            statuses = set()
            for i in range(30):
                for email in (ADMIN_EMAIL, f"fuzz-{i}@example.com"):
                    statuses.add((await login_from(membership, None, email, WRONG)).status_code)
            return statuses

        def seed_login() -> list[float]:
            waits: list[float] = []
            with httpx.Client(base_url=membership.url, timeout=10) as client:
                gateway = Gateway(client, pause=lambda s: (waits.append(s), time.sleep(s)))
                gateway.login(Account(ADMIN_EMAIL, ADMIN_PASSWORD))
                assert gateway.headers["Authorization"].startswith("Bearer ")
            return waits

        for _ in range(2):  # never logged in from here, then proven by the first success
            assert await fuzz() == {401, 429}  # the fuzzer was slowed down
            waits = await asyncio.to_thread(seed_login)
            assert sum(waits) <= 3, waits  # at most the cap per gate it met


async def test_with_its_redis_hung_a_login_is_refused_with_503_at_once_after_the_first(
    start_membership: Starter,
) -> None:
    """The gates live in Redis: without them a login is refused (closed, not open), with a
    503 the client may retry. A Redis that hangs (a stopped process, a partition) costs the
    first login its socket timeout (2 s); the next ones are refused at once (`RedisOutage.ask`,
    on a clock of the test's so that none of them is the one that asks again), until Redis
    answers again."""
    port = free_port()
    server = start_redis_server(port)
    clock = ManualClock()
    try:
        async with start_membership(redis_url=f"redis://127.0.0.1:{port}/0") as membership:
            membership.runtime.redis_outage = RedisOutage("test", clock=clock)
            member = await membership.register()
            os.kill(server.pid, signal.SIGSTOP)
            first = await login_from(membership, OWNER_ADDRESS, member["email"], PASSWORD)
            began = time.monotonic()
            then = [
                await login_from(membership, OWNER_ADDRESS, member["email"], PASSWORD)
                for _ in range(5)
            ]
            refused_in = time.monotonic() - began
            for answer in [first, *then]:
                assert answer.status_code == 503, answer.text
                assert answer.headers["content-type"] == "application/problem+json"
                assert answer.json()["type"].endswith("unavailable")
                assert answer.headers["Retry-After"] == "1"
            assert refused_in < 2.0  # five refusals, none waited for the socket timeout
            os.kill(server.pid, signal.SIGCONT)
            clock.now += RETRY_SECONDS
            back = await login_from(membership, OWNER_ADDRESS, member["email"], PASSWORD)
            assert back.status_code == 200, back.text
    finally:
        os.kill(server.pid, signal.SIGCONT)
        server.terminate()
        server.wait()


async def test_guesses_sent_together_get_no_more_than_the_free_tries(
    start_membership: Starter,
) -> None:
    """A failure is counted only once its password check is done (tens of ms): thirty guesses
    sent at once used to pass the check before the first was counted. Each now holds one of
    the gate's free tries until its outcome is known."""
    async with start_membership(login_backoff_base_seconds=30) as membership:
        member = await membership.register()
        free = membership.settings.login_max_failures_per_ip_and_email
        attacker = ATTACKERS[0]
        answers = await asyncio.gather(
            *(login_from(membership, attacker, member["email"], WRONG) for _ in range(30))
        )
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [401] * free + [429] * (30 - free), statuses
        # Every hold was given back once its failure was counted: none is left.
        redis = membership.runtime.redis
        ours = f"{membership.settings.redis_key_prefix}membership:attempts:login:*:held"
        assert [key async for key in redis.scan_iter(match=ours)] == []


async def test_many_members_behind_one_address_log_in_at_once(start_membership: Starter) -> None:
    """The per-address gate holds nothing: more members than its free failures, behind one
    office's address, log in at the same moment."""
    async with start_membership() as membership:
        count = membership.settings.login_max_failures_per_ip + 4
        members = [await membership.register() for _ in range(count)]
        answers = await asyncio.gather(
            *(login_from(membership, OWNER_ADDRESS, m["email"], PASSWORD) for m in members)
        )
        assert [a.status_code for a in answers] == [200] * count


async def test_a_hold_never_given_back_lapses_and_a_login_gives_back_only_its_own(
    start_membership: Starter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "HOLD_MS", 600)
    async with start_membership() as membership:
        limiter = limits.attempt_limiter(membership.runtime)
        email, free = "held@example.com", membership.settings.login_max_failures_per_ip_and_email
        crashed = [await limiter.check_login(email, OWNER_ADDRESS) for _ in range(free)]
        with pytest.raises(limits.TooManyAttempts):  # every free try is held
            await limiter.check_login(email, OWNER_ADDRESS)
        # A login that was refused gives back nothing of the others' holds.
        await limiter.release_login(email, OWNER_ADDRESS, "not-an-attempt-of-theirs")
        with pytest.raises(limits.TooManyAttempts):
            await limiter.check_login(email, OWNER_ADDRESS)
        await limiter.release_login(email, OWNER_ADDRESS, crashed[0])  # its own: one frees
        freed = await limiter.check_login(email, OWNER_ADDRESS)
        await asyncio.sleep(0.7)  # the holds never given back lapse
        again = [await limiter.check_login(email, OWNER_ADDRESS) for _ in range(free)]
        assert len({freed, *again}) == free + 1
