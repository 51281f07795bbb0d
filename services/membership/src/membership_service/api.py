"""Membership routes (the README's "Storefront API" and docs/membership-and-notifications.md).
Parse, authorise, call one use case."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from chassis.auth import Admin, Member
from chassis.deps import IdempotentCreate, create_route
from chassis.forwarding import client_address, forwarded_chain
from membership_service.deps import MembershipRuntime, RuntimeDep
from membership_service.schemas import (
    CouponAdmin,
    CouponCreate,
    LoginRequest,
    Me,
    MemberPublic,
    MemberUpdate,
    RefreshRequest,
    RegisterCreate,
    TokenPair,
)
from membership_service.service import accounts, coupons, tokens

router = APIRouter(prefix="/api/v1")
well_known = APIRouter(tags=["auth"])

NO_STORE = {"Cache-Control": "no-store"}  # token responses (RFC 6749 section 5.1)


def _client(runtime: MembershipRuntime, request: Request) -> str:
    """The client's address; X-Forwarded-For only from MEMBERSHIP_TRUSTED_PROXIES."""
    return client_address(
        request.client.host if request.client else None,
        forwarded_chain(request.headers),
        runtime.settings.trusted_proxies,
    )


@create_route(router, "/auth/register", MemberPublic, tags=["auth"])
async def register(
    runtime: RuntimeDep,
    body: RegisterCreate,
    request: Request,
    create: IdempotentCreate,
) -> JSONResponse:
    client = _client(runtime, request)
    # Outside the idempotent operation: a 429 must not be stored and replayed for a day.
    await accounts.check_registration(runtime, client)
    return await create(
        accounts.registration_scope(body.email),
        body.without_password(),
        lambda: accounts.register(runtime, body, client),
    )


@router.post("/auth/login", response_model=TokenPair, tags=["auth"])
async def login(runtime: RuntimeDep, body: LoginRequest, request: Request) -> JSONResponse:
    pair = await tokens.login(runtime, body, _client(runtime, request))
    return JSONResponse(pair.model_dump(mode="json"), headers=NO_STORE)


@router.post("/auth/refresh", response_model=TokenPair, tags=["auth"])
async def refresh(runtime: RuntimeDep, body: RefreshRequest) -> JSONResponse:
    pair = await tokens.refresh(runtime, body)
    return JSONResponse(pair.model_dump(mode="json"), headers=NO_STORE)


@router.post("/auth/logout", status_code=204, tags=["auth"])
async def logout(runtime: RuntimeDep, body: RefreshRequest) -> Response:
    """Ends the session of `refresh_token` (its family revoked); 204 whether it was known."""
    await tokens.logout(runtime, body)
    return Response(status_code=204)


@router.get("/me", response_model=Me, tags=["storefront"])
async def get_me(runtime: RuntimeDep, principal: Member) -> Me:
    return await accounts.get_me(runtime, principal)


@router.patch("/me", response_model=Me, tags=["storefront"])
async def update_me(runtime: RuntimeDep, principal: Member, body: MemberUpdate) -> Me:
    return await accounts.update_me(runtime, principal, body)


@create_route(router, "/admin/coupons", CouponAdmin, tags=["admin"])
async def issue_coupon(
    runtime: RuntimeDep, admin: Admin, body: CouponCreate, create: IdempotentCreate
) -> JSONResponse:
    return await create(
        f"coupons:{admin.subject}", body, lambda: coupons.issue_by_admin(runtime, body)
    )


@well_known.get("/.well-known/jwks.json")
async def jwks(runtime: RuntimeDep) -> JSONResponse:
    """The public keys that verify access tokens (RFC 7517); verifiers refetch on a new kid."""
    document: dict[str, Any] = tokens.jwks(runtime)
    return JSONResponse(document, headers={"Cache-Control": "public, max-age=300"})
