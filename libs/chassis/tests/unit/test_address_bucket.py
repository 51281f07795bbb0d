"""Who a per-address limit counts as one client (chassis.addresses.address_bucket)."""

from __future__ import annotations

import pytest

from chassis.addresses import address_bucket


@pytest.mark.parametrize(
    ("address", "bucket"),
    [
        ("198.51.100.7", "198.51.100.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),  # the same subscriber
        ("::ffff:198.51.100.7", "198.51.100.7"),
        ("unknown", "unknown"),
    ],
)
def test_ipv6_clients_are_counted_per_64(address: str, bucket: str) -> None:
    assert address_bucket(address) == bucket
