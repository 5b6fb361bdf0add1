"""Funding requests and the donations that fund them. Money is NUMERIC, never a float."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from peal.core.moderation import Moderated
from peal.db import Base, Timestamps, UUIDPrimaryKey


class RequestStatus(StrEnum):
    ACTIVE = "active"
    FUNDED = "funded"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class DonationStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUNDED = "refunded"


REQUEST_STATUSES = tuple(RequestStatus)
DONATION_STATUSES = tuple(DonationStatus)


class FundingRequest(UUIDPrimaryKey, Timestamps, Moderated, Base):
    __tablename__ = "funding_requests"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'funded', 'expired', 'cancelled')", name="status"),
        CheckConstraint("goal_amount >= 100", name="goal_amount"),
        CheckConstraint("current_amount >= 0", name="current_amount"),
        CheckConstraint("supporters_count >= 0", name="supporters_count"),
        Index("idx_funding_requests_author", "author_id"),
        Index("idx_funding_requests_status", "status"),
        Index("ix_funding_requests_status_created", "status", "created_at"),
        Index("ix_funding_requests_deadline", "deadline"),
    )

    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text)
    cover_image_url: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(100), index=True)
    goal_amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    current_amount: Mapped[Decimal] = mapped_column(
        Numeric(12, 2), default=Decimal("0.00"), server_default="0"
    )
    supporters_count: Mapped[int] = mapped_column(default=0, server_default="0")
    # Money records outlive an account: the author row is anonymised, never deleted, while
    # donations exist (see the users service), so RESTRICT guards against silent loss.
    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(50), default="active", server_default="active")
    deadline: Mapped[date] = mapped_column(Date)


class FundingDonation(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "funding_donations"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'succeeded', 'failed', 'refunded')", name="status"),
        CheckConstraint("amount > 0", name="amount"),
        Index("ix_funding_donations_request_created", "funding_request_id", "created_at", "id"),
        Index("ix_funding_donations_donor", "donor_id"),
        # "Has this donor already given to this request?" (supporters) and the ledger sums.
        Index("ix_funding_donations_request_donor", "funding_request_id", "donor_id", "status"),
        # The reconciliation sweep walks pending (and refunding) donations by age.
        Index("ix_funding_donations_status_created", "status", "created_at"),
    )

    funding_request_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("funding_requests.id", ondelete="RESTRICT")
    )
    donor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    amount: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    message: Mapped[str | None] = mapped_column(Text)
    is_anonymous: Mapped[bool] = mapped_column(default=False, server_default=false())
    status: Mapped[str] = mapped_column(String(20), default="pending", server_default="pending")
    provider: Mapped[str | None] = mapped_column(String(20))
    provider_payment_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    provider_refund_id: Mapped[str | None] = mapped_column(String(255))
    succeeded_at: Mapped[datetime | None]
    # Set when a refund was asked of the provider; the money leaves the totals only when the
    # provider confirms it (status `refunded`, `refunded_at`).
    refund_requested_at: Mapped[datetime | None]
    refunded_at: Mapped[datetime | None]


class FundingSupporter(Base):
    """A donor with money in a request: one row per (request, donor), kept exactly while she
    has a succeeded donation to it. A donation inserts it ignoring duplicates, and whether a row
    went in says whether `supporters_count` grows: no lock on the request row is needed to know.
    """

    __tablename__ = "funding_supporters"

    funding_request_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("funding_requests.id", ondelete="CASCADE"), primary_key=True
    )
    donor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
