"""The Mentor, Connection and MentorMatch resources as the API shows them, and the mentoring
request bodies."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import Field

from peal.core.schemas import CamelModel, Pagination, UTCTimestamp, refuse_explicit_null
from peal.core.text import bounded_text
from peal.users.schemas import LabelList

BIO_MAX = 2000
MESSAGE_MAX = 1000
LOCATION_MAX = 255
# The raw text is bounded before any HTML is stripped from it: cleaning costs time in the
# size of what was sent, so nobody may send a megabyte to be cleaned down to 2000 characters.
RAW_FACTOR = 4
YEARS_MAX = 70
MENTEES_MAX = 50
MATCHES_MAX = 50

Availability = Literal["available", "busy", "unavailable"]
ConnectionStatus = Literal["pending", "accepted", "rejected", "ended"]

MentorBio = Annotated[
    str | None,
    Field(max_length=BIO_MAX * RAW_FACTOR),
    bounded_text(BIO_MAX, required=False),
    Field(json_schema_extra={"maxLength": BIO_MAX}),
]
RequestMessage = Annotated[
    str | None,
    Field(max_length=MESSAGE_MAX * RAW_FACTOR),
    bounded_text(MESSAGE_MAX, required=False),
    Field(json_schema_extra={"maxLength": MESSAGE_MAX}),
]
Years = Annotated[int, Field(ge=0, le=YEARS_MAX)]
MaxMentees = Annotated[int, Field(ge=1, le=MENTEES_MAX)]


# --- responses ------------------------------------------------------------------------------


class MentorUser(CamelModel):
    """The person behind a mentor profile or a connection: `{id, name, avatarUrl, bio,
    location}`."""

    id: uuid.UUID
    name: str = Field(examples=["Grace Mensah"])
    avatar_url: str | None = Field(default=None, examples=["https://cdn.peal.app/a/grace.jpg"])
    bio: str | None = Field(default=None, examples=["Angel investor for women-led businesses."])
    location: str | None = Field(default=None, examples=["Accra, Ghana"])


class MentorOut(CamelModel):
    """A mentor profile. `currentMenteesCount` counts accepted connections exactly."""

    id: uuid.UUID
    user_id: uuid.UUID
    user: MentorUser
    bio: str | None = Field(default=None, examples=["I help founders price and pitch."])
    availability: Availability = Field(examples=["available"])
    years_experience: int | None = Field(default=None, examples=[12])
    max_mentees: int = Field(examples=[5])
    current_mentees_count: int = Field(examples=[2])
    accepts_remote: bool = Field(examples=[True])
    skills: list[str] = Field(examples=[["finance", "fundraising", "pitching"]])
    created_at: UTCTimestamp
    updated_at: UTCTimestamp


class MentorEnvelope(CamelModel):
    """`{"mentor": {...}}`."""

    mentor: MentorOut


class ConnectionMentor(CamelModel):
    """The mentor side of a connection: the profile id with its person (`name` and
    `avatarUrl` repeated at the top for convenience)."""

    id: uuid.UUID
    user_id: uuid.UUID
    name: str = Field(examples=["Grace Mensah"])
    avatar_url: str | None = Field(default=None, examples=["https://cdn.peal.app/a/grace.jpg"])
    availability: Availability = Field(examples=["available"])
    user: MentorUser


class ConnectionOut(CamelModel):
    """A mentoring request and, once accepted, the mentorship. Seen only by its two people
    (and admins)."""

    id: uuid.UUID
    mentor_id: uuid.UUID
    mentee_id: uuid.UUID
    mentor: ConnectionMentor
    mentee: MentorUser
    status: ConnectionStatus = Field(examples=["pending"])
    message: str | None = Field(
        default=None, examples=["I am opening a bakery and need help with pricing."]
    )
    created_at: UTCTimestamp
    updated_at: UTCTimestamp


class ConnectionEnvelope(CamelModel):
    """`{"connection": {...}}`."""

    connection: ConnectionOut


class ConnectionsResponse(CamelModel):
    """`{"connections": [...], "pagination": {...}}`: the caller's connections, newest first."""

    connections: list[ConnectionOut]
    pagination: Pagination


class MenteeOut(CamelModel):
    """A mentee of a mentor: the person, and the connection that joins them."""

    id: uuid.UUID
    name: str = Field(examples=["Amara Okafor"])
    avatar_url: str | None = Field(default=None, examples=["https://cdn.peal.app/a/amara.jpg"])
    bio: str | None = Field(default=None, examples=["Baker opening a neighbourhood bakery."])
    location: str | None = Field(default=None, examples=["Lagos, Nigeria"])
    connection_id: uuid.UUID
    mentor_id: uuid.UUID
    status: ConnectionStatus = Field(examples=["accepted"])
    message: str | None = Field(default=None, examples=["I need help with pricing."])
    requested_at: UTCTimestamp
    updated_at: UTCTimestamp


