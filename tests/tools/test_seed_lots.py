"""The demo seed's food lots (`tools.seed`): the lots in `demo_catalog.json`, the bodies the seed
sends for them, and a second seed that receives nothing twice. No network: the inventory routes
are a fake that keeps lots as the service does (receiving a known lot again adds its units)."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest

from inventory_service.config import InventorySettings
from inventory_service.schemas import LotReceive
from tools.seed import DemoCatalog, Gateway, ProductDefinition, lot_idempotency_key
from tools.suite.services import default

LOT_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # inventory's rule
EXPIRING_WARNING_DAYS: int = default(InventorySettings, "expiring_warning_days")
TODAY = date(2026, 3, 14)


@pytest.fixture(scope="module")
def catalog() -> DemoCatalog:
    return DemoCatalog.load()


def food_with_lots(catalog: DemoCatalog) -> list[ProductDefinition]:
    return [p for p in catalog.products if any(sku.lots for sku in p.skus)]


def test_a_few_food_skus_are_stocked_by_two_or_three_lots(catalog: DemoCatalog) -> None:
    stocked_by_lot = [sku for sku in catalog.skus() if sku.lots]
    assert len(stocked_by_lot) >= 4
    assert all(2 <= len(sku.lots) <= 3 for sku in stocked_by_lot)
    assert all(p.food is not None for p in food_with_lots(catalog))  # non-food keeps PUT
    assert all(sku.stock == sum(lot.quantity for lot in sku.lots) for sku in stocked_by_lot)


def test_lot_codes_are_valid_and_unique_per_sku(catalog: DemoCatalog) -> None:
    for sku in catalog.skus():
        codes = Counter(lot.code for lot in sku.lots)
        assert [code for code, n in codes.items() if n > 1] == [], sku.sku
        assert all(LOT_CODE.match(code) for code in codes), sku.sku
        assert all(code.upper() != "DEFAULT" for code in codes)


def test_lot_dates_agree_with_the_products_shelf_life(catalog: DemoCatalog) -> None:
    for product in food_with_lots(catalog):
        assert product.food is not None
        shelf_life = product.food["shelf_life_days"]
        for sku in product.skus:
            for lot in sku.lots:
                assert lot.produced_days_ago + lot.expiry_in_days == shelf_life, lot
                assert lot.produced_days_ago >= lot.inspected_days_ago >= 0, lot


def test_no_lot_is_expired_and_one_is_close_to_its_expiry(catalog: DemoCatalog) -> None:
    expiry = [lot.expiry_in_days for _, lot in catalog.lots()]
    assert min(expiry) >= 1  # sellable on the day of the seed (else 409 lot-expired)
    # The lot job warns the operators about it (inventory.lot.expiring, an email).
    assert sum(days <= EXPIRING_WARNING_DAYS for days in expiry) == 1


def test_the_showcase_oolongs_are_stocked_by_lot(catalog: DemoCatalog) -> None:
    """`make demo` orders one of them: its item gets a trace code of a lot with an origin."""
    query = catalog.showcase_query.lower()
    shown = [
        p
        for p in catalog.products
        if p.category == catalog.showcase_category and query in p.name.lower()
    ]
    assert shown and all(p.skus[0].lots for p in shown)
    tieguanyin = catalog.sku("TEA-TIEGUANYIN-250G")
    assert {lot.origin["region"] for lot in tieguanyin.lots} == {"Anxi, Fujian"}
    assert {lot.origin["region"] for lot in catalog.sku("TEA-PUER-357G").lots} == {
        "Menghai, Yunnan"
    }


def test_the_lot_body_dates_count_from_today_and_inventory_accepts_it(
    catalog: DemoCatalog,
) -> None:
    product = next(p for p in catalog.products if p.name.startswith("Osmanthus cake"))
    lot = product.skus[0].lots[0]
    body = lot.receive_body(TODAY, product.storage_class)
    assert body["expiry_date"] == (TODAY + timedelta(days=lot.expiry_in_days)).isoformat()
    assert body["production_date"] == (TODAY - timedelta(days=lot.produced_days_ago)).isoformat()
    assert body["storage_class"] == "CHILLED"  # the product's
    inspected = datetime.fromisoformat(body["inspected_at"])
    assert inspected.tzinfo is not None
    assert inspected.date() == TODAY - timedelta(days=lot.inspected_days_ago)
    for sku, each in catalog.lots():
        owner = next(p for p in catalog.products if sku in p.skus)
        LotReceive.model_validate(each.receive_body(TODAY, owner.storage_class))


def test_the_lot_key_is_the_same_for_the_same_lot_on_the_same_day(catalog: DemoCatalog) -> None:
    sku, lot = catalog.lots()[0]
    body = lot.receive_body(TODAY, "AMBIENT")
    key = lot_idempotency_key(sku.sku, body)
    assert key == lot_idempotency_key(sku.sku, lot.receive_body(TODAY, "AMBIENT"))
    assert key != lot_idempotency_key(sku.sku, lot.receive_body(TODAY + timedelta(1), "AMBIENT"))
    keys = {
        lot_idempotency_key(s.sku, each.receive_body(TODAY, "AMBIENT"))
        for s, each in catalog.lots()
    }
    assert len(keys) == len(catalog.lots()) and all(len(k) <= 100 for k in keys)


class FakeInventory:
    """The admin inventory routes the seed calls, keeping lots and stock takes in memory."""

    def __init__(self) -> None:
        self.lots: dict[str, dict[str, int]] = {}  # sku -> lot -> units received
        self.on_hand: dict[str, int] = {}  # stock set by PUT
        self.replies: dict[str, httpx.Response] = {}  # Idempotency-Key -> first answer
        self.posts: list[str] = []
        self.lists_nothing = False  # a GET racing the POSTs of another seed

    def handle(self, request: httpx.Request) -> httpx.Response:
        sku = request.url.path.split("/")[5]
        if request.method == "PUT":
            self.on_hand[sku] = json.loads(request.content)["on_hand"]
            return httpx.Response(200, json={"sku": sku})
        if request.method == "GET":
            if self.lists_nothing:
                return httpx.Response(200, json={"items": []})
            if sku not in self.lots:
                return httpx.Response(404, json={"detail": f"SKU {sku} has no stock record"})
            items = [{"lot": code, "received": n} for code, n in self.lots[sku].items()]
            return httpx.Response(200, json={"items": items})
        key = request.headers["Idempotency-Key"]
        if key in self.replies:
            return self.replies[key]
        body: dict[str, Any] = json.loads(request.content)
        self.posts.append(body["lot"])
        held = self.lots.setdefault(sku, {})
        held[body["lot"]] = held.get(body["lot"], 0) + body["quantity"]  # a known lot grows
        self.replies[key] = httpx.Response(201, json=body)
        return self.replies[key]


def gateway_to(inventory: FakeInventory) -> Gateway:
    client = httpx.Client(transport=httpx.MockTransport(inventory.handle), base_url="http://gw")
    return Gateway(client, lambda _: None)


def test_the_seed_receives_each_lot_once_and_puts_the_rest(catalog: DemoCatalog) -> None:
    inventory = FakeInventory()
    gateway = gateway_to(inventory)
    for product in catalog.products:
        gateway.receive_stock(product, TODAY)
    stocked = {sku.sku: sku for sku in catalog.skus()}
    assert {sku: sum(lots.values()) for sku, lots in inventory.lots.items()} == {
        code: sku.stock for code, sku in stocked.items() if sku.lots
    }
    assert inventory.on_hand == {code: sku.stock for code, sku in stocked.items() if not sku.lots}
    assert len(inventory.posts) == len(catalog.lots())


def test_seeding_twice_doubles_no_lot(catalog: DemoCatalog) -> None:
    inventory = FakeInventory()
    gateway = gateway_to(inventory)
    products = food_with_lots(catalog)
    for product in products:
        gateway.receive_stock(product, TODAY)
    first = json.dumps(inventory.lots, sort_keys=True)
    for product in products:  # again, the next day: other dates, other keys
        gateway.receive_stock(product, TODAY + timedelta(days=1))
    assert json.dumps(inventory.lots, sort_keys=True) == first
    assert len(inventory.posts) == len(catalog.lots())


def test_an_interrupted_seed_receives_only_the_missing_lots(catalog: DemoCatalog) -> None:
    product = next(p for p in food_with_lots(catalog) if len(p.skus[0].lots) >= 2)
    sku = product.skus[0]
    inventory = FakeInventory()
    inventory.lots[sku.sku] = {sku.lots[0].code: sku.lots[0].quantity}  # received before a crash
    gateway_to(inventory).receive_stock(product, TODAY)
    assert inventory.posts[: len(sku.lots) - 1] == [lot.code for lot in sku.lots[1:]]
    assert sum(inventory.lots[sku.sku].values()) == sku.stock


def test_a_lost_answer_retried_with_the_same_key_is_received_once(catalog: DemoCatalog) -> None:
    """The lots were received but the seed did not see it (its listing raced the POSTs): the
    key makes each second POST a replay of the first answer."""
    product = food_with_lots(catalog)[0]
    inventory = FakeInventory()
    gateway = gateway_to(inventory)
    gateway.receive_stock(product, TODAY)
    received = json.dumps(inventory.lots, sort_keys=True)
    inventory.lists_nothing = True
    gateway.receive_stock(product, TODAY)
    assert json.dumps(inventory.lots, sort_keys=True) == received
