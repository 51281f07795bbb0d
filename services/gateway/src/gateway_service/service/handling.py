"""Every storefront request, from arrival to answer: the client and the member named, both
rate limits counted, the path read once and routed, the caps checked, then the call forwarded
(`POST /orders` under the flash-sale rules) and product reads joined with availability."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from functools import partial

from fastapi import Request, Response

from chassis.addresses import address_bucket
from chassis.app import request_id_of
from chassis.auth import JwksVerifier, Unauthorized, claimed_subject
from chassis.errors import PROBLEM_BASE, BackingStoreUnavailable, ProblemError
from chassis.forwarding import client_address, forwarded_chain, is_trusted
from gateway_service.config import GatewaySettings
from gateway_service.deps import GatewayRuntime
from gateway_service.service import availability, limits
from gateway_service.service.availability import AvailabilityReads
from gateway_service.service.flash_sale import capped_quantities, is_retry
from gateway_service.service.flash_stock import sold_out
from gateway_service.service.paths import forwarded_query, page_size, parse_path
from gateway_service.service.routing import upstream_for

# What an Idempotency-Key claimed, not read from Redis yet (forward_order reads it itself).
UNREAD = object()

ORDERS_PATH = "/api/v1/orders"
# The order service's 409s on `POST /orders`: another request with this Idempotency-Key is in
# progress (or its record has just expired). The order may exist, as after a timeout.
IN_DOUBT = frozenset(PROBLEM_BASE + code for code in ("idempotency-busy", "idempotency-retry"))
# A request that took a flash sale's units and allowance and got one of those 409s asks again
# after each of these waits (0.75 s in all), to learn whether the copy sent alongside placed the
# order or was refused; still in progress after the last, both stay taken (in doubt).
IN_DOUBT_WAITS = (0.05, 0.1, 0.2, 0.4)
# Headers the gateway reads to decide (the member, the flash-sale claim, the body): a second
# copy could be the one the service acts on, so a request may carry each once (ASGI servers
# hand header names over in lower case).
CHECKED_ONCE = frozenset({b"authorization", b"idempotency-key", b"content-type"})


async def handle(request: Request, runtime: GatewayRuntime) -> Response:
    settings = runtime.settings
    refuse_repeated_headers(request)
    request_id = request_id_of(request.scope)  # chosen by the chassis' RequestObserver
    peer = request.client.host if request.client else "unknown"
    forwarded = forwarded_chain(request.headers)
    client = client_address(peer, forwarded, settings.trusted_proxies)
    body: bytes | None = None
    if runtime.state.flash_stock.remembers_sold_out() and is_order(request):
        body = await read_body(request, settings.max_body_bytes)
        await refuse_late_buyer(request, runtime, client, body)
    member, refused = await verified_member(request, runtime.verifier)
    # Both limits in one Redis round trip. The member is known only once the token is
    # verified, so verification comes first (a cached token costs a lookup, see chassis.auth).
    checks = [client_limit(settings, client)]
    if member is not None:
        per_member = settings.rate_per_member_per_minute
        checks.append(limits.Limit(f"{rate_prefix(settings)}:member:{member}", per_member))
    now = time.time()
    # A retried flash-sale order must pass even once the SKU is sold out: whether its key
    # already claimed is read in this same round trip (forward_order uses it).
    seen = flash_seen_key(request, runtime, member)
    counted = await runtime.state.rates.count_and_read(checks, now, [seen] if seen else [])
    # None: Redis is away and the limits fail open; what the key claimed is then unknown
    # (forward_order asks Redis itself, and a flash-sale order is refused with its 503).
    counts, read = counted or ([], [])
    # The client's limit first: a client over it gets 429 whatever token it sends.
    if counts and (problem := limits.over(checks[0], counts[0], now)):
        raise problem
    if refused is not None:
        raise refused
    if member is not None and counts and (problem := limits.over(checks[1], counts[1], now)):
        raise problem
    path = parse_path(request.scope.get("raw_path") or request.url.path.encode())
    name = upstream_for(path.decoded)
    if name is None:
        raise ProblemError(404, f"no route for {path.forwarded}", code="not-found")
    size = page_size(request.query_params.get("size"))
    if size is not None and size > settings.max_page_size:
        raise ProblemError(
            422, f"size must be at most {settings.max_page_size}", code="page-size-too-large"
        )
    if body is None:
        body = await read_body(request, settings.max_body_bytes)
    query = request.scope.get("query_string", b"")
    target = path.forwarded + (f"?{forwarded_query(query)}" if query else "")
    # The services believe the gateway's X-Forwarded-For; it names the client found above,
    # after the proxies trusted here, and never what an untrusted client wrote.
    forwarded_for = (
        f"{forwarded}, {peer}" if forwarded and is_trusted(peer, settings.trusted_proxies) else peer
    )
    if member is not None and request.method == "POST" and path.decoded == ORDERS_PATH:
        # Not read with the limits (an odd spelling of the path): forward_order asks itself.
        mark = read[0] if seen is not None and counted is not None else UNREAD
        return await forward_order(
            request, runtime, target, body, request_id, forwarded_for, member, mark=mark
        )
    upstreams = runtime.state.upstreams
    response = await upstreams.forward(name, request, target, body, request_id, forwarded_for)
    if response.status_code == 200 and availability.is_product_read(request.method, path.decoded):
        response = await add_availability(response, runtime.state.availability)
    return response


def refuse_repeated_headers(request: Request) -> None:
    """400 for a second copy of a header the gateway decides by (`CHECKED_ONCE`)."""
    seen: set[bytes] = set()
    for name, _ in request.scope["headers"]:
        if name in CHECKED_ONCE:
            if name in seen:
                raise ProblemError(
                    400, f"the {name.decode()} header may be sent once", code="repeated-header"
                )
            seen.add(name)


def is_order(request: Request) -> bool:
    """`POST /orders` by its raw path (an odd spelling of it only misses the shortcuts)."""
    return request.method == "POST" and request.scope.get("raw_path") == ORDERS_PATH.encode()


async def refuse_late_buyer(
    request: Request, runtime: GatewayRuntime, client: str, body: bytes
) -> None:
    """A sale's rush, answered before the token's signature is checked: an order for a SKU
    this process found sold out a moment ago is judged by the units left, read in the client's
    rate limit's round trip (`FlashSaleStock.judge_late_order`): 409 `sold-out` whoever sends
    it while the count is short, unless it is a retry of an order that got through. That is
    read in the same round trip under the member the token claims, unverified: the lookup
    grants nothing (a forged claim that finds a key goes on to the full check below, which
    refuses it), and 2,000 late buyers then cost no Ed25519 verification each (~0.25 ms).
    Returns when the order must take the usual path (a retry, or units back), where its client
    is counted once more."""
    settings, state = runtime.settings, runtime.state
    wanted = capped_quantities(body, settings.flash_sale_limits)
    if state.flash_stock.sold_out(wanted) is None:
        return
    token = bearer_token(request)
    subject = None if token is None else claimed_subject(token)
    key = request.headers.get("idempotency-key")
    seen = [] if subject is None or key is None else [state.flash_sale.seen_key(subject, key)]
    skus = sorted(wanted)
    now = time.time()
    per_client = client_limit(settings, client)
    read_keys = [*seen, *state.flash_stock.keys(skus)]
    counted = await state.rates.count_and_read([per_client], now, read_keys)
    if counted is None:  # Redis away: the usual path decides (a flash-sale order gets its 503)
        return
    counts, read = counted
    if problem := limits.over(per_client, counts[0], now):
        raise problem
    if seen and read[0] is not None:
        return
    gone = state.flash_stock.judge_late_order(wanted, read[len(seen) :])
    if gone is not None:
        raise sold_out(gone)


def flash_seen_key(request: Request, runtime: GatewayRuntime, member: str | None) -> str | None:
    """For what may be a flash-sale order under an Idempotency-Key, the key that says it
    already claimed. Judged on the raw path: an order sent by an odd spelling of it only
    misses this shortcut (forward_order then asks Redis itself)."""
    key = request.headers.get("idempotency-key")
    if member is None or key is None or not runtime.settings.flash_sale_limits:
        return None
    if not is_order(request):
        return None
    return runtime.state.flash_sale.seen_key(member, key)


def rate_prefix(settings: GatewaySettings) -> str:
    return f"{settings.redis_key_prefix}gateway:rate"


def client_limit(settings: GatewaySettings, client: str) -> limits.Limit:
    """Counted per address bucket: an IPv6 client's whole /64 is one client."""
    return limits.Limit(
        f"{rate_prefix(settings)}:client:{address_bucket(client)}",
        settings.rate_per_client_per_minute,
    )


