"""The global search answer: each kind in the same shape its own endpoints return."""

from __future__ import annotations

from pydantic import Field

from peal.core.schemas import CamelModel
from peal.funding.schemas import FundingRequestOut
from peal.stories.schemas import StoryOut
from peal.users.schemas import UserOut
from peal.videos.schemas import VideoOut

QUERY_MIN_LENGTH = 2
QUERY_MAX_LENGTH = 100
DEFAULT_LIMIT = 5
MAX_LIMIT = 20


class SearchResults(CamelModel):
    """`{"users", "videos", "requests", "stories"}`, best matches first in each list."""

    users: list[UserOut] = Field(description="Public profiles (name, skills, bio)")
    videos: list[VideoOut] = Field(description="Ready videos (title, description, tags)")
    requests: list[FundingRequestOut] = Field(
        description="Funding requests (title, category, description)"
    )
    stories: list[StoryOut] = Field(description="Success stories (title, description, impact)")
