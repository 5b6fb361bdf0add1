"""The FundingRequest and Donation resources as the API shows them, and the funding bodies.

Money (API.md): a JSON number with at most two decimals on the wire, an exact `Decimal` inside.
A string, a boolean, NaN, Infinity, a third decimal or an amount out of range is a 422.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)

from peal.core.schemas import CamelModel, Pagination, UTCTimestamp, input_date, refuse_explicit_null
from peal.core.text import bounded_text, optional_url, strip_html
from peal.users.schemas import UserSummary

TITLE_MAX = 255
DESCRIPTION_MAX = 10_000
CATEGORY_MAX = 100
MESSAGE_MAX = 1000
MIN_GOAL = Decimal("100.00")
MAX_GOAL = Decimal("10000000.00")
MIN_DONATION = Decimal("1.00")
MAX_DONATION = Decimal("1000000.00")
CENT = Decimal("0.01")

RequestStatus = Literal["active", "funded", "expired", "cancelled"]
DonationStatus = Literal["pending", "succeeded", "failed", "refunded"]
ProviderName = Literal["development", "stripe"]


def _json_number(value: Any) -> Any:
    """Only a JSON number is money: "25.50" (a string) or true are refused, not coerced."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError("must be a number")
    return value


def _money_out(value: Decimal) -> int | float:
    """A JSON number: 5000 for whole amounts, 25.5 otherwise. A two-decimal amount below
    10^13 converts to the float whose shortest form is that amount: no cent is ever lost."""
    if value == value.to_integral_value():
        return int(value)
    return float(value)


MoneyOut = Annotated[
    Decimal,
    PlainSerializer(_money_out, return_type=int | float, when_used="always"),
    WithJsonSchema({"type": "number", "description": "US dollars, at most two decimals"}),
]


def _in_cents(value: Decimal) -> Decimal:
    """One form per amount (10, 10.0 and 10.00 are all 10.00): bodies compare by value, so an
    Idempotency-Key retry that spells the amount differently is the same request."""
    return value.quantize(CENT)


def _money_in(minimum: Decimal, maximum: Decimal, example: float) -> tuple[Any, ...]:
    return (
        BeforeValidator(_json_number),
        Field(ge=minimum, le=maximum, decimal_places=2, allow_inf_nan=False),
        AfterValidator(_in_cents),
        WithJsonSchema(
            {
                "type": "number",
                "minimum": float(minimum),
                "maximum": float(maximum),
                "multipleOf": 0.01,
                "description": "US dollars: a JSON number with at most two decimals",
                "examples": [example],
            }
        ),
    )


GoalAmount = Annotated[Decimal, *_money_in(MIN_GOAL, MAX_GOAL, 5000)]
DonationAmount = Annotated[Decimal, *_money_in(MIN_DONATION, MAX_DONATION, 25.5)]


def _category(value: str | None) -> str | None:
    if value is None:
        return None
    cleaned = " ".join(strip_html(value, CATEGORY_MAX).split()).lower()
    if len(cleaned) > CATEGORY_MAX:
        raise ValueError(f"must be at most {CATEGORY_MAX} characters")
    return cleaned or None


Title = Annotated[str, bounded_text(TITLE_MAX, required=True), Field(examples=["Open my bakery"])]
Description = Annotated[
    str,
    bounded_text(DESCRIPTION_MAX, required=True),
    Field(examples=["An oven and a first month of flour to open a neighbourhood bakery."]),
]
Category = Annotated[str | None, AfterValidator(_category), Field(examples=["business"])]
ImageUrl = Annotated[
    str | None,
    optional_url(),
    Field(examples=["https://cdn.peal.app/uploads/2f1c.../cover.jpg"]),
]
Deadline = Annotated[date, BeforeValidator(input_date), Field(examples=["2026-12-31"])]
DonationMessage = Annotated[
    str | None, bounded_text(MESSAGE_MAX, required=False), Field(examples=["Go for it!"])
]


class FundingRequestCreate(CamelModel):
    """A new request: `goalAmount` ≥ 100.00, `deadline` after today and at most 90 days away,
    `coverImageUrl` an image you uploaded. Any other field (status, amounts...) is ignored."""

    title: Title
    description: Description
    category: Category = None
    cover_image_url: ImageUrl = None
    goal_amount: GoalAmount
    deadline: Deadline


class FundingRequestUpdate(CamelModel):
    """The fields an author may change; only those sent change. `goalAmount` and `deadline`
    follow the creation rules, and the goal never drops below what was raised."""

    title: Title | None = None
    description: Description | None = None
    category: Category = None
    cover_image_url: ImageUrl = None
    goal_amount: GoalAmount | None = None
    deadline: Deadline | None = None

    _no_null = refuse_explicit_null("title", "description", "goal_amount", "deadline")


