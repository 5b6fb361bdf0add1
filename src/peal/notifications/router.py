"""HTTP routes of the notifications domain: parse, call the service, shape the answer."""

from __future__ import annotations

from fastapi import APIRouter

from peal.core.schemas import error_responses

router = APIRouter(
    prefix="/api/notifications", tags=["Notifications"], responses=error_responses(401)
)
