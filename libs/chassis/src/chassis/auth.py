"""Bearer tokens: JWTs verified against a JWKS URL with a pinned algorithm list.

Keys are cached and refetched when a token names an unknown `kid` (key rotation), at most
once per `min_refresh_seconds`, so a flood of forged kids cannot hammer the JWKS endpoint.

A verified token is remembered (a bounded LRU keyed by the token string) with its principal,
its `exp` and the key that verified it: the same token again costs a dictionary lookup instead
of an Ed25519 verification (the gateway and then the service see every token on every
request). An entry is used only while `exp` is in the future (no leeway: a token past it goes
through the full check again) and while its key is still the one in the key set, so a key
that rotation removed or replaced stops its cached tokens too.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from chassis.errors import ProblemError
from chassis.logging import get_logger

log = get_logger(__name__)

ADMIN = "admin"
CUSTOMER = "customer"


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    roles: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles


class Unauthorized(ProblemError):
    def __init__(self, detail: str) -> None:
        super().__init__(
            401,
            detail,
            code="unauthorized",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )


class Forbidden(ProblemError):
    def __init__(self, detail: str = "this needs the admin role") -> None:
        super().__init__(403, detail, code="forbidden")


class JwksVerifier:
    def __init__(
        self,
        jwks_url: str,
        *,
        issuer: str,
        audience: str,
        algorithms: list[str],
        min_refresh_seconds: float = 10.0,
        leeway_seconds: float = 5.0,
        cache_size: int = 10_000,
    ) -> None:
        self.jwks_url = jwks_url
        self.issuer = issuer
        self.audience = audience
        self.algorithms = algorithms
        self.min_refresh_seconds = min_refresh_seconds
        self.leeway_seconds = leeway_seconds
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()
        self.cache_size = cache_size
        self._verified: OrderedDict[str, _Verified] = OrderedDict()

    async def _refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._fetched_at < self.min_refresh_seconds:
                return
            self._fetched_at = time.monotonic()
            try:
                async with httpx.AsyncClient(timeout=3.0) as client:
                    response = await client.get(self.jwks_url)
                    response.raise_for_status()
                    document: dict[str, Any] = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                log.warning("JWKS fetch failed", url=self.jwks_url, error=str(exc))
                return
            keys = {}
            for jwk in document.get("keys", []):
                try:
                    keys[jwk.get("kid", "")] = jwt.PyJWK(jwk)
                except jwt.PyJWTError as exc:
                    log.warning("ignoring unusable JWK", kid=jwk.get("kid"), error=str(exc))
            self._keys = keys

    async def _key(self, kid: str) -> jwt.PyJWK:
        if kid not in self._keys:
            await self._refresh()
        try:
            return self._keys[kid]
        except KeyError:
            raise Unauthorized("token signed with an unknown key") from None

    async def verify(self, token: str) -> Principal:
        cached = self._verified.get(token)
        if cached is not None:
            if time.time() < cached.expires_at and self._keys.get(cached.kid) is cached.key:
                self._verified.move_to_end(token)
                return cached.principal
            del self._verified[token]
        signing_input, header, payload, signature = _split(token)
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise Unauthorized("token algorithm is not accepted")
        kid = str(header.get("kid", ""))
        key = await self._key(kid)
        # The key's own algorithm decides (no confusion between key types), and PyJWT's
        # implementation of it checks the signature.
        if alg != key.algorithm_name or not key.Algorithm.verify(signing_input, key.key, signature):
            raise Unauthorized("invalid token: signature verification failed")
        claims = self._checked_claims(payload)
        roles = claims.get("roles") or []
        if not isinstance(roles, list):
            raise Unauthorized("invalid token: roles must be a list")
        principal = Principal(subject=str(claims["sub"]), roles=frozenset(map(str, roles)))
        self._remember(token, _Verified(principal, float(claims["exp"]), kid, key))
        return principal

    def _checked_claims(self, payload: bytes) -> dict[str, Any]:
        """The claims of a token whose signature holds, once `exp`, `iss`, `aud` and `sub` are
        there and right and `nbf`/`iat` (when present) are not in the future, within the
        leeway. (One parse of the token, here and in `_split`: PyJWT's decode parsed it twice
        and cost as much again as the Ed25519 check itself.)"""
        try:
            claims = json.loads(payload)
        except ValueError:
            raise Unauthorized("malformed token") from None
        if not isinstance(claims, dict):
            raise Unauthorized("malformed token")
        for required in ("exp", "iss", "aud", "sub"):
            if required not in claims:
                raise Unauthorized(f'invalid token: it has no "{required}" claim')
        now = time.time()
        times = {name: claims[name] for name in ("exp", "nbf", "iat") if name in claims}
        if any(isinstance(v, bool) or not isinstance(v, int | float) for v in times.values()):
            raise Unauthorized("invalid token: exp, nbf and iat must be numbers")
        if now > times["exp"] + self.leeway_seconds:
            raise Unauthorized("token expired")
        if any(now < times[n] - self.leeway_seconds for n in ("nbf", "iat") if n in times):
            raise Unauthorized("invalid token: not valid yet")
        if claims["iss"] != self.issuer:
            raise Unauthorized("invalid token: wrong issuer")
        audience = claims["aud"]
        audiences = audience if isinstance(audience, list) else [audience]
        if self.audience not in audiences:
            raise Unauthorized("invalid token: wrong audience")
        return claims

    def _remember(self, token: str, verified: _Verified) -> None:
        if self.cache_size <= 0:
            return
        self._verified[token] = verified
        self._verified.move_to_end(token)
        while len(self._verified) > self.cache_size:
            self._verified.popitem(last=False)


def claimed_subject(token: str) -> str | None:
    """The `sub` a token claims, NOT verified (None when it names none or is not a JWT): for a
    lookup that grants nothing whoever asks, such as whether a key was seen, where a signature
    check would cost more than the answer (an Ed25519 verification is ~0.25 ms)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(_base64url(parts[1]))
    except _UNREADABLE:
        return None
    subject = claims.get("sub") if isinstance(claims, dict) else None
    return subject if isinstance(subject, str) and subject else None


