"""HTTP routes of blocks, mutes and the data export (API.md "Safety")."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status
from fastapi.responses import FileResponse, RedirectResponse

from peal.auth.dependencies import CurrentUser
from peal.config import Settings
from peal.core.routing import path_id
from peal.core.schemas import Page, PageParams, error_responses, page_params
from peal.db import after_commit, release_connection, utcnow
from peal.deps import SessionDep, SettingsDep, StorageDep
from peal.flows.block_user import block_user
from peal.safety.schemas import (
    BlockOut,
    ExportEnvelope,
    ExportOut,
    ExportRequested,
    ExportRequestedEnvelope,
    MuteOut,
    ShutOutPerson,
)
from peal.safety.tasks import build_export
from peal.storage.local import LocalStorage
from peal.users import blocks, exports
from peal.users.models import DataExport, User

router = APIRouter(tags=["Safety"], responses=error_responses(401))

UserId = Annotated[uuid.UUID, path_id("userId", "user")]
Pages = Annotated[PageParams, Depends(page_params)]


def _people(rows: list[tuple[User, datetime]]) -> list[ShutOutPerson]:
    return [
        ShutOutPerson(id=user.id, name=user.name, avatar_url=user.avatar_url, created_at=since)
        for user, since in rows
    ]


@router.get(
    "/api/users/me/blocks",
    response_model=Page[ShutOutPerson],
    summary="List the people I blocked",
)
async def list_blocks(session: SessionDep, me: CurrentUser, pages: Pages) -> Page[ShutOutPerson]:
    """Newest block first."""
    rows, total = await blocks.list_blocked(session, me, limit=pages.limit, offset=pages.offset)
    return Page(data=_people(rows), pagination=pages.pagination(total))


@router.get(
    "/api/users/me/mutes",
    response_model=Page[ShutOutPerson],
    summary="List the people I muted",
)
async def list_mutes(session: SessionDep, me: CurrentUser, pages: Pages) -> Page[ShutOutPerson]:
    """Newest mute first."""
    rows, total = await blocks.list_muted(session, me, limit=pages.limit, offset=pages.offset)
    return Page(data=_people(rows), pagination=pages.pagination(total))


@router.post(
    "/api/users/{userId}/block",
    response_model=BlockOut,
    summary="Block someone",
    responses=error_responses(400, 404),
)
async def block(user_id: UserId, session: SessionDep, me: CurrentUser) -> BlockOut:
    """Idempotent. From then on each of you is invisible to the other (profile 404, absent
    from lists, search, feeds and comments) and neither can follow or comment on the other;
    follows both ways end. The blocked person is not told."""
    await block_user(session, me, user_id)
    return BlockOut(blocked=True)


@router.delete(
    "/api/users/{userId}/block",
    response_model=BlockOut,
    summary="Unblock someone",
)
async def unblock(user_id: UserId, session: SessionDep, me: CurrentUser) -> BlockOut:
    """Idempotent; follows ended by the block do not come back."""
    await blocks.unblock(session, me, user_id)
    return BlockOut(blocked=False)


@router.post(
    "/api/users/{userId}/mute",
    response_model=MuteOut,
    summary="Mute someone",
    responses=error_responses(400, 404),
)
async def mute(user_id: UserId, session: SessionDep, me: CurrentUser) -> MuteOut:
    """Idempotent. Hides the person from my feeds and notifications only; they can still
    see me, and are not told."""
    await blocks.mute(session, me, user_id)
    return MuteOut(muted=True)


@router.delete("/api/users/{userId}/mute", response_model=MuteOut, summary="Unmute someone")
async def unmute(user_id: UserId, session: SessionDep, me: CurrentUser) -> MuteOut:
    await blocks.unmute(session, me, user_id)
    return MuteOut(muted=False)


# --- data export ------------------------------------------------------------------------------


def _present(export: DataExport, settings: Settings) -> ExportOut:
    return ExportOut(
        id=export.id,
        status=exports.current_status(export, utcnow()),
        requested_at=export.requested_at,
        ready_at=export.ready_at,
        download_url=exports.download_link(settings.public_url, settings.jwt_secret, export),
        expires_at=export.expires_at,
    )


@router.post(
    "/api/users/me/export",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ExportRequestedEnvelope,
    summary="Ask for a copy of my data",
    responses=error_responses(429),
)
async def request_export(session: SessionDep, me: CurrentUser) -> ExportRequestedEnvelope:
    """Queues a job that writes a ZIP (one JSON file per part of the account, a README in
    your language, the files you uploaded) and emails you a link valid for 7 days. At most
    one a day: another within 24 hours is 429 with `Retry-After`."""
    export = await exports.request_export(session, me)
    export_id = str(export.id)

    async def enqueue() -> None:
        await build_export.kiq(export_id)

    after_commit(session, enqueue)
    return ExportRequestedEnvelope(
        export=ExportRequested(id=export.id, status=export.status, requested_at=export.requested_at)
    )


@router.get(
    "/api/users/me/export",
    response_model=ExportEnvelope,
    summary="The status of my latest export",
    responses=error_responses(404),
)
async def latest_export(
    session: SessionDep, settings: SettingsDep, me: CurrentUser
) -> ExportEnvelope:
    """`downloadUrl` is there only while the export is ready; after 7 days it is `expired`."""
    export = await exports.latest_export(session, me)
    return ExportEnvelope(export=_present(export, settings))


@router.get(
    "/api/exports/{exportId}/download",
    response_class=FileResponse,
    summary="Download an export (the signed link of the email)",
    responses={
        200: {"content": {"application/zip": {}}, "description": "The ZIP"},
        302: {"description": "Redirect to the store's short-lived URL (S3)"},
        **error_responses(403, 404),
    },
)
async def download_export(
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
    export_id: Annotated[uuid.UUID, Path(alias="exportId")],
    expires: Annotated[int, Query(ge=0, lt=2**40)],
    signature: Annotated[str, Query(max_length=128)],
) -> Response:
    """No sign-in needed: the signature proves the link came from us, until it expires."""
    export = await exports.export_for_download(
        session, settings.jwt_secret, export_id, expires, signature
    )
    key = export.storage_key
    assert key is not None
    await release_connection(session)
    name = f"peal-data-{export.requested_at:%Y-%m-%d}.zip"
    url = await storage.download_url(key, expires_in=300, file_name=name)
    if url is not None:
        return RedirectResponse(url, status_code=status.HTTP_302_FOUND)
    assert isinstance(storage, LocalStorage)
    return FileResponse(storage.path_of(key), media_type="application/zip", filename=name)
