"""Request and response bodies of the auth endpoints (camelCase on the wire)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from peal.auth.service import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH
from peal.core.schemas import CamelModel
from peal.users.schemas import Bio, EmailAddress, LabelList, Location, ProfileName, UserOut

TOKEN_MAX_LENGTH = 512  # our tokens are 43 characters; anything far longer is not one of ours

RESET_REQUESTED_MESSAGE = "If an account exists for this email, a reset link has been sent."
PASSWORD_RESET_MESSAGE = "Your password has been changed. Please sign in again."  # noqa: S105 - a message
VERIFICATION_SENT_MESSAGE = (
    "If your email is not verified yet, a new verification link is on its way."
)

# Passwords are taken exactly as typed: the model-wide whitespace stripping must not apply.
RawSecret = Annotated[str, StringConstraints(strip_whitespace=False)]
NewPassword = Annotated[
    RawSecret,
    Field(
        min_length=PASSWORD_MIN_LENGTH,
        max_length=PASSWORD_MAX_LENGTH,
        description="8 to 128 characters, not one of the most common passwords",
        examples=["Sunflower-Bakery-2026"],
    ),
]
OpaqueToken = Annotated[
    str,
    Field(
        min_length=1,
        max_length=TOKEN_MAX_LENGTH,
        examples=["pX3v9gq0uS8k2n1R5wTzY7bQ4cF6hJ8mL0aD2eG1iK3"],
    ),
]


class RegisterRequest(CamelModel):
    """A new account. Only these fields are read: anything else in the body is ignored."""

    email: EmailAddress = Field(examples=["amara@example.com"])
    password: NewPassword
    name: ProfileName = Field(examples=["Amara Okafor"])
    role: Literal["woman", "sponsor"] = Field(
        default="woman", description="`admin` is never self-assigned", examples=["woman"]
    )
    bio: Bio = Field(default=None, examples=["Baker and founder of a small bakery."])
    location: Location = Field(default=None, examples=["Lagos, Nigeria"])
    skills: LabelList = Field(
        default_factory=list,
        description="At most 20 skills of at most 50 characters, stored lower-cased; "
        "repeats are dropped",
        examples=[["baking", "marketing"]],
    )


class LoginRequest(CamelModel):
    # Not EmailStr: a malformed address is simply an unknown one (the same 401).
    email: str = Field(min_length=1, max_length=320, examples=["amara@example.com"])
    password: RawSecret = Field(min_length=1, max_length=1024, examples=["Sunflower-Bakery-2026"])


class RefreshRequest(CamelModel):
    refresh_token: OpaqueToken | None = Field(
        default=None, description="Omit it to use the `peal_refresh` cookie"
    )


class LogoutRequest(CamelModel):
    refresh_token: str | None = Field(
        default=None,
        description="The refresh token of the sign-in to end; omit it to use the cookie",
        examples=["pX3v9gq0uS8k2n1R5wTzY7bQ4cF6hJ8mL0aD2eG1iK3"],
    )


class ForgotPasswordRequest(CamelModel):
    email: EmailAddress = Field(examples=["amara@example.com"])


class ResetPasswordRequest(CamelModel):
    token: OpaqueToken = Field(description="The token from the reset link")
    password: NewPassword


class VerifyEmailRequest(CamelModel):
    token: OpaqueToken = Field(description="The token from the verification link")


class ConfirmEmailChangeRequest(CamelModel):
    token: OpaqueToken = Field(description="The token from the email-change confirmation link")


GOOGLE_ID_TOKEN_MAX_LENGTH = 8192  # Google's ID tokens are 1-2 KB


class GoogleSignInRequest(CamelModel):
    """A Google ID token (from Google Identity Services) and, for a new account, its role."""

    id_token: str = Field(
        min_length=1,
        max_length=GOOGLE_ID_TOKEN_MAX_LENGTH,
        description="The `credential` Google Identity Services handed to the web app",
        examples=["eyJhbGciOiJSUzI1NiIsImtpZCI6IjFlOWdkazcifQ..."],
    )
    role: Literal["woman", "sponsor"] = Field(
        default="woman",
        description="Role of a new account (`admin` is never self-assigned); ignored when an "
        "account already exists for the email",
        examples=["woman"],
    )


class AuthResponse(CamelModel):
    """A signed-in session: the same tokens are also set as cookies."""

    user: UserOut
    access_token: str = Field(examples=["eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9..."])
    refresh_token: str = Field(examples=["pX3v9gq0uS8k2n1R5wTzY7bQ4cF6hJ8mL0aD2eG1iK3"])
    expires_in: int = Field(description="Access token lifetime in seconds", examples=[900])


class UserResponse(CamelModel):
    user: UserOut


class MessageResponse(CamelModel):
    message: str = Field(examples=[RESET_REQUESTED_MESSAGE])
