"""Lots, trace codes and recalls through the whole suite, started as `make run` starts it
(tools.launched) on fresh PostgreSQL databases, the local Redis and the launcher's broker: a
recall in the middle of a load of orders (then its lot disposed of), the v1 and v2 consumers of
`inventory.stock.committed` over the same orders, a recalled item returned after the window,
and the public trace lookup through the gateway. Every request goes through the gateway; the
databases are read to check what no route shows (allocations, deliveries, invariants)."""

from __future__ import annotations

import asyncio
import mailbox
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from chassis.producer import EventProducer
from chassis.testing.infra import DatabaseFactory
from chassis.testing.kafka import header, read_records
from chassis.testing.polling import eventually
from chassis.testing.serving import serve_app
from gateway_service.config import GatewaySettings
from gateway_service.main import create_app as create_gateway
from shared_events import from_kafka, to_kafka
from shared_events.inventory import RecallCustomerAffectedV1
from shared_events.topics import INVENTORY_EVENTS
from tests.e2e.conftest import ADDRESS
from tests.e2e.storefront import invariants
from tests.e2e.storefront.conftest import (
    DATABASES,
    PROBLEM,
    SUITE_ENV,
    Member,
    Storefront,
    unique,
)
from tools.invariants import DRAINED
from tools.launched import launched_suite

pytestmark = pytest.mark.integration

# Returns close at delivery (0 days): only a recalled order can still be returned. A card
# that fails twice (tok_processingError) keeps its order reserved for about 2 s.
LOTS_ENV = {
    **SUITE_ENV,
    "ORDER_RETURN_WINDOW_DAYS": "0",
    "PAYMENT_PROVIDER_BACKOFF_SECONDS": "0.6",
}
TODAY = datetime.now(UTC).date()
RECALL_NOTICE = "recall_notice"
RECALLED = "RECALLED"
INVENTORY_DLQ = f"{INVENTORY_EVENTS}.dlq"


@pytest.fixture(scope="module")
async def shop(
    create_database: DatabaseFactory, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Storefront]:
    """The launched suite of tests/e2e/storefront, with the order service's return window at
    0 days."""
    databases = {name: await create_database(name) for name in DATABASES}
    engines = {name: create_async_engine(url, pool_size=2) for name, url in databases.items()}
    data_dir = tmp_path_factory.mktemp("lots")
    try:
        with launched_suite(
            data_dir, databases=databases, redis_url=redis_url, extra_env=LOTS_ENV
        ) as suite:
            async with httpx.AsyncClient(
                base_url=suite.gateway, timeout=30, trust_env=False
            ) as http:
                storefront = Storefront(http=http, suite=suite, engines=engines)
                storefront.admin = await storefront.login(suite.admin_email, suite.admin_password)
                yield storefront
    finally:
        for engine in engines.values():
            await engine.dispose()


# ---- making things ----------------------------------------------------------------------


