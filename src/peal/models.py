"""Every table, imported in one place so Alembic and the tests see the whole schema."""

from peal.auth.models import OneTimeToken, RefreshToken
from peal.db import Base
from peal.funding.models import FundingDonation, FundingRequest
from peal.mentors.models import MentorConnection, MentorProfile, MentorSkill
from peal.messaging.models import Conversation, ConversationParticipant, Message
from peal.notifications.models import Notification
from peal.settings.models import UserSettings
from peal.stories.models import SuccessStory, SuccessStoryCelebration
from peal.users.models import User, UserFollow, UserInterest, UserSkill
from peal.videos.models import Video, VideoComment, VideoLike, VideoTag

__all__ = [
    "Base",
    "Conversation",
    "ConversationParticipant",
    "FundingDonation",
    "FundingRequest",
    "MentorConnection",
    "MentorProfile",
    "MentorSkill",
    "Message",
    "Notification",
    "OneTimeToken",
    "RefreshToken",
    "SuccessStory",
    "SuccessStoryCelebration",
    "User",
    "UserFollow",
    "UserInterest",
    "UserSettings",
    "UserSkill",
    "Video",
    "VideoComment",
    "VideoLike",
    "VideoTag",
]
