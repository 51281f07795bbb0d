"""The gateway: one storefront API in front of the services."""

from gateway_service.app import create_app

__all__ = ["create_app"]
