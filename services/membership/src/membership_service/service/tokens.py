"""Login and refresh: access tokens (EdDSA JWTs) with rotating refresh tokens.

Failures answer 401 with one message, whatever went wrong (unknown email, wrong password,
unknown, used, revoked or expired refresh token), so an answer tells an attacker nothing.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from chassis.errors import ProblemError
from chassis.logging import get_logger
from chassis.runtime import Runtime
from membership_service.domain import (
    RefreshOutcome,
    RefreshState,
    Role,
    hash_refresh_token,
    new_refresh_token,
    refresh_outcome,
    roles_of,
)
from membership_service.schemas import LoginRequest, RefreshRequest, TokenPair
from membership_service.security import (
    hash_password,
    needs_rehash,
    verify_password,
    verify_unknown,
)
from membership_service.service import store
from membership_service.service.keys import keyring
from membership_service.service.limits import attempt_limiter
from membership_service.tables import REFRESH_TOKENS, CredentialRow, MemberRow, RefreshTokenRow

log = get_logger(__name__)


class InvalidCredentials(ProblemError):
    def __init__(self, detail: str) -> None:
        super().__init__(401, detail, code="invalid-credentials")


BAD_LOGIN = "the email or password is wrong"
BAD_REFRESH = "the refresh token is not valid; log in again"


async def _issue(
    session: AsyncSession, runtime: Runtime, member: MemberRow, family_id: str
) -> TokenPair:
    """An access token and the next refresh token of `family_id`, stored as a hash."""
    settings = store.settings_of(runtime)
    at = store.now()
    refresh_token = new_refresh_token()
    session.add(
        RefreshTokenRow(
            token_hash=hash_refresh_token(refresh_token),
            family_id=family_id,
            member_id=member.id,
            issued_at=at,
            expires_at=at + timedelta(seconds=settings.refresh_ttl_seconds),
        )
    )
    access_token = keyring(runtime).access_token(
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        subject=member.id,
        roles=roles_of(Role(member.role)),
        ttl_seconds=settings.access_ttl_seconds,
        now=at,
    )
    return TokenPair(
        access_token=access_token,
        refresh_token=refresh_token,
        expires_in=settings.access_ttl_seconds,
        refresh_expires_in=settings.refresh_ttl_seconds,
    )


async def login(runtime: Runtime, data: LoginRequest, client: str) -> TokenPair:
    email = data.email.strip().lower()
    limits = attempt_limiter(runtime)
    await limits.check_login(email, client)
    async with runtime.database.sessions() as session:
        member = await store.member_by_email(session, email)
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
    async with runtime.database.transaction() as session:
        if needs_rehash(credential.password_hash):  # the parameters were raised since
            credential.password_hash = await hash_password(data.password)
            credential.updated_at = store.now()
            session.add(credential)
        pair = await _issue(session, runtime, member, family_id=str(uuid.uuid4()))
    log.info("member logged in", member_id=member.id)
    return pair


async def refresh(runtime: Runtime, data: RefreshRequest) -> TokenPair:
    """Rotate: the presented token becomes used and the next of its family is issued. A used
    token presented again revokes its whole family (committed, then 401)."""
    token_hash = hash_refresh_token(data.refresh_token)
    at = store.now()
    pair: TokenPair | None = None
    async with runtime.database.transaction() as session:
        row = await session.get(RefreshTokenRow, token_hash, with_for_update=True)
        state = None
        if row is not None:
            state = RefreshState(
                store.utc(row.expires_at), row.used_at is not None, row.revoked_at is not None
            )
        outcome = refresh_outcome(state, at)
        if row is not None and outcome is RefreshOutcome.ROTATE:
            claimed = await session.exec(
                sa.update(REFRESH_TOKENS)
                .where(
                    REFRESH_TOKENS.c.token_hash == token_hash,
                    REFRESH_TOKENS.c.used_at.is_(None),
                    REFRESH_TOKENS.c.revoked_at.is_(None),
                )
                .values(used_at=at)
            )
            member = await store.member(session, row.member_id)
            if claimed.rowcount != 1:  # a concurrent refresh used it first
                outcome = RefreshOutcome.REUSED
            elif member is not None:
                pair = await _issue(session, runtime, member, row.family_id)
        if row is not None and outcome is RefreshOutcome.REUSED:
            await session.exec(
                sa.update(REFRESH_TOKENS)
                .where(
                    REFRESH_TOKENS.c.family_id == row.family_id,
                    REFRESH_TOKENS.c.revoked_at.is_(None),
                )
                .values(revoked_at=at)
            )
            log.warning(
                "refresh token reused: family revoked",
                member_id=row.member_id,
                family_id=row.family_id,
            )
    if pair is None:
        raise InvalidCredentials(BAD_REFRESH)
    return pair
