"""Payment provider events, each stored once by its id: the record that it was applied."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from peal.db import Base, UUIDPrimaryKey, utcnow


class PaymentEvent(UUIDPrimaryKey, Base):
    """A webhook event (e.g. Stripe's `evt_...`): inserted and applied in one transaction,
    so a retried or replayed delivery finds it and changes nothing."""

    __tablename__ = "payment_events"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    provider: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(100))
    # The provider's object id the event is about (a PaymentIntent, a Charge), for audits.
    object_id: Mapped[str | None] = mapped_column(String(255))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
