"""Notification use cases.

`notify` turns an event into delivery rows (in the consumer's transaction), `dispatch` sends
them from a job, `recipients` keeps the read models of members and orders, `preferences`,
`webhooks` and `queries` serve the API; `cache` keeps preferences and subscriptions in memory,
`rendering` writes the messages from the templates, `masking` says what may be shown.
"""
