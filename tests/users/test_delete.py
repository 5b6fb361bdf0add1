"""Account deletion: the personal data is purged, counters elsewhere stay right, tokens die."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import func, select

from peal.auth.models import OneTimeToken, RefreshToken
from peal.db import utcnow
from peal.funding.models import FundingDonation, FundingRequest
from peal.mentors.models import MentorConnection, MentorProfile, MentorSkill
from peal.messaging.models import Conversation, ConversationParticipant, Message
from peal.notifications.models import Notification
from peal.settings.models import UserSettings
from peal.stories.models import SuccessStory, SuccessStoryCelebration
from peal.users.models import User, UserFollow, UserInterest, UserSkill
from peal.videos.models import Video, VideoComment, VideoLike
from tests.conftest import AuthedUser
from tests.helpers import ok
from tests.users.conftest import Sql


async def _count(sql: Sql, model: Any, *where: Any) -> int:
    return int(await sql.scalar(select(func.count()).select_from(model).where(*where)))


async def _user(sql: Sql, user_id: uuid.UUID) -> User:
    rows: list[User] = await sql.scalars(select(User).where(User.id == user_id))
    return rows[0]


async def test_delete_own_account_leaves_an_anonymous_tombstone(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser, admin: AuthedUser, sql: Sql
) -> None:
    await ok(
        client.put(
            f"/api/users/{woman.id}",
            headers=woman.headers,
            json={
                "bio": "Baker",
                "location": "Lagos",
                "avatarUrl": "https://cdn.example.com/a.png",
            },
        )
    )
    await ok(
        client.put(f"/api/users/{woman.id}/skills", headers=woman.headers, json={"skills": ["a"]})
    )
    await ok(
        client.put(
            f"/api/users/{woman.id}/interests", headers=woman.headers, json={"interests": ["b"]}
        )
    )
    await ok(
        client.post(f"/api/users/{woman.id}/follow", headers=sponsor.headers)
    )  # notifies woman
    await ok(client.post(f"/api/users/{sponsor.id}/follow", headers=woman.headers))
    await ok(client.post(f"/api/users/{admin.id}/follow", headers=woman.headers))
    await ok(client.post(f"/api/users/{admin.id}/follow", headers=sponsor.headers))
    await sql.add(
        OneTimeToken(
            user_id=woman.id,
            purpose="verify_email",
            token_hash=uuid.uuid4().hex,
            expires_at=utcnow() + timedelta(days=1),
        ),
        RefreshToken(
            user_id=woman.id,
            family_id=uuid.uuid4(),
            token_hash=uuid.uuid4().hex,
            expires_at=utcnow() + timedelta(days=1),
            ip_address="198.51.100.7",
        ),
    )

    response = await client.delete(f"/api/users/{woman.id}", headers=woman.headers)
    assert response.status_code == 204
    assert response.content == b""

    tombstone = await _user(sql, woman.id)
    assert tombstone.name == "Deleted user"
    assert tombstone.email == f"deleted-{woman.id}@deleted.invalid"
    assert tombstone.password_hash is None
    assert (tombstone.avatar_url, tombstone.bio, tombstone.location) == (None, None, None)
    assert tombstone.is_public is False
    assert tombstone.email_verified is False
    assert tombstone.deleted_at is not None
    assert (tombstone.followers_count, tombstone.following_count) == (0, 0)

    for model, column in (
        (UserSkill, UserSkill.user_id),
        (UserInterest, UserInterest.user_id),
        (UserSettings, UserSettings.user_id),
        (Notification, Notification.user_id),
        (OneTimeToken, OneTimeToken.user_id),
        (RefreshToken, RefreshToken.user_id),
    ):
        assert await _count(sql, model, column == woman.id) == 0, model.__name__
    assert await _count(sql, UserFollow, UserFollow.follower_id == woman.id) == 0
    assert await _count(sql, UserFollow, UserFollow.following_id == woman.id) == 0
    # The other users' counters no longer count the deleted user.
    sponsor_row, admin_row = await _user(sql, sponsor.id), await _user(sql, admin.id)
    assert (sponsor_row.followers_count, sponsor_row.following_count) == (0, 1)
    assert (admin_row.followers_count, admin_row.following_count) == (1, 0)
    # Their own settings survive.
    assert await _count(sql, UserSettings, UserSettings.user_id == sponsor.id) == 1

    # The access token stops working at once.
    assert (await client.get(f"/api/users/{woman.id}", headers=woman.headers)).status_code == 401
    assert (await client.get("/api/settings", headers=woman.headers)).status_code == 401
    # Others no longer see the user anywhere; an admin sees the tombstone.
    assert (await client.get(f"/api/users/{woman.id}", headers=sponsor.headers)).status_code == 404
    listed = (await client.get("/api/users", headers=sponsor.headers)).json()["data"]
    assert str(woman.id) not in {user["id"] for user in listed}
    seen = await client.get(f"/api/users/{woman.id}", headers=admin.headers)
    assert seen.json()["user"]["name"] == "Deleted user"
    # Deleting twice: 404, even for an admin.
    again = await client.delete(f"/api/users/{woman.id}", headers=admin.headers)
    assert again.status_code == 404
    for method in ("PUT", "PATCH"):
        update = await client.request(
            method, f"/api/users/{woman.id}", headers=admin.headers, json={"name": "Back"}
        )
        assert update.status_code == 404


async def test_only_the_owner_or_an_admin_may_delete(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser, admin: AuthedUser, sql: Sql
) -> None:
    forbidden = await client.delete(f"/api/users/{woman.id}", headers=sponsor.headers)
    assert forbidden.status_code == 403
    assert (await client.delete(f"/api/users/{woman.id}")).status_code == 401
    assert (await _user(sql, woman.id)).deleted_at is None
    assert (
        await client.delete(f"/api/users/{uuid.uuid4()}", headers=admin.headers)
    ).status_code == 404

    by_admin = await client.delete(f"/api/users/{woman.id}", headers=admin.headers)
    assert by_admin.status_code == 204
    assert (await _user(sql, woman.id)).name == "Deleted user"


async def test_private_account_delete_by_other_is_404(
    client: httpx.AsyncClient, make_user: Callable[..., Any], sponsor: AuthedUser
) -> None:
    target: AuthedUser = await make_user("woman", is_public=False)
    response = await client.delete(f"/api/users/{target.id}", headers=sponsor.headers)
    assert response.status_code == 404


async def test_email_is_free_again_after_deletion(
    client: httpx.AsyncClient, make_user: Callable[..., Any], woman: AuthedUser
) -> None:
    await ok(client.delete(f"/api/users/{woman.id}", headers=woman.headers))
    again: AuthedUser = await make_user("woman", email=woman.email)
    assert again.id != woman.id


async def test_content_in_other_domains_is_purged_and_counters_fixed(
    client: httpx.AsyncClient, make_user: Callable[..., Any], sql: Sql
) -> None:
    leaving: AuthedUser = await make_user("woman", name="Leaving")
    other: AuthedUser = await make_user("woman", name="Other")
    third: AuthedUser = await make_user("sponsor", name="Third")
    gone, me = leaving.id, other.id

    # Videos: one of the leaving user's (with a like and a comment by others), one of Other's
    # that the leaving user liked and commented on, with replies both ways.
    own_video = Video(title="Mine", video_url="https://v/1", author_id=gone, likes_count=1)
    their_video = Video(title="Theirs", video_url="https://v/2", author_id=me, likes_count=2)
    await sql.add(own_video, their_video)
    top_by_other = VideoComment(video_id=their_video.id, user_id=me, content="hi", replies_count=2)
    top_by_leaving = VideoComment(
        video_id=their_video.id, user_id=gone, content="mine", replies_count=1
    )
    await sql.add(top_by_other, top_by_leaving)
    await sql.add(
        VideoLike(video_id=own_video.id, user_id=me),
        VideoLike(video_id=their_video.id, user_id=gone),
        VideoLike(video_id=their_video.id, user_id=third.id),
        VideoComment(video_id=own_video.id, user_id=me, content="nice"),
        VideoComment(
            video_id=their_video.id, user_id=gone, content="re", parent_id=top_by_other.id
        ),
        VideoComment(
            video_id=their_video.id, user_id=third.id, content="re", parent_id=top_by_other.id
        ),
        VideoComment(
            video_id=their_video.id, user_id=third.id, content="re", parent_id=top_by_leaving.id
        ),
    )
    await sql.run(
        Video.__table__.update().where(Video.id == their_video.id).values(comments_count=5)
    )

    # Stories: the leaving user's own, and a celebration of Other's.
    own_story = SuccessStory(title="Mine", description="d", author_id=gone)
    their_story = SuccessStory(title="Theirs", description="d", author_id=me, celebrations_count=2)
    await sql.add(own_story, their_story)
    await sql.add(
        SuccessStoryCelebration(success_story_id=their_story.id, user_id=gone),
        SuccessStoryCelebration(success_story_id=their_story.id, user_id=third.id),
        SuccessStoryCelebration(success_story_id=own_story.id, user_id=me),
    )

    # Mentoring: the leaving user mentors Third and is Other's accepted mentee.
    own_profile = MentorProfile(user_id=gone)
    their_profile = MentorProfile(user_id=me, current_mentees_count=1)
    await sql.add(own_profile, their_profile)
    await sql.add(
        MentorSkill(mentor_id=own_profile.id, skill="baking"),
        MentorConnection(mentor_id=own_profile.id, mentee_id=third.id, status="accepted"),
        MentorConnection(mentor_id=their_profile.id, mentee_id=gone, status="accepted"),
    )

    # Messages: a 1:1 conversation with Other (two unread from the leaving user, one from
    # Other), and a conversation only the leaving user is left in.
    shared, lonely = Conversation(), Conversation()
    await sql.add(shared, lonely)
    await sql.add(
        ConversationParticipant(conversation_id=shared.id, user_id=gone),
        ConversationParticipant(conversation_id=shared.id, user_id=me, unread_count=2),
        ConversationParticipant(conversation_id=lonely.id, user_id=gone),
        Message(conversation_id=shared.id, sender_id=gone, content="one"),
        Message(conversation_id=shared.id, sender_id=gone, content="two"),
        Message(conversation_id=shared.id, sender_id=gone, content="old", is_read=True),
        Message(conversation_id=shared.id, sender_id=me, content="mine"),
        Message(conversation_id=lonely.id, sender_id=gone, content="note"),
    )

    # Funding: a request with a donation (kept), one without (deleted), and the leaving
    # user's donation to Other's request (kept).
    deadline = date.today() + timedelta(days=30)
    funded = FundingRequest(
        title="Funded", description="d", goal_amount=Decimal("500"), author_id=gone,
        deadline=deadline, current_amount=Decimal("25"), supporters_count=1,
    )  # fmt: skip
    unfunded = FundingRequest(
        title="Empty", description="d", goal_amount=Decimal("500"), author_id=gone,
        deadline=deadline,
    )  # fmt: skip
    theirs = FundingRequest(
        title="Theirs", description="d", goal_amount=Decimal("500"), author_id=me,
        deadline=deadline,
    )  # fmt: skip
    await sql.add(funded, unfunded, theirs)
    await sql.add(
        FundingDonation(
            funding_request_id=funded.id, donor_id=me, amount=Decimal("25"), status="succeeded"
        ),
        FundingDonation(
            funding_request_id=theirs.id, donor_id=gone, amount=Decimal("10"), status="succeeded"
        ),
    )

    response = await client.delete(f"/api/users/{gone}", headers=leaving.headers)
    assert response.status_code == 204, response.text

    # Videos
    assert await _count(sql, Video, Video.author_id == gone) == 0
    assert await _count(sql, VideoLike, VideoLike.user_id == gone) == 0
    assert await _count(sql, VideoComment, VideoComment.user_id == gone) == 0
    video = (await sql.scalars(select(Video).where(Video.id == their_video.id)))[0]
    assert video.likes_count == 1
    # Left: Other's top comment and Third's reply to it (Third's reply to the leaving
    # user's comment went with it).
    assert video.comments_count == 2
    assert await _count(sql, VideoComment, VideoComment.video_id == their_video.id) == 2
    parent = (await sql.scalars(select(VideoComment).where(VideoComment.id == top_by_other.id)))[0]
    assert parent.replies_count == 1

    # Stories
    assert await _count(sql, SuccessStory, SuccessStory.author_id == gone) == 0
    assert await _count(sql, SuccessStoryCelebration, SuccessStoryCelebration.user_id == gone) == 0
    story = (await sql.scalars(select(SuccessStory).where(SuccessStory.id == their_story.id)))[0]
    assert story.celebrations_count == 1

    # Mentoring
    assert await _count(sql, MentorProfile, MentorProfile.user_id == gone) == 0
    assert await _count(sql, MentorSkill) == 0
    assert await _count(sql, MentorConnection) == 0
    profile = (await sql.scalars(select(MentorProfile).where(MentorProfile.user_id == me)))[0]
    assert profile.current_mentees_count == 0

    # Messages
    assert await _count(sql, Message, Message.sender_id == gone) == 0
    assert await _count(sql, ConversationParticipant, ConversationParticipant.user_id == gone) == 0
    assert await _count(sql, Conversation, Conversation.id == lonely.id) == 0
    assert await _count(sql, Conversation, Conversation.id == shared.id) == 1
    assert await _count(sql, Message, Message.conversation_id == shared.id) == 1
    unread = await sql.scalar(
        select(ConversationParticipant.unread_count).where(ConversationParticipant.user_id == me)
    )
    assert unread == 0

    # Funding: money records stay, attributed to the tombstone.
    assert await _count(sql, FundingRequest, FundingRequest.id == unfunded.id) == 0
    kept = (await sql.scalars(select(FundingRequest).where(FundingRequest.id == funded.id)))[0]
    assert kept.author_id == gone
    # Cancelled like an author's own cancel: the donors are refunded, the records stay.
    assert kept.status == "cancelled"
    assert kept.current_amount == Decimal("0.00")
    assert await _count(sql, FundingDonation) == 2
    assert await _count(sql, FundingDonation, FundingDonation.status == "refunded") == 1
    assert await _count(sql, FundingDonation, FundingDonation.donor_id == gone) == 1

    # Everyone else is untouched.
    assert await _count(sql, Video, Video.author_id == me) == 1
    assert await _count(sql, SuccessStory, SuccessStory.author_id == me) == 1
    assert (await client.get(f"/api/users/{me}", headers=other.headers)).status_code == 200
