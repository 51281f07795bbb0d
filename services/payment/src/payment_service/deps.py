"""The payment service's runtime type and route dependency, named once.

`PaymentState` holds what only payment has: the provider adapter and the risk limits (read
from the settings once, not per event). `main.create_app` builds it as the state of
`main.PAYMENT`, with the provider it is given; handlers read it as `delivery.runtime.state`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from chassis.deps import get_runtime
from chassis.runtime import Runtime
from payment_service.adapters.providers import PaymentProvider
from payment_service.config import PaymentSettings
from payment_service.domain.risk import RiskLimits


@dataclass(frozen=True)
class PaymentState:
    provider: PaymentProvider
    limits: RiskLimits

    @classmethod
    def build(cls, settings: PaymentSettings, provider: PaymentProvider) -> PaymentState:
        return cls(
            provider=provider,
            limits=RiskLimits(
                max_amount_cny=settings.risk_max_amount_cny,
                velocity_max=settings.risk_velocity_max,
                velocity_window_seconds=settings.risk_velocity_window_seconds,
            ),
        )


PaymentRuntime = Runtime[PaymentSettings, PaymentState]
RuntimeDep = Annotated[PaymentRuntime, Depends(get_runtime)]
