"""The pure parts of the demo seed (`tools.seed`) and its wiring in the launcher: no network."""

from __future__ import annotations

import json
import re
from collections import Counter

import httpx
import pytest

from tools.seed import (
    DemoCatalog,
    Existing,
    Gateway,
    SeedError,
    existing_by_sku,
    plan,
    problem_text,
)
from tools.suite import cli
from tools.suite.console import LOW_STOCK_UNITS
from tools.suite.credentials import AdminCredentials, MemberCredentials

SKU_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # the catalog's rule
CATEGORY = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")


@pytest.fixture(scope="module")
def catalog() -> DemoCatalog:
    return DemoCatalog.load()


def test_the_catalog_is_large_and_varied(catalog: DemoCatalog) -> None:
    assert len(catalog.products) >= 50
    assert len(catalog.categories()) >= 6
    assert all(CATEGORY.match(category) for category in catalog.categories())
    assert all(1 <= len(product.skus) <= 3 for product in catalog.products)


def test_skus_are_unique_valid_codes(catalog: DemoCatalog) -> None:
    codes = Counter(sku.sku for sku in catalog.skus())
    assert [code for code, n in codes.items() if n > 1] == []
    assert all(SKU_CODE.match(code) for code in codes)


def test_prices_are_positive_integer_fen_and_every_sku_has_stock(catalog: DemoCatalog) -> None:
    assert catalog.currency == "CNY"
    for sku in catalog.skus():
        assert type(sku.price) is int and sku.price > 0, sku
        assert type(sku.stock) is int and sku.stock > 0, sku


def test_names_are_unique_and_fit_the_catalog_limits(catalog: DemoCatalog) -> None:
    names = [product.name for product in catalog.products]
    assert len(set(names)) == len(names)
    assert all(0 < len(name) <= 200 for name in names)
    assert all(len(product.description) <= 5000 for product in catalog.products)


def test_there_are_a_flash_sale_sku_and_low_stock_ones(catalog: DemoCatalog) -> None:
    flash = catalog.sku(catalog.flash_sale_sku)
    assert 0 < flash.stock <= 20
    low = [sku for sku in catalog.low_stock(LOW_STOCK_UNITS) if sku != flash]
    assert 1 <= len(low) <= 3


def test_the_showcase_finds_something_to_order_with_the_welcome_coupon(
    catalog: DemoCatalog,
) -> None:
    query = catalog.showcase_query.lower()
    shown = [
        p
        for p in catalog.products
        if p.category == catalog.showcase_category
        and (query in p.name.lower() or query in p.description.lower())
    ]
    assert shown
    assert any(sku.price >= 5_000 and sku.stock >= 20 for p in shown for sku in p.skus)


def test_the_create_body_and_its_key_are_deterministic(catalog: DemoCatalog) -> None:
    product = catalog.products[0]
    body = product.create_body("CNY")
    assert body["skus"][0]["price"] == {"amount": product.skus[0].price, "currency": "CNY"}
    assert set(body) == {"name", "category", "description", "skus", "food"}  # a tea: food
    assert product.idempotency_key("CNY") == DemoCatalog.load().products[0].idempotency_key("CNY")
    keys = {p.idempotency_key("CNY") for p in catalog.products}
    assert len(keys) == len(catalog.products)
    assert all(len(key) <= 100 for key in keys)


def test_an_empty_catalog_plans_every_product(catalog: DemoCatalog) -> None:
    todo = plan(catalog, {})
    assert todo.create == catalog.products
    assert not todo.finish and todo.done == 0 and not todo.complete


def test_a_seeded_catalog_plans_nothing(catalog: DemoCatalog) -> None:
    existing = {sku.sku: Existing("p", "PUBLISHED") for sku in catalog.skus()}
    todo = plan(catalog, existing)
    assert todo.complete and todo.done == len(catalog.products)


def test_an_interrupted_seed_finishes_its_drafts_and_creates_the_rest(
    catalog: DemoCatalog,
) -> None:
    first, second, third, *_ = catalog.products
    existing = {
        first.skus[0].sku: Existing("p1", "PUBLISHED"),
        second.skus[0].sku: Existing("p2", "DRAFT"),
        third.skus[0].sku: Existing("p3", "UNPUBLISHED"),  # an admin's choice, kept
    }
    todo = plan(catalog, existing)
    assert todo.done == 2
    assert todo.finish == ((second, "p2"),)
    assert todo.create == catalog.products[3:]


