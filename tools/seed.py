"""Demo data for `make run`: the catalog in `demo_catalog.json` and a demo member, put in through
the gateway as the bootstrap admin, as a person would with the storefront API.

Every product of the file is created (`POST /api/v1/admin/products` with an `Idempotency-Key`
derived from its definition), receives its stock (`PUT /api/v1/admin/inventory/{sku}`) and is
published, in that order, so that a published demo product always has its stock. A food SKU
defined with lots receives them one by one instead (`POST /api/v1/admin/inventory/{sku}/lots`):
their dates are offsets from the shop's today, so a lot seeded close to its expiry date is close
to it whatever the day of the seed; the lots the SKU already holds are skipped and each request
carries an `Idempotency-Key`, so that no lot is received twice.

A second run finds the products by their SKU codes in the admin listing and does only what is
missing: nothing when every demo product has been published ("already seeded"), stock and
publishing for a product left as a draft by an interrupted run, everything for a product not there
yet. A product published once is left alone: orders have moved its stock since, and an admin may
have unpublished it on purpose.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from inventory_service.config import InventorySettings

CATALOG_FILE = Path(__file__).with_name("demo_catalog.json")
API = "/api/v1"
PAGE_SIZE = 100  # the gateway's largest page
DRAFT = "DRAFT"  # created, never published
REQUEST_TIMEOUT_SECONDS = 10.0
# A 429 (the gateway's per-minute limits, membership's login backoff) or a 503 (an open circuit
# breaker) is waited out for its Retry-After, up to this long in all, before the seed gives up.
# Above membership's longest login delay (MEMBERSHIP_LOGIN_BACKOFF_MAX_SECONDS, 60), so the
# admin's login gets through after a fuzzer's failures on 127.0.0.1.
RETRY_BUDGET_SECONDS = 90.0
RETRIED_STATUSES = frozenset({429, 503})
SEED_WORKERS = 4  # products shelved at once
INSPECTED_AT_HOUR = 10  # lots are inspected at 10:00 UTC of their inspection day


class SeedError(Exception):
    """A request the suite refused, told with the problem detail it answered."""


class Account(Protocol):
    """An email and a password (the launcher's credentials)."""

    @property
    def email(self) -> str: ...

    @property
    def password(self) -> str: ...


# The catalog definitions


@dataclass(frozen=True)
class LotDefinition:
    """A lot of a food SKU, its dates as days before or after the day of the seed."""

    code: str
    quantity: int
    produced_days_ago: int
    expiry_in_days: int
    origin: Mapping[str, str]
    inspection_ref: str
    inspected_days_ago: int

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> LotDefinition:
        return cls(
            document["lot"],
            document["quantity"],
            document["produced_days_ago"],
            document["expiry_in_days"],
            document["origin"],
            document["inspection_ref"],
            document["inspected_days_ago"],
        )

    def receive_body(self, today: date, storage_class: str) -> dict[str, Any]:
        """The `POST /admin/inventory/{sku}/lots` body on `today` (the shop's day)."""
        inspected = today - timedelta(days=self.inspected_days_ago)
        return {
            "lot": self.code,
            "quantity": self.quantity,
            "origin": dict(self.origin),
            "production_date": (today - timedelta(days=self.produced_days_ago)).isoformat(),
            "expiry_date": (today + timedelta(days=self.expiry_in_days)).isoformat(),
            "storage_class": storage_class,
            "inspection_ref": self.inspection_ref,
            "inspected_at": datetime(
                inspected.year, inspected.month, inspected.day, INSPECTED_AT_HOUR, tzinfo=UTC
            ).isoformat(),
        }


def lot_idempotency_key(sku: str, body: Mapping[str, Any]) -> str:
    """The same for the same lot on the same day (a retried request is answered once)."""
    text = json.dumps({"sku": sku, **body}, sort_keys=True, ensure_ascii=False)
    return f"demo-lot-{hashlib.sha256(text.encode()).hexdigest()[:32]}"


@dataclass(frozen=True)
class SkuDefinition:
    sku: str
    price: int  # minor units (fen)
    stock: int  # on hand after the seed (the sum of its lots for a SKU received by lot)
    attributes: Mapping[str, str] = field(default_factory=dict)
    lots: tuple[LotDefinition, ...] = ()  # none: the stock is received without lots (PUT)

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> SkuDefinition:
        attributes = document.get("attributes", {})
        lots = tuple(LotDefinition.from_document(lot) for lot in document.get("lots", ()))
        stock = sum(lot.quantity for lot in lots) if lots else document["stock"]
        return cls(document["sku"], document["price"], stock, attributes, lots)


@dataclass(frozen=True)
class ProductDefinition:
    name: str
    category: str
    description: str
    skus: tuple[SkuDefinition, ...]
    # The catalog's food attributes, for a product of a food category (tea, snacks, ...).
    food: Mapping[str, Any] | None = None

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> ProductDefinition:
        skus = tuple(SkuDefinition.from_document(sku) for sku in document["skus"])
        description = document.get("description", "")
        return cls(document["name"], document["category"], description, skus, document.get("food"))

    def create_body(self, currency: str) -> dict[str, Any]:
        """The `POST /admin/products` body."""
        skus = [
            {
                "sku": s.sku,
                "price": {"amount": s.price, "currency": currency},
                "attributes": dict(s.attributes),
            }
            for s in self.skus
        ]
        body: dict[str, Any] = {
            "name": self.name,
            "category": self.category,
            "description": self.description,
            "skus": skus,
        }
        if self.food is not None:  # absent otherwise: other products keep their keys
            body["food"] = dict(self.food)
        return body

    @property
    def storage_class(self) -> str:
        """Its lots' storage class: the product's (ambient when it says none)."""
        return str((self.food or {}).get("storage_class", "AMBIENT"))

    def idempotency_key(self, currency: str) -> str:
        """The same for the same definition, another one once the definition changes (a key
        reused with another body is refused)."""
        body = json.dumps(self.create_body(currency), sort_keys=True, ensure_ascii=False)
        return f"demo-seed-{hashlib.sha256(body.encode()).hexdigest()[:32]}"


@dataclass(frozen=True)
class DemoCatalog:
    currency: str
    flash_sale_sku: str
    showcase_query: str  # what `make demo` searches for
    showcase_category: str  # and which category it browses
    products: tuple[ProductDefinition, ...]

    @classmethod
    def load(cls, path: Path = CATALOG_FILE) -> DemoCatalog:
        return cls.from_document(json.loads(path.read_text(encoding="utf-8")))

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> DemoCatalog:
        products = tuple(ProductDefinition.from_document(p) for p in document["products"])
        showcase = document["showcase"]
        return cls(
            document["currency"],
            document["flash_sale_sku"],
            showcase["q"],
            showcase["category"],
            products,
        )

    def categories(self) -> list[str]:
        return sorted({p.category for p in self.products})

    def skus(self) -> list[SkuDefinition]:
        return [sku for product in self.products for sku in product.skus]

    def sku(self, code: str) -> SkuDefinition:
        return next(sku for sku in self.skus() if sku.sku == code)

    def lots(self) -> list[tuple[SkuDefinition, LotDefinition]]:
        """Every lot the seed receives, with its SKU."""
        return [(sku, lot) for sku in self.skus() for lot in sku.lots]

    def low_stock(self, threshold: int) -> list[SkuDefinition]:
        """The SKUs seeded with fewer than `threshold` units (inventory's safety stock)."""
        return [sku for sku in self.skus() if sku.stock < threshold]


# What a seed still has to do


@dataclass(frozen=True)
class Existing:
    """A product already in the catalog."""

    product_id: str
    status: str


@dataclass(frozen=True)
class SeedPlan:
    create: tuple[ProductDefinition, ...] = ()
    # Drafts left by an interrupted seed: they get their stock and are published.
    finish: tuple[tuple[ProductDefinition, str], ...] = ()
    done: int = 0  # demo products already published (or unpublished since)

    @property
    def complete(self) -> bool:
        return not self.create and not self.finish


def plan(catalog: DemoCatalog, existing: Mapping[str, Existing]) -> SeedPlan:
    """Split the definitions by what the catalog holds (`existing` by SKU code): a product is
    known by its first SKU."""
    create, finish, done = [], [], 0
    for product in catalog.products:
        found = existing.get(product.skus[0].sku)
        if found is None:
            create.append(product)
        elif found.status == DRAFT:
            finish.append((product, found.product_id))
        else:
            done += 1  # published, or unpublished by an admin since: left as it is
    return SeedPlan(tuple(create), tuple(finish), done)


def existing_by_sku(pages: Iterable[Mapping[str, Any]]) -> dict[str, Existing]:
    """SKU code -> the product holding it, from pages of the admin product listing."""
    return {
        sku["sku"]: Existing(product["id"], product["status"])
        for page in pages
        for product in page["items"]
        for sku in product["skus"]
    }


def problem_text(response: httpx.Response) -> str:
    """`POST /api/v1/admin/products: 409 SKU already exists: X (sku-exists)` from an RFC 9457
    problem, or the start of whatever else the body is."""
    head = f"{response.request.method} {response.request.url.path}: {response.status_code}"
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        return f"{head} {response.text[:200]}".rstrip()
    parts = [head, str(problem.get("detail") or problem.get("title") or "")]
    if code := str(problem.get("type", "")).rsplit("/", 1)[-1]:
        parts.append(f"({code})")  # the type URI ends in the problem's code
    if problem.get("errors"):
        parts.append(json.dumps(problem["errors"], ensure_ascii=False)[:500])
    return " ".join(part for part in parts if part)


def retry_after(response: httpx.Response) -> float:
    value = response.headers.get("retry-after", "1")
    return float(value) if value.isdigit() else 1.0


# Talking to the gateway


class Gateway:
    """The storefront API at the gateway, with the admin's token once `login` has run."""

    def __init__(self, client: httpx.Client, pause: Callable[[float], None] = time.sleep) -> None:
        self.client = client
        self.pause = pause  # the launcher's sleep also notices Ctrl-C and dead services
        self.headers: dict[str, str] = {}
        self.retry_budget = RETRY_BUDGET_SECONDS

    def call(self, method: str, path: str, expect: Iterable[int], **kwargs: Any) -> httpx.Response:
        """One request; a 429 or 503 is retried after its Retry-After, anything else that is
        not in `expect` is a SeedError with the problem detail."""
        headers = {**self.headers, **kwargs.pop("headers", {})}
        while True:
            try:
                response = self.client.request(method, f"{API}{path}", headers=headers, **kwargs)
            except httpx.HTTPError as exc:
                raise SeedError(f"{method} {API}{path}: {type(exc).__name__} {exc}") from None
            if response.status_code in expect:
                return response
            wait = retry_after(response)
            if response.status_code not in RETRIED_STATUSES or wait > self.retry_budget:
                raise SeedError(problem_text(response))
            self.retry_budget -= wait
            self.pause(wait)

    def login(self, account: Account) -> None:
        body = {"email": account.email, "password": account.password}
        tokens = self.call("POST", "/auth/login", {200}, json=body).json()
        self.headers = {"Authorization": f"Bearer {tokens['access_token']}"}

    def admin_pages(self) -> Iterator[dict[str, Any]]:
        page = 1
        while True:
            params = {"page": page, "size": PAGE_SIZE}
            listing = self.call("GET", "/admin/products", {200}, params=params).json()
            yield listing
            if page * PAGE_SIZE >= listing["total"]:
                return
            page += 1

    def create_product(self, product: ProductDefinition, currency: str) -> str:
        key = {"Idempotency-Key": product.idempotency_key(currency)}
        body = product.create_body(currency)
        created = self.call("POST", "/admin/products", {201}, json=body, headers=key).json()
        return str(created["id"])

    def receive_stock(self, product: ProductDefinition, today: date) -> None:
        for sku in product.skus:
            if sku.lots:
                self.receive_lots(sku, product.storage_class, today)
            else:
                body = {"on_hand": sku.stock}
                self.call("PUT", f"/admin/inventory/{sku.sku}", {200, 201}, json=body)

    def lots_held(self, sku: str) -> set[str]:
        """The codes of the lots the SKU holds (none for a SKU inventory does not know yet)."""
        response = self.call("GET", f"/admin/inventory/{sku}/lots", {200, 404})
        return {lot["lot"] for lot in response.json()["items"]} if response.is_success else set()

    def receive_lots(self, sku: SkuDefinition, storage_class: str, today: date) -> None:
        """The SKU's lots it does not hold yet: receiving a lot again would add its units."""
        held = self.lots_held(sku.sku)
        for lot in sku.lots:
            if lot.code in held:
                continue
            body = lot.receive_body(today, storage_class)
            key = {"Idempotency-Key": lot_idempotency_key(sku.sku, body)}
            self.call("POST", f"/admin/inventory/{sku.sku}/lots", {201}, json=body, headers=key)

    def publish(self, product_id: str) -> None:
        self.call("POST", f"/admin/products/{product_id}/publish", {200})

    def register(self, account: Account, name: str, locale: str) -> bool:
        """True if the account was registered now, False if the email was taken already."""
        body = {"email": account.email, "password": account.password, "name": name}
        response = self.call("POST", "/auth/register", {201, 409}, json={**body, "locale": locale})
        return response.status_code == 201


# The seed


@dataclass(frozen=True)
class SeedResult:
    catalog: DemoCatalog
    created: int
    finished: int
    seconds: float
    member_registered: bool

    @property
    def products(self) -> int:
        """Demo products in the catalog now."""
        return len(self.catalog.products)

    @property
    def already_seeded(self) -> bool:
        return not self.created and not self.finished


def shop_today() -> date:
    """Today in the shop's time zone (SHOP_TIME_ZONE, the suite's): the day lots'
    expiry dates count in."""
    return datetime.now(InventorySettings().shop_zone).date()


def seed_catalog(gateway: Gateway, catalog: DemoCatalog, console: Console, today: date) -> SeedPlan:
    """Do what `plan` says is missing, a few products at a time, with a progress bar."""
    todo = plan(catalog, existing_by_sku(gateway.admin_pages()))
    if todo.complete:
        return todo
    jobs = [*((product, "") for product in todo.create), *todo.finish]
    columns = (TextColumn("demo catalog"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    progress = Progress(*columns, TextColumn("{task.description}"), console=console)
    pool = ThreadPoolExecutor(SEED_WORKERS, thread_name_prefix="seed")
    try:
        with progress:
            task = progress.add_task("", total=len(jobs))
            futures = [pool.submit(shelve, gateway, catalog.currency, today, *job) for job in jobs]
            for future in as_completed(futures):
                progress.update(task, advance=1, description=future.result())
                gateway.pause(0)
            progress.update(task, description="")
    finally:
        pool.shutdown(cancel_futures=True)  # after a failure or Ctrl-C: start no more
    return todo


def shelve(
    gateway: Gateway, currency: str, today: date, product: ProductDefinition, product_id: str
) -> str:
    """Create the product unless `product_id` names it, receive its stock, then publish it:
    a published demo product always has its stock. Returns its name."""
    product_id = product_id or gateway.create_product(product, currency)
    gateway.receive_stock(product, today)
    gateway.publish(product_id)
    return product.name


def seed_demo(
    gateway_url: str,
    admin: Account,
    member: Account,
    console: Console,
    pause: Callable[[float], None] = time.sleep,
) -> SeedResult:
    """Seed the catalog as `admin`, then register `member` (an existing one is fine)."""
    catalog = DemoCatalog.load()
    started = time.perf_counter()
    with httpx.Client(base_url=gateway_url, timeout=REQUEST_TIMEOUT_SECONDS, trust_env=False) as c:
        gateway = Gateway(c, pause)
        gateway.login(admin)
        todo = seed_catalog(gateway, catalog, console, shop_today())
        gateway.headers = {}
        registered = gateway.register(member, "Demo Member", "en")
    return SeedResult(
        catalog=catalog,
        created=len(todo.create),
        finished=len(todo.finish),
        seconds=time.perf_counter() - started,
        member_registered=registered,
    )
