"""Notification routes: parse, authorise, call the service package; nothing else."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from fastapi.responses import JSONResponse

from chassis.auth import Admin, Member
from chassis.deps import IdempotentCreate, create_route
from chassis.pagination import Page, PageNumber, PageSize
from chassis.validation import Identifier, IdentifierInPath
from notification_service.deps import RuntimeDep
from notification_service.domain.channels import Channel
from notification_service.domain.delivery import DeliveryStatus
from notification_service.schemas import (
    DeliveryAdmin,
    DeliveryPublic,
    PreferencesPublic,
    PreferencesPut,
    WebhookCreate,
    WebhookCreated,
    WebhookPublic,
)
from notification_service.service import preferences, queries, webhooks

router = APIRouter(prefix="/api/v1")


@router.get("/notifications", response_model=Page[DeliveryPublic], tags=["storefront"])
async def my_notifications(
    runtime: RuntimeDep, member: Member, page: PageNumber = 1, size: PageSize = 20
) -> Page[DeliveryPublic]:
    """Messages sent to me, newest first (never anyone else's, admins included)."""
    return await queries.my_deliveries(runtime, member.subject, page=page, size=size)


@router.get("/notifications/preferences", response_model=PreferencesPublic, tags=["storefront"])
async def get_preferences(runtime: RuntimeDep, member: Member) -> PreferencesPublic:
    return await preferences.get_preferences(runtime, member)


@router.put("/notifications/preferences", response_model=PreferencesPublic, tags=["storefront"])
async def put_preferences(
    runtime: RuntimeDep, member: Member, body: PreferencesPut
) -> PreferencesPublic:
    return await preferences.put_preferences(runtime, member, body)


@router.get("/admin/notifications", response_model=Page[DeliveryAdmin], tags=["admin"])
async def all_notifications(
    runtime: RuntimeDep,
    _: Admin,
    member_id: Annotated[Identifier | None, Query(max_length=64)] = None,
    status: DeliveryStatus | None = None,
    channel: Channel | None = None,
    page: PageNumber = 1,
    size: PageSize = 20,
) -> Page[DeliveryAdmin]:
    return await queries.all_deliveries(
        runtime, member_id=member_id, status=status, channel=channel, page=page, size=size
    )


@create_route(router, "/admin/webhooks", WebhookCreated, tags=["admin"])
async def create_webhook(
    runtime: RuntimeDep, admin: Admin, body: WebhookCreate, create: IdempotentCreate
) -> JSONResponse:
    """201 with the signing secret, shown this once (and to a retry with the same key)."""
    return await create(admin.subject, body, lambda: webhooks.create_webhook(runtime, body))


@router.get("/admin/webhooks", response_model=Page[WebhookPublic], tags=["admin"])
async def list_webhooks(
    runtime: RuntimeDep, _: Admin, page: PageNumber = 1, size: PageSize = 20
) -> Page[WebhookPublic]:
    return await webhooks.list_webhooks(runtime, page=page, size=size)


@router.delete(
    "/admin/webhooks/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["admin"]
)
async def delete_webhook(runtime: RuntimeDep, _: Admin, webhook_id: IdentifierInPath) -> Response:
    await webhooks.delete_webhook(runtime, webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
