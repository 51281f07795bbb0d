"""Schema-driven fuzzing (schemathesis) of every service's own /openapi.json and of the gateway's
merged one, on a launched suite, once with an admin token and once with a member's.

Each operation gets valid and invalid requests (the coverage phase's boundaries: missing and
extra fields, wrong types, control and bidi characters, out-of-range numbers, unexpected
methods; then random ones), and every answer must be: no 5xx; a status code, content type and
body the OpenAPI documents; problem+json for every error. A failure prints the curl command
that reproduces it.

FUZZ_MAX_EXAMPLES (random examples per operation, 8 by default) and FUZZ_SEED make deeper or
other runs: `FUZZ_MAX_EXAMPLES=500 uv run --frozen pytest tests/fuzz`.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator

import pytest
import requests
import schemathesis
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from chassis.errors import PROBLEM_JSON

from .conftest import TALLY, FuzzSuite

pytestmark = pytest.mark.integration

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "8"))
SEED = int(os.environ.get("FUZZ_SEED", "20260101"))
SERVICES = (
    "catalog",
    "order",
    "inventory",
    "payment",
    "membership",
    "notification",
    "analytics",
)
ROLES = ("admin", "member")
# The probes are no API (no inputs; /metrics is Prometheus text) and the gateway routes none.
PROBES = ["/healthz", "/readyz", "/metrics"]

# Services with admin routes only: a member run of their own OpenAPI has nothing to send (the
# gateway run with the member token still sends it their routes, for 403s).
ADMIN_ONLY = {"analytics"}

TARGETS = [
    (name, role)
    for name in (*SERVICES, "gateway")
    for role in ROLES
    if not (name in ADMIN_ONLY and role == "member")
]


def problem_details(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> None:
    """Every 4xx and 5xx is RFC 9457 problem+json whose `status` is the response's."""
    if response.status_code < 400:
        return
    content_type = (response.headers.get("content-type") or [""])[0].split(";")[0].strip()
    assert content_type == PROBLEM_JSON, f"{response.status_code} answered as {content_type!r}"
    body = response.json()
    assert body.get("status") == response.status_code, f"problem status {body.get('status')}"
    assert all(isinstance(body.get(key), str) for key in ("type", "title", "detail")), body


CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    # An input the OpenAPI rules out ("2", true or 2.0 for an integer, a NUL in a name, ...)
    # must be refused, not stored.
    negative_data_rejection,
]


@pytest.fixture(params=TARGETS, ids=lambda param: "-".join(param))
def target(request: pytest.FixtureRequest) -> tuple[str, str]:
    """(service or "gateway", role)."""
    name, role = request.param
    return name, role


@pytest.fixture
def api(target: tuple[str, str], fuzz_suite: FuzzSuite) -> schemathesis.BaseSchema:
    """The target's own OpenAPI, with the role's token on every request it generates."""
    name, role = target
    # The coverage phase (every boundary of every parameter, a few hundred requests per
    # service) runs with the admin token, which passes every route's authorisation so its
    # inputs are what is judged. The member runs draw random examples only.
    thorough = role == "admin"
    operations = []
    if name != "gateway" and role == "member":
        # A member on an admin route is a 403 before any input is read; the gateway run
        # with the member token still sends them there.
        operations.append({"include-tag": "admin", "enabled": False})
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "headers": fuzz_suite.tokens[role],
            "request-timeout": 10,
            "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "database": "none"},
            "phases": {
                "examples": {"enabled": False},
                "coverage": {"enabled": thorough},
                "stateful": {"enabled": False},
            },
            "operations": operations,
        }
    )
    return schemathesis.openapi.from_url(
        f"{fuzz_suite.suite.urls[name]}/openapi.json", config=config
    )


@pytest.fixture
def tally(target: tuple[str, str]) -> Counter[int]:
    return TALLY.setdefault(target, Counter())


@pytest.fixture
def http_session() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False  # loopback only: no proxy from the environment
        yield session


schema = schemathesis.pytest.from_fixture("api").exclude(path=PROBES)


@schema.parametrize()
def test_every_answer_is_documented_and_no_input_is_a_server_error(
    case: schemathesis.Case, http_session: requests.Session, tally: Counter[int]
) -> None:
    response = case.call(session=http_session)
    tally[response.status_code] += 1
    case.validate_response(response, checks=CHECKS, additional_checks=[problem_details])


@pytest.mark.parametrize("service", SERVICES)
def test_no_input_reached_the_database_unchecked(fuzz_suite: FuzzSuite, service: str) -> None:
    """Runs after the fuzzing (same module, later in the file). chassis.errors answers 422 when
    PostgreSQL refuses a value (NUL, a sum past int4) and logs it: each such line is a rule a
    request model is missing, and each unhandled error a 500 the checks above also report."""
    log = fuzz_suite.suite.log(service).read_text(errors="replace")
    missed = [
        line[:500]
        for line in log.splitlines()
        if "database refused a value" in line or "unhandled error" in line
    ]
    assert not missed, "\n".join(missed[:5])
