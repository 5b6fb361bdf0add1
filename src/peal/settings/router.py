"""HTTP routes of the settings domain: parse, call the service, shape the answer."""

from __future__ import annotations

from fastapi import APIRouter

from peal.core.schemas import error_responses

router = APIRouter(prefix="/api/settings", tags=["Settings"], responses=error_responses(401))
