"""Slowing down password guessing and email enumeration without locking the owner out.

Every limit is a *backoff gate*: a key counts failures; past its free failures each further
attempt must wait a delay that doubles with every failure (`base`, `2*base`, ... up to `cap`),
measured from the last failure; failures are forgotten `memory` seconds after the last one.
A gate never asks anyone to wait longer than `cap`, so no one is locked out, only slowed.

Login (docs/membership-and-notifications.md, "Brute force"):

- `address+email`: failures of one email from one client address; applies to everyone,
  the owner included; a success clears it.
- `address`: failures from one client address, any email (password spraying).
- `email`: failures of one email from every address (a distributed attack).

An address that logged in to an account successfully is *proven* for that account for
`proven_seconds`; from it only the `address+email` gate applies, so the owner gets in from a
known address while others hammer the account. Registration has one gate, `register`: answers
"this email is taken" to one address.

Emails and addresses appear in keys only as SHA-256 digests. IPv6 clients are counted per /64,
the block one subscriber usually holds. No I/O here: `service.limits` keeps the gates in Redis.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from chassis.addresses import address_bucket


@dataclass(frozen=True, slots=True)
class Gate:
    scope: str  # for logs and tests: "address+email", "address", "email", "register"
    key: str  # the key's suffix: digests only, never an email or an address
    free: int  # failures before the first delay
    exempt_when_proven: bool
    # An attempt holds one of the free failures until its outcome is known (guesses sent
    # together at one account); not the per-address gate, which many members behind one
    # address (an office, a NAT) pass at once.
    held: bool = False


@dataclass(frozen=True, slots=True)
class AttemptPolicy:
    per_address_and_email: int
    per_address: int
    per_email: int
    register_taken_per_address: int
    backoff_base_seconds: float
    backoff_max_seconds: float
    memory_seconds: int
    proven_seconds: int

    def __post_init__(self) -> None:
        if not 0 < self.backoff_base_seconds <= self.backoff_max_seconds:
            raise ValueError("the backoff starts above 0 and at most at its cap")
        if self.memory_seconds < self.backoff_max_seconds:
            raise ValueError("failures must be remembered at least as long as the longest delay")

    def delays_ms(self) -> tuple[int, ...]:
        """The wait after the 1st, 2nd, ... failure past a gate's free ones; the last one (the
        cap) repeats."""
        delays: list[int] = []
        cap = round(self.backoff_max_seconds * 1000)
        delay = self.backoff_base_seconds * 1000
        while round(delay) < cap:
            delays.append(round(delay))
            delay *= 2
        return (*delays, cap)

    def login_gates(self, email: str, address: str) -> tuple[Gate, ...]:
        client = address_bucket(address)
        return (
            Gate(
                "address+email",
                f"login:pair:{digest(email, client)}",
                self.per_address_and_email,
                False,
                held=True,
            ),
            Gate("address", f"login:address:{digest(client)}", self.per_address, True),
            Gate("email", f"login:email:{digest(email)}", self.per_email, True, held=True),
        )

    def proven_key(self, email: str, address: str) -> str:
        return f"login:proven:{digest(email, address_bucket(address))}"

    def registration_gates(self, address: str) -> tuple[Gate, ...]:
        key = f"register:address:{digest(address_bucket(address))}"
        return (Gate("register", key, self.register_taken_per_address, False),)


def digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def retry_after_seconds(wait_ms: int) -> int:
    """`Retry-After` is whole seconds: rounded up, so a client that obeys it is let in."""
    return max(1, math.ceil(wait_ms / 1000))
