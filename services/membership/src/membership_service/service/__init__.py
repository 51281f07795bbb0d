"""Membership use cases. Each write is one transaction: the state change, its ledger rows and
its outbox rows; event handlers run in the transaction the chassis opened (`Delivery`).

`accounts` (registration, profile, bootstrap admin), `tokens` (login, refresh), `limits`
(guessing and enumeration backoff), `keys` (the signing key ring), `coupons`, `points`
(ledger, expiry job), `tiers` (spend, review job) and `saga` (the order events); `store` holds
what they share.
"""

from membership_service.service.accounts import (
    bootstrap_admin,
    check_registration,
    get_me,
    register,
    update_me,
)
from membership_service.service.coupons import issue_by_admin
from membership_service.service.keys import keyring, load_signing_keys
from membership_service.service.points import expire_points
from membership_service.service.saga import complete_order, hold_benefits, settle_benefits
from membership_service.service.tiers import review_tiers
from membership_service.service.tokens import login, refresh

__all__ = [
    "bootstrap_admin",
    "check_registration",
    "complete_order",
    "expire_points",
    "get_me",
    "hold_benefits",
    "issue_by_admin",
    "keyring",
    "load_signing_keys",
    "login",
    "refresh",
    "register",
    "review_tiers",
    "settle_benefits",
    "update_me",
]
