from __future__ import annotations

import pytest

from chassis.errors import ProblemError
from gateway_service.service.paths import forwarded_query, page_size, parse_path


@pytest.mark.parametrize(
    ("raw", "decoded", "forwarded"),
    [
        (b"/api/v1/products", "/api/v1/products", "/api/v1/products"),
        (b"/api/v1/inventory/TEA-250", "/api/v1/inventory/TEA-250", "/api/v1/inventory/TEA-250"),
        (b"/api/v1/products/%E8%8C%B6", "/api/v1/products/茶", "/api/v1/products/%E8%8C%B6"),
        (b"/api/v1/products/a%20b", "/api/v1/products/a b", "/api/v1/products/a%20b"),
        (b"/api/v1/products/a%3Ab", "/api/v1/products/a:b", "/api/v1/products/a:b"),
    ],
)
def test_a_path_is_read_once_and_forwarded_as_read(
    raw: bytes, decoded: str, forwarded: str
) -> None:
    path = parse_path(raw)
    assert (path.decoded, path.forwarded) == (decoded, forwarded)


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"/api/v1/cart/..%2Forders", 400),
        (b"/api/v1/cart/..%2forders", 400),
        (b"/api/v1/cart/%2e%2e/orders", 400),
        (b"/api/v1/cart/../orders", 400),
        (b"/api/v1/cart/./items", 400),
        (b"/api/v1/cart/..%5Corders", 400),
        (b"/api/v1/products/%00", 400),
        (b"/api/v1/products/%1B", 400),
        (b"/api/v1/products/%7F", 400),
        (b"/api/v1/products/%C2%85", 400),  # C1 control (NEL)
        (b"/api/v1/products/a%E2%80%AEb", 400),  # right-to-left override
        (b"/api/v1/products/%FF", 400),  # not UTF-8
        (b"/api/v1/products/%C0%AE%C0%AE", 400),  # overlong ".."
        (b"/api/v1/products/", 404),
        (b"/api/v1//products", 404),
        (b"api/v1/products", 400),
    ],
)
def test_paths_that_could_change_shape_are_refused(raw: bytes, status: int) -> None:
    with pytest.raises(ProblemError) as refused:
        parse_path(raw)
    assert refused.value.status == status


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ("20", 20),
        ("¹", None),
        ("٣", None),
        ("-1", None),
        ("", None),
        ("0020", 20),
        ("9" * 5000, 10**9),  # past int()'s 4,300 digits: over any page, never a ValueError
        ("0" * 5000 + "7", 7),
    ],
)
def test_page_size_is_ascii_digits_only(value: str, size: int | None) -> None:
    assert page_size(value) == size


def test_a_query_keeps_its_escapes_and_encodes_what_clients_may_not_send() -> None:
    assert forwarded_query(b"q=tea&size=20") == "q=tea&size=20"
    assert forwarded_query(b"q=%00") == "q=%00"
    assert forwarded_query("q=茶 x#y".encode()) == "q=%E8%8C%B6%20x%23y"
    assert forwarded_query(b"q=\x00") == "q=%00"
