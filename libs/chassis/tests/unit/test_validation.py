"""The request types refuse what must not reach a database or a screen, and every refusal is a
problem+json 4xx, documented in the OpenAPI."""

from __future__ import annotations

import json
import re
from typing import Annotated, get_args

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Path, Query
from pydantic import Field, StrictInt, TypeAdapter, ValidationError
from sqlalchemy.exc import DBAPIError

from chassis.errors import (
    PROBLEM_RESPONSES,
    ProblemResponse,
    document_problems,
    install_problem_handlers,
)
from chassis.validation import (
    TEXT_PATTERN,
    Currency,
    Identifier,
    MoneyIn,
    MoneyPublic,
    MultilineText,
    RequestModel,
    SkuCode,
    Text,
)
from shared_events.money import CURRENCIES

TEXT = TypeAdapter(Text)
MULTILINE = TypeAdapter(MultilineText)

REFUSED_EVERYWHERE = [
    "nul\x00inside",
    "\x01",
    "escape\x1b[31m",
    "del\x7f",
    "c1\x85",
    "c1\x9f",
    "rtl\u202eoverride",
    "lre\u202a",
    "pdf\u202c",
    "isolate\u2066",
    "pop\u2069",
    "lone\ud800surrogate",
    "\udfff",
]


@pytest.mark.parametrize("value", REFUSED_EVERYWHERE)
def test_control_bidi_and_surrogates_are_refused_in_text(value: str) -> None:
    with pytest.raises(ValidationError):
        TEXT.validate_python(value)
    with pytest.raises(ValidationError):
        MULTILINE.validate_python(value)


@pytest.mark.parametrize(
    "value", ["", "Han Meimei", "上海市南京路 88 号", "Zoë O'Brien-Smith", "😀"]
)
def test_printable_text_of_any_script_is_accepted(value: str) -> None:
    assert TEXT.validate_python(value) == value
    assert MULTILINE.validate_python(value) == value


def test_newline_and_tab_only_in_multiline_text() -> None:
    for value in ("two\nlines", "a\ttab"):
        assert MULTILINE.validate_python(value) == value
        with pytest.raises(ValidationError):
            TEXT.validate_python(value)
    with pytest.raises(ValidationError):
        MULTILINE.validate_python("carriage\rreturn")


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("0b0b5c1e-7a4c-4d2e-9f00-1a2b3c4d5e6f", True),
        ("order-1", True),
        ("", False),
        ("a/b", False),
        ("..", False),
        ("a b", False),
        ("x" * 101, False),
        ("¹", False),
    ],
)
def test_identifiers(value: str, accepted: bool) -> None:
    adapter = TypeAdapter(Identifier)
    if accepted:
        assert adapter.validate_python(value) == value
    else:
        with pytest.raises(ValidationError):
            adapter.validate_python(value)


def test_the_pattern_is_usable_by_json_schema_tools() -> None:
    # The OpenAPI carries the pattern; Python's re (what schema-driven generators use) reads it.
    assert TypeAdapter(Text).json_schema()["pattern"] == TEXT_PATTERN
    assert re.fullmatch(TEXT_PATTERN, "ok") and not re.fullmatch(TEXT_PATTERN, "no\x00")


class Line(RequestModel):
    name: Annotated[Text, Field(min_length=1, max_length=20)]
    quantity: Annotated[StrictInt, Field(gt=0, le=99)]
    attributes: dict[Annotated[Text, Field(max_length=10)], Text] = Field(default_factory=dict)


def test_request_models_trim_forbid_extras_and_take_strict_integers() -> None:
    assert Line.model_validate({"name": "  Tea  ", "quantity": 2}).name == "Tea"
    for quantity in ("2", True, 2.0, 0, 100, 10**30):
        with pytest.raises(ValidationError):
            Line.model_validate({"name": "Tea", "quantity": quantity})
    with pytest.raises(ValidationError):
        Line.model_validate({"name": "Tea", "quantity": 1, "role": "admin"})
    with pytest.raises(ValidationError):
        Line.model_validate({"name": "Tea", "quantity": 1, "attributes": {"k\x00": "v"}})


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    router = APIRouter()

    @router.post("/lines/{sku}")
    async def put_line(
        sku: Annotated[SkuCode, Path()], body: Line, q: Annotated[Text | None, Query()] = None
    ) -> dict[str, int]:
        return {"quantity": body.quantity}

    @router.get("/overflow/{sqlstate}")
    async def overflow(sqlstate: str) -> None:
        raise DBAPIError("UPDATE stock SET on_hand = on_hand + $1", None, _PgError(sqlstate))

    app.include_router(router, responses=PROBLEM_RESPONSES)
    return app


