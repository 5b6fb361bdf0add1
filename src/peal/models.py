"""Every table, imported in one place so Alembic and the tests see the whole schema."""

from peal.auth.models import OneTimeToken, RefreshToken
from peal.core.idempotency import IdempotencyKey
from peal.db import Base
from peal.events.models import Event, EventRegistration
from peal.funding.models import FundingDonation, FundingRequest, FundingSupporter
from peal.goals.models import Goal, GoalMilestone
from peal.mentors.models import MentorConnection, MentorProfile, MentorSkill
from peal.messaging.models import Conversation, ConversationParticipant, Message
from peal.moderation.models import AuditLogEntry, ModerationReport
from peal.notifications.models import Notification
from peal.outbox import OutboxJob
from peal.payments.models import PaymentEvent
from peal.search.models import SEARCH_INDEXES
from peal.settings.models import UserSettings
from peal.stories.models import SuccessStory, SuccessStoryCelebration
from peal.uploads.models import Upload
from peal.users.models import (
    DataExport,
    User,
    UserBlock,
    UserFollow,
    UserInterest,
    UserMute,
    UserSkill,
)
from peal.videos.models import Video, VideoComment, VideoLike, VideoShare, VideoTag, VideoView

__all__ = [
    "SEARCH_INDEXES",
    "AuditLogEntry",
    "Base",
    "Conversation",
    "ConversationParticipant",
    "DataExport",
    "Event",
    "EventRegistration",
    "FundingDonation",
    "FundingRequest",
    "FundingSupporter",
    "Goal",
    "GoalMilestone",
    "IdempotencyKey",
    "MentorConnection",
    "MentorProfile",
    "MentorSkill",
    "Message",
    "ModerationReport",
    "Notification",
    "OneTimeToken",
    "OutboxJob",
    "PaymentEvent",
    "RefreshToken",
    "SuccessStory",
    "SuccessStoryCelebration",
    "Upload",
    "User",
    "UserBlock",
    "UserFollow",
    "UserInterest",
    "UserMute",
    "UserSettings",
    "UserSkill",
    "Video",
    "VideoComment",
    "VideoLike",
    "VideoShare",
    "VideoTag",
    "VideoView",
]
