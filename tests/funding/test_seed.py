"""`peal seed`'s funding step: requests in every status, donations, stories, a clean ledger."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select

from peal.funding.ledger import check_ledger
from peal.funding.models import FundingDonation, FundingRequest
from peal.seed import seed_funding
from peal.stories.models import SuccessStory
from peal.users.models import User


async def test_seed_funding_covers_every_status_and_runs_once(
    app: FastAPI, make_user: Callable[..., Any]
) -> None:
    people = {
        "amara@demo.peal.app": await make_user("woman", email="amara@demo.peal.app"),
        "lucia@demo.peal.app": await make_user("woman", email="lucia@demo.peal.app"),
        "grace@demo.peal.app": await make_user("sponsor", email="grace@demo.peal.app"),
    }
    for _ in range(2):
        async with app.state.db.sessionmaker() as session:
            users = {email: await session.get(User, person.id) for email, person in people.items()}
            await seed_funding(session, app.state.settings, users)

    async with app.state.db.sessionmaker() as session:
        statuses = sorted((await session.scalars(select(FundingRequest.status))).all())
        donations = list((await session.scalars(select(FundingDonation))).all())
        stories = list((await session.scalars(select(SuccessStory))).all())
        _checked, mismatches = await check_ledger(session)
    assert statuses == ["active", "cancelled", "expired", "funded"]
    assert any(d.is_anonymous for d in donations) and any(not d.is_anonymous for d in donations)
    assert {d.status for d in donations} == {"succeeded", "refunded"}
    assert len(stories) == 2
    assert sum(s.is_featured for s in stories) == 1
    assert mismatches == []
