"""Reports over HTTP: each content type, one open report per person, what a reporter may see,
auto-hide, the weighted queue, reviews, and the reporter never revealed to the reported."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy import update as sql_update

from peal.db import utcnow
from peal.moderation.models import AuditLogEntry, ModerationReport
from peal.videos.models import Video
from tests.moderation.helpers import make_content, notifications_of, read_path, report, review
from tests.uploads.helpers import insert_videos

CONTENT_TYPES = ["user", "video", "comment", "request", "story", "event"]
REPORT_FIELDS = {
    "id", "reporterId", "contentType", "contentId", "reason", "description", "status",
    "reviewedBy", "reviewedAt", "action", "createdAt",
}  # fmt: skip


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
async def test_report_each_type_once_while_open(
    client: httpx.AsyncClient, app: FastAPI, woman: Any, sponsor: Any, admin: Any, content_type: str
) -> None:
    content_id = await make_content(client, app, woman, content_type)
    body = await report(
        client, sponsor, content_type, content_id, "harassment", description="<b>Rude</b> text"
    )
    created = body["report"]
    assert set(created) == REPORT_FIELDS
    assert created["status"] == "pending" and created["reason"] == "harassment"
    assert created["description"] == "Rude text"
    assert created["reporterId"] == str(sponsor.id)
    # A second open report of the same content by the same person: 409 naming the first.
    again = await report(client, sponsor, content_type, content_id, "spam", expect=409)
    assert again["code"] == "already_reported"
    assert again["details"] == {"reportId": created["id"]}
    mine = await client.get("/api/moderation/my-reports", headers=sponsor.headers)
    assert [r["id"] for r in mine.json()["reports"]] == [created["id"]]
    # Once reviewed, the same person may report it again.
    await review(client, admin, created["id"], "dismiss")
    await report(client, sponsor, content_type, content_id, "spam")


async def test_bad_reports_are_refused(
    client: httpx.AsyncClient, app: FastAPI, woman: Any, sponsor: Any
) -> None:
    [video_id] = await insert_videos(app, woman.id, 1)
    assert await report(client, sponsor, "video", video_id, "boring", expect=422)
    assert (await report(client, sponsor, "planet", video_id, expect=422))["code"] == (
        "validation_error"
    )
    await report(client, sponsor, "video", uuid.uuid4(), expect=404)
    too_long = "x" * 9000
    await report(client, sponsor, "video", video_id, description=too_long, expect=422)
    own = await report(client, woman, "video", video_id, expect=400)
    assert own["code"] == "cannot_report_own"
    anonymous = await client.post(
        "/api/moderation/report",
        json={"contentType": "video", "contentId": str(video_id), "reason": "spam"},
    )
    assert anonymous.status_code == 401


async def test_what_the_reporter_cannot_see_is_404(
    client: httpx.AsyncClient, app: FastAPI, make_user: Any, sponsor: Any
) -> None:
    private = await make_user("woman", is_public=False)
    banned = await make_user("woman")
    [private_video] = await insert_videos(app, private.id, 1)
    [processing] = await insert_videos(app, banned.id, 1, status="processing")
    await report(client, sponsor, "user", private.id, expect=404)
    await report(client, sponsor, "video", private_video, expect=404)
    # A processing video is its author's only.
    await report(client, sponsor, "video", processing, expect=404)
    # A comment on a video the reporter cannot see.
    comment = await client.post(
        f"/api/videos/{private_video}/comments", json={"content": "hi"}, headers=private.headers
    )
    assert comment.status_code == 201
    await report(client, sponsor, "comment", comment.json()["comment"]["id"], expect=404)
    # A private person's request and story.
    request_id = await make_content(client, app, private, "request")
    await report(client, sponsor, "request", request_id, expect=404)
    story_id = await make_content(client, app, private, "story")
    await report(client, sponsor, "story", story_id, expect=404)
    # An unknown id of each type is the same 404.
    for content_type in CONTENT_TYPES:
        await report(client, sponsor, content_type, uuid.uuid4(), expect=404)


@pytest.mark.parametrize("content_type", ["video", "comment", "request", "story", "event"])
async def test_auto_hide_at_the_threshold_and_back_on_dismiss(
    client: httpx.AsyncClient,
    app: FastAPI,
    make_user: Any,
    woman: Any,
    admin: Any,
    content_type: str,
) -> None:
    content_id = await make_content(client, app, woman, content_type)
    video_id = None
    if content_type == "comment":
        async with app.state.db.sessionmaker() as session:
            video_id = str(await session.scalar(select(Video.id)))
    path = read_path(content_type, content_id, video_id)
    reporters = [await make_user("sponsor") for _ in range(3)]
    bystander = await make_user("sponsor")

    def shows(response: httpx.Response) -> bool:
        return response.status_code == 200 and content_id in response.text

    reports = []
    for index, reporter in enumerate(reporters):
        reports.append((await report(client, reporter, content_type, content_id))["report"])
        if index < 2:
            assert shows(await client.get(path, headers=bystander.headers))
    # Three distinct reporters: hidden from everyone but its author and admins.
    assert not shows(await client.get(path, headers=bystander.headers))
    assert not shows(await client.get(path))
    assert shows(await client.get(path, headers=woman.headers))
    assert shows(await client.get(path, headers=admin.headers))
    # A fourth person cannot see it, so cannot report it either.
    await report(client, bystander, content_type, content_id, expect=404)
    told = [n for n in await notifications_of(app, woman.id) if n.type == "content_under_review"]
    assert len(told) == 1
    assert told[0].data == {"contentType": content_type, "contentId": content_id}
    # Dismissed: every open report closes together and the content is back.
    reviewed = await review(client, admin, reports[0]["id"], "dismiss")
    assert reviewed["report"]["status"] == "dismissed"
    assert reviewed["report"]["reviewedBy"] == str(admin.id)
    async with app.state.db.sessionmaker() as session:
        statuses = set(
            await session.scalars(
                select(ModerationReport.status).where(
                    ModerationReport.content_id == uuid.UUID(content_id)
                )
            )
        )
    assert statuses == {"dismissed"}
    assert shows(await client.get(path, headers=bystander.headers))


async def test_hidden_and_removed_videos_leave_every_list(
    client: httpx.AsyncClient, app: FastAPI, woman: Any, sponsor: Any, admin: Any
) -> None:
    [video_id, other_id] = await insert_videos(app, woman.id, 2, title="Bakery tips")
    created = (await report(client, sponsor, "video", video_id))["report"]
    await review(client, admin, created["id"], "remove_content", note="Asks for money off-site")
    lists = [
        "/api/videos",
        f"/api/videos?authorId={woman.id}",
        f"/api/users/{woman.id}/videos",
        "/api/search?q=bakery",
        "/api/videos/feed",
        "/api/videos/trending",
    ]
    for path in lists:
        response = await client.get(path, headers=sponsor.headers)
        assert response.status_code == 200, (path, response.text)
        assert str(video_id) not in response.text, path
    assert (await client.get(f"/api/videos/{video_id}", headers=sponsor.headers)).status_code == 404
    assert (await client.get(f"/api/videos/{other_id}", headers=sponsor.headers)).status_code == 200
    # No one can like or comment on it any more.
    like = await client.post(f"/api/videos/{video_id}/like", headers=sponsor.headers)
    assert like.status_code == 404
    # The author still sees it, and was told why.
    assert (await client.get(f"/api/videos/{video_id}", headers=woman.headers)).status_code == 200
    removed = [n for n in await notifications_of(app, woman.id) if n.type == "content_removed"]
    assert len(removed) == 1
    assert "scam" in removed[0].message and "Asks for money off-site" in removed[0].message
    # A later dismiss of a new report cannot bring a removed video back (removal is final).
    async with app.state.db.sessionmaker() as session:
        status = await session.scalar(select(Video.moderation_status).where(Video.id == video_id))
    assert status == "removed"


async def test_removing_a_request_keeps_its_money_records(
    client: httpx.AsyncClient, app: FastAPI, woman: Any, sponsor: Any, admin: Any
) -> None:
    from tests.funding.helpers import create_request, donate, donation_rows

    request = await create_request(client, woman)
    await donate(client, sponsor, request["id"], 40)
    created = (await report(client, sponsor, "request", request["id"]))["report"]
    await review(client, admin, created["id"], "remove_content")
    assert (await client.get(f"/api/requests/{request['id']}")).status_code == 404
    assert request["id"] not in (await client.get("/api/requests")).text
    rows = await donation_rows(app, request["id"])
    assert [row.status for row in rows] == ["succeeded"]
    # The donor still finds her own donation in the admin's and her own records.
    admin_view = await client.get(f"/api/requests/{request['id']}", headers=admin.headers)
    assert admin_view.status_code == 200
    assert admin_view.json()["request"]["currentAmount"] == 40


async def test_warn_tells_the_author_and_keeps_the_content(
    client: httpx.AsyncClient, app: FastAPI, woman: Any, sponsor: Any, admin: Any
) -> None:
    story_id = await make_content(client, app, woman, "story")
    created = (await report(client, sponsor, "story", story_id))["report"]
    reviewed = await review(client, admin, created["id"], "warn", note="Please stay kind")
    assert reviewed["report"]["status"] == "actioned"
    assert reviewed["report"]["action"] == "warn"
    warned = [n for n in await notifications_of(app, woman.id) if n.type == "moderation_warning"]
    assert [n.message for n in warned] == ["Please stay kind"]
    assert (await client.get(f"/api/stories/{story_id}")).status_code == 200
    # A closed report cannot be reviewed again.
    again = await review(client, admin, created["id"], "remove_content", expect=409)
    assert again["code"] == "already_reviewed"
    await review(client, admin, str(uuid.uuid4()), "dismiss", expect=404)


async def test_a_person_cannot_be_removed_only_banned(
    client: httpx.AsyncClient, woman: Any, sponsor: Any, admin: Any
) -> None:
    created = (await report(client, sponsor, "user", woman.id))["report"]
    refused = await review(client, admin, created["id"], "remove_content", expect=409)
    assert refused["code"] == "not_removable"


async def test_the_reporter_is_never_revealed_to_the_reported_person(
    client: httpx.AsyncClient, app: FastAPI, make_user: Any, woman: Any, admin: Any
) -> None:
    reporters = [await make_user("sponsor", name=f"Secret Reporter {i}") for i in range(3)]
    [video_id] = await insert_videos(app, woman.id, 1)
    for reporter in reporters:
        await report(client, reporter, "video", video_id, description="I am the reporter")
    created = (await report(client, reporters[0], "user", woman.id))["report"]
    await review(client, admin, created["id"], "warn")
    leaks = [str(r.id) for r in reporters] + [r.name for r in reporters] + ["I am the reporter"]
    # Her notifications (hidden, warned) ...
    notes = await notifications_of(app, woman.id)
    assert {n.type for n in notes} >= {"content_under_review", "moderation_warning"}
    seen = json.dumps([[n.title, n.message, n.data] for n in notes])
    listed = await client.get("/api/notifications", headers=woman.headers)
    seen += listed.text
    # ... her own content and profile ...
    seen += (await client.get(f"/api/videos/{video_id}", headers=woman.headers)).text
    seen += (await client.get(f"/api/users/{woman.id}", headers=woman.headers)).text
    # ... and the report API: her reports are only her own, the queue is for admins.
    mine = await client.get("/api/moderation/my-reports", headers=woman.headers)
    assert mine.json()["reports"] == []
    seen += mine.text
    for path in ("/api/moderation/pending", "/api/admin/reports", "/api/admin/audit-log"):
        assert (await client.get(path, headers=woman.headers)).status_code == 403
    for leak in leaks:
        assert leak not in seen


async def test_the_queue_orders_by_weight(
    client: httpx.AsyncClient, app: FastAPI, make_user: Any, woman: Any, admin: Any
) -> None:
    # Three videos: one with two reporters, one seen by many, one waiting longest.
    [two_reporters, popular, old] = await insert_videos(app, woman.id, 3)
    async with app.state.db.sessionmaker() as session:
        await session.execute(sql_update(Video).where(Video.id == popular).values(views_count=1023))
        await session.commit()
    people = [await make_user("sponsor") for _ in range(3)]
    await report(client, people[0], "video", old)
    await report(client, people[0], "video", two_reporters)
    await report(client, people[1], "video", two_reporters)
    await report(client, people[2], "video", popular)
    # The report on `old` has waited 100 hours.
    async with app.state.db.sessionmaker() as session:
        await session.execute(
            sql_update(ModerationReport)
            .where(ModerationReport.content_id == old)
            .values(created_at=utcnow() - timedelta(hours=100))
        )
        await session.commit()
    response = await client.get("/api/moderation/pending", headers=admin.headers)
    assert response.status_code == 200
    queue = response.json()["reports"]
    order = [r["contentId"] for r in queue]
    # old: 10 + 0 + 100 = 110; popular: 10 + 5 * 10 = 60; two reporters: 20 (x2 rows).
    assert order == [str(old), str(popular), str(two_reporters), str(two_reporters)]
    weights = [r["weight"] for r in queue]
    assert 109.9 <= weights[0] <= 110.2
    assert 60 <= weights[1] < 60.1 and 20 <= weights[2] < 20.1
    assert queue[2]["reporterCount"] == 2
    assert response.json()["pagination"]["total"] == 4


async def test_stats_and_audit_log(
    client: httpx.AsyncClient, app: FastAPI, make_user: Any, woman: Any, admin: Any
) -> None:
    [a, b, c] = await insert_videos(app, woman.id, 3)
    sponsor = await make_user("sponsor")
    ids = [(await report(client, sponsor, "video", v))["report"]["id"] for v in (a, b, c)]
    await review(client, admin, ids[0], "dismiss")
    await review(client, admin, ids[1], "remove_content", note="spam links")
    stats = await client.get("/api/moderation/stats", headers=admin.headers)
    assert stats.json() == {"stats": {"pending": 1, "reviewed": 2, "dismissed": 1, "actioned": 1}}
    log = await client.get("/api/admin/audit-log", headers=admin.headers)
    assert log.status_code == 200
    body = log.json()
    assert body["pagination"]["total"] == 2
    newest = body["data"][0]
    assert newest["actorId"] == str(admin.id)
    assert newest["action"] == "remove_content"
    assert newest["targetType"] == "video" and newest["targetId"] == str(b)
    assert newest["note"] == "spam links" and newest["createdAt"].endswith("Z")
    async with app.state.db.sessionmaker() as session:
        actions = set(await session.scalars(select(AuditLogEntry.action)))
    assert actions == {"dismiss", "remove_content"}


async def test_my_reports_and_the_queue_have_fixed_query_counts(
    client: httpx.AsyncClient,
    app: FastAPI,
    make_user: Any,
    woman: Any,
    admin: Any,
    count_queries: Any,
) -> None:
    sponsor = await make_user("sponsor")
    videos = await insert_videos(app, woman.id, 6)
    await report(client, sponsor, "video", videos[0])
    counts = []
    for round_ in range(2):
        count_queries.reset()
        assert (await client.get("/api/moderation/my-reports", headers=sponsor.headers)).is_success
        mine = count_queries.count
        count_queries.reset()
        assert (await client.get("/api/moderation/pending", headers=admin.headers)).is_success
        counts.append((mine, count_queries.count))
        if round_ == 0:
            for video_id in videos[1:]:
                await report(client, sponsor, "video", video_id)
    assert counts[0] == counts[1]