async def _call(method: str, url: str, **kwargs: object) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.request(method, url, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/lines/SKU-1", {"name": "Tea\u0000", "quantity": 1}),
        ("/lines/SKU-1", {"name": "Tea", "quantity": "2"}),
        ("/lines/SKU-1", {"name": "Tea", "quantity": True}),
        ("/lines/SKU-1", {"name": "Tea", "quantity": 2.0}),
        ("/lines/SKU-1?q=%00", {"name": "Tea", "quantity": 1}),
        ("/lines/SKU%00", {"name": "Tea", "quantity": 1}),
        ("/lines/%E2%80%AE", {"name": "Tea", "quantity": 1}),
    ],
)
async def test_refusals_are_422_problems(url: str, body: dict[str, object]) -> None:
    response = await _call("POST", url, json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/validation-error")


async def test_a_lone_surrogate_anywhere_in_a_body_is_a_422() -> None:
    for raw in (
        '{"name": "T\\ud800", "quantity": 1}',
        '{"name": "T", "quantity": 1, "\\udc00": 1}',
    ):
        response = await _call(
            "POST", "/lines/SKU-1", content=raw, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, response.text


def test_a_problem_that_echoes_a_lone_surrogate_still_renders() -> None:
    # json.dumps(ensure_ascii=False) keeps it and UTF-8 cannot encode it: "?" instead of a 500.
    body = ProblemResponse({"detail": "unknown event type 'x\ud800'"}).body
    assert json.loads(body) == {"detail": "unknown event type 'x?'"}


async def test_database_refusals_a_client_caused_are_4xx_and_other_database_errors_a_500() -> None:
    out_of_range = await _call("GET", "/overflow/22003")
    assert out_of_range.status_code == 422
    assert out_of_range.json()["type"].endswith("/unstorable-value")
    duplicate = await _call("GET", "/overflow/23505")
    assert duplicate.status_code == 409
    assert duplicate.json()["type"].endswith("/already-exists")
    deadlock = await _call("GET", "/overflow/40P01")
    assert deadlock.status_code == 500
    assert "on_hand" not in deadlock.text  # no SQL, no stack trace


def test_the_openapi_documents_problem_json_for_every_error() -> None:
    document = document_problems(_app().openapi())
    responses = document["paths"]["/lines/{sku}"]["post"]["responses"]
    assert set(responses) == {"200", *(str(status) for status in PROBLEM_RESPONSES)}
    assert list(responses["422"]["content"]) == ["application/problem+json"]
    problem = document["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "instance"} <= set(problem["required"])
    json.dumps(document)  # serialisable as served


MONEY_REFUSED = [
    {"amount": -1, "currency": "CNY"},
    {"amount": 10**12 + 1, "currency": "CNY"},
    {"amount": "100", "currency": "CNY"},
    {"amount": 1.5, "currency": "CNY"},
    {"amount": True, "currency": "CNY"},
    {"amount": 100, "currency": "GBP"},
    {"amount": 100},
    {"amount": 100, "currency": "CNY", "extra": 1},
]


@pytest.mark.parametrize("body", MONEY_REFUSED)
def test_money_in_refuses_what_is_not_minor_units_of_a_known_currency(
    body: dict[str, object],
) -> None:
    with pytest.raises(ValidationError):
        MoneyIn.model_validate(body)


@pytest.mark.parametrize("currency", ["CNY", "USD", "EUR"])
def test_money_in_takes_integer_minor_units(currency: str) -> None:
    money = MoneyIn.model_validate({"amount": 10**12, "currency": currency})
    assert (money.amount, money.currency) == (10**12, currency)
    assert TypeAdapter(Currency).validate_python(currency) == currency
    assert MoneyPublic(amount=0, currency=currency).model_dump() == {
        "amount": 0,
        "currency": currency,
    }


def test_the_api_takes_exactly_the_currencies_the_events_know() -> None:
    """`Currency` is a Literal for the OpenAPI document; `shared_events.money.CURRENCIES` is what
    the services convert and format by. They must name the same currencies."""
    assert set(get_args(Currency)) == CURRENCIES