def _split(token: str) -> tuple[bytes, dict[str, Any], bytes, bytes]:
    """A compact JWS read once: what was signed, the header, the payload and the signature."""
    parts = token.split(".")
    if len(parts) != 3:
        raise Unauthorized("malformed token")
    try:
        header = json.loads(_base64url(parts[0]))
        payload, signature = _base64url(parts[1]), _base64url(parts[2])
    except _UNREADABLE:
        raise Unauthorized("malformed token") from None
    if not isinstance(header, dict):
        raise Unauthorized("malformed token")
    return f"{parts[0]}.{parts[1]}".encode(), header, payload, signature


# What a token part that is not base64url JSON raises; RecursionError: JSON nested a thousand
# deep, which fits in 1.4 KB of token.
_UNREADABLE = (ValueError, binascii.Error, RecursionError)


def _base64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text.encode("ascii") + b"=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class _Verified:
    """A token that passed every check: who it names, until when, and under which key."""

    principal: Principal
    expires_at: float
    kid: str
    key: jwt.PyJWK


_bearer = HTTPBearer(auto_error=False)


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("a bearer token is required")
    verifier: JwksVerifier = request.app.state.runtime.verifier
    return await verifier.verify(credentials.credentials)


async def optional_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal | None:
    if credentials is None:
        return None
    return await current_principal(request, credentials)


async def admin_principal(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if not principal.is_admin:
        raise Forbidden()
    return principal


Member = Annotated[Principal, Depends(current_principal)]
Admin = Annotated[Principal, Depends(admin_principal)]
MaybeMember = Annotated[Principal | None, Depends(optional_principal)]
