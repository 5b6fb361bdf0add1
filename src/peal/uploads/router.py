"""HTTP routes of uploads: signed upload URLs, completion, deletion, and the local file routes."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse
from starlette.requests import ClientDisconnect

from peal.auth.dependencies import CurrentUser
from peal.core.errors import BadRequest, Conflict, NotFound, PayloadTooLarge
from peal.core.schemas import error_responses
from peal.db import release_connection
from peal.deps import SessionDep, SettingsDep, StorageDep
from peal.storage.base import is_valid_key
from peal.storage.local import MEDIA_ROUTE, LocalStorage
from peal.storage.media import content_type_of_key
from peal.uploads import service
from peal.uploads.schemas import (
    CompleteRequest,
    CompleteResponse,
    LocalUploadResponse,
    PresignRequest,
    PresignResponse,
)

router = APIRouter(prefix="/api/uploads", tags=["Uploads"])
media_router = APIRouter(tags=["Uploads"])

_IMMUTABLE = "public, max-age=31536000, immutable"


@router.post(
    "/presigned-url",
    response_model=PresignResponse,
    summary="Get a URL to upload a file to",
    description="Reserves a key in your namespace and answers a signed URL, valid for a "
    "short while, to `PUT` the bytes to (with the `Content-Type` declared here), then call "
    "`/api/uploads/complete`. Images (JPEG, PNG, GIF, WebP) up to 10 MB, videos (MP4, WebM, "
    "QuickTime) up to 500 MB. Refused when your storage quota (413) or daily upload volume "
    "(429) is used up.",
    responses=error_responses(401, 413, 429),
)
async def presigned_url(
    body: PresignRequest,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
) -> PresignResponse:
    new = await service.start_upload(
        session,
        storage,
        settings,
        user.id,
        content_type=body.content_type,
        file_name=body.file_name,
    )
    return PresignResponse(
        upload_url=new.target.url,
        file_url=new.file_url,
        key=new.upload.key,
        max_size=new.max_size,
        headers=new.target.headers,
        expires_at=new.target.expires_at,
    )


@router.post(
    "/complete",
    response_model=CompleteResponse,
    summary="Check and publish an uploaded file",
    description="Checks the uploaded bytes: the real type (from the file itself) must match "
    "the declared one and the size its limit; images lose their metadata (EXIF, GPS) and a "
    "video must decode. A refused file is deleted. Your completed files count against a "
    "storage quota (413 `storage_quota_exceeded`) and a daily upload volume (429 "
    "`daily_upload_limit`). Completing twice, even at once, answers the same file. Only a "
    "completed upload can be used in a video or a profile.",
    responses=error_responses(401, 404, 409, 413, 429),
)
async def complete(
    body: CompleteRequest,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
) -> CompleteResponse:
    upload = await service.complete_upload(session, storage, settings, user.id, body.key)
    return CompleteResponse(
        url=upload.url or storage.public_url(upload.key),
        key=upload.key,
        content_type=upload.content_type or upload.declared_content_type,
        size=upload.size or 0,
    )


@router.put(
    "/local/{key:path}",
    response_model=LocalUploadResponse,
    summary="Receive the bytes of an upload (local storage)",
    description="The `uploadUrl` of the local storage backend. Needs no token: the signed "
    "query string is the permission. The body must have the declared `Content-Type` and at "
    "most `maxSize` bytes. A body that stalls longer than `UPLOAD_IDLE_TIMEOUT` between two "
    "reads (or takes longer than `UPLOAD_MAX_SECONDS` in all) is refused with 408.",
    responses=error_responses(403, 404, 408, 409, 413, 415),
)
async def receive_local_upload(
    key: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
    expires: Annotated[int, Query()],
    content_type: Annotated[str, Query(alias="contentType", max_length=100)],
    max_size: Annotated[int, Query(alias="maxSize", ge=1)],
    signature: Annotated[str, Query(max_length=128)],
) -> LocalUploadResponse:
    if not isinstance(storage, LocalStorage):
        raise NotFound("Route not found")
    storage.verify_upload(
        key,
        content_type=content_type,
        max_size=max_size,
        expires=expires,
        signature=signature,
        sent_content_type=request.headers.get("content-type"),
    )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_size:
        raise PayloadTooLarge(
            f"The file is larger than the {max_size} bytes allowed", code="file_too_large"
        )
    if await service.find_pending_upload(session, key) is None:
        # Completed (or deleted) already: a published file is never overwritten.
        raise Conflict("This upload is already complete", code="upload_closed")
    # The client sends at its own pace (or stalls): no pooled connection waits with it.
    await release_connection(session)
    chunks = service.within_deadlines(
        request.stream(),
        idle_seconds=settings.upload_idle_timeout,
        total_seconds=settings.upload_max_seconds,
    )
    try:
        size = await storage.receive(key, chunks, max_size)
    except ClientDisconnect:  # the client went away mid-body: nobody reads this answer
        raise BadRequest("The upload was interrupted", code="upload_interrupted") from None
    return LocalUploadResponse(key=key, size=size)


@media_router.head(MEDIA_ROUTE + "{key:path}", include_in_schema=False)
@media_router.get(
    MEDIA_ROUTE + "{key:path}",
    response_class=FileResponse,
    summary="Read a stored file (local storage)",
    description="Files of the local storage backend (HEAD too), with byte ranges for video "
    "seeking. Immutable: a changed file gets a new key.",
    responses={
        200: {"content": {"image/jpeg": {}, "video/mp4": {}}, "description": "The file"},
        206: {"description": "A byte range of the file"},
        404: {"description": "No such file"},
    },
)
async def read_media(key: str, storage: StorageDep) -> Response:
    if not isinstance(storage, LocalStorage) or not is_valid_key(key):
        raise NotFound("File not found")
    path = storage.path_of(key)
    if not await anyio.Path(path).is_file():
        raise NotFound("File not found")
    return FileResponse(
        path,
        media_type=content_type_of_key(key),
        headers={
            "Cache-Control": _IMMUTABLE,
            "Content-Disposition": "inline",
            "Cross-Origin-Resource-Policy": "cross-origin",
        },
    )


@router.delete(
    "/{key:path}",
    status_code=204,
    response_class=Response,
    summary="Delete one of your uploads",
    description="Removes your own upload and its file. Keys contain `/`. A file that belongs "
    "to a video is deleted with the video (409 here).",
    responses=error_responses(401, 404, 409),
)
async def delete_upload(key: str, user: CurrentUser, session: SessionDep) -> Response:
    await service.delete_upload(session, user.id, key)
    return Response(status_code=204)
