"""HTTP routes of the auth domain: parse, call the service, shape the answer, set cookies."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from peal.auth import google, service
from peal.auth.dependencies import (
    ACCESS_COOKIE,
    CSRF_COOKIE,
    CSRF_HEADER,
    REFRESH_COOKIE,
    CurrentUser,
    auth_rate_limit,
    csrf_token_for,
)
from peal.auth.schemas import (
    PASSWORD_RESET_MESSAGE,
    RESET_REQUESTED_MESSAGE,
    VERIFICATION_SENT_MESSAGE,
    AuthResponse,
    ConfirmEmailChangeRequest,
    ForgotPasswordRequest,
    GoogleSignInRequest,
    LoginRequest,
    LogoutRequest,
    MessageResponse,
    RefreshRequest,
    RegisterRequest,
    ResetPasswordRequest,
    UserResponse,
    VerifyEmailRequest,
)
from peal.auth.tasks import send_password_reset
from peal.config import Settings
from peal.core.errors import Unauthorized, ValidationFailed, error_response
from peal.core.json_body import load_json
from peal.core.ratelimit import LoginThrottle, client_ip, reset_mail_quota
from peal.core.schemas import ErrorBody, error_cases, error_responses
from peal.core.security import AccessTokens
from peal.deps import (
    FromApp,
    PasswordsDep,
    RateLimiterDep,
    SessionDep,
    SettingsDep,
    TokensDep,
)
from peal.settings.models import LANGUAGES
from peal.users.service import present_user

# Error responses are listed per route: logout, for one, never fails.
router = APIRouter(prefix="/api/auth", tags=["Auth"])

GoogleIdTokensDep = Annotated[
    google.GoogleIdTokens, Depends(FromApp[google.GoogleIdTokens]("google_id_tokens"))
]

REFRESH_COOKIE_PATH = "/api/auth"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
BUSY_RESPONSE: dict[str, Any] = {
    "model": ErrorBody,
    "description": "Too many sign-ins in flight (`busy`): retry after `Retry-After` seconds",
}


async def _tools(
    settings: SettingsDep, passwords: PasswordsDep, tokens: TokensDep
) -> service.AuthTools:
    return service.AuthTools(settings=settings, passwords=passwords, tokens=tokens)


async def _client(request: Request, settings: SettingsDep) -> service.Client:
    return service.Client(
        user_agent=request.headers.get("user-agent"),
        # Behind a trusted proxy, the address it saw (X-Forwarded-For), not the proxy's.
        ip_address=client_ip(request, settings.trusted_proxies),
    )


Tools = Annotated[service.AuthTools, Depends(_tools)]
ClientOf = Annotated[service.Client, Depends(_client)]


def preferred_language(accept_language: str | None) -> str:
    """The best supported language of an `Accept-Language` header (English by default)."""
    best, best_quality = "en", 0.0
    for item in (accept_language or "").split(",")[:20]:
        tag, _, params = item.strip().partition(";")
        primary = tag.strip().split("-")[0].lower()
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if primary in LANGUAGES and quality > best_quality:
            best, best_quality = primary, quality
    return best


def _set_session_cookies(response: Response, settings: Settings, sign_in: service.SignIn) -> None:
    secure = not settings.is_development_like
    csrf = csrf_token_for(settings.jwt_secret, str(sign_in.family_id))
    response.set_cookie(
        ACCESS_COOKIE,
        sign_in.access_token,
        max_age=sign_in.access_expires_in,
        path="/",
        httponly=True,
        secure=secure,
        samesite="lax",
    )
    response.set_cookie(
        REFRESH_COOKIE,
        sign_in.refresh_token,
        max_age=sign_in.refresh_expires_in,
        path=REFRESH_COOKIE_PATH,
        httponly=True,
        secure=secure,
        samesite="lax",
    )
    # Readable by the web app (not HttpOnly): it echoes it in the X-CSRF-Token header.
    response.set_cookie(
        CSRF_COOKIE,
        csrf,
        max_age=sign_in.refresh_expires_in,
        path="/",
        httponly=False,
        secure=secure,
        samesite="lax",
    )
    response.headers[CSRF_HEADER] = csrf
    response.headers.update(NO_STORE)


def _clear_session_cookies(response: Response, settings: Settings) -> None:
    secure = not settings.is_development_like
    for name, path, httponly in (
        (ACCESS_COOKIE, "/", True),
        (REFRESH_COOKIE, REFRESH_COOKIE_PATH, True),
        (CSRF_COOKIE, "/", False),
    ):
        response.delete_cookie(name, path=path, secure=secure, httponly=httponly, samesite="lax")


async def _signed_in(
    session: AsyncSession, settings: Settings, response: Response, sign_in: service.SignIn
) -> AuthResponse:
    _set_session_cookies(response, settings, sign_in)
    return AuthResponse(
        user=await present_user(session, sign_in.user, sign_in.user),
        access_token=sign_in.access_token,
        refresh_token=sign_in.refresh_token,
        expires_in=sign_in.access_expires_in,
    )


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=AuthResponse,
    summary="Create an account and sign in",
    description="Role `woman` (default) or `sponsor`. Sends a verification email (in the "
    "language of `Accept-Language`, English by default) and sets the session cookies.",
    responses={**error_responses(429, 409), 503: BUSY_RESPONSE},
    dependencies=[Depends(auth_rate_limit("register"))],
)
async def register(
    body: RegisterRequest,
    request: Request,
    response: Response,
    session: SessionDep,
    tools: Tools,
    client: ClientOf,
) -> AuthResponse:
    sign_in = await service.register(
        session,
        tools,
        email=str(body.email),
        password=body.password,
        name=body.name,
        role=body.role,
        bio=body.bio,
        location=body.location,
        skills=body.skills,
        language=preferred_language(request.headers.get("accept-language")),
        client=client,
    )
    return await _signed_in(session, tools.settings, response, sign_in)


@router.post(
    "/login",
    response_model=AuthResponse,
    summary="Sign in with email and password",
    description="Unknown email and wrong password give the same 401 `invalid_credentials`. "
    "Only failed attempts count towards the 429: per account and client IP (with a growing "
    "wait), per account from every IP (looser) and per IP; a successful sign-in clears them.",
    responses={**error_responses(429, 401), 503: BUSY_RESPONSE},
    dependencies=[Depends(auth_rate_limit("login", per_account=False))],
)
async def login(
    body: LoginRequest,
    request: Request,
    response: Response,
    session: SessionDep,
    tools: Tools,
    client: ClientOf,
    limiter: RateLimiterDep,
) -> AuthResponse:
    throttle = LoginThrottle(limiter, request, body.email)
    await throttle.check()
    try:
        sign_in = await service.login(
            session,
            tools,
            email=body.email,
            password=body.password,
            client=client,
        )
    except Unauthorized as exc:
        if exc.code == "invalid_credentials":
            await throttle.failed()
        raise
    await throttle.succeeded()
    return await _signed_in(session, tools.settings, response, sign_in)


@router.post(
    "/google",
    response_model=AuthResponse,
    summary="Sign in (or sign up) with Google",
    description="Takes the ID token Google Identity Services gave the web app. It is verified "
    "against Google's published keys: RS256 signature, issued to this server's "
    "`GOOGLE_CLIENT_ID`, by Google, unexpired, for an email Google verified. An existing "
    "account of that email signs in (200); otherwise an account is created with the given "
    "`role` and a verified email, without a password (201). Same answer and cookies as login. "
    "401 for a token that fails any check or a banned account; 503 `google_not_configured` "
    "when the server has no `GOOGLE_CLIENT_ID`.",
    responses={
        **error_responses(429, 401),
        201: {"model": AuthResponse, "description": "A new account was created"},
        503: {"model": ErrorBody, "description": "Google sign-in not configured or Google down"},
    },
    dependencies=[Depends(auth_rate_limit("google"))],
)
async def google_sign_in(
    body: GoogleSignInRequest,
    request: Request,
    response: Response,
    session: SessionDep,
    tools: Tools,
    client: ClientOf,
    verifier: GoogleIdTokensDep,
) -> AuthResponse:
    identity = await verifier.verify(body.id_token)
    sign_in, created = await google.sign_in_with_google(
        session,
        tools,
        identity,
        role=body.role,
        language=preferred_language(request.headers.get("accept-language")),
        client=client,
    )
    if created:
        response.status_code = status.HTTP_201_CREATED
    return await _signed_in(session, tools.settings, response, sign_in)


@router.post(
    "/refresh",
    response_model=AuthResponse,
    summary="Rotate the refresh token",
    description="Takes `refreshToken` from the body or the `peal_refresh` cookie. The token "
    "presented dies; presenting it again revokes its whole sign-in (401 `refresh_reused`).",
    responses=error_responses(401),
)
async def refresh(
    request: Request,
    response: Response,
    session: SessionDep,
    tools: Tools,
    client: ClientOf,
    body: RefreshRequest | None = None,
) -> AuthResponse | Response:
    token = (body.refresh_token if body else None) or request.cookies.get(REFRESH_COOKIE)
    settings = tools.settings
    try:
        sign_in = await service.refresh(session, tools, token, client)
    except Unauthorized as exc:
        # Answered rather than raised: the session dependency then commits, so a family
        # revoked for reuse stays revoked.
        failed = error_response(exc.status_code, exc.message, exc.code, headers=NO_STORE)
        _clear_session_cookies(failed, settings)
        return failed
    return await _signed_in(session, tools.settings, response, sign_in)


async def _token_in_body(request: Request) -> str | None:
    """`refreshToken` from a JSON body, or None for no body. A body that is not a
    `LogoutRequest` object is refused like anywhere else (malformed or too deep JSON 400;
    `[null, null]`, `{"refreshToken": 5}` 422): the token it names may be unknown, its shape
    may not be wrong. Logout never fails for a missing, unknown or expired token."""
    raw = await request.body()
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if not raw.strip() or (media_type and not media_type.endswith("json")):
        return None  # no body, or not one sent as JSON: nothing to read a token from
    data: Any = load_json(raw)
    if not isinstance(data, dict):
        raise ValidationFailed("body", "must be a JSON object")
    try:
        return LogoutRequest.model_validate(data).refresh_token
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from exc


def _session_of_access_token(request: Request, tokens: AccessTokens) -> str | None:
    """The sign-in (family) named by a valid access token, or None; never raises."""
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    token = credentials.strip() if scheme.lower() == "bearer" else ""
    token = token or request.cookies.get(ACCESS_COOKIE, "")
    if not token:
        return None
    try:
        return tokens.decode(token).session_id
    except Unauthorized:
        return None


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Sign out (204 whatever the token)",
    description="Revokes the sign-in of the refresh token (body or cookie; else of the access "
    "token) and clears the cookies. Needs no valid token: a missing, unknown or expired one "
    "is still a 204. A body that is not a JSON object is refused (400 or 422).",
    responses=error_responses(400, 422),
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {
                "application/json": {"schema": LogoutRequest.model_json_schema(by_alias=True)}
            },
        }
    },
)
async def logout(
    request: Request, session: SessionDep, settings: SettingsDep, tokens: TokensDep
) -> Response:
    token = await _token_in_body(request) or request.cookies.get(REFRESH_COOKIE)
    await service.logout(session, token, _session_of_access_token(request, tokens))
    response = Response(status_code=status.HTTP_204_NO_CONTENT, headers=NO_STORE)
    _clear_session_cookies(response, settings)
    return response


@router.get(
    "/me",
    response_model=UserResponse,
    summary="The signed-in user",
    responses=error_responses(401),
)
async def me(user: CurrentUser, session: SessionDep) -> UserResponse:
    """With `pendingEmail`: the new address of an email change waiting for confirmation."""
    return UserResponse(user=await service.present_account(session, user, user))


@router.post(
    "/forgot-password",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=MessageResponse,
    summary="Email a password reset link",
    description="Always the same answer, in the same time, whether or not an account exists "
    "for the email: the look-up and the email happen in a job. The link is valid for one hour "
    "and works once. A few emails per address per hour; requests beyond that get the same "
    "answer and send nothing.",
    responses=error_responses(429),
    dependencies=[Depends(auth_rate_limit("forgot-password", per_account=False))],
)
async def forgot_password(body: ForgotPasswordRequest, limiter: RateLimiterDep) -> MessageResponse:
    email = str(body.email)
    if await reset_mail_quota(limiter, email):
        await send_password_reset.kiq(email)
    return MessageResponse(message=RESET_REQUESTED_MESSAGE)


@router.post(
    "/reset-password",
    response_model=MessageResponse,
    summary="Set a new password with a reset token",
    description="The token works once. Every sign-in of the account is ended.",
    responses=error_responses(429, 400),
    dependencies=[Depends(auth_rate_limit("reset-password"))],
)
async def reset_password(
    body: ResetPasswordRequest, response: Response, session: SessionDep, tools: Tools
) -> MessageResponse:
    await service.reset_password(session, tools, body.token, body.password)
    _clear_session_cookies(response, tools.settings)
    return MessageResponse(message=PASSWORD_RESET_MESSAGE)


@router.post(
    "/verify-email",
    response_model=UserResponse,
    summary="Confirm the email address with the token from the verification link",
    responses=error_responses(400),
)
async def verify_email(body: VerifyEmailRequest, session: SessionDep) -> UserResponse:
    user = await service.verify_email(session, body.token)
    return UserResponse(user=await present_user(session, user, user))


@router.post(
    "/resend-verification",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=MessageResponse,
    summary="Send a new verification link to the signed-in user",
    description="Older links stop working. Nothing is sent when the email is already verified.",
    responses=error_responses(429, 401, 403),
    dependencies=[Depends(auth_rate_limit("resend-verification"))],
)
async def resend_verification(
    user: CurrentUser, session: SessionDep, tools: Tools
) -> MessageResponse:
    await service.resend_verification(session, tools, user)
    return MessageResponse(message=VERIFICATION_SENT_MESSAGE)


@router.post(
    "/confirm-email-change",
    response_model=UserResponse,
    summary="Apply an email change with the token from the confirmation link",
    description="The link (`FRONTEND_URL/confirm-email-change?token=...`) went to the new "
    "address when `PUT /api/users/{userId}` named it; it lasts 24 hours, works once, and only "
    "the newest link of an account works. Needs no sign-in (the link may be opened on another "
    "device). The account moves to the new address, verified; the old address is told; every "
    "other link of the account dies and every sign-in ends (as after a password reset): "
    "sign in again with the new address. Answers the updated user.\n\n"
    "400 `invalid_token` (unknown or not an email-change token), `token_used` (used, or "
    "replaced by a newer request), `token_expired`; 409 `email_taken` when another account "
    "took the address in the meantime.",
    responses={
        **error_responses(429),
        400: error_cases(
            "The link cannot be used",
            invalid_token=service.INVALID_LINK_MESSAGE,
            token_used=service.USED_LINK_MESSAGE,
            token_expired=service.EXPIRED_LINK_MESSAGE,
        ),
        409: error_cases(
            "Another account took the address in the meantime",
            email_taken=service.EMAIL_TAKEN_MESSAGE,
        ),
    },
    dependencies=[Depends(auth_rate_limit("confirm-email-change", per_account=False))],
)
async def confirm_email_change(
    body: ConfirmEmailChangeRequest, response: Response, session: SessionDep, settings: SettingsDep
) -> UserResponse:
    user = await service.confirm_email_change(session, settings, body.token)
    _clear_session_cookies(response, settings)
    response.headers.update(NO_STORE)
    return UserResponse(user=await present_user(session, user, user))
