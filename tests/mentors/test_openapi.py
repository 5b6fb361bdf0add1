"""Every mentoring route is in /docs with its response schema, errors and examples, and the
fixed paths come before `/{mentorId}`."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi.routing import APIRoute

from peal.mentors.router import router


async def test_every_mentor_route_is_documented(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    operations = [
        (path, method, operation)
        for path, methods in spec["paths"].items()
        if path.startswith("/api/mentors")
        for method, operation in methods.items()
    ]
    assert len(operations) == 14
    schemas: dict[str, Any] = spec["components"]["schemas"]
    for path, method, operation in operations:
        assert operation.get("summary"), (method, path)
        responses = operation["responses"]
        assert "422" in responses and "401" in responses, (method, path)
        [success] = [code for code in responses if code.startswith("2")]
        if success == "204":
            continue
        ref = responses[success]["content"]["application/json"]["schema"]["$ref"]
        assert ref.split("/")[-1] in schemas, (method, path)
    match = schemas["MentorMatch"]["properties"]
    assert {
        "mentorId", "score", "matchedSkills", "matchedInterests", "locationMatch",
        "availability", "yearsExperience", "reasons", "profile",
    } <= set(match)  # fmt: skip
    assert match["reasons"]["examples"]
    for name in ("MentorOut", "ConnectionOut", "MentorCreate", "ConnectionAnswer"):
        properties = schemas[name]["properties"]
        assert any("examples" in field for field in properties.values()), name


def test_fixed_paths_come_before_the_mentor_id() -> None:
    paths = [route.path for route in router.routes if isinstance(route, APIRoute)]
    first_id = paths.index("/api/mentors/{mentorId}")
    for fixed in (
        "/api/mentors/connections",
        "/api/mentors/mentees",
        "/api/mentors/match/recommendations",
        "/api/mentors/match",
    ):
        assert paths.index(fixed) < first_id, fixed
