"""Membership rules: accounts, login backoff, tiers, points, coupons, refresh-token families
and the benefits of an order. No I/O here."""
