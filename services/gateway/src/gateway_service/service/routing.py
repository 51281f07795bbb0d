"""Which service answers which path (the storefront API and the operators' `/ops` page). No
I/O here."""

from __future__ import annotations

# A path belongs to the longest prefix it equals or extends by `/...`.
ROUTES: tuple[tuple[str, str], ...] = (
    ("/api/v1/auth", "membership"),
    ("/api/v1/me", "membership"),
    ("/api/v1/admin/coupons", "membership"),
    ("/api/v1/products", "catalog"),
    ("/api/v1/categories", "catalog"),
    ("/api/v1/admin/products", "catalog"),
    ("/api/v1/inventory", "inventory"),
    ("/api/v1/admin/inventory", "inventory"),
    # Trace codes (溯源码): public, rate-limited like every route.
    ("/api/v1/trace", "inventory"),
    ("/api/v1/cart", "order"),
    ("/api/v1/orders", "order"),
    ("/api/v1/admin/orders", "order"),
    ("/api/v1/payments", "payment"),
    ("/api/v1/admin/payments", "payment"),
    ("/api/v1/notifications", "notification"),
    ("/api/v1/admin/notifications", "notification"),
    ("/api/v1/admin/webhooks", "notification"),
    ("/api/v1/admin/analytics", "analytics"),
    # The operators' dashboard: a page and its assets, served by analytics itself. The page
    # is public; the figures it shows come from the admin-only routes above, with the token
    # the page gets at its own login form.
    ("/ops", "analytics"),
)


def upstream_for(path: str) -> str | None:
    matches = [
        (len(prefix), name)
        for prefix, name in ROUTES
        if path == prefix or path.startswith(prefix + "/")
    ]
    return max(matches)[1] if matches else None
