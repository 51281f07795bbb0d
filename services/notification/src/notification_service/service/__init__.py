"""Notification use cases.

`notify` turns an event into delivery rows (in the consumer's transaction), `dispatch` sends
them from a job, `recipients` keeps the read models of members and orders, `preferences`,
`webhooks` and `queries` serve the API; `cache` keeps preferences and subscriptions in memory.
"""

from notification_service.service import cache, preferences, queries, recipients, webhooks
from notification_service.service.dispatch import Dispatcher
from notification_service.service.notify import Notifier

__all__ = ["Dispatcher", "Notifier", "cache", "preferences", "queries", "recipients", "webhooks"]
