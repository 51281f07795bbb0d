"""The membership service: members and their credentials, tiers, points, coupons and the keys
that sign the suite's access tokens; publishes `membership.events`, consumes `order.events`."""
