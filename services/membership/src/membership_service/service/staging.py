"""How a use case stages an event, whoever called it: `Delivery.stage` in an event handler,
the outbox of the request's transaction in a route or a job."""

from __future__ import annotations

from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from membership_service.deps import MembershipRuntime
from shared_events import Envelope, EventPayload


class Stage(Protocol):
    def __call__(self, payload: EventPayload, *, subject: str) -> Envelope: ...


def outbox_stage(runtime: MembershipRuntime, session: AsyncSession) -> Stage:
    """Stage into `session`'s transaction; the events go out once it commits."""

    def stage(payload: EventPayload, *, subject: str) -> Envelope:
        return runtime.outbox.stage(session, payload, subject=subject)

    return stage
