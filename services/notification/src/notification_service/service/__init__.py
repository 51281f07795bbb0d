"""Notification use cases.

`notify` turns an event into delivery rows (in the consumer's transaction), `dispatch` sends
them from a job, `recipients` keeps the read models of members and orders, `preferences`,
`webhooks` and `queries` serve the API.
"""

from notification_service.service import preferences, queries, recipients, webhooks
from notification_service.service.dispatch import Dispatcher
from notification_service.service.notify import Notifier

__all__ = ["Dispatcher", "Notifier", "preferences", "queries", "recipients", "webhooks"]
