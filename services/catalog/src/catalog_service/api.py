"""Catalog routes: parse, authorise, call one use case; nothing else."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from catalog_service.config import PAGE_SIZE_LIMIT
from catalog_service.deps import RuntimeDep
from catalog_service.domain.products import ProductStatus
from catalog_service.schemas import CategoryPublic, ProductCreate, ProductPatch, ProductPublic
from catalog_service.service import reads, writes
from chassis.auth import Admin, MaybeMember
from chassis.deps import IdempotentCreate, create_route
from chassis.pagination import Page, PageNumber
from chassis.validation import IdentifierInPath, SkuCode, Text

router = APIRouter(prefix="/api/v1")

ProductId = IdentifierInPath
SearchText = Annotated[Text | None, Query(max_length=100)]


class PageParams:
    def __init__(
        self,
        runtime: RuntimeDep,
        page: PageNumber = 1,
        size: Annotated[int, Query(ge=1, le=PAGE_SIZE_LIMIT)] = 20,
    ) -> None:
        # CATALOG_MAX_PAGE_SIZE may lower the documented limit; over it is refused like a
        # size over the limit itself (the same validation problem).
        largest = runtime.settings.max_page_size
        if size > largest:
            raise RequestValidationError(
                [
                    {
                        "loc": ("query", "size"),
                        "msg": f"Input should be less than or equal to {largest}",
                        "type": "less_than_equal",
                    }
                ]
            )
        self.page, self.size = page, size


Paging = Annotated[PageParams, Depends()]


@router.get("/products", response_model=Page[ProductPublic], tags=["storefront"])
async def list_products(
    runtime: RuntimeDep,
    paging: Paging,
    q: SearchText = None,
    category: SearchText = None,
) -> Page[ProductPublic]:
    return await reads.list_products(
        runtime,
        q=q,
        category=category,
        page=paging.page,
        size=paging.size,
        status=ProductStatus.PUBLISHED,
    )


@router.get("/products/{product_id}", response_model=ProductPublic, tags=["storefront"])
async def get_product(
    runtime: RuntimeDep,
    viewer: MaybeMember,
    product_id: ProductId,
    sku: Annotated[SkuCode | None, Query(description="the SKU the shopper picked")] = None,
) -> ProductPublic:
    # The token is optional here: it only names the member in the view's analytics fact.
    return await reads.view_product(runtime, product_id, viewer=viewer, sku=sku)


@router.get("/categories", response_model=list[CategoryPublic], tags=["storefront"])
async def list_categories(runtime: RuntimeDep) -> list[CategoryPublic]:
    return await reads.list_categories(runtime)


@router.get("/admin/products", response_model=Page[ProductPublic], tags=["admin"])
async def admin_list_products(
    runtime: RuntimeDep,
    _: Admin,
    paging: Paging,
    q: SearchText = None,
    category: SearchText = None,
    product_status: Annotated[ProductStatus | None, Query(alias="status")] = None,
) -> Page[ProductPublic]:
    return await reads.list_products(
        runtime, q=q, category=category, page=paging.page, size=paging.size, status=product_status
    )


@router.get("/admin/products/{product_id}", response_model=ProductPublic, tags=["admin"])
async def admin_get_product(runtime: RuntimeDep, _: Admin, product_id: ProductId) -> ProductPublic:
    return await reads.get_product(runtime, product_id, published_only=False)


@create_route(router, "/admin/products", ProductPublic, tags=["admin"])
async def create_product(
    runtime: RuntimeDep,
    admin: Admin,
    body: ProductCreate,
    request: Request,
    create: IdempotentCreate,
) -> JSONResponse:
    response = await create(admin.subject, body, lambda: writes.create_product(runtime, body))
    product_id = json.loads(bytes(response.body))["id"]
    response.headers["Location"] = f"{request.url.path}/{product_id}"
    return response


@router.patch("/admin/products/{product_id}", response_model=ProductPublic, tags=["admin"])
async def update_product(
    runtime: RuntimeDep, _: Admin, product_id: ProductId, body: ProductPatch
) -> ProductPublic:
    return await writes.update_product(runtime, product_id, body)


@router.post("/admin/products/{product_id}/publish", response_model=ProductPublic, tags=["admin"])
async def publish_product(runtime: RuntimeDep, _: Admin, product_id: ProductId) -> ProductPublic:
    return await writes.change_status(runtime, product_id, "publish")


@router.post("/admin/products/{product_id}/unpublish", response_model=ProductPublic, tags=["admin"])
async def unpublish_product(runtime: RuntimeDep, _: Admin, product_id: ProductId) -> ProductPublic:
    return await writes.change_status(runtime, product_id, "unpublish")
