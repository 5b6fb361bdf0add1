"""HTTP routes of the users domain: parse, call the service, shape the answer."""

from __future__ import annotations

from fastapi import APIRouter

from peal.core.schemas import error_responses

router = APIRouter(prefix="/api/users", tags=["Users"], responses=error_responses(401))
