"""`make demo`'s last step (`tools.demo`): the order's trace codes looked up on the public trace
route, and a clear word instead of a stack trace when none comes. No network: the gateway is a
scripted transport."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from rich.console import Console

from tools import demo

ORDER_ID = "d7fefe75-ea16-4ccf-a699-dcd33fbf9f54"
CODE = "3TWNFMC6B15HKCHC"
TRACE = {
    "trace_code": CODE,
    "quantity": 1,
    "product": {"sku": "TEA-TIEGUANYIN-250G", "name": "Anxi Tieguanyin oolong"},
    "lot": {
        "code": "AX-TGY-AUT-01",
        "status": "SELLABLE",
        "origin": {"country": "CN", "region": "Anxi, Fujian", "producer": "Xiping Tea Cooperative"},
        "production_date": "2026-05-09",
        "expiry_date": "2028-05-08",
        "storage_class": "AMBIENT",
        "inspection_ref": "FJ-AX-QC-0917",
    },
    "custody": [
        {"step": "INSPECTED", "at": "2026-05-15T10:00:00Z", "detail": "FJ-AX-QC-0917"},
        {"step": "RECEIVED", "at": "2026-12-05T22:21:00Z", "detail": None},
        {"step": "ALLOCATED", "at": "2026-12-05T22:21:30Z", "detail": None},
    ],
    "recalled": False,
}


def order(*trace: dict[str, Any], status: str = "CONFIRMED") -> dict[str, Any]:
    item = {"sku": "TEA-TIEGUANYIN-250G", "quantity": 1, "trace": list(trace)}
    return {"id": ORDER_ID, "status": status, "items": [item]}


@pytest.fixture
def printed(monkeypatch: pytest.MonkeyPatch) -> Callable[[], str]:
    console = Console(record=True, width=120, highlight=False)
    monkeypatch.setattr(demo, "console", console)
    monkeypatch.setattr(demo, "WAIT_SECONDS", 0.2)
    return lambda: console.export_text()


def journey(handler: Callable[[httpx.Request], httpx.Response]) -> demo.Journey:
    j = demo.Journey("http://gw")
    j.http = httpx.Client(transport=httpx.MockTransport(handler), base_url="http://gw")
    return j


def test_the_trace_codes_of_an_order_are_those_of_its_items_lots() -> None:
    assert demo.trace_codes(order()) == []
    split = order(
        {"lot": "A", "quantity": 1, "trace_code": CODE},
        {"lot": "B", "quantity": 2, "trace_code": "X" * 16},
    )
    assert demo.trace_codes(split) == [CODE, "X" * 16]


def test_the_visitor_picks_food_first() -> None:
    products: list[dict[str, Any]] = [
        {"name": "Tote", "skus": [{"sku": "TOTE", "price": {"amount": 9000, "currency": "CNY"}}]},
        {
            "name": "Oolong",
            "food": {"storage_class": "AMBIENT"},
            "skus": [{"sku": "OOLONG", "price": {"amount": 2000, "currency": "CNY"}}],
        },
    ]
    assert [sku for sku, _, _ in demo.candidates(products)] == ["OOLONG", "TOTE"]


def test_the_demo_ends_with_the_trace_of_the_order(printed: Callable[[], str]) -> None:
    polls: list[str] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        if request.url.path == f"/api/v1/orders/{ORDER_ID}":
            polls.append(request.url.path)  # committed on the second read
            allocation = {"lot": "AX-TGY-AUT-01", "quantity": 1, "trace_code": CODE}
            return httpx.Response(200, json=order(allocation) if len(polls) > 1 else order())
        assert request.url.path == f"/api/v1/trace/{CODE}"
        assert "authorization" not in request.headers  # public
        return httpx.Response(200, json=TRACE)

    demo.look_up_trace(journey(gateway), {"Authorization": "Bearer t"}, order())
    text = printed()
    assert f"trace {CODE}: 1 x Anxi Tieguanyin oolong (TEA-TIEGUANYIN-250G)" in text
    assert "lot AX-TGY-AUT-01 (SELLABLE) from Xiping Tea Cooperative, Anxi, Fujian, CN" in text
    assert "produced 2026-05-09, expires 2028-05-08, ambient, inspection FJ-AX-QC-0917" in text
    assert [line.split()[0] for line in text.splitlines()[-3:]] == [
        "INSPECTED",
        "RECEIVED",
        "ALLOCATED",
    ]


def test_no_trace_code_in_time_is_said_plainly(printed: Callable[[], str]) -> None:
    j = journey(lambda request: httpx.Response(200, json=order()))
    demo.look_up_trace(j, {}, order())  # returns: no exception, no SystemExit
    text = printed()
    assert "timeout" in text
    assert f"no trace code on order {ORDER_ID}" in text


def test_an_order_not_confirmed_has_nothing_to_trace(printed: Callable[[], str]) -> None:
    j = journey(lambda request: pytest.fail(f"no request expected: {request.url}"))
    demo.look_up_trace(j, {}, order(status="REJECTED"))
    assert "the order is REJECTED: no stock committed, nothing to trace" in printed()
