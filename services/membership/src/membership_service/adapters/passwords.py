"""Password hashing: argon2id at the OWASP minimum (19 MiB, 2 iterations, 1 lane).

Hashing takes tens of milliseconds of CPU, so it runs in a worker thread (argon2-cffi releases
the GIL) and the event loop keeps serving. Passwords never reach a log or an error message.
"""

from __future__ import annotations

import asyncio
import functools
import secrets

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP Password Storage Cheat Sheet: argon2id, m=19456 KiB, t=2, p=1.
MEMORY_COST_KIB = 19_456
TIME_COST = 2
PARALLELISM = 1

HASHER = PasswordHasher(
    time_cost=TIME_COST,
    memory_cost=MEMORY_COST_KIB,
    parallelism=PARALLELISM,
    hash_len=32,
    salt_len=16,
    type=Type.ID,
)


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(HASHER.hash, password)


def _verify(stored_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(stored_hash: str, password: str) -> bool:
    return await asyncio.to_thread(_verify, stored_hash, password)


@functools.cache
def _decoy_hash() -> str:
    return HASHER.hash(secrets.token_urlsafe(24))


async def verify_unknown(password: str) -> bool:
    """For an unknown email: the same work as a wrong password, so timing tells nothing."""
    decoy = await asyncio.to_thread(_decoy_hash)
    await verify_password(decoy, password)
    return False


def needs_rehash(stored_hash: str) -> bool:
    """True for a hash made with other parameters (they were raised since)."""
    try:
        return HASHER.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True
