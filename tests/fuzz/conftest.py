"""One launched suite (tools.launched: PostgreSQL, the local Redis, the launcher's own broker) for
the fuzz tests, an admin and a member logged in before any fuzzing starts, and a tally of the
answers per target printed at the end of the run."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from chassis.testing.infra import DatabaseFactory
from tests.e2e.storefront.conftest import DATABASES, SUITE_ENV, bearer, unique
from tools.launched import LaunchedSuite, launched_suite

FUZZ_ENV = {
    **SUITE_ENV,
    # Thousands of requests a minute from one address and two tokens: the gateway's limits
    # would answer most of them 429 and the fuzzer would learn nothing about the services.
    "GATEWAY_RATE_PER_MEMBER_PER_MINUTE": "1000000",
    "GATEWAY_RATE_PER_CLIENT_PER_MINUTE": "1000000",
}

# (target, role) -> status code -> responses; printed by pytest_terminal_summary.
TALLY: dict[tuple[str, str], Counter[int]] = {}


@dataclass
class FuzzSuite:
    suite: LaunchedSuite
    tokens: dict[str, dict[str, str]]  # role -> Authorization header


@pytest.fixture(scope="module")
async def fuzz_suite(
    create_database: DatabaseFactory,
    redis_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[FuzzSuite]:
    databases = {name: await create_database(name) for name in DATABASES}
    data_dir = tmp_path_factory.mktemp("fuzz")
    with launched_suite(
        data_dir, databases=databases, redis_url=redis_url, extra_env=FUZZ_ENV
    ) as suite:
        async with httpx.AsyncClient(base_url=suite.gateway, timeout=15, trust_env=False) as http:
            # Logged in before the fuzzer sends its own logins: whatever the login limiter
            # makes of those, these tokens are already issued (and live 15 minutes).
            email, password = f"{unique('fuzz')}@example.com", "a long fuzzing password"
            registered = await http.post(
                "/api/v1/auth/register",
                json={"email": email, "password": password, "name": "Fuzz", "locale": "en"},
            )
            assert registered.status_code == 201, registered.text
            tokens = {}
            for role, (who, secret) in {
                "admin": (suite.admin_email, suite.admin_password),
                "member": (email, password),
            }.items():
                response = await http.post(
                    "/api/v1/auth/login", json={"email": who, "password": secret}
                )
                assert response.status_code == 200, response.text
                tokens[role] = bearer(response.json()["access_token"])
        yield FuzzSuite(suite, tokens)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TALLY:
        return
    terminalreporter.section("fuzzing: responses per target and token")
    for (target, role), statuses in sorted(TALLY.items()):
        spread = ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items()))
        terminalreporter.write_line(
            f"{target:<13} {role:<7} {sum(statuses.values()):>6} requests  {spread}"
        )


@pytest.fixture(autouse=True)
def _schemathesis_node_id(request: pytest.FixtureRequest) -> None:
    # schemathesis.pytest.from_fixture (4.32) reads `node._nodeid`, which pytest 9.2 no longer
    # has; it only uses it to name the operations it reports, so give it the node's id.
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid
