"""The membership service: chassis + routes + the order-events consumer + the points expiry
and tier review jobs; publishes membership.events."""

from __future__ import annotations

from chassis.app import Job
from chassis.service import Service
from membership_service.api import router, well_known
from membership_service.config import MembershipSettings
from membership_service.deps import MembershipRuntime, MembershipState
from membership_service.service.accounts import bootstrap_admin
from membership_service.service.points import expire_points
from membership_service.service.tiers import review_tiers
from membership_service.service.tokens import load_keyring
from shared_events.topics import MEMBERSHIP_EVENTS


async def build_state(runtime: MembershipRuntime) -> MembershipState:
    """Once the runtime exists: the key ring that signs access tokens."""
    return MembershipState(keyring=await load_keyring(runtime.settings, runtime.database))


MEMBERSHIP = Service(
    MembershipSettings,
    routers=[router, well_known],
    publishes=[MEMBERSHIP_EVENTS],
    state=build_state,
    on_start=[bootstrap_admin],
    jobs=lambda settings: [
        Job("membership-points-expiry", settings.points_expiry_check_seconds, expire_points),
        Job("membership-tier-review", settings.tier_review_check_seconds, review_tiers),
    ],
)
create_app = MEMBERSHIP.create_app
