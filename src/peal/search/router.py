"""HTTP route of global search: `GET /api/search?q=`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import StringConstraints

from peal.auth.dependencies import OptionalUser
from peal.core.ratelimit import enforce_ip_limit
from peal.core.schemas import error_responses
from peal.deps import RateLimiterDep, SessionDep, SettingsDep
from peal.search import service
from peal.search.schemas import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    QUERY_MAX_LENGTH,
    QUERY_MIN_LENGTH,
    SearchResults,
)

router = APIRouter(prefix="/api/search", tags=["Search"])

# Trimmed first, then measured: "  a " is one character, too short.
SearchQuery = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=QUERY_MIN_LENGTH, max_length=QUERY_MAX_LENGTH
    ),
    Query(
        description=f"What to look for: {QUERY_MIN_LENGTH} to {QUERY_MAX_LENGTH} characters "
        "(after trimming). Every word must match, case-insensitively.",
        examples=["bakery lagos"],
    ),
]
PerKindLimit = Annotated[
    int,
    Query(ge=1, le=MAX_LIMIT, description=f"Results per kind (1..{MAX_LIMIT})", examples=[5]),
]


@router.get(
    "",
    response_model=SearchResults,
    summary="Search people, videos, funding requests and stories",
    description="Matches words in names, skills and bios (people), titles, descriptions and "
    "tags (videos), titles, categories and descriptions (funding requests), titles, "
    "descriptions and impact (stories). Only what everyone may see is searched: public "
    "profiles of active accounts and their content, ready videos. Best matches first (a "
    "title match before a description match), then the newest. Anonymous callers welcome; "
    "a signed-in caller also gets `isFollowing`, `likedByMe` and `celebratedByMe`. A word of "
    "one or two characters matches whole words only (longer ones also match word starts); at "
    "most 500 matches per kind are ranked. Searches have their own per-IP rate limit (429), "
    "and one that runs too long answers 503 `search_timeout`.",
    responses=error_responses(401, 429, 503),
)
async def search(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
    viewer: OptionalUser,
    q: SearchQuery,
    limit: PerKindLimit = DEFAULT_LIMIT,
) -> SearchResults:
    await enforce_ip_limit(limiter, request, "search", settings.search_rate_limit_per_minute)
    return await service.search(
        session, q, viewer, limit=limit, statement_timeout_ms=settings.search_statement_timeout_ms
    )
