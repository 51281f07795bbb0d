"""The key ring: loaded once at start-up (a chassis `on_start` hook) and kept in the runtime.

Production signs with `MEMBERSHIP_SIGNING_KEY_PEM` (and publishes
`MEMBERSHIP_PREVIOUS_SIGNING_KEY_PEM` beside it while tokens it signed may live). Development
and test generate a key once and keep it in `signing_keys`, so every replica and every restart
signs with the same key; a second replica starting at the same moment loses the insert race
(one active key, a unique index) and reads the winner's key.
"""

from __future__ import annotations

from sqlmodel import col, select

from chassis.db import Database, insert_ignore
from chassis.logging import get_logger
from chassis.runtime import Runtime
from membership_service.config import MembershipSettings
from membership_service.security import KeyRing, SigningKey
from membership_service.service.store import now, settings_of
from membership_service.tables import SIGNING_KEYS, SigningKeyRow

log = get_logger(__name__)

KEYRING = "membership.keyring"


async def _stored_keys(database: Database) -> list[SigningKeyRow]:
    """Non-retired keys, the active one first."""
    async with database.sessions() as session:
        rows = await session.exec(
            select(SigningKeyRow)
            .where(col(SigningKeyRow.retired_at).is_(None))
            .order_by(col(SigningKeyRow.active).desc(), col(SigningKeyRow.created_at).desc())
        )
        return list(rows.all())


async def _development_ring(database: Database) -> KeyRing:
    rows = await _stored_keys(database)
    if not rows or not rows[0].active:
        key = SigningKey.generate()
        async with database.transaction() as session:
            created = await insert_ignore(
                session,
                SIGNING_KEYS,
                {
                    "kid": key.kid,
                    "private_pem": key.private_pem(),
                    "active": True,
                    "created_at": now(),
                },
            )
        log.info("development signing key", kid=key.kid, generated=bool(created))
        rows = await _stored_keys(database)
    keys = [SigningKey.from_pem(row.private_pem, row.kid) for row in rows]
    return KeyRing(keys[0], keys[1:])


def _configured_ring(settings: MembershipSettings) -> KeyRing | None:
    if settings.signing_key_pem is None:
        return None
    signer = SigningKey.from_pem(
        settings.signing_key_pem.get_secret_value(), settings.signing_key_id
    )
    previous = settings.previous_signing_key_pem
    verifiers = [SigningKey.from_pem(previous.get_secret_value())] if previous else []
    return KeyRing(signer, verifiers)


async def load_signing_keys(runtime: Runtime) -> None:
    settings = settings_of(runtime)
    ring = _configured_ring(settings)
    if ring is None:
        if settings.is_production:  # the settings refuse this already; never sign with a dev key
            raise RuntimeError("production needs MEMBERSHIP_SIGNING_KEY_PEM")
        ring = await _development_ring(runtime.database)
    runtime.extras[KEYRING] = ring
    log.info("signing with key", kid=ring.signer.kid, published=len(ring.jwks()["keys"]))


def keyring(runtime: Runtime) -> KeyRing:
    ring: KeyRing = runtime.extras[KEYRING]
    return ring
