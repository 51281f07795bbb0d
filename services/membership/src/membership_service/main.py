"""The membership service: chassis + routes + the order-events consumer + the points expiry
and tier review jobs; publishes membership.events."""

from __future__ import annotations

from fastapi import FastAPI

from chassis.app import Job, ServiceSpec, create_service_app
from membership_service import service
from membership_service.api import router, well_known
from membership_service.config import MIGRATIONS_DIR, MembershipSettings
from membership_service.consumers import order_events_consumer
from shared_events.topics import MEMBERSHIP_EVENTS


def create_app(settings: MembershipSettings | None = None, *, start_relay: bool = True) -> FastAPI:
    settings = settings or MembershipSettings()
    return create_service_app(
        ServiceSpec(
            settings=settings,
            title="Membership service",
            routers=[router, well_known],
            migrations_dir=MIGRATIONS_DIR,
            publishes=[MEMBERSHIP_EVENTS],
            consumers=[order_events_consumer(settings)],
            on_start=[service.load_signing_keys, service.bootstrap_admin],
            jobs=[
                Job(
                    "membership-points-expiry",
                    settings.points_expiry_check_seconds,
                    service.expire_points,
                ),
                Job(
                    "membership-tier-review",
                    settings.tier_review_check_seconds,
                    service.review_tiers,
                ),
            ],
            start_relay=start_relay,
        )
    )