async def ok(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    """The JSON object of an answer with one of `statuses` (200 by default)."""
    assert response.status_code in (statuses or (200,)), response.text
    body: dict[str, Any] = response.json()
    return body


async def food_sku(shop: Storefront, *, price: int, name: str) -> str:
    """A published tea (a food category) with one new SKU and no stock yet."""
    sku = unique("LOT").upper()
    body = {
        "name": f"{name} {sku}",
        "category": "tea",
        "skus": [{"sku": sku, "price": {"amount": price, "currency": "CNY"}}],
        "food": {"shelf_life_days": 365, "storage_class": "AMBIENT"},
    }
    created = await ok(
        await shop.http.post("/api/v1/admin/products", json=body, headers=shop.admin), 201
    )
    await ok(
        await shop.http.post(f"/api/v1/admin/products/{created['id']}/publish", headers=shop.admin)
    )
    return sku


async def receive(shop: Storefront, sku: str, lot: str, quantity: int, expires_in: int) -> None:
    body = {
        "lot": lot,
        "quantity": quantity,
        "origin": {"country": "CN", "region": "Fujian", "producer": "Wuyi Tea Cooperative"},
        "production_date": (TODAY - timedelta(days=10)).isoformat(),
        "expiry_date": (TODAY + timedelta(days=expires_in)).isoformat(),
        "storage_class": "AMBIENT",
        "inspection_ref": f"CIQ-{lot}",
        "inspected_at": (datetime.now(UTC) - timedelta(days=5)).isoformat(),
    }
    await ok(
        await shop.http.post(f"/api/v1/admin/inventory/{sku}/lots", json=body, headers=shop.admin),
        201,
    )


async def for_sale(shop: Storefront, sku: str, member: Member) -> None:
    """Until the order service sells `sku` (its read model heard of the product)."""
    await shop.add_to_cart(member, sku)
    emptied = await shop.http.delete(f"/api/v1/cart/items/{sku}", headers=member.headers)
    assert emptied.status_code in (200, 204), emptied.text


async def register(
    shop: Storefront, name: str, *, locale: str = "en", phone: str | None = None
) -> Member:
    """A member registered through the gateway. With `phone`: the number notification sends
    SMS to, carried by `membership.member.registered`; waits until notification holds it."""
    email, password = f"{unique(name.lower())}@example.com", "a long recall password"
    body = {"email": email, "password": password, "name": name, "locale": locale}
    registered = await shop.http.post(
        "/api/v1/auth/register", json=body | ({"phone": phone} if phone else {})
    )
    member_id = (await ok(registered, 201))["id"]
    member = Member(member_id, email, await shop.login(email, password))
    if phone is not None:

        async def phone_known() -> str | None:
            async with shop.engines["notification"].connect() as conn:
                found = await conn.execute(
                    sa.text("SELECT phone FROM recipients WHERE member_id = :m"),
                    {"m": member_id},
                )
                value: str | None = found.scalar()
                return value

        assert await eventually(phone_known, lambda known: known == phone) == phone
    return member


async def welcome_coupon(shop: Storefront, member: Member) -> str:
    profile = await eventually(
        lambda: shop.get_json("/api/v1/me", member),
        lambda me: any(c["kind"] == "WELCOME_GIFT" for c in me["coupons"]),
        every=0.5,
    )
    return str(next(c["code"] for c in profile["coupons"] if c["kind"] == "WELCOME_GIFT"))


def lines(*items: tuple[str, int]) -> list[dict[str, Any]]:
    return [{"sku": sku, "quantity": quantity} for sku, quantity in items]


async def place(shop: Storefront, member: Member, items: list[dict[str, Any]], **extra: Any) -> str:
    """An accepted order; with a coupon, retried until the order service knows the coupon
    (it hears of it through an event)."""
    first = items[0]["sku"]
    placed = await eventually(
        lambda: shop.place(member, first, items=items, **extra),
        lambda r: r.status_code == 202,
        timeout=15,
        every=0.3,
    )
    assert placed.status_code == 202, placed.text
    return str(placed.json()["order_id"])


async def states(shop: Storefront, order_ids: list[str]) -> dict[str, tuple[str, str | None]]:
    async with shop.connect("order") as conn:
        return await invariants.order_states(conn, order_ids)


async def until_settled(shop: Storefront, order_ids: list[str], timeout: float = 60) -> None:
    """Every order terminal, its stock and money settled or compensated (read in the
    databases, so that polling costs no request against the members' rate limits)."""

    async def unsettled() -> dict[str, Any]:
        async with (
            shop.connect("order") as order,
            shop.connect("inventory") as inventory,
            shop.connect("payment") as payment,
        ):
            return await invariants.unsettled_orders(order, inventory, payment, order_ids)

    assert await eventually(unsettled, lambda found: not found, timeout=timeout) == {}


async def until_confirmed(shop: Storefront, order_ids: list[str]) -> None:
    await until_settled(shop, order_ids)
    found = await states(shop, order_ids)
    assert {found[o] for o in order_ids} == {("CONFIRMED", None)}, found
    await until_lots_known(shop, order_ids)


async def until_lots_known(shop: Storefront, order_ids: list[str]) -> None:
    """Until the order service (which reads commits as v2, and re-allocations) holds for each
    order exactly the lots and trace codes inventory committed to it."""

    async def lots(service: str, sql: str) -> set[tuple[str, str, str, int, str]]:
        found = await rows(shop, service, sql, ids=order_ids)
        return {(str(o), str(s), str(lot), int(q), str(c)) for o, s, lot, q, c in found}

    async def mismatch() -> set[tuple[str, str, str, int, str]]:
        committed = await lots(
            "inventory",
            "SELECT order_id, sku, lot, quantity, trace_code FROM allocations "
            "WHERE order_id IN :ids AND status = 'COMMITTED'",
        )
        known = await lots(
            "order",
            "SELECT order_id, sku, lot, quantity, trace_code FROM order_line_allocations "
            "WHERE order_id IN :ids",
        )
        return committed ^ known

    assert await eventually(mismatch, lambda found: not found) == set()


async def admin_move(shop: Storefront, order_id: str, *actions: str) -> None:
    for action in actions:
        await ok(
            await shop.http.post(f"/api/v1/admin/orders/{order_id}/{action}", headers=shop.admin),
            202,
        )


async def rows(shop: Storefront, service: str, sql: str, **params: Any) -> list[Any]:
    query = sa.text(sql)
    for name, value in params.items():
        if isinstance(value, list | tuple):
            query = query.bindparams(sa.bindparam(name, expanding=True))
    async with shop.connect(service) as conn:
        return list((await conn.execute(query, params)).all())


async def until_custody(shop: Storefront, order_ids: list[str], column: str) -> None:
    """Until inventory has recorded `column` (shipped_at, delivered_at) for the orders."""

    async def missing() -> int:
        found = await rows(
            shop,
            "inventory",
            f"SELECT count(*) FROM allocations WHERE order_id IN :ids "  # noqa: S608 - a column name
            f"AND status = 'COMMITTED' AND {column} IS NULL",
            ids=order_ids,
        )
        return int(found[0][0])

    assert await eventually(missing, lambda n: n == 0) == 0


async def until_held(shop: Storefront, order_id: str, sku: str, lot: str) -> None:
    """Until the order holds units of `lot` (reserved, not committed)."""

    async def held() -> list[Any]:
        return await rows(
            shop,
            "inventory",
            "SELECT status FROM allocations WHERE order_id = :o AND sku = :sku AND lot = :lot",
            o=order_id,
            sku=sku,
            lot=lot,
        )

    found = await eventually(held, lambda found: bool(found), every=0.02)
    assert [r[0] for r in found] == ["HELD"], found


async def order_of(shop: Storefront, order_id: str) -> dict[str, Any]:
    return await ok(await shop.http.get(f"/api/v1/orders/{order_id}", headers=shop.admin))


def trace_of(order: dict[str, Any], sku: str) -> list[dict[str, Any]]:
    (item,) = [i for i in order["items"] if i["sku"] == sku]
    result: list[dict[str, Any]] = item["trace"]
    return result


async def public_trace(shop: Storefront, code: str) -> dict[str, Any]:
    return await ok(await shop.http.get(f"/api/v1/trace/{code}"))


async def recall(shop: Storefront, sku: str, lot: str, reason: str) -> dict[str, Any]:
    return await ok(
        await shop.http.post(
            f"/api/v1/admin/inventory/{sku}/lots/{lot}/recall",
            json={"reason": reason},
            headers=shop.admin,
        ),
        201,
    )


async def recall_report(shop: Storefront, sku: str, lot: str) -> dict[str, Any]:
    return await ok(
        await shop.http.get(f"/api/v1/admin/inventory/{sku}/lots/{lot}/recall", headers=shop.admin)
    )


async def recall_deliveries(shop: Storefront, member_ids: list[str]) -> list[Any]:
    return await rows(
        shop,
        "notification",
        "SELECT member_id, channel, recipient, subject, locale, status FROM deliveries "
        "WHERE template = :t AND member_id IN :ids ORDER BY member_id, channel",
        t=RECALL_NOTICE,
        ids=member_ids,
    )


def mails_to(shop: Storefront, address: str, subject: str) -> int:
    """Messages the suite's mail catcher (a maildir) received for `address` with `subject`."""
    folder = shop.suite.data_dir / "mail"
    assert folder.is_dir(), folder

    def decoded(value: object) -> str:  # unfolded: a long subject spans several lines
        return " ".join(str(make_header(decode_header(str(value or "")))).split())

    return sum(
        1
        for message in mailbox.Maildir(str(folder), create=False)
        if address in decoded(message["To"])
        and decoded(message["Subject"]) == " ".join(subject.split())
    )


async def check_invariants(shop: Storefront) -> None:
    """tools/invariants.py: VIOLATIONS over every database, and DRAINED once quiet."""
    for service in ("inventory", "payment", "membership"):
        async with shop.connect(service) as conn:
            assert await invariants.violations(service, conn) == {}, service

    async def stuck() -> dict[str, int]:
        found = {}
        for service, rule, sql in DRAINED:
            async with shop.connect(service) as conn:
                count = (await conn.execute(sa.text(sql))).scalar()
            if count:
                found[f"{service}: {rule}"] = int(count)
        return found

    assert await eventually(stuck, lambda found: not found) == {}


# ---- 1. a recall in the middle of a load of orders ------------------------------------------


async def test_a_recall_in_the_middle_of_a_load_of_orders(shop: Storefront) -> None:
    """Lot A (first to expire, 20 units) and lot B (6 units) of a tea, and a second tea in one
    lot. Before the recall: two orders shipped, a big order (7 units of A, a coupon, points and
    a line of the other tea) and a small one (1 unit, a coupon) confirmed. A is recalled while
    thirteen more orders are being placed, one of them holding A reserved but not committed.
    The big order cannot be served from B (7 > 6): it is cancelled and compensated; every other
    unshipped holder of A gets B (the load takes 4 units of the tea and the small order 1, so
    B's 6 always suffice, whichever lot each got first)."""
    tea = await food_sku(shop, price=6_000, name="Wuyi rock tea")
    other = await food_sku(shop, price=10_000, name="Jasmine pearls")
    lot_a, lot_b, lot_g = unique("A").upper(), unique("B").upper(), unique("G").upper()
    await receive(shop, tea, lot_a, 20, expires_in=30)
    await receive(shop, tea, lot_b, 6, expires_in=90)
    await receive(shop, other, lot_g, 60, expires_in=120)

    shipped_1 = await register(shop, "Lan", locale="zh-CN", phone="+8613900000001")
    shipped_2 = await register(shop, "Sam", phone="+8613900000002")
    big = await register(shop, "Pat", phone="+8613900000003")
    small = await register(shop, "Kim", phone="+8613900000004")
    load = [await register(shop, f"Load{n}") for n in range(4)]
    await for_sale(shop, tea, small)
    await for_sale(shop, other, small)

    # Pat earns 100 points with a completed order of the other tea (100.00 CNY).
    earning = await place(shop, big, lines((other, 1)))
    await until_confirmed(shop, [earning])
    await admin_move(shop, earning, "ship", "deliver", "complete")
    profile = await eventually(
        lambda: shop.get_json("/api/v1/me", big), lambda me: me["points_balance"] == 100, every=0.5
    )
    assert profile["points_balance"] == 100
    big_coupon, small_coupon = await welcome_coupon(shop, big), await welcome_coupon(shop, small)

    # Before the recall.
    first = await asyncio.gather(
        place(shop, shipped_1, lines((tea, 1))),
        place(shop, shipped_2, lines((tea, 1))),
        place(shop, big, lines((tea, 7), (other, 1)), coupon_code=big_coupon, points=100),
        place(shop, small, lines((tea, 1)), coupon_code=small_coupon),
    )
    s1, s2, big_order, small_order = first
    await until_confirmed(shop, list(first))
    for order_id in first:
        assert {a["lot"] for a in trace_of(await order_of(shop, order_id), tea)} == {lot_a}
    await asyncio.gather(admin_move(shop, s1, "ship"), admin_move(shop, s2, "ship"))
    await until_custody(shop, [s1, s2], "shipped_at")

    # The load: twelve orders, one every 0.15 s, three of them with a unit of the tea. Among
    # them, a slow one: its card fails twice before it is authorised (the payment service
    # backs off 0.6 s, then 1.2 s), and the recall lands while it holds a unit of A, reserved
    # and not yet committed.
    plan = [[(tea, 1), (other, 1)] if n % 4 == 0 else [(other, 1 + n % 2)] for n in range(12)]
    assert sum(q for items in plan for sku, q in items if sku == tea) == 3

    async def one(n: int) -> str:
        await asyncio.sleep(0.15 * n)
        return await place(shop, load[n % 4], lines(*plan[n]))

    async def recall_while_held() -> tuple[str, dict[str, Any]]:
        await asyncio.sleep(0.3)
        slow = await place(shop, load[0], lines((tea, 1)), payment_token="tok_processingError")
        await until_held(shop, slow, tea, lot_a)
        reason = "Listeria monocytogenes found in a retained sample"
        return slow, await recall(shop, tea, lot_a, reason)

    recalling = asyncio.create_task(recall_while_held())
    later = list(await asyncio.gather(*(one(n) for n in range(12))))
    slow, answered = await recalling
    assert answered["lot"] == lot_a and answered["reason"].startswith("Listeria")
    later.append(slow)
    everything = [*first, *later, earning]
    await until_settled(shop, everything, timeout=90)
    found = await states(shop, everything)
    await until_lots_known(shop, [o for o in everything if found[o][0] != "CANCELLED"])

    # No unit of A committed after the recall; A is out of sale.
    lot = await ok(
        await shop.http.get(f"/api/v1/admin/inventory/{tea}/lots/{lot_a}", headers=shop.admin)
    )
    assert (lot["status"], lot["available"]) == ("QUARANTINED", 0)
    late = await rows(
        shop,
        "inventory",
        "SELECT a.order_id FROM allocations a JOIN lots l ON l.sku = a.sku AND l.code = a.lot "
        "WHERE a.sku = :sku AND a.lot = :lot AND a.status = 'COMMITTED' "
        "AND (a.committed_at IS NULL OR a.committed_at > l.withdrawn_at)",
        sku=tea,
        lot=lot_a,
    )
    assert late == []

    # Every order that held A and had not shipped: re-allocated to B, or cancelled.
    holders = {
        str(r[0])
        for r in await rows(
            shop,
            "inventory",
            "SELECT DISTINCT order_id FROM allocations WHERE sku = :sku AND lot = :lot "
            "AND shipped_at IS NULL",
            sku=tea,
            lot=lot_a,
        )
    }
    assert {big_order, small_order} <= holders and not {s1, s2} & holders
    reallocated, cancelled = set(), set()
    for order_id in sorted(holders):
        order = await order_of(shop, order_id)
        if (order["status"], order["reason"]) == ("CANCELLED", RECALLED):
            cancelled.add(order_id)
            continue
        assert order["status"] == "CONFIRMED", order
        reallocated.add(order_id)
        trace = trace_of(order, tea)
        assert {a["lot"] for a in trace} == {lot_b}, trace
        assert sum(a["quantity"] for a in trace) == next(
            i["quantity"] for i in order["items"] if i["sku"] == tea
        )
        for allocation in trace:
            seen = await public_trace(shop, allocation["trace_code"])
            assert (seen["lot"]["code"], seen["recalled"]) == (lot_b, False)
    assert cancelled == {big_order}
    assert {small_order, slow} <= reallocated
    # The slow order's unit of A moved to B while only reserved: it was never committed on A.
    slow_in_a = await rows(
        shop,
        "inventory",
        "SELECT status, committed_at FROM allocations WHERE order_id = :o AND lot = :lot",
        o=slow,
        lot=lot_a,
    )
    assert [tuple(r) for r in slow_in_a] == [("MOVED", None)]
    # The load is served in full: B had room for every unit it needed.
    assert {found[o] for o in later} == {("CONFIRMED", None)}, found

    # The cancelled order is compensated: refund, coupon and points back, the other line
    # released.
    await shop.settled(big, big_order, "membership.coupon.restored", "membership.points.restored")
    async with shop.connect("inventory") as inventory, shop.connect("payment") as payment:
        assert await invariants.effects(inventory, payment, big_order) == ("RELEASED", "REFUNDED")
    me = await shop.get_json("/api/v1/me", big)
    assert (me["points_balance"], me["points_held"]) == (100, 0)
    assert {c["code"]: c["status"] for c in me["coupons"]}[big_coupon] == "ACTIVE"
    other_lot = await ok(
        await shop.http.get(f"/api/v1/admin/inventory/{other}/lots/{lot_g}", headers=shop.admin)
    )
    # Pat's earning order and the load took it; the big order's unit is back on the shelf.
    other_units = 1 + sum(q for items in plan for sku, q in items if sku == other)
    assert (other_lot["on_hand"], other_lot["reserved"]) == (60 - other_units, 0)
    small_me = await shop.get_json("/api/v1/me", small)
    assert {c["code"]: c["status"] for c in small_me["coupons"]}[small_coupon] == "REDEEMED"

    # The members whose units had shipped: one email and one SMS each, in their language,
    # even when the notice comes again (the same event, and a copy under a new id).
    notified = [shipped_1.id, shipped_2.id]
    told = await eventually(
        lambda: recall_deliveries(shop, [*notified, big.id, small.id]),
        lambda found: len(found) == 4 and {r.status for r in found} == {"SENT"},
    )
    assert sorted((r.member_id, r.channel) for r in told) == sorted(
        (m, c) for m in notified for c in ("EMAIL", "SMS")
    ), told
    assert {r.member_id: r.locale for r in told} == {shipped_1.id: "zh-CN", shipped_2.id: "en"}
    await resend_recall_notices(shop, [s1, s2])
    again = await recall_deliveries(shop, notified)
    assert sorted((r.member_id, r.channel) for r in again) == sorted(
        (r.member_id, r.channel) for r in told
    )
    for member in (shipped_1, shipped_2):
        subject = next(r.subject for r in told if r.member_id == member.id and r.channel == "EMAIL")
        assert mails_to(shop, member.email, subject) == 1

    # The recall report's numbers are what happened.
    report = await eventually(
        lambda: recall_report(shop, tea, lot_a), lambda r: r["finished"] is True
    )
    quantities = {o: dict(order_lines(await order_of(shop, o)))[tea] for o in holders}
    assert report["orders"] == {
        "reallocated": sorted(reallocated),
        "cancelled": sorted(cancelled),
        "notified": sorted([s1, s2]),
    }
    assert report["units"] == {
        "received": 20,
        "sold": 2,
        "quarantined": lot["on_hand"],
        "disposed": 0,
        "reallocated": sum(quantities[o] for o in reallocated),
        "cancelled": 7,
        "returned": 0,
    }
    assert lot["on_hand"] == 20 - 2  # every unit but the two shipped is back in quarantine
    assert report["notified_members"] == 2

    # The quarantined units are destroyed: they leave the lot for good, the report counts them.
    disposed = await ok(
        await shop.http.post(
            f"/api/v1/admin/inventory/{tea}/lots/{lot_a}/disposals",
            json={"reason": "destroyed under supervision"},
            headers=shop.admin,
        ),
        201,
    )
    assert (disposed["status"], disposed["on_hand"], disposed["disposed"]) == ("QUARANTINED", 0, 18)
    after = (await recall_report(shop, tea, lot_a))["units"]
    assert (after["quarantined"], after["disposed"]) == (0, 18)
    await check_invariants(shop)


def order_lines(order: dict[str, Any]) -> list[tuple[str, int]]:
    return [(item["sku"], int(item["quantity"])) for item in order["items"]]


async def resend_recall_notices(shop: Storefront, order_ids: list[str]) -> None:
    """Publish each order's `inventory.recall.customer_affected` again, as it was (same event
    id) and as a copy under a new id, then wait until notification has handled the copies."""
    records = await read_records(
        shop.suite.kafka_bootstrap,
        INVENTORY_EVENTS,
        match=lambda r: (
            r.key is not None
            and r.key.decode() in order_ids
            and header(r, "ce_type") == RecallCustomerAffectedV1.event_type
        ),
        until=lambda kept: len(kept) >= len(order_ids),
    )
    assert len(records) == len(order_ids), records
    producer = EventProducer(shop.suite.kafka_bootstrap)
    await producer.start()
    copies = []
    try:
        for record in records:
            headers = list(record.headers)
            await producer.send_raw(INVENTORY_EVENTS, record.value, record.key, headers)
            copy = from_kafka(record.value, headers).model_copy(update={"id": uuid.uuid4()})
            kafka = to_kafka(copy)
            await producer.send_raw(INVENTORY_EVENTS, kafka.value, kafka.key, list(kafka.headers))
            copies.append(copy.id)
    finally:
        await producer.stop()

    async def handled() -> int:
        found = await rows(
            shop, "notification", "SELECT count(*) FROM inbox WHERE event_id IN :ids", ids=copies
        )
        return int(found[0][0])

    assert await eventually(handled, lambda n: n == len(copies)) == len(copies)
    await asyncio.sleep(1.0)  # a dispatch round or two: time for a wrong second send


# ---- 2. the v1 and v2 consumers over the same orders --------------------------------------


async def test_the_v1_and_v2_consumers_of_a_commit_over_the_same_orders(shop: Storefront) -> None:
    """Order reads `inventory.stock.committed` v2 (lots and trace codes per item); analytics
    still reads v1 (units per SKU). Both process the same commits; nothing is dead-lettered."""
    sku = await food_sku(shop, price=2_500, name="Keemun black tea")
    early, late = unique("E").upper(), unique("L").upper()
    await receive(shop, sku, early, 3, expires_in=20)
    await receive(shop, sku, late, 10, expires_in=200)
    buyer = await register(shop, "Vee")
    await for_sale(shop, sku, buyer)
    orders = [await place(shop, buyer, lines((sku, 2))) for _ in range(3)]
    await until_confirmed(shop, orders)

    # v2 (order): each item's trace names lots first expired first out, with trace codes.
    traces = [trace_of(await order_of(shop, o), sku) for o in orders]
    assert sorted(sorted((a["lot"], a["quantity"]) for a in t) for t in traces) == sorted(
        [[(early, 2)], [(early, 1), (late, 1)], [(late, 2)]]
    )
    codes = [a["trace_code"] for t in traces for a in t]
    assert len(set(codes)) == len(codes) == 4
    for trace in traces:
        for allocation in trace:
            seen = await public_trace(shop, allocation["trace_code"])
            assert (seen["lot"]["code"], seen["quantity"]) == (
                allocation["lot"],
                allocation["quantity"],
            )

    # v1 (analytics): one COMMIT move of two units per order.
    async def committed() -> list[Any]:
        return await rows(
            shop,
            "analytics",
            "SELECT order_id, delta FROM analytics_stock_moves "
            "WHERE sku = :sku AND kind = 'COMMIT' ORDER BY order_id",
            sku=sku,
        )

    moves = await eventually(committed, lambda found: len(found) >= 3)
    assert sorted((str(m[0]), int(m[1])) for m in moves) == sorted((o, -2) for o in orders)

    # Each commit went out in both versions, each version's record read by its consumer only.
    def is_commit(record: Any) -> bool:
        return (
            record.key is not None
            and record.key.decode() in orders
            and header(record, "ce_type") == "inventory.stock.committed"
        )

    commits = await read_records(
        shop.suite.kafka_bootstrap,
        INVENTORY_EVENTS,
        match=is_commit,
        until=lambda kept: len(kept) >= 6,
    )
    versions = sorted(from_kafka(r.value, list(r.headers)).dataversion for r in commits)
    assert versions == [1, 1, 1, 2, 2, 2]
    dead = await read_records(
        shop.suite.kafka_bootstrap, INVENTORY_DLQ, until=lambda kept: bool(kept), timeout=3
    )
    assert dead == [], [(r.key, r.headers) for r in dead]


# ---- 3. a recalled item returned after the window ----------------------------------------


async def test_a_recalled_item_is_returned_after_the_window(shop: Storefront) -> None:
    sku = await food_sku(shop, price=4_000, name="Pu'er cake")
    lot = unique("R").upper()
    await receive(shop, sku, lot, 5, expires_in=300)
    keeper, returner = await register(shop, "Noa"), await register(shop, "Ren")
    await for_sale(shop, sku, keeper)
    kept = await place(shop, keeper, lines((sku, 1)))
    returned = await place(shop, returner, lines((sku, 2)))
    await until_confirmed(shop, [kept, returned])
    for order_id in (kept, returned):
        await admin_move(shop, order_id, "ship", "deliver")
    await until_custody(shop, [kept, returned], "delivered_at")

    # The window (0 days) is closed for a delivered order that nothing is wrong with.
    refused = await shop.http.post(f"/api/v1/orders/{returned}/returns", headers=returner.headers)
    assert refused.status_code == 409, refused.text
    assert refused.json()["type"].endswith("/return-window-closed")

    await recall(shop, sku, lot, "Mould found on cakes of this lot")
    order = await eventually(
        lambda: shop.get_json(f"/api/v1/orders/{returned}", returner),
        lambda o: o["recalled_at"] is not None,
    )
    assert order["status"] == "DELIVERED"
    accepted = await shop.http.post(f"/api/v1/orders/{returned}/returns", headers=returner.headers)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["status"] == "REFUNDED"
    order = await shop.settled(
        returner, returned, "order.order.returned", "payment.payment.refunded"
    )
    assert (order["status"], order["reason"]) == ("REFUNDED", "RETURNED_BY_CUSTOMER")
    await until_settled(shop, [kept, returned])

    report = await eventually(
        lambda: recall_report(shop, sku, lot), lambda r: r["units"]["returned"] == 2
    )
    assert report["orders"]["notified"] == sorted([kept, returned])
    assert (report["units"]["sold"], report["units"]["returned"]) == (3, 2)
    # The returned units stay out of sale with the rest of the lot.
    lot_now = await ok(
        await shop.http.get(f"/api/v1/admin/inventory/{sku}/lots/{lot}", headers=shop.admin)
    )
    assert (lot_now["status"], lot_now["on_hand"], lot_now["available"]) == ("QUARANTINED", 4, 0)
    assert await shop.available(sku) == 0


# ---- 4. the public trace lookup ---------------------------------------------------------


async def test_a_trace_lookup_shows_the_chain_of_custody_and_nothing_about_the_buyer(
    shop: Storefront, redis_url: str
) -> None:
    sku = await food_sku(shop, price=6_800, name="Anji white tea")
    lot = unique("T").upper()
    await receive(shop, sku, lot, 4, expires_in=180)
    buyer = await register(shop, "Quinn")
    await for_sale(shop, sku, buyer)
    order_id = await place(shop, buyer, lines((sku, 1)))
    await until_confirmed(shop, [order_id])
    await admin_move(shop, order_id, "ship", "deliver")
    await until_custody(shop, [order_id], "delivered_at")
    (allocation,) = trace_of(await order_of(shop, order_id), sku)

    # No token: the lookup is public.
    answer = await shop.http.get(f"/api/v1/trace/{allocation['trace_code'].lower()}")
    found = await ok(answer)
    assert found["trace_code"] == allocation["trace_code"]
    assert (found["quantity"], found["product"]["sku"], found["recalled"]) == (1, sku, False)
    assert found["lot"]["code"] == lot
    assert found["lot"]["origin"] == {
        "country": "CN",
        "region": "Fujian",
        "producer": "Wuyi Tea Cooperative",
    }
    assert found["lot"]["inspection_ref"] == f"CIQ-{lot}"
    # Inspected at origin five days before the lot was received here.
    steps = [step["step"] for step in found["custody"]]
    assert steps == ["INSPECTED", "RECEIVED", "ALLOCATED", "SHIPPED", "DELIVERED"], steps
    text = answer.text
    for secret in (
        buyer.id,
        buyer.email,
        "Quinn",
        order_id,
        ADDRESS["name"],
        ADDRESS["line1"],
        ADDRESS["phone"],
        ADDRESS["postal_code"],
    ):
        assert secret not in text, secret

    for code, status in (("NOT-A-TRACE-CODE-!", 422), ("UUUUUUUUUUUUUUUU", 422), ("0" * 16, 404)):
        refused = await shop.http.get(f"/api/v1/trace/{code}")
        assert refused.status_code == status, (code, refused.text)
        assert refused.headers["content-type"].startswith(PROBLEM)

    # Rate-limited like every route: a gateway in front of the same services with a limit of
    # five requests a minute per client.
    await trace_is_rate_limited(shop, redis_url, allocation["trace_code"])


async def trace_is_rate_limited(
    shop: Storefront, redis_url: str, code: str, limit: int = 5
) -> None:
    urls = shop.suite.urls
    gateway = create_gateway(
        GatewaySettings(
            **{f"{name}_url": urls[name] for name in DATABASES},
            kafka_bootstrap_servers=shop.suite.kafka_bootstrap,
            redis_url=redis_url,
            redis_key_prefix=f"{unique('trace-limit')}:",
            jwks_url=f"{urls['membership']}/.well-known/jwks.json",
            environment="test",
            rate_per_client_per_minute=limit,
        )
    )
    async with serve_app(gateway) as url, httpx.AsyncClient(base_url=url, timeout=15) as edge:
        answers = [await edge.get(f"/api/v1/trace/{code}") for _ in range(limit + 3)]
    statuses = [a.status_code for a in answers]
    # A fixed window: a minute boundary may fall inside the burst (then a few more pass).
    assert statuses[0] == 200 and 429 in statuses, statuses
    limited = next(a for a in answers if a.status_code == 429)
    assert limited.headers["content-type"].startswith(PROBLEM)
    assert limited.json()["status"] == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 61
    assert statuses.count(200) <= 2 * limit


# ---- last: the invariants over what every test above did ---------------------------------


async def test_the_invariants_hold_over_every_database(shop: Storefront) -> None:
    assert shop.orders, "the tests above placed no order"
    await until_settled(shop, shop.orders)
    async with shop.connect("inventory") as conn:
        assert await invariants.violations("inventory", conn) == {}
    await check_invariants(shop)
