"""The ledger check (`peal check-ledger`): do the totals of every request match its money?"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from peal.config import Settings
from peal.db import Database
from peal.funding.models import FundingDonation, FundingRequest

CENT = Decimal("0.01")


@dataclass(frozen=True)
class LedgerMismatch:
    request_id: uuid.UUID
    title: str
    current_amount: Decimal
    expected_amount: Decimal
    supporters_count: int
    expected_supporters: int

    def describe(self) -> str:
        parts = []
        if self.current_amount != self.expected_amount:
            parts.append(
                f"currentAmount {self.current_amount} != succeeded donations {self.expected_amount}"
            )
        if self.supporters_count != self.expected_supporters:
            parts.append(
                f"supportersCount {self.supporters_count} != distinct donors "
                f"{self.expected_supporters}"
            )
        return f"{self.request_id} “{self.title}”: " + "; ".join(parts)


async def check_ledger(session: AsyncSession) -> tuple[int, list[LedgerMismatch]]:
    """For every request: `currentAmount` = the sum of its succeeded donations and
    `supportersCount` = their distinct donors. Returns (requests checked, mismatches)."""
    sums = (
        select(
            FundingDonation.funding_request_id.label("request_id"),
            func.sum(FundingDonation.amount).label("total"),
            func.count(distinct(FundingDonation.donor_id)).label("donors"),
        )
        .where(FundingDonation.status == "succeeded")
        .group_by(FundingDonation.funding_request_id)
        .subquery()
    )
    rows = await session.execute(
        select(
            FundingRequest.id,
            FundingRequest.title,
            FundingRequest.current_amount,
            FundingRequest.supporters_count,
            sums.c.total,
            sums.c.donors,
        )
        .outerjoin(sums, sums.c.request_id == FundingRequest.id)
        .order_by(FundingRequest.created_at, FundingRequest.id)
    )
    checked = 0
    mismatches = []
    for request_id, title, current, supporters, total, donors in rows:
        checked += 1
        # Quantized: SQLite hands NUMERIC back through floats.
        current_amount = Decimal(str(current)).quantize(CENT)
        expected = Decimal(str(total or 0)).quantize(CENT)
        expected_supporters = int(donors or 0)
        if current_amount != expected or supporters != expected_supporters:
            mismatches.append(
                LedgerMismatch(
                    request_id, title, current_amount, expected, supporters, expected_supporters
                )
            )
    return checked, mismatches


async def run_ledger_check(settings: Settings) -> tuple[int, list[LedgerMismatch]]:
    """`check_ledger` on its own connection (the CLI)."""
    db = Database(settings)
    try:
        async with db.sessionmaker() as session:
            return await check_ledger(session)
    finally:
        await db.dispose()
