"""Forwarding one request to its service: pooled connections, timeouts, a breaker each."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import httpx
from fastapi import Request, Response

from chassis.errors import ProblemError
from chassis.telemetry import current_traceparent
from gateway_service.routing import CircuitBreaker

# Hop-by-hop headers (RFC 9110 section 7.6.1) and ones the gateway sets itself.
DROP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "content-encoding",  # httpx hands over the decoded body
        "traceparent",
        "tracestate",
    }
)


@dataclass
class Upstreams:
    urls: dict[str, str]
    client: httpx.AsyncClient
    failures: int
    reset_seconds: float
    breakers: dict[str, CircuitBreaker] = field(default_factory=dict)

    def breaker(self, name: str) -> CircuitBreaker:
        return self.breakers.setdefault(name, CircuitBreaker(self.failures, self.reset_seconds))

    async def forward(self, name: str, request: Request, body: bytes, request_id: str) -> Response:
        breaker = self.breaker(name)
        now = time.monotonic()
        if not breaker.allows(now):
            raise _unavailable(name, breaker.retry_after(now))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in DROP}
        headers["x-request-id"] = request_id
        client_host = request.client.host if request.client else ""
        forwarded = request.headers.get("x-forwarded-for")
        headers["x-forwarded-for"] = f"{forwarded}, {client_host}" if forwarded else client_host
        if traceparent := current_traceparent():
            headers["traceparent"] = traceparent
        try:
            upstream = await self.client.request(
                request.method,
                self.urls[name] + request.url.path,
                params=request.query_params,
                content=body,
                headers=headers,
            )
        except httpx.HTTPError:
            breaker.record(False, time.monotonic())
            raise _unavailable(name, breaker.retry_after(time.monotonic()) or 1) from None
        breaker.record(upstream.status_code < 500, time.monotonic())
        return Response(
            upstream.content,
            status_code=upstream.status_code,
            headers={k: v for k, v in upstream.headers.items() if k.lower() not in DROP},
        )


def _unavailable(name: str, retry_after: int) -> ProblemError:
    return ProblemError(
        503,
        f"the {name} service is unavailable; retry later",
        code="upstream-unavailable",
        headers={"Retry-After": str(retry_after)},
    )
