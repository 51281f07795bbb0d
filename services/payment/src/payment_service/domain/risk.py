"""Risk rules: what refuses a payment before it reaches the provider. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RiskLimits:
    max_amount_cny: int  # minor units
    velocity_max: int  # payments per member ...
    velocity_window_seconds: int  # ... within this window


def risk_rejection(amount_cny: int, recent_payments: int, limits: RiskLimits) -> str | None:
    """Why a payment is refused before it reaches the provider, or None to go ahead.

    `amount_cny` is the order amount converted with `convert`; `recent_payments` counts the
    member's payment attempts in the window that the provider answered, this one excluded.
    """
    if amount_cny > limits.max_amount_cny:
        return f"amount {amount_cny} CNY minor units exceeds the limit of {limits.max_amount_cny}"
    if recent_payments >= limits.velocity_max:
        return (
            f"more than {limits.velocity_max} payments within "
            f"{limits.velocity_window_seconds} seconds"
        )
    return None
