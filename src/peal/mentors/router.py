"""HTTP routes of mentoring: parse, call the service, shape the answer.

The fixed paths (`/connections`, `/mentees`, `/match...`) are declared before `/{mentorId}`,
so they are never taken for a mentor id.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Query, Response, status

from peal.auth.dependencies import CurrentUser, OptionalUser, require_role
from peal.core.routing import path_id, put_and_patch
from peal.core.schemas import Page, PageParams, error_responses, page_params
from peal.deps import SessionDep
from peal.mentors import matching, service
from peal.mentors.schemas import (
    MATCHES_MAX,
    Availability,
    ConnectionAnswer,
    ConnectionEnvelope,
    ConnectionRef,
    ConnectionsResponse,
    ConnectionStatus,
    ConnectRequest,
    MatchesResponse,
    MatchRequest,
    MenteeOut,
    MenteesResponse,
    MentorCreate,
    MentorEnvelope,
    MentorOut,
    MentorUpdate,
)
from peal.users.models import User
from peal.users.schemas import LABEL_MAX

router = APIRouter(prefix="/api/mentors", tags=["Mentors"], responses=error_responses(401))

MentorId = Annotated[uuid.UUID, path_id("mentorId", "mentor profile", example=3)]
Pages = Annotated[PageParams, Depends(page_params)]
WomanOrSponsor = Annotated[User, Depends(require_role("woman", "sponsor"))]


@router.get(
    "",
    response_model=Page[MentorOut],
    summary="List mentors, newest profile first",
    responses=error_responses(),
)
async def list_mentors(
    session: SessionDep,
    viewer: OptionalUser,
    pages: Pages,
    skill: Annotated[
        str | None, Query(max_length=LABEL_MAX, description="Exact skill, case-insensitive")
    ] = None,
    availability: Annotated[Availability | None, Query()] = None,
    accepts_remote: Annotated[
        bool | None,
        Query(alias="acceptsRemote", description="Only mentors who do (not) mentor remotely"),
    ] = None,
    search: Annotated[
        str | None,
        Query(max_length=100, description="Part of the name, bio or a skill, case-insensitive"),
    ] = None,
    user_id: Annotated[
        uuid.UUID | None, Query(alias="userId", description="The profile of this person")
    ] = None,
) -> Page[MentorOut]:
    """The public directory of mentors (no sign-in needed). People whose profile is private,
    banned or deleted are never listed."""
    filters = service.MentorFilters(
        skill=skill,
        availability=availability,
        accepts_remote=accepts_remote,
        search=search,
        user_id=user_id,
    )
    mentors, pagination = await service.list_mentors(session, viewer, filters, pages)
    return Page(data=mentors, pagination=pagination)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=MentorEnvelope,
    summary="Become a mentor (women and sponsors; one profile each)",
    responses=error_responses(403, 409),
)
async def create_mentor(
    session: SessionDep, user: WomanOrSponsor, body: MentorCreate
) -> MentorEnvelope:
    """Skills are trimmed, lower-cased and de-duplicated (at most 20, each at most 50
    characters). A second profile is 409 `mentor_exists`."""
    return MentorEnvelope(mentor=await service.create_mentor(session, user, body))


@router.get(
    "/connections",
    response_model=ConnectionsResponse,
    summary="My connections, as mentee and as mentor",
)
async def my_connections(
    session: SessionDep,
    user: CurrentUser,
    pages: Pages,
    connection_status: Annotated[
        ConnectionStatus | None,
        Query(alias="status", description="Only this status (default: all but `ended`)"),
    ] = None,
    role: Annotated[Literal["mentee", "mentor"] | None, Query(description="Only one side")] = None,
) -> ConnectionsResponse:
    connections, pagination = await service.list_my_connections(
        session, user, pages, status=connection_status, role=role
    )
    return ConnectionsResponse(connections=connections, pagination=pagination)


@router.get(
    "/mentees",
    response_model=MenteesResponse,
    summary="My accepted mentees",
)
async def my_mentees(session: SessionDep, user: CurrentUser, pages: Pages) -> MenteesResponse:
    mentees, pagination = await service.list_my_mentees(session, user, pages)
    return MenteesResponse(mentees=mentees, pagination=pagination)


@router.get(
    "/match/recommendations",
    response_model=MatchesResponse,
    summary="Recommended mentors, best first, with reasons",
    responses=error_responses(403, 404),
)
async def recommendations(
    session: SessionDep,
    user: CurrentUser,
    user_id: Annotated[
        uuid.UUID | None,
        Query(alias="userId", description="The mentee: the caller (admins: anyone)"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MATCHES_MAX, description="1..50")] = 10,
) -> MatchesResponse:
    """Scored from the mentee's skills, interests and location and each mentor's skills,
    availability, free places and experience (weights in the service's documentation)."""
    return MatchesResponse(matches=await matching.recommend(session, user, user_id, None, limit))


@router.post(
    "/match",
    response_model=MatchesResponse,
    summary="Mentors matching criteria, best first, with reasons",
    responses=error_responses(403, 404),
)
async def match(session: SessionDep, user: CurrentUser, body: MatchRequest) -> MatchesResponse:
    return MatchesResponse(
        matches=await matching.recommend(session, user, body.user_id, body.criteria, body.limit)
    )


@router.get(
    "/{mentorId}",
    response_model=MentorEnvelope,
    summary="One mentor profile",
    responses=error_responses(404),
)
async def get_mentor(
    mentor_id: MentorId, session: SessionDep, viewer: OptionalUser
) -> MentorEnvelope:
    """A private, banned or deleted person's profile is 404 to everyone but them and admins."""
    return MentorEnvelope(mentor=await service.get_mentor(session, viewer, mentor_id))


@put_and_patch(
    router,
    "/{mentorId}",
    response_model=MentorEnvelope,
    summary="Change my mentor profile (the owner or an admin)",
    responses=error_responses(403, 404, 409),
)
async def update_mentor(
    mentor_id: MentorId, session: SessionDep, user: CurrentUser, body: MentorUpdate
) -> MentorEnvelope:
    """Only `bio`, `skills` (replaces the set), `yearsExperience`, `availability`,
    `maxMentees` (not below the current mentees: 409) and `acceptsRemote` change; anything
    else sent (`userId`, counters, ids) is ignored."""
    return MentorEnvelope(mentor=await service.update_mentor(session, user, mentor_id, body))


@router.delete(
    "/{mentorId}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Remove my mentor profile (the owner or an admin)",
    responses=error_responses(403, 404),
)
async def delete_mentor(mentor_id: MentorId, session: SessionDep, user: CurrentUser) -> Response:
    """Its requests and mentorships end with it."""
    await service.delete_mentor(session, user, mentor_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{mentorId}/connect",
    status_code=status.HTTP_201_CREATED,
    response_model=ConnectionEnvelope,
    summary="Ask this mentor for mentoring",
    responses=error_responses(400, 404, 409),
)
async def connect(
    mentor_id: MentorId,
    session: SessionDep,
    user: CurrentUser,
    body: Annotated[ConnectRequest | None, Body()] = None,
) -> ConnectionEnvelope:
    """A pending request; the mentor is notified. 409 `connection_exists` while one is pending
    or accepted, `request_recently_rejected` within 30 days of a refusal, `mentor_full`,
    `mentor_unavailable`, `too_many_pending_requests` (10 open at once); 400 to yourself."""
    message = body.message if body is not None else None
    return ConnectionEnvelope(connection=await service.connect(session, user, mentor_id, message))


@router.put(
    "/{mentorId}/connection",
    response_model=ConnectionEnvelope,
    summary="Accept or reject a request (that mentor only)",
    responses=error_responses(403, 404, 409),
)
async def answer_request(
    mentor_id: MentorId, session: SessionDep, user: CurrentUser, body: ConnectionAnswer
) -> ConnectionEnvelope:
    """Only a pending request can be answered (409 `connection_not_pending`). Accepting a
    request when every place is taken is 409 `mentor_full` and the request stays pending."""
    connection = await service.answer_request(
        session, user, mentor_id, body.connection_id, body.action
    )
    return ConnectionEnvelope(connection=connection)


@router.delete(
    "/{mentorId}/connection",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Withdraw my request, or end a mentorship (either side)",
    responses=error_responses(404, 409),
)
async def end_connection(
    mentor_id: MentorId,
    session: SessionDep,
    user: CurrentUser,
    connection_id: Annotated[
        uuid.UUID | None,
        Query(alias="connectionId", description="Which connection (the mentor must name it)"),
    ] = None,
    body: Annotated[ConnectionRef | None, Body()] = None,
) -> Response:
    """The mentee withdraws a pending request or ends her mentorship; the mentor ends one by
    naming it (`connectionId` in the query or the body). The mentor's count goes down once."""
    if connection_id is None and body is not None:
        connection_id = body.connection_id
    await service.end_connection(session, user, mentor_id, connection_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{mentorId}/mentees",
    response_model=Page[MenteeOut],
    summary="A mentor's mentees (that mentor or an admin)",
    responses=error_responses(403, 404),
)
async def mentees_of(
    mentor_id: MentorId,
    session: SessionDep,
    user: CurrentUser,
    pages: Pages,
    connection_status: Annotated[
        Literal["accepted", "pending"],
        Query(alias="status", description="`accepted` mentees, or `pending` requests"),
    ] = "accepted",
) -> Page[MenteeOut]:
    mentees, pagination = await service.list_mentees_of(
        session, user, mentor_id, connection_status, pages
    )
    return Page(data=mentees, pagination=pagination)
