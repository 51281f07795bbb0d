"""Access tokens (EdDSA JWTs) and rotating refresh tokens: the key ring that signs them,
login and refresh.

The key ring is loaded once at start-up into the service's state (`MembershipState`).
Production signs with `MEMBERSHIP_SIGNING_KEY_PEM` (and publishes
`MEMBERSHIP_PREVIOUS_SIGNING_KEY_PEM` beside it while tokens it signed may live). Development
and test generate a key once and keep it in `signing_keys`, so every replica and every restart
signs with the same key; a second replica starting at the same moment loses the insert race
(one active key, a unique index) and reads the winner's key.

Login and refresh failures answer 401 with one message, whatever went wrong (unknown email,
wrong password, unknown, used, revoked or expired refresh token), so an answer tells an
attacker nothing.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from chassis.db import Database, as_utc, insert_ignore
from chassis.errors import ProblemError
from chassis.logging import get_logger
from membership_service.adapters.passwords import (
    hash_password,
    needs_rehash,
    verify_password,
    verify_unknown,
)
from membership_service.adapters.signing import KeyRing, SigningKey
from membership_service.config import MembershipSettings
from membership_service.deps import MembershipRuntime
from membership_service.domain.accounts import Role, roles_of
from membership_service.domain.tokens import (
    RefreshOutcome,
    RefreshState,
    hash_refresh_token,
    new_refresh_token,
    refresh_outcome,
)
from membership_service.schemas import LoginRequest, RefreshRequest, TokenPair
from membership_service.service import queries
from membership_service.service.limits import attempt_limiter
from membership_service.tables import (
    REFRESH_TOKENS,
    SIGNING_KEYS,
    CredentialRow,
    MemberRow,
    RefreshTokenRow,
    SigningKeyRow,
)

log = get_logger(__name__)


class InvalidCredentials(ProblemError):
    def __init__(self, detail: str) -> None:
        super().__init__(401, detail, code="invalid-credentials")


BAD_LOGIN = "the email or password is wrong"
BAD_REFRESH = "the refresh token is not valid; log in again"


async def _stored_keys(database: Database) -> list[SigningKeyRow]:
    """Non-retired keys, the active one first."""
    async with database.sessions() as session:
        rows = await session.exec(
            select(SigningKeyRow)
            .where(col(SigningKeyRow.retired_at).is_(None))
            .order_by(col(SigningKeyRow.active).desc(), col(SigningKeyRow.created_at).desc())
        )
        return list(rows.all())


async def _development_keyring(database: Database) -> KeyRing:
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
                    "created_at": datetime.now(UTC),
                },
            )
        log.info("development signing key", kid=key.kid, generated=bool(created))
        rows = await _stored_keys(database)
    keys = [SigningKey.from_pem(row.private_pem, row.kid) for row in rows]
    return KeyRing(keys[0], keys[1:])


def _configured_keyring(settings: MembershipSettings) -> KeyRing | None:
    if settings.signing_key_pem is None:
        return None
    signer = SigningKey.from_pem(
        settings.signing_key_pem.get_secret_value(), settings.signing_key_id
    )
    previous = settings.previous_signing_key_pem
    verifiers = [SigningKey.from_pem(previous.get_secret_value())] if previous else []
    return KeyRing(signer, verifiers)


async def load_keyring(settings: MembershipSettings, database: Database) -> KeyRing:
    """The configured keys, or (development and test only) the key kept in the database."""
    keyring = _configured_keyring(settings)
    if keyring is None:
        if settings.is_production:  # the settings refuse this already; never sign with a dev key
            raise RuntimeError("production needs MEMBERSHIP_SIGNING_KEY_PEM")
        keyring = await _development_keyring(database)
    log.info("signing with key", kid=keyring.signer.kid, published=len(keyring.jwks()["keys"]))
    return keyring


def jwks(runtime: MembershipRuntime) -> dict[str, Any]:
    """The public keys that verify access tokens (RFC 7517)."""
    return runtime.state.keyring.jwks()


async def _issue(
    session: AsyncSession, runtime: MembershipRuntime, member: MemberRow, family_id: str
) -> TokenPair:
    """An access token and the next refresh token of `family_id`, stored as a hash."""
    settings = runtime.settings
    issued_at = datetime.now(UTC)
    refresh_token = new_refresh_token()
    session.add(
        RefreshTokenRow(
            token_hash=hash_refresh_token(refresh_token),
            family_id=family_id,
            member_id=member.id,
            issued_at=issued_at,
            expires_at=issued_at + timedelta(seconds=settings.refresh_ttl_seconds),
        )
    )
    access_token = runtime.state.keyring.access_token(
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        subject=member.id,
        roles=roles_of(Role(member.role)),
        ttl_seconds=settings.access_ttl_seconds,
        now=issued_at,
    )
    return TokenPair(
        access_token=access_token,
        refresh_token=refresh_token,
        expires_in=settings.access_ttl_seconds,
        refresh_expires_in=settings.refresh_ttl_seconds,
    )


async def login(runtime: MembershipRuntime, data: LoginRequest, client: str) -> TokenPair:
    email = data.email.strip().lower()
    limits = attempt_limiter(runtime)
    attempt = await limits.check_login(email, client)
    try:
        async with runtime.database.sessions() as session:
            member = await queries.member_by_email(session, email)
            credential = await session.get(CredentialRow, member.id) if member else None
        if member is None or credential is None:
            valid = await verify_unknown(data.password)
        else:
            valid = await verify_password(credential.password_hash, data.password)
        if not valid or member is None or credential is None:
            await limits.login_failed(email, client)
            log.info("login failed", known=member is not None)
            raise InvalidCredentials(BAD_LOGIN)
        await limits.login_succeeded(email, client)
    finally:  # the outcome is recorded (or there is none): the hold goes
        await limits.release_login(email, client, attempt)
    async with runtime.database.transaction() as session:
        if needs_rehash(credential.password_hash):  # the parameters were raised since
            credential.password_hash = await hash_password(data.password)
            credential.updated_at = datetime.now(UTC)
            session.add(credential)
        pair = await _issue(session, runtime, member, family_id=str(uuid.uuid4()))
    log.info("member logged in", member_id=member.id)
    return pair


async def refresh(runtime: MembershipRuntime, data: RefreshRequest) -> TokenPair:
    """Rotate: the presented token becomes used and the next of its family is issued. A used
    token presented again revokes its whole family (committed, then 401). A token whose family
    was revoked is revoked too, even if the revocation missed it: a logout's revoke does not
    see a token that a refresh running at the same moment issued."""
    token_hash = hash_refresh_token(data.refresh_token)
    now = datetime.now(UTC)
    pair: TokenPair | None = None
    async with runtime.database.transaction() as session:
        row = await session.get(RefreshTokenRow, token_hash, with_for_update=True)
        state = None
        if row is not None:
            revoked = row.revoked_at is not None or await _family_revoked(session, row.family_id)
            state = RefreshState(as_utc(row.expires_at), row.used_at is not None, revoked)
        outcome = refresh_outcome(state, now)
        if row is not None and outcome is RefreshOutcome.ROTATE:
            claimed = await session.exec(
                sa.update(REFRESH_TOKENS)
                .where(
                    REFRESH_TOKENS.c.token_hash == token_hash,
                    REFRESH_TOKENS.c.used_at.is_(None),
                    REFRESH_TOKENS.c.revoked_at.is_(None),
                )
                .values(used_at=now)
            )
            member = await queries.member(session, row.member_id)
            if claimed.rowcount != 1:  # a concurrent refresh used it first
                outcome = RefreshOutcome.REUSED
            elif member is not None:
                pair = await _issue(session, runtime, member, row.family_id)
        if row is not None and outcome is RefreshOutcome.REUSED:
            await _revoke_family(session, row.family_id, now)
            log.warning(
                "refresh token reused: family revoked",
                member_id=row.member_id,
                family_id=row.family_id,
            )
    if pair is None:
        raise InvalidCredentials(BAD_REFRESH)
    return pair


async def logout(runtime: MembershipRuntime, data: RefreshRequest) -> None:
    """End the session the refresh token belongs to: every token of its family is revoked, so
    neither it nor any it was rotated into refreshes again (the access token lives out its 15
    minutes). The same answer whether the token was known, used or revoked: no oracle."""
    token_hash = hash_refresh_token(data.refresh_token)
    async with runtime.database.transaction() as session:
        # Locked as a refresh locks it: a refresh of this token in flight commits its new
        # token first, and the revoke below sees that one too.
        query = (
            sa.select(REFRESH_TOKENS.c.family_id, REFRESH_TOKENS.c.member_id)
            .where(REFRESH_TOKENS.c.token_hash == token_hash)
            .with_for_update()
        )
        family = (await (await session.connection()).execute(query)).first()
        if family is not None:
            await _revoke_family(session, family.family_id, datetime.now(UTC))
            log.info("member logged out", member_id=family.member_id)


async def _family_revoked(session: AsyncSession, family_id: str) -> bool:
    query = (
        sa.select(REFRESH_TOKENS.c.token_hash)
        .where(REFRESH_TOKENS.c.family_id == family_id, REFRESH_TOKENS.c.revoked_at.is_not(None))
        .limit(1)
    )
    return (await (await session.connection()).execute(query)).first() is not None


async def _revoke_family(session: AsyncSession, family_id: str, at: datetime) -> None:
    await session.exec(
        sa.update(REFRESH_TOKENS)
        .where(REFRESH_TOKENS.c.family_id == family_id, REFRESH_TOKENS.c.revoked_at.is_(None))
        .values(revoked_at=at)
    )
