"""The upstream client: one request forwarded to its service over pooled connections, with a
timeout, a circuit breaker per service and load shedding.

The forward path runs on aiohttp: `bench/upstream_client.py` measured it at a fraction of
httpx's CPU per call (README, Performance), and so do the product pages' availability reads
(service/availability.py); the OpenAPI and AsyncAPI merges keep the httpx client
(`Upstreams.client`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import aiohttp
import httpx
from fastapi import Request, Response
from yarl import URL

from chassis.errors import ProblemError
from chassis.telemetry import current_traceparent
from gateway_service.adapters.admission import Admission

# A service's answers that say it is away, overloaded or cut off from its database (the
# chassis answers 503; a proxy in front of it 502 or 504): what the breaker counts.
UNAVAILABLE_STATUSES = frozenset({502, 503, 504})

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
        "expect",  # the body is already read: the service need not ask for it
        "host",
        "content-length",
        "content-encoding",  # the client hands over the decoded body
        "traceparent",
        "tracestate",
    }
)


@dataclass
class CircuitBreaker:
    """Closed: calls pass. After `failures` consecutive failures: open for `reset_seconds`,
    calls fail at once. Then half-open: one call (the trial) goes through while the others
    still fail at once; its success closes the breaker, its failure opens it again. A trial
    that never reports back (cancelled, shed) is replaced after another `reset_seconds`."""

    failures: int
    reset_seconds: float
    consecutive: int = 0
    opened_at: float | None = None
    trial_at: float | None = None

    def allows(self, now: float) -> bool:
        """Whether a call may go; while half-open, True only for the one that becomes the
        trial (the caller must `record` its outcome)."""
        if self.opened_at is None:
            return True
        if now - self.opened_at < self.reset_seconds:
            return False
        if self.trial_at is not None and now - self.trial_at < self.reset_seconds:
            return False  # a trial is in flight
        self.trial_at = now
        return True

    def record(self, ok: bool, now: float) -> None:
        if ok:
            self.consecutive, self.opened_at, self.trial_at = 0, None, None
            return
        self.consecutive += 1
        if self.consecutive >= self.failures or self.opened_at is not None:
            self.opened_at, self.trial_at = now, None

    def retry_after(self, now: float) -> int:
        if self.opened_at is None:
            return 0
        if self.trial_at is not None:
            return 1  # the trial decides soon
        return max(1, int(self.reset_seconds - (now - self.opened_at)) + 1)


@dataclass
class Upstreams:
    urls: dict[str, str]
    client: httpx.AsyncClient  # the OpenAPI and AsyncAPI merges
    session: aiohttp.ClientSession  # the forward path and availability reads
    failures: int
    reset_seconds: float
    # Calls in flight to one service at most; beyond it a call waits its turn up to
    # `queue_seconds` (at most `max_queued` waiting), else it is shed (503 with Retry-After)
    # before any work starts, never queued into a timeout after the work was done.
    max_in_flight: int = 64
    max_queued: int = 256
    queue_seconds: float = 2.0
    breakers: dict[str, CircuitBreaker] = field(default_factory=dict)
    admissions: dict[str, Admission] = field(default_factory=dict)

    def breaker(self, name: str) -> CircuitBreaker:
        breaker = self.breakers.get(name)  # not setdefault: no breaker built per request
        if breaker is None:
            breaker = self.breakers[name] = CircuitBreaker(self.failures, self.reset_seconds)
        return breaker

    def admission(self, name: str) -> Admission:
        admission = self.admissions.get(name)
        if admission is None:
            admission = Admission(self.max_in_flight, self.max_queued, self.queue_seconds)
            self.admissions[name] = admission
        return admission

    async def forward(
        self,
        name: str,
        request: Request,
        target: str,
        body: bytes,
        request_id: str,
        forwarded_for: str,
    ) -> Response:
        """Send the request to `name` at exactly `target`, its path and query already encoded
        (gateway_service.service.paths; never normalised again). `forwarded_for` is the
        X-Forwarded-For the service may believe from the gateway."""
        breaker = self.breaker(name)
        now = time.monotonic()
        if not breaker.allows(now):
            raise _unavailable(name, breaker.retry_after(now))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in DROP}
        headers["x-request-id"] = request_id
        headers["x-forwarded-for"] = forwarded_for
        if traceparent := current_traceparent():
            headers["traceparent"] = traceparent
        # encoded=True: the path and query go out exactly as built, never normalised again (no
        # dot-segment removal, no re-quoting).
        url = URL(self.urls[name] + target, encoded=True)
        admission = self.admission(name)
        if not await admission.enter():
            raise _overloaded(name)
        try:
            async with self.session.request(
                request.method, url, data=body or None, headers=headers
            ) as upstream:
                content = await upstream.read()
                status = upstream.status
                received = upstream.headers.items()
        except aiohttp.InvalidURL as exc:  # the client's URL, not the service's failure
            raise ProblemError(400, f"the URL is not valid: {exc}", code="bad-url") from None
        except (aiohttp.ClientError, TimeoutError):
            breaker.record(False, time.monotonic())
            raise _unavailable(name, breaker.retry_after(time.monotonic()) or 1) from None
        finally:
            admission.leave()
        # Only the service's own unavailability counts: a client's 4xx says nothing about its
        # health, nor does a 500 (a bug one input may trigger: one client could otherwise open
        # the breaker for everyone). Down, overloaded or without its database, a service
        # answers 503 (the chassis), or its proxy 502/504, or nothing.
        breaker.record(status not in UNAVAILABLE_STATUSES, time.monotonic())
        passed: dict[str, str] = {}
        for key, value in received:
            if key.lower() in DROP or self._internal_location(key, value):
                continue
            # A repeated header becomes one, comma-joined (as the httpx client gave it).
            passed[key] = f"{passed[key]}, {value}" if key in passed else value
        return Response(content, status_code=status, headers=passed)

    def _internal_location(self, header: str, value: str) -> bool:
        """A redirect to a service's own address is never passed to the client."""
        return header.lower() == "location" and any(
            value.startswith(url) for url in self.urls.values()
        )


def _overloaded(name: str) -> ProblemError:
    return ProblemError(
        503,
        f"the {name} service is at capacity; retry shortly",
        code="overloaded",
        headers={"Retry-After": "1"},
    )


def _unavailable(name: str, retry_after: int) -> ProblemError:
    return ProblemError(
        503,
        f"the {name} service is unavailable; retry later",
        code="upstream-unavailable",
        headers={"Retry-After": str(retry_after)},
    )
