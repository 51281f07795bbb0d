"""How a use case stages an event whoever called it: `Delivery.stage` in an event handler
(correlated with the event handled), the outbox bound to the transaction's session in a route
or a job (`session_stage`). The use case takes a `Stage` and does not care which."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from chassis.outbox import Outbox
from shared_events import Envelope, EventPayload


class Stage(Protocol):
    """Writes an event (and its `older` versions) to the outbox in the current transaction."""

    def __call__(
        self, payload: EventPayload, *, subject: str, older: Sequence[EventPayload] = ...
    ) -> Envelope: ...


def session_stage(outbox: Outbox, session: AsyncSession, *, correlate: bool = False) -> Stage:
    """Stage into `session`'s transaction, outside a consumer; the events go out once it
    commits. `correlate`: the subject is the correlation id too (an order's events raised by a
    job or an admin request then trace like those of its saga)."""

    def stage(
        payload: EventPayload, *, subject: str, older: Sequence[EventPayload] = ()
    ) -> Envelope:
        correlation_id = subject if correlate else None
        return outbox.stage(
            session, payload, subject=subject, correlation_id=correlation_id, older=older
        )

    return stage
