"""The order service: carts, orders, the order-to-cash saga and the read models it prices from
(catalog prices, member tiers, coupons)."""