def test_existing_by_sku_reads_the_admin_listing() -> None:
    page = {
        "items": [
            {"id": "a", "status": "PUBLISHED", "skus": [{"sku": "X-1"}, {"sku": "X-2"}]},
            {"id": "b", "status": "DRAFT", "skus": [{"sku": "Y-1"}]},
        ]
    }
    found = existing_by_sku([page])
    assert found == {
        "X-1": Existing("a", "PUBLISHED"),
        "X-2": Existing("a", "PUBLISHED"),
        "Y-1": Existing("b", "DRAFT"),
    }


def problem(status: int, code: str, detail: str) -> httpx.Response:
    body = {"type": f"https://docs.commerce-suite.dev/problems/{code}", "detail": detail}
    request = httpx.Request("POST", "http://gateway/api/v1/admin/products")
    return httpx.Response(status, json=body, request=request)


def test_problem_text_names_the_request_the_status_the_detail_and_the_code() -> None:
    text = problem_text(problem(409, "sku-exists", "SKU already exists: TEA-1"))
    assert text == "POST /api/v1/admin/products: 409 SKU already exists: TEA-1 (sku-exists)"


def test_problem_text_of_a_body_that_is_not_json() -> None:
    request = httpx.Request("GET", "http://gateway/api/v1/products")
    assert problem_text(httpx.Response(502, text="Bad gateway", request=request)) == (
        "GET /api/v1/products: 502 Bad gateway"
    )


def scripted(*responses: httpx.Response) -> tuple[Gateway, list[float]]:
    """A Gateway whose requests get `responses` in turn, and the pauses it took."""
    queue = list(responses)
    client = httpx.Client(
        transport=httpx.MockTransport(lambda request: queue.pop(0)), base_url="http://gw"
    )
    pauses: list[float] = []
    return Gateway(client, pauses.append), pauses


def test_a_rate_limited_call_is_retried_after_retry_after() -> None:
    limited = httpx.Response(429, headers={"Retry-After": "2"}, json={"detail": "slow down"})
    gateway, pauses = scripted(limited, httpx.Response(200, json={"ok": True}))
    assert gateway.call("GET", "/products", {200}).json() == {"ok": True}
    assert pauses == [2.0]


def test_a_refusal_is_a_seed_error_with_the_problem_detail() -> None:
    gateway, _ = scripted(problem(401, "unauthorized", "invalid credentials"))
    with pytest.raises(SeedError, match=r"401 invalid credentials \(unauthorized\)"):
        gateway.login(AdminCredentials.resolve())


def test_registering_a_taken_email_is_fine() -> None:
    gateway, _ = scripted(problem(409, "email-unavailable", "this email cannot be registered"))
    assert gateway.register(MemberCredentials.resolve(), "Demo", "en") is False


@pytest.mark.parametrize(
    ("flag", "setting", "wanted"),
    [
        (False, None, True),
        (True, None, False),
        (False, "0", False),
        (False, "false", False),
        (False, "No", False),
        (False, "1", True),
    ],
)
def test_seeding_is_skipped_with_the_flag_or_the_setting(
    monkeypatch: pytest.MonkeyPatch, flag: bool, setting: str | None, wanted: bool
) -> None:
    if setting is None:
        monkeypatch.delenv("SUITE_SEED_DEMO", raising=False)
    else:
        monkeypatch.setenv("SUITE_SEED_DEMO", setting)
    assert cli.seed_wanted(flag) is wanted


def test_a_member_password_from_the_environment_is_never_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEMO_MEMBER_EMAIL", "me@example.org")
    monkeypatch.setenv("DEMO_MEMBER_PASSWORD", "my-own-secret-password")
    member = MemberCredentials.resolve()
    assert member.email == "me@example.org" and not member.is_development
    assert "my-own-secret-password" not in member.shown()
    assert member.shown() == "me@example.org / $DEMO_MEMBER_PASSWORD"


def test_the_development_member_is_shown_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEMO_MEMBER_EMAIL", raising=False)
    monkeypatch.delenv("DEMO_MEMBER_PASSWORD", raising=False)
    member = MemberCredentials.resolve()
    assert member.is_development
    assert (
        member.shown()
        == f"{MemberCredentials.development_email} / {MemberCredentials.development_password}"
    )


def test_the_admin_login_command_hides_a_password_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BOOTSTRAP_ADMIN_PASSWORD", "a-real-admin-password")
    command = AdminCredentials.resolve().login_command("http://127.0.0.1:8000")
    assert "a-real-admin-password" not in command
    body = json.loads(command.split(" -d ", 1)[1].strip("'"))
    assert body["password"] == "<BOOTSTRAP_ADMIN_PASSWORD>"
