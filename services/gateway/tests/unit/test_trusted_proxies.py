"""A bad GATEWAY_TRUSTED_PROXIES entry stops the gateway at start-up, naming the entry, instead
of failing every request that reads it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway_service.config import GatewaySettings


def test_addresses_and_networks_are_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_TRUSTED_PROXIES", '["10.0.0.0/8", "192.168.1.7", "fd00::/8"]')
    assert GatewaySettings().trusted_proxies == ["10.0.0.0/8", "192.168.1.7", "fd00::/8"]


def test_a_bad_entry_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_TRUSTED_PROXIES", '["10.0.0.0/8", "the-load-balancer"]')
    with pytest.raises(ValidationError, match="not an address or network: 'the-load-balancer'"):
        GatewaySettings()
