"""The gateway's routes: every `/api/v1` request (and the operators' `/ops` page) is checked,
limited, then forwarded (service/handling.py); `/openapi.json` merges the services' documents,
`/docs` renders it."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from gateway_service.deps import RuntimeDep, runtime
from gateway_service.service.handling import handle
from gateway_service.service.openapi import merged_openapi

router = APIRouter()


@router.get("/openapi.json", include_in_schema=False)
async def openapi(running: RuntimeDep) -> JSONResponse:
    upstreams = running.state.upstreams
    return JSONResponse(await merged_openapi(upstreams.client, upstreams.urls))


@router.get("/docs", include_in_schema=False)
async def docs() -> HTMLResponse:
    return get_swagger_ui_html(openapi_url="/openapi.json", title="Storefront API")


@router.api_route(
    "/api/v1/{path:path}",
    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
)
async def route(request: Request) -> Response:
    return await handle(request, runtime(request))


# The operators' dashboard (analytics serves it): read-only, so GET alone. It passes through
# the same handling as the API (rate limits, path checks) and nothing else.
@router.get("/ops", include_in_schema=False)
@router.get("/ops/{path:path}", include_in_schema=False)
async def dashboard(request: Request) -> Response:
    return await handle(request, runtime(request))
