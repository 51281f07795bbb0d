"""The login and registration backoff policy (domain.attempts), without Redis."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from membership_service.config import MembershipSettings
from membership_service.domain.attempts import (
    AttemptPolicy,
    retry_after_seconds,
)
from tools.seed import RETRY_BUDGET_SECONDS

EMAIL = "owner@example.com"


def policy(**changes: float) -> AttemptPolicy:
    values: dict[str, float] = {
        "per_address_and_email": 5,
        "per_address": 20,
        "per_email": 5,
        "register_taken_per_address": 5,
        "backoff_base_seconds": 1,
        "backoff_max_seconds": 60,
        "memory_seconds": 900,
        "proven_seconds": 30 * 86400,
        **changes,
    }
    return AttemptPolicy(**values)  # type: ignore[arg-type]


def test_the_default_settings_make_the_documented_policy() -> None:
    assert MembershipSettings().attempt_policy == policy()
    assert MembershipSettings().trusted_proxies == ["127.0.0.1", "::1"]


def test_the_make_run_seed_waits_out_any_gate() -> None:
    # Nobody waits longer than the cap, and the seed retries a 429 within its budget.
    assert MembershipSettings().login_backoff_max_seconds < RETRY_BUDGET_SECONDS


def test_delays_double_up_to_the_cap_which_repeats() -> None:
    assert policy().delays_ms() == (1000, 2000, 4000, 8000, 16000, 32000, 60000)
    assert policy(backoff_base_seconds=0.1, backoff_max_seconds=0.3).delays_ms() == (100, 200, 300)
    assert policy(backoff_base_seconds=5, backoff_max_seconds=5).delays_ms() == (5000,)


@pytest.mark.parametrize(
    "changes",
    [
        {"backoff_base_seconds": 0},
        {"backoff_base_seconds": 61},
        {"memory_seconds": 59},  # a failure forgotten before its delay ends
    ],
)
def test_a_backoff_that_cannot_be_kept_is_refused(changes: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        policy(**changes)
    prefixed = {f"login_{k.replace('memory', 'failure_memory')}": v for k, v in changes.items()}
    with pytest.raises(ValidationError):
        MembershipSettings(**prefixed)  # type: ignore[arg-type]


def test_a_proven_address_is_spared_the_address_and_email_gates_not_its_own() -> None:
    gates = {g.scope: g for g in policy().login_gates(EMAIL, "198.51.100.7")}
    assert {s: (g.free, g.exempt_when_proven) for s, g in gates.items()} == {
        "address+email": (5, False),
        "address": (20, True),
        "email": (5, True),
    }
    [register] = policy().registration_gates("198.51.100.7")
    assert (register.scope, register.free, register.exempt_when_proven) == ("register", 5, False)


def test_keys_hold_digests_never_an_email_or_an_address() -> None:
    p = policy()
    keys = [g.key for g in p.login_gates(EMAIL, "198.51.100.7")]
    keys += [p.proven_key(EMAIL, "198.51.100.7"), p.registration_gates("198.51.100.7")[0].key]
    for key in keys:
        assert "owner" not in key and "example" not in key and "198.51" not in key
    assert len(set(keys)) == len(keys)
    # Another address: other pair, address and proven keys; the same email key.
    other = {g.scope: g.key for g in p.login_gates(EMAIL, "198.51.100.8")}
    mine = {g.scope: g.key for g in p.login_gates(EMAIL, "198.51.100.7")}
    assert other["email"] == mine["email"]
    assert other["address"] != mine["address"] and other["address+email"] != mine["address+email"]
    assert p.proven_key(EMAIL, "198.51.100.8") != p.proven_key(EMAIL, "198.51.100.7")


def test_retry_after_is_whole_seconds_rounded_up() -> None:
    assert [retry_after_seconds(ms) for ms in (1, 999, 1000, 1001, 60000)] == [1, 1, 1, 2, 60]
