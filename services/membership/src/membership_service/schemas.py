"""What the membership API accepts (unknown fields forbidden) and returns."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    field_validator,
    model_validator,
)

from chassis.validation import Identifier, Phone, RequestModel, Text
from membership_service.domain.accounts import (
    EMAIL_MAX_LENGTH,
    PASSWORD_MAX_LENGTH,
    AccountRuleError,
    Locale,
    check_password,
    normalise_email,
)
from membership_service.domain.coupons import CouponKind, CouponStatus
from membership_service.domain.tiers import Tier

MAX_AMOUNT = 100_000_000  # 1,000,000.00 CNY

Name = Annotated[Text, Field(min_length=1, max_length=100)]
Email = Annotated[Text, Field(max_length=EMAIL_MAX_LENGTH)]


def _policy(check: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a domain rule inside a validator: its refusal becomes a 422 with its message."""
    try:
        return check(*args, **kwargs)
    except AccountRuleError as error:
        raise ValueError(error.detail) from None


class RegisterCreate(RequestModel):
    """`POST /auth/register`. `role`, `tier`, `points`, ... are refused (extra="forbid")."""

    email: Email
    # Not stripped: spaces are part of a password. Checked by the domain's policy; control
    # characters are refused like everywhere (a lone surrogate could not even be hashed).
    password: Annotated[Text, Field(max_length=PASSWORD_MAX_LENGTH, repr=False)]
    name: Name
    locale: Locale = Locale.ZH_CN
    phone: Phone | None = Field(default=None, description="E.164, for SMS notices")

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    @field_validator("phone", mode="before")
    @classmethod
    def _trimmed_phone(cls, phone: Any) -> Any:
        # Only the password keeps its spaces; a phone number is trimmed as in PATCH /me.
        return phone.strip() if isinstance(phone, str) else phone

    @field_validator("email")
    @classmethod
    def _email(cls, email: str) -> str:
        return str(_policy(normalise_email, email))

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not name.strip():
            raise ValueError("a name is required")
        return name.strip()

    @model_validator(mode="after")
    def _password(self) -> RegisterCreate:
        _policy(check_password, self.password, email=self.email)
        return self

    def without_password(self) -> RegisterCreate:
        """What an Idempotency-Key is matched on: Redis never holds even a hash of the
        password."""
        return self.model_copy(update={"password": ""})


class LoginRequest(RequestModel):
    email: Annotated[Email, Field(min_length=1)]
    password: Annotated[Text, Field(min_length=1, max_length=1024, repr=False)]

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class RefreshRequest(RequestModel):
    refresh_token: Annotated[Text, Field(min_length=1, max_length=256, repr=False)]


class MemberUpdate(RequestModel):
    """`PATCH /me`: only these; `role`, `tier`, `points`, `email`, ... are refused. `phone`
    null removes the number (no more SMS); the others cannot be null."""

    name: Name | None = None
    locale: Locale | None = None
    marketing_consent: StrictBool | None = None
    phone: Phone | None = Field(default=None, description="E.164; null removes it")

    @model_validator(mode="after")
    def _no_nulls(self) -> MemberUpdate:
        nullable = {"phone"}
        nulls = [name for name in self.model_fields_set - nullable if getattr(self, name) is None]
        if nulls:
            raise ValueError(f"{', '.join(sorted(nulls))} cannot be null")
        return self


class MoneyIn(RequestModel):
    amount: Annotated[StrictInt, Field(ge=0, le=MAX_AMOUNT)]
    currency: Literal["CNY"] = "CNY"


# A plain integer is CNY minor units; `{"amount", "currency": "CNY"}` is the same.
AmountIn = Annotated[StrictInt, Field(ge=0, le=MAX_AMOUNT)] | MoneyIn


def minor_units(amount: int | MoneyIn) -> int:
    return amount.amount if isinstance(amount, MoneyIn) else amount


class CouponCreate(RequestModel):
    """`POST /admin/coupons`: a SPEND_THRESHOLD coupon for one member."""

    member_id: Annotated[Identifier, Field(max_length=36)]
    amount_off: AmountIn
    min_spend: AmountIn
    valid_days: Annotated[StrictInt, Field(ge=1, le=366)]

    @model_validator(mode="after")
    def _positive(self) -> CouponCreate:
        if minor_units(self.amount_off) <= 0:
            raise ValueError("amount_off must be more than 0")
        return self


class MoneyPublic(BaseModel):
    amount: int  # integer minor units
    currency: str


class MemberPublic(BaseModel):
    id: str
    email: str
    name: str
    locale: Locale
    tier: Tier
    roles: list[str]
    marketing_consent: bool
    phone: str | None = None  # only ever shown to the member themselves
    created_at: datetime


class CouponPublic(BaseModel):
    code: str
    kind: CouponKind
    amount_off: MoneyPublic
    min_spend: MoneyPublic
    valid_from: datetime
    valid_until: datetime
    first_order_only: bool
    status: CouponStatus


class CouponAdmin(CouponPublic):
    member_id: str


class Me(MemberPublic):
    """`GET /me`: the profile, the tier with its member price and spend, points, coupons."""

    tier_discount_percent: int
    spend_12m: MoneyPublic
    points_balance: int
    points_held: int
    points_value: MoneyPublic  # what the balance takes off an order
    coupons: list[CouponPublic]


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth token type, no secret
    expires_in: int  # seconds the access token lives
    refresh_expires_in: int
