"""A RuleError raised anywhere under a route is the problem+json a ProblemError gives."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from chassis.errors import ProblemError, install_problem_handlers
from chassis.rules import RuleError


class StockRuleError(RuleError):
    status = 409


def make_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/rule/{kind}")
    async def rule(kind: str) -> None:
        if kind == "default":
            raise RuleError("invalid-price", "amount must not be negative")
        if kind == "subclass":
            raise StockRuleError("invalid-price", "amount must not be negative")
        raise RuleError("invalid-price", "amount must not be negative", status=int(kind))

    @app.get("/problem/{status}")
    async def problem(status: int) -> None:
        raise ProblemError(status, "amount must not be negative", code="invalid-price")

    return app


async def answer(path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(path)


@pytest.mark.parametrize(
    ("rule", "status"), [("default", 422), ("subclass", 409), ("409", 409), ("404", 404)]
)
async def test_a_rule_error_answers_as_the_problem_error_would(rule: str, status: int) -> None:
    got, expected = await answer(f"/rule/{rule}"), await answer(f"/problem/{status}")
    assert got.status_code == expected.status_code == status
    assert got.headers["content-type"] == expected.headers["content-type"]
    body, expected_body = got.json(), expected.json()
    assert body.pop("instance") == f"/rule/{rule}"
    assert expected_body.pop("instance") == f"/problem/{status}"
    assert body == expected_body
    assert body["type"].endswith("/invalid-price")


def test_status_is_the_class_default_unless_the_refusal_names_one() -> None:
    assert RuleError("c", "d").status == 422
    assert StockRuleError("c", "d").status == 409
    assert StockRuleError("c", "d", status=422).status == 422
    assert StockRuleError.status == 409  # an instance's status leaves its class alone
    error = RuleError("no-skus", "a product needs at least one SKU")
    assert (error.code, error.detail, str(error)) == (
        "no-skus",
        "a product needs at least one SKU",
        "a product needs at least one SKU",
    )
