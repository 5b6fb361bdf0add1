"""HTTP routes of the events domain: parse, call the service, shape the answer."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from peal.auth.dependencies import CurrentUser, OptionalUser
from peal.core.routing import path_id, put_and_patch
from peal.core.schemas import PageParams, error_responses, page_params
from peal.deps import SessionDep, SettingsDep
from peal.events import service
from peal.events.schemas import (
    EventCategory,
    EventCreate,
    EventResponse,
    EventsResponse,
    EventStatus,
    EventUpdate,
    RegistrationResponse,
)

router = APIRouter(prefix="/api/events", tags=["Events"])
EventId = Annotated[uuid.UUID, path_id("eventId", "event")]


@router.get(
    "",
    summary="Events: upcoming first (soonest first), then ongoing, completed, cancelled",
    response_model=EventsResponse,
    responses=error_responses(401),
)
async def list_events(
    session: SessionDep,
    viewer: OptionalUser,
    page: Annotated[PageParams, Depends(page_params)],
    event_status: Annotated[
        EventStatus | None,
        Query(
            alias="status",
            description="Only events in this status (derived from the dates unless cancelled)",
        ),
    ] = None,
    category: Annotated[EventCategory | None, Query(description="Only this category")] = None,
) -> EventsResponse:
    events, pagination = await service.list_events(session, viewer, event_status, category, page)
    return EventsResponse(events=events, pagination=pagination)


@router.post(
    "",
    summary="Host an event (any member)",
    status_code=status.HTTP_201_CREATED,
    response_model=EventResponse,
    responses=error_responses(401),
)
async def create_event(
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    body: EventCreate,
) -> EventResponse:
    hosts = settings.external_image_hosts
    return EventResponse(event=await service.create_event(session, user, body, hosts))


@router.get(
    "/{eventId}",
    summary="One event",
    response_model=EventResponse,
    responses=error_responses(401, 404),
)
async def get_event(session: SessionDep, viewer: OptionalUser, event_id: EventId) -> EventResponse:
    return EventResponse(event=await service.get_event(session, viewer, event_id))


@put_and_patch(
    router,
    "/{eventId}",
    summary="Change an event (host or admin); `status: cancelled` cancels it",
    response_model=EventResponse,
    responses=error_responses(401, 403, 404, 409),
)
async def update_event(
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    event_id: EventId,
    body: EventUpdate,
) -> EventResponse:
    hosts = settings.external_image_hosts
    return EventResponse(event=await service.update_event(session, user, event_id, body, hosts))


@router.delete(
    "/{eventId}",
    summary="Delete an event (host or admin); attendees are notified",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(401, 403, 404),
)
async def delete_event(session: SessionDep, user: CurrentUser, event_id: EventId) -> Response:
    await service.delete_event(session, user, event_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{eventId}/register",
    summary="Register for an event (idempotent: 201 when registered now, 200 if already)",
    status_code=status.HTTP_201_CREATED,
    response_model=RegistrationResponse,
    responses={
        200: {"model": RegistrationResponse, "description": "Already registered"},
        **error_responses(401, 404, 409),
    },
)
async def register(
    session: SessionDep, user: CurrentUser, event_id: EventId, response: Response
) -> RegistrationResponse:
    created, count = await service.register(session, user, event_id)
    if not created:
        response.status_code = status.HTTP_200_OK
    return RegistrationResponse(registered=True, attendee_count=count)


@router.delete(
    "/{eventId}/register",
    summary="Cancel my registration (idempotent)",
    response_model=RegistrationResponse,
    responses=error_responses(401, 404, 409),
)
async def unregister(
    session: SessionDep, user: CurrentUser, event_id: EventId
) -> RegistrationResponse:
    count = await service.unregister(session, user, event_id)
    return RegistrationResponse(registered=False, attendee_count=count)
