"""The base of every domain rule's refusal. No I/O here: domain modules import it.

A domain function raises `RuleError("code", "detail")` (or a service's subclass of it); the
handler installed by `chassis.errors.install_problem_handlers` answers it with the same
problem+json as `ProblemError(status, detail, code=code)`, so a use case no longer converts it
by hand, and the Idempotency-Key stores keep it like one (`chassis.errors.as_problem`), so a
retry is answered with the same refusal. `status` is 422 (the request breaks a rule); a
subclass may change the default, and one refusal may name its own (409 for a transition the
current state does not allow).
"""

from __future__ import annotations


class RuleError(Exception):
    """A request that breaks a domain rule; `code` is stable for clients (the problem type)."""

    status: int = 422

    def __init__(self, code: str, detail: str, *, status: int | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        if status is not None:
            self.status = status  # this refusal only; the class default stays