class DonateBody(CamelModel):
    amount: DonationAmount
    message: DonationMessage = None
    is_anonymous: bool = Field(default=False, examples=[False])


class DonationIntentBody(DonateBody):
    """`POST /api/payments/create-donation-intent`: the donate body plus the request id."""

    request_id: uuid.UUID = Field(examples=[uuid.UUID(int=7)])


class ConfirmDonationBody(CamelModel):
    """Name the donation by its id, or by the provider's payment id (`pi_...`)."""

    # One of the two, not null: what `_one_reference` checks, said in the schema.
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {
                    "required": ["donationId"],
                    "properties": {"donationId": {"type": "string", "format": "uuid"}},
                },
                {
                    "required": ["paymentIntentId"],
                    "properties": {"paymentIntentId": {"type": "string", "minLength": 1}},
                },
            ]
        }
    )

    donation_id: uuid.UUID | None = Field(default=None, examples=[uuid.UUID(int=9)])
    payment_intent_id: str | None = Field(
        default=None, min_length=1, max_length=255, examples=["pi_3Q0abcDEF123"]
    )

    @model_validator(mode="after")
    def _one_reference(self) -> ConfirmDonationBody:
        if self.donation_id is None and not self.payment_intent_id:
            raise ValueError("donationId or paymentIntentId is required")
        return self


class DonationOut(CamelModel):
    """`donor` is null on an anonymous donation, except for the donor herself and admins."""

    id: uuid.UUID
    request_id: uuid.UUID
    amount: MoneyOut = Field(examples=[25.5])
    message: str | None = Field(default=None, examples=["Go for it!"])
    is_anonymous: bool = False
    status: DonationStatus = Field(examples=["succeeded"])
    donor: UserSummary | None = None
    created_at: UTCTimestamp


class FundingRequestOut(CamelModel):
    id: uuid.UUID
    title: str = Field(examples=["Open my bakery"])
    description: str
    cover_image_url: str | None = None
    category: str | None = Field(default=None, examples=["business"])
    goal_amount: MoneyOut = Field(examples=[5000])
    current_amount: MoneyOut = Field(examples=[1250.5])
    supporters_count: int = Field(examples=[31])
    status: RequestStatus = Field(examples=["active"])
    deadline: date = Field(examples=["2026-12-31"])
    author_id: uuid.UUID
    author: UserSummary
    progress: float = Field(ge=0, le=1, examples=[0.2501], description="Raised / goal, 0..1")
    created_at: UTCTimestamp
    updated_at: UTCTimestamp


class FundingRequestDetail(FundingRequestOut):
    """The detail view adds the latest succeeded donations (anonymous donors hidden)."""

    recent_donations: list[DonationOut] = Field(default_factory=list)


class FundingRequestEnvelope(CamelModel):
    request: FundingRequestDetail


# What the web client reads as "already paid": the development provider settles at once.
DEMO_CLIENT_SECRET = "demo_mode"  # noqa: S105 - a marker, not a secret

CONFIRMED_MESSAGES = {
    "succeeded": "Thank you! Your donation has been received.",
    "pending": "Your payment is still being processed; we will let you know.",
    "failed": "The payment did not go through; nothing was charged.",
    "refunded": "This donation was refunded.",
}


class DonationResult(CamelModel):
    """The answer to a donation: the donation, the request as it now stands, and what the
    client needs to finish paying: `donationId` and `paymentIntentId` (for the confirmation),
    `clientSecret` for Stripe Elements, `"demo_mode"` when the development provider already
    settled it (null once a Stripe donation is no longer pending)."""

    donation_id: uuid.UUID = Field(examples=[uuid.UUID(int=9)])
    donation: DonationOut
    request: FundingRequestOut
    provider: ProviderName = Field(examples=["stripe"])
    client_secret: str | None = Field(default=None, examples=["pi_3Q0abc_secret_XYZ"])
    payment_intent_id: str | None = Field(default=None, examples=["pi_3Q0abcDEF123"])


class ConfirmDonationResult(CamelModel):
    """`success` is true once the money is received; `message` says where the donation is."""

    success: bool = Field(examples=[True])
    message: str = Field(examples=[CONFIRMED_MESSAGES["succeeded"]])
    donation: DonationOut
    request: FundingRequestOut

    @classmethod
    def of(cls, donation: DonationOut, request: FundingRequestOut) -> ConfirmDonationResult:
        return cls(
            success=donation.status == "succeeded",
            message=CONFIRMED_MESSAGES.get(donation.status, CONFIRMED_MESSAGES["pending"]),
            donation=donation,
            request=request,
        )


class DonationsEnvelope(CamelModel):
    """`GET /api/payments/donations/:requestId`: `{"donations": [...], "pagination"}`."""

    donations: list[DonationOut]
    pagination: Pagination
