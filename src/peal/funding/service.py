"""The rules of funding requests: who may raise funds, the goal and deadline rules, the
forward-only status, listing and presenting. Donations and the money live in `donations.py`."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    ColumnElement,
    Date,
    Select,
    and_,
    bindparam,
    delete,
    exists,
    func,
    or_,
    select,
)
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncSession

from peal.config import Settings
from peal.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from peal.core.export import row_dict
from peal.core.moderation import ModerationStatus, not_moderated
from peal.core.moderation import set_moderation_status as set_row_moderation
from peal.core.pagination import bound_offset_page
from peal.core.sql import NO_SYNC, contains_pattern, like, rowcount
from peal.db import utcnow
from peal.funding.models import FundingDonation, FundingRequest
from peal.funding.schemas import (
    MIN_GOAL,
    DonationOut,
    FundingRequestCreate,
    FundingRequestDetail,
    FundingRequestOut,
    RequestStatus,
)
from peal.notifications.service import notify, notify_many
from peal.uploads.service import mark_in_use, resolve_owned_upload
from peal.users.models import User
from peal.users.policy import (
    ViewerShape,
    is_admin,
    profile_visible,
    viewer_shape,
    viewer_slot,
    viewer_values,
)
from peal.users.schemas import UserSummary

FUNDRAISER_ROLES = ("woman", "admin")
MAX_DEADLINE_DAYS = 90
RECENT_DONATIONS = 5


def today() -> date:
    """Deadlines are calendar days in UTC: a request is open through its deadline day."""
    return utcnow().date()


# --- visibility and policies -------------------------------------------------------------


def listable(viewer: User | None) -> ColumnElement[bool]:
    """The moderation condition of requests: live ones, and hidden or removed ones only to
    their author (and admins). Donations to them stay: money records are never hidden."""
    return not_moderated(
        FundingRequest.moderation_status,
        FundingRequest.author_id,
        viewer.id if viewer is not None else None,
        admin=is_admin(viewer),
    )


async def set_moderation_status(
    session: AsyncSession, request_id: uuid.UUID, status: ModerationStatus | None
) -> bool:
    """Hide, remove or restore a request (moderation); True when it changed."""
    return await set_row_moderation(session, FundingRequest, request_id, status)


def may_manage(request: FundingRequest, user: User) -> bool:
    """The author, or an admin."""
    return request.author_id == user.id or is_admin(user)


REQUEST_EXPIRED = "request_expired"


class RequestCard(NamedTuple):
    """The columns a `FundingRequestOut` shows, read as plain rows: the list loads these,
    never the whole request and author entities."""

    id: uuid.UUID
    title: str
    description: str
    cover_image_url: str | None
    category: str | None
    goal_amount: Decimal
    current_amount: Decimal
    supporters_count: int
    status: str
    deadline: date
    author_id: uuid.UUID
    created_at: datetime
    updated_at: datetime
    author_name: str
    author_avatar_url: str | None

    @classmethod
    def of(cls, request: FundingRequest, author: User) -> RequestCard:
        shown = [getattr(request, name) for name in _REQUEST_CARD_FIELDS]
        return cls._make([*shown, author.name, author.avatar_url])


_REQUEST_CARD_FIELDS = RequestCard._fields[:13]


def _card_query() -> Select[Any]:
    columns = [getattr(FundingRequest, name) for name in _REQUEST_CARD_FIELDS]
    return select(
        *columns, User.name.label("author_name"), User.avatar_url.label("author_avatar_url")
    ).join(User, User.id == FundingRequest.author_id)


def effective_status(request: FundingRequest | RequestCard) -> str:
    """An active request past its deadline is expired, even before the sweeper writes it."""
    if request.status == "active" and request.deadline < today():
        return "expired"
    return request.status


@functools.lru_cache(maxsize=16)
def _request_statement(shape: ViewerShape, *, lock: bool) -> Select[FundingRequest, User]:
    """`get_request`'s statement, built once per viewer shape (`request_id` and the viewer's
    id bound): every request page and every donation runs it."""
    viewer = viewer_slot(shape)
    query = (
        select(FundingRequest, User)
        .join(User, User.id == FundingRequest.author_id)
        .where(
            FundingRequest.id == bindparam("request_id"), profile_visible(viewer), listable(viewer)
        )
        .execution_options(populate_existing=True)
    )
    return query.with_for_update(of=FundingRequest) if lock else query


async def get_request(
    session: AsyncSession, request_id: uuid.UUID, viewer: User | None, *, lock: bool = False
) -> tuple[FundingRequest, User]:
    """The request and its author, or 404 when it does not exist or is hidden from `viewer`.

    A request found past its deadline is expired on the spot.
    """
    query = _request_statement(viewer_shape(viewer), lock=lock)
    values = {"request_id": request_id, **viewer_values(viewer)}
    row = (await session.execute(query, values)).first()
    if row is None:
        raise NotFound("Funding request not found", code="request_not_found")
    request, author = row
    await expire_if_overdue(session, request)
    return request, author


async def get_managed_request(
    session: AsyncSession, request_id: uuid.UUID, user: User
) -> tuple[FundingRequest, User]:
    """A request `user` may change, locked: 404 if hidden, 403 if not hers."""
    request, author = await get_request(session, request_id, user, lock=True)
    if not may_manage(request, user):
        raise Forbidden("Only the author can change this request", code="not_author")
    return request, author


async def donor_ids(session: AsyncSession, request_id: uuid.UUID) -> list[uuid.UUID]:
    """Everyone whose money is in the request now (anonymous donors included: the news is
    for them)."""
    rows = await session.scalars(
        select(FundingDonation.donor_id)
        .where(
            FundingDonation.funding_request_id == request_id,
            FundingDonation.status == "succeeded",
        )
        .distinct()
    )
    return list(rows.all())


async def tell_expired(session: AsyncSession, request: FundingRequest) -> None:
    """The author of a request that expired unfunded is told (notification and email), and
    so are its donors. Called by whichever path flipped it to expired, exactly once."""
    data = {"requestId": str(request.id)}
    await notify(
        session,
        request.author_id,
        REQUEST_EXPIRED,
        f"“{request.title}” has expired",
        "Its deadline passed before it reached its goal. You can start a new request.",
        data,
        email=True,
    )
    await notify_many(
        session,
        await donor_ids(session, request.id),
        REQUEST_EXPIRED,
        f"“{request.title}” has expired",
        "A request you supported reached its deadline before its goal.",
        data,
        actor_id=request.author_id,
    )


async def expire_if_overdue(session: AsyncSession, request: FundingRequest) -> None:
    if request.status != "active" or request.deadline >= today():
        return
    result = await session.execute(
        sql_update(FundingRequest)
        .where(
            FundingRequest.id == request.id,
            FundingRequest.status == "active",
            FundingRequest.deadline < today(),
        )
        .values(status="expired", updated_at=utcnow()),
        execution_options=NO_SYNC,
    )
    await session.refresh(request)
    if rowcount(result) == 1:  # this call expired it (not a concurrent one): tell them once
        await tell_expired(session, request)


async def expire_overdue_requests(session: AsyncSession) -> int:
    """The periodic sweep: every active request past its deadline becomes expired, and the
    people concerned are told."""
    expired = await session.scalars(
        sql_update(FundingRequest)
        .where(FundingRequest.status == "active", FundingRequest.deadline < today())
        .values(status="expired", updated_at=utcnow())
        .returning(FundingRequest.id),
        execution_options=NO_SYNC,
    )
    ids = list(expired.all())
    if ids:
        requests = await session.scalars(select(FundingRequest).where(FundingRequest.id.in_(ids)))
        for request in requests.all():
            await tell_expired(session, request)
    return len(ids)


# --- presenting ---------------------------------------------------------------------------


def summary(user: User) -> UserSummary:
    return UserSummary(id=user.id, name=user.name, avatar_url=user.avatar_url)


def progress(request: FundingRequest | RequestCard) -> float:
    if request.goal_amount <= 0:
        return 0.0
    ratio = request.current_amount / request.goal_amount
    return float(min(Decimal(1), ratio).quantize(Decimal("0.0001")))


def present_request(request: FundingRequest, author: User) -> FundingRequestOut:
    return present_card(RequestCard.of(request, author))


def present_card(card: RequestCard) -> FundingRequestOut:
    # Without validation, as `videos.service.present_cards`: the values are the database's.
    return FundingRequestOut.model_construct(
        id=card.id,
        title=card.title,
        description=card.description,
        cover_image_url=card.cover_image_url,
        category=card.category,
        goal_amount=card.goal_amount,
        current_amount=card.current_amount,
        supporters_count=card.supporters_count,
        status=cast(RequestStatus, effective_status(card)),
        deadline=card.deadline,
        author_id=card.author_id,
        author=UserSummary.model_construct(
            id=card.author_id, name=card.author_name, avatar_url=card.author_avatar_url
        ),
        progress=progress(card),
        created_at=card.created_at,
        updated_at=card.updated_at,
    )


def may_see_donor(donation: FundingDonation, viewer: User | None) -> bool:
    """An anonymous donor is known only to herself and to admins."""
    if not donation.is_anonymous:
        return True
    return viewer is not None and (viewer.id == donation.donor_id or is_admin(viewer))


def donor_visible(viewer: User | None) -> Any:
    """A column: may `viewer` see the donor (the one rule of `users.policy`)? The money stays
    listed either way; a private, deleted or blocked donor is shown as no one."""
    return profile_visible(viewer).label("donor_visible")


def present_donation(
    donation: FundingDonation, donor: User | None, viewer: User | None
) -> DonationOut:
    return DonationOut(
        id=donation.id,
        request_id=donation.funding_request_id,
        amount=donation.amount,
        message=donation.message,
        is_anonymous=donation.is_anonymous,
        status=donation.status,
        donor=summary(donor) if donor is not None and may_see_donor(donation, viewer) else None,
        created_at=donation.created_at,
    )


async def recent_donations(
    session: AsyncSession, request_id: uuid.UUID, viewer: User | None
) -> list[DonationOut]:
    rows = await session.execute(
        select(FundingDonation, User, donor_visible(viewer))
        .join(User, User.id == FundingDonation.donor_id)
        .where(
            FundingDonation.funding_request_id == request_id,
            FundingDonation.status == "succeeded",
        )
        .order_by(FundingDonation.created_at.desc(), FundingDonation.id.desc())
        .limit(RECENT_DONATIONS)
    )
    return [
        present_donation(donation, donor if visible else None, viewer)
        for donation, donor, visible in rows
    ]


async def request_detail(
    session: AsyncSession, request: FundingRequest, author: User, viewer: User | None
) -> FundingRequestDetail:
    base = present_request(request, author)
    return FundingRequestDetail(
        **base.model_dump(), recent_donations=await recent_donations(session, request.id, viewer)
    )


# --- creating and changing ----------------------------------------------------------------


def check_deadline(deadline: date, created_on: date) -> None:
    """After today, and at most 90 days after the request was created."""
    if deadline <= today():
        raise ValidationFailed("deadline", "The deadline must be after today")
    latest = created_on + timedelta(days=MAX_DEADLINE_DAYS)
    if deadline > latest:
        raise ValidationFailed(
            "deadline",
            f"The deadline must be at most {MAX_DEADLINE_DAYS} days from creation "
            f"(on or before {latest.isoformat()})",
        )


async def _cover_image(session: AsyncSession, url: str | None, owner_id: uuid.UUID) -> str | None:
    if url is None:
        return None
    upload = await resolve_owned_upload(session, url, owner_id, "image", field="coverImageUrl")
    await mark_in_use(session, [upload.id])
    return upload.url or upload.key


async def create_request(
    session: AsyncSession, author: User, body: FundingRequestCreate
) -> FundingRequest:
    check_deadline(body.deadline, today())
    request = FundingRequest(
        id=uuid.uuid4(),
        title=body.title,
        description=body.description,
        category=body.category,
        cover_image_url=await _cover_image(session, body.cover_image_url, author.id),
        goal_amount=body.goal_amount,
        current_amount=Decimal("0.00"),
        supporters_count=0,
        author_id=author.id,
        status="active",
        deadline=body.deadline,
    )
    session.add(request)
    await session.flush()
    return request


async def update_request(
    session: AsyncSession, request_id: uuid.UUID, user: User, changes: dict[str, Any]
) -> tuple[FundingRequest, User]:
    """Apply the whitelisted `changes` (already validated) of the author or an admin."""
    request, author = await get_managed_request(session, request_id, user)
    for field in ("title", "description", "category"):
        if field in changes:
            setattr(request, field, changes[field])
    if "cover_image_url" in changes and changes["cover_image_url"] != request.cover_image_url:
        request.cover_image_url = await _cover_image(session, changes["cover_image_url"], user.id)
    money_changes = {key: changes[key] for key in ("goal_amount", "deadline") if key in changes}
    if money_changes:
        if request.status != "active":
            raise Conflict(
                "The goal and deadline can change only while the request is active",
                code="request_not_active",
            )
        if "deadline" in money_changes:
            check_deadline(money_changes["deadline"], request.created_at.date())
            request.deadline = money_changes["deadline"]
        if "goal_amount" in money_changes:
            goal: Decimal = money_changes["goal_amount"]
            if goal < max(MIN_GOAL, request.current_amount):
                raise ValidationFailed(
                    "goalAmount",
                    f"The goal cannot be below what was already raised ({request.current_amount})",
                )
            request.goal_amount = goal
    request.updated_at = utcnow()
    await session.flush()
    if "goal_amount" in money_changes:
        # Lowered to what was raised: that is funded, exactly once.
        from peal.funding.donations import mark_funded_if_reached

        await mark_funded_if_reached(session, request)
    return request, author


async def delete_request(session: AsyncSession, request_id: uuid.UUID, user: User) -> None:
    """Only a request nobody ever gave to may go: money records are never deleted."""
    request, _author = await get_managed_request(session, request_id, user)
    has_donations = await session.scalar(
        select(exists().where(FundingDonation.funding_request_id == request.id))
    )
    if has_donations:
        raise Conflict(
            "This request has received donations: cancel it instead",
            code="request_has_donations",
        )
    await session.execute(
        delete(FundingRequest).where(FundingRequest.id == request.id), execution_options=NO_SYNC
    )


# --- listing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestFilters:
    status: str | None = None
    category: str | None = None
    author_id: uuid.UUID | None = None
    search: str | None = None


def _status_condition(status: str, on: Any) -> ColumnElement[bool]:
    """By the status a reader sees: an active request past its deadline counts as expired
    (`on`: today's date, bound when the statement is built once)."""
    overdue = FundingRequest.deadline < on
    if status == "active":
        return and_(FundingRequest.status == "active", ~overdue)
    if status == "expired":
        return or_(
            FundingRequest.status == "expired", and_(FundingRequest.status == "active", overdue)
        )
    return FundingRequest.status == status


@dataclass(frozen=True)
class _ListShape:
    """What a request list's statements depend on, besides values bound when they run."""

    viewer: ViewerShape
    status: str | None = None
    category: bool = False
    author: bool = False


@functools.lru_cache(maxsize=128)
def _list_statements(shape: _ListShape) -> tuple[Select[Any], Select[Any]]:
    """A request list's count and page, built once per shape (the viewer's id, the filters,
    today's date, `limit` and `offset` bound: `_list_values`): building a statement and its
    cache key costs about as much CPU as PostgreSQL spends running it."""
    viewer = viewer_slot(shape.viewer)
    conditions = [profile_visible(viewer), listable(viewer)]
    if shape.status:
        conditions.append(_status_condition(shape.status, bindparam("today", type_=Date)))
    if shape.category:
        conditions.append(FundingRequest.category == bindparam("category"))
    if shape.author:
        conditions.append(FundingRequest.author_id == bindparam("author_id"))
    count = (
        select(func.count())
        .select_from(FundingRequest)
        .join(User, User.id == FundingRequest.author_id)
        .where(*conditions)
    )
    page = (
        _card_query()
        .where(*conditions)
        .order_by(FundingRequest.created_at.desc(), FundingRequest.id.desc())
    )
    return count, bound_offset_page(page)


def _list_values(
    filters: RequestFilters, viewer: User | None, *, limit: int, offset: int
) -> tuple[_ListShape, dict[str, Any]]:
    category = " ".join((filters.category or "").split()).lower()
    shape = _ListShape(
        viewer=viewer_shape(viewer),
        status=filters.status,
        category=bool(category),
        author=filters.author_id is not None,
    )
    values: dict[str, Any] = {**viewer_values(viewer), "limit": limit, "offset": offset}
    if filters.status:
        values["today"] = today()
    if category:
        values["category"] = category
    if filters.author_id is not None:
        values["author_id"] = filters.author_id
    return shape, values


def _with_author() -> Select[FundingRequest, User]:
    return select(FundingRequest, User).join(User, User.id == FundingRequest.author_id)


async def list_requests(
    session: AsyncSession,
    filters: RequestFilters,
    viewer: User | None,
    *,
    limit: int,
    offset: int,
) -> tuple[list[FundingRequestOut], int]:
    """Requests matching `filters`, newest first: two queries whatever the page size."""
    shape, values = _list_values(filters, viewer, limit=limit, offset=offset)
    count, page = _list_statements(shape)
    if search := (filters.search or "").strip():
        pattern = contains_pattern(search)
        matches = or_(
            like(FundingRequest.title, pattern), like(FundingRequest.description, pattern)
        )
        count, page = count.where(matches), page.where(matches)
    total = (await session.execute(count, values)).scalar_one()
    if total <= offset:
        return [], total
    rows = await session.execute(page, values)
    return [present_card(RequestCard(*row)) for row in rows], total


async def requests_by_ids(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[FundingRequest, User]]:
    rows = await session.execute(_with_author().where(FundingRequest.id.in_(ids)))
    return {request.id: (request, author) for request, author in rows}


# --- account deletion and export -----------------------------------------------------------


async def purge_user(session: AsyncSession, settings: Settings, user_id: uuid.UUID) -> None:
    """Only anonymised money records stay: donations (attributed to the tombstone, their
    messages dropped) and the requests that received money. A request nobody gave to is only
    her own content and goes; her open requests are cancelled and their donors refunded
    through the payment provider, as her own cancel would; kept requests lose their cover
    image (her files are deleted)."""
    # Imported here: `funding.donations` builds on this module.
    from peal.funding.donations import cancel_requests_of_author

    donated = exists().where(FundingDonation.funding_request_id == FundingRequest.id)
    await session.execute(
        delete(FundingRequest).where(FundingRequest.author_id == user_id, ~donated),
        execution_options=NO_SYNC,
    )
    await cancel_requests_of_author(session, settings, user_id)
    await session.execute(
        sql_update(FundingRequest)
        .where(FundingRequest.author_id == user_id)
        .values(cover_image_url=None, updated_at=FundingRequest.updated_at),
        execution_options=NO_SYNC,
    )
    await session.execute(
        sql_update(FundingDonation)
        .where(FundingDonation.donor_id == user_id)
        .values(message=None, updated_at=FundingDonation.updated_at),
        execution_options=NO_SYNC,
    )


async def export_user(session: AsyncSession, user_id: uuid.UUID) -> dict[str, Any]:
    """Her funding requests, and every donation she made (anonymous ones included: they
    are her own), with the request's id and title."""
    requests = await session.scalars(
        select(FundingRequest)
        .where(FundingRequest.author_id == user_id)
        .order_by(FundingRequest.created_at)
    )
    donations = await session.execute(
        select(FundingDonation, FundingRequest.title)
        .join(FundingRequest, FundingRequest.id == FundingDonation.funding_request_id)
        .where(FundingDonation.donor_id == user_id)
        .order_by(FundingDonation.created_at)
    )
    private = {"provider_payment_id", "provider_refund_id"}
    return {
        "requests": [row_dict(request) for request in requests.all()],
        "donationsMade": [
            {**row_dict(donation, exclude=private), "requestTitle": title}
            for donation, title in donations
        ],
    }