class MenteesResponse(CamelModel):
    """`{"mentees": [...], "pagination": {...}}`: the caller's accepted mentees."""

    mentees: list[MenteeOut]
    pagination: Pagination


class MatchProfile(CamelModel):
    id: uuid.UUID
    bio: str | None = Field(default=None, examples=["I help founders price and pitch."])
    availability: Availability = Field(examples=["available"])
    years_experience: int | None = Field(default=None, examples=[12])
    max_mentees: int = Field(examples=[5])
    current_mentees_count: int = Field(examples=[2])
    accepts_remote: bool = Field(examples=[True])
    skills: list[str] = Field(examples=[["finance", "marketing", "retail"]])
    user: MentorUser


class MentorMatch(CamelModel):
    """One recommended mentor, with the reasons a person can read."""

    mentor_id: uuid.UUID
    score: float = Field(ge=0, le=1, examples=[0.83])
    matched_skills: list[str] = Field(examples=[["marketing"]])
    matched_interests: list[str] = Field(examples=[["finance", "retail"]])
    location_match: bool = Field(
        examples=[True], description="Same place as the mentee, or the mentor mentors remotely"
    )
    availability: Availability = Field(examples=["available"])
    years_experience: int | None = Field(default=None, examples=[12])
    reasons: list[str] = Field(
        examples=[
            [
                "Shares 2 of your interests: finance, retail",
                "Based in Lagos, Nigeria, like you",
                "12 years of experience",
            ]
        ]
    )
    profile: MatchProfile


class MatchesResponse(CamelModel):
    """`{"matches": [...]}`, best first."""

    matches: list[MentorMatch]


# --- requests -------------------------------------------------------------------------------


class MentorCreate(CamelModel):
    """A new mentor profile for the caller. Any other field sent (`userId`, counters) is
    ignored."""

    bio: MentorBio = Field(default=None, examples=["I help founders price and pitch."])
    skills: LabelList = Field(default_factory=list, examples=[["finance", "pitching"]])
    years_experience: Years | None = Field(default=None, examples=[12])
    availability: Availability = Field(default="available", examples=["available"])
    max_mentees: MaxMentees = Field(default=5, examples=[5])
    accepts_remote: bool = Field(default=True, examples=[True])


class MentorUpdate(CamelModel):
    """Only the fields sent change; `skills` replaces the whole set. `userId`, the counters and
    ids cannot be changed (they are ignored). `bio` and `yearsExperience` are cleared by null."""

    bio: MentorBio = Field(default=None, examples=["I help founders price and pitch."])
    skills: LabelList | None = Field(default=None, examples=[["finance", "pitching"]])
    years_experience: Years | None = Field(default=None, examples=[12])
    availability: Availability | None = Field(default=None, examples=["busy"])
    max_mentees: MaxMentees | None = Field(default=None, examples=[8])
    accepts_remote: bool | None = Field(default=None, examples=[False])

    _required = refuse_explicit_null("skills", "availability", "max_mentees", "accepts_remote")


class ConnectRequest(CamelModel):
    """An optional note to the mentor."""

    message: RequestMessage = Field(
        default=None, examples=["I am opening a bakery and need help with pricing."]
    )


class ConnectionAnswer(CamelModel):
    """The mentor's answer to a pending request."""

    connection_id: uuid.UUID = Field(examples=[uuid.UUID(int=42)])
    action: Literal["accept", "reject"] = Field(examples=["accept"])


class ConnectionRef(CamelModel):
    """Which connection to end (the mentor names it; the mentee may leave it out)."""

    connection_id: uuid.UUID | None = Field(default=None, examples=[uuid.UUID(int=42)])


class MatchCriteria(CamelModel):
    """What the mentee looks for, on top of her own skills, interests and location.

    `skills`/`interests` add terms to match; `location` replaces hers for this search;
    `minExperience`, `availability` and `acceptsRemote: true` only keep the mentors that
    satisfy them."""

    skills: LabelList = Field(default_factory=list, examples=[["pricing"]])
    interests: LabelList = Field(default_factory=list, examples=[["retail"]])
    location: str | None = Field(default=None, max_length=LOCATION_MAX, examples=["Lagos"])
    min_experience: Years | None = Field(default=None, examples=[5])
    availability: Literal["available", "busy"] | None = Field(default=None, examples=[None])
    accepts_remote: bool | None = Field(default=None, examples=[True])


class MatchRequest(CamelModel):
    user_id: uuid.UUID | None = Field(
        default=None, description="The mentee; the caller when left out (admins: anyone)"
    )
    criteria: MatchCriteria | None = None
    limit: int = Field(default=10, ge=1, le=MATCHES_MAX, examples=[10])
