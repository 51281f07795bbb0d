"""The notification service: owns message templates, members' notification preferences,
webhook subscriptions and the delivery log; turns other services' events into emails, SMS and
signed webhooks, and publishes each delivery's outcome on `notification.events`."""