def bearer_token(request: Request) -> str | None:
    authorization = request.headers.get("authorization", "")
    if not authorization.lower().startswith("bearer "):
        return None
    return authorization[7:].strip()


async def verified_member(
    request: Request, verifier: JwksVerifier
) -> tuple[str | None, Unauthorized | None]:
    """The member a bearer token names, or why the token is refused (raised only after the
    client has been counted, so bad tokens cannot dodge the per-client limit). The service
    verifies the same token again (zero trust)."""
    token = bearer_token(request)
    if token is None:
        return None, None
    try:
        principal = await verifier.verify(token)
    except Unauthorized as refused:
        return None, refused
    return principal.subject, None


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes `limit`: a declared Content-Length is
    checked before reading, and a chunked body while it streams (never held whole first)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def add_availability(response: Response, reads: AvailabilityReads) -> Response:
    filled = await availability.with_availability(bytes(response.body), reads)
    if filled is None:
        return response
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    return Response(filled, status_code=200, headers=headers)


async def forward_order(
    request: Request,
    runtime: GatewayRuntime,
    target: str,
    body: bytes,
    request_id: str,
    forwarded_for: str,
    member: str,
    *,
    mark: object = UNREAD,
) -> Response:
    """`POST /orders` under the flash-sale rules: take the units, then the member's allowance,
    forward, and give both back if the order service refuses the order (4xx). Units first: in
    a rush most orders find the SKU sold out, and then cost one round trip, with no allowance
    to claim and give back. A timeout or a 5xx leaves the order unknown (it may exist): both
    stay taken, so a retry under the same Idempotency-Key passes to the service, which replays
    its answer (a 409 for a key in progress is asked again, `outcome`); units also
    come back with the next count from inventory. `mark`: what the Idempotency-Key already
    claimed (`flash_sale.claim_mark`, None: nothing), when the caller read it with the rate
    limits (UNREAD: not read yet). The key sent again with other quantities is a 422."""
    state = runtime.state
    flash_sale, stock = state.flash_sale, state.flash_stock
    wanted = capped_quantities(body, runtime.settings.flash_sale_limits)
    if wanted and state.rates.outage.failing:
        # Redis is away (the rate limits found it so): the allowance cannot be claimed. Said
        # at once, rather than after a connection attempt or a socket timeout per order; the
        # same answer as any route that needs Redis gets.
        raise BackingStoreUnavailable()
    key = request.headers.get("idempotency-key")
    if wanted and mark is UNREAD:
        mark = await flash_sale.mark_of(member, key)
    replay = bool(wanted) and is_retry(None if mark is UNREAD else mark, wanted)
    # The rush after a sell-out is answered from memory (a retry of an order that got
    # through, a replay, passes: its first try took the units).
    gone = stock.sold_out(wanted)
    if gone is not None and not replay:
        raise sold_out(gone)
    claimed = counted = False
    if wanted and not replay:
        counted = await stock.take(wanted)  # 409 when sold out; False: no count (inventory down)
        try:
            # False when this key claimed meanwhile (the same order sent twice at once).
            claimed = await flash_sale.claim(member, wanted, key)
        except BaseException:  # over the member's cap (or Redis gone): the units go back
            if counted:
                await stock.give_back(wanted)
            raise
        if not claimed and counted:
            await stock.give_back(wanted)
            counted = False
    forward = partial(
        state.upstreams.forward, "order", request, target, body, request_id, forwarded_for
    )
    response = await forward()
    if claimed:
        # The same order sent twice at once: the copy that took the units here may reach the
        # service second, while the other is placed or refused. Its answer decides.
        response = await outcome(forward, response)
        if order_refused(response):
            if counted:
                await stock.give_back(wanted)
            await flash_sale.release(member, wanted, key)
    return response


async def outcome(forward: Callable[[], Awaitable[Response]], response: Response) -> Response:
    """The order service's answer once it is not "this key is in progress": asked again after
    each of `IN_DOUBT_WAITS` (the service then replays what the other request got), or the
    last 409 if the key is still in progress."""
    for wait in IN_DOUBT_WAITS:
        if not in_doubt(response):
            break
        await asyncio.sleep(wait)
        response = await forward()
    return response


def in_doubt(response: Response) -> bool:
    """The order service's 409 for a key in progress: the order may exist, as after a timeout."""
    if response.status_code != 409:
        return False
    try:
        kind = json.loads(bytes(response.body)).get("type")
    except (ValueError, AttributeError):
        return False
    return kind in IN_DOUBT


def order_refused(response: Response) -> bool:
    """Whether the order service's answer says no order was placed: a 4xx, but not a 409 that
    says another request with the same key is in progress (`in_doubt`)."""
    return 400 <= response.status_code < 500 and not in_doubt(response)


def _too_large(limit: int) -> ProblemError:
    return ProblemError(413, f"the body may be at most {limit} bytes", code="body-too-large")
