"""Membership use cases. Each write is one transaction: the state change, its ledger rows and
its outbox rows; event handlers run in the transaction the chassis opened (`Delivery`).

`accounts` (registration, profile, bootstrap admin), `tokens` (the signing key ring, login,
refresh), `limits` (guessing and enumeration backoff in Redis), `coupons`, `points` (ledger,
expiry job), `tiers` (spend, review job) and `saga` (the order events); `member_rows` holds
the Core statements the order events and the jobs run (no ORM object per event), `queries` the
member reads of the routes.
"""
