"""Payment use cases (payments.py), the reads they share (store.py) and the API reads
(queries.py)."""

from payment_service.service.payments import Payments, call_provider
from payment_service.service.queries import get_ledger, get_payment

__all__ = ["Payments", "call_provider", "get_ledger", "get_payment"]
