"""Application settings, read once from the environment (and a `.env` file)."""

from __future__ import annotations

import json
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEV_JWT_SECRET = "dev-only-insecure-jwt-secret-change-me"  # noqa: S105 - refused outside development
DEV_REFRESH_SECRET = "dev-only-insecure-refresh-secret-change-me"  # noqa: S105
# Where `development` keeps the secrets it generated on first run when none is configured,
# so a newcomer's instance never signs tokens with the published defaults above.
DEV_SECRETS_FILE = Path("var/dev-secrets.json")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def generated_dev_secrets(path: Path | None = None) -> dict[str, str]:
    """This instance's random development secrets, made (readable by its owner only) on first
    use and kept in `path` (DEV_SECRETS_FILE) so tokens survive a restart."""
    path = path or DEV_SECRETS_FILE
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        stored = None
    names = {"jwt_secret", "jwt_refresh_secret"}
    if (
        isinstance(stored, dict)
        and names <= stored.keys()
        and all(isinstance(stored[name], str) and len(stored[name]) >= 32 for name in names)
    ):
        return {name: stored[name] for name in names}
    secrets_ = {name: secrets.token_urlsafe(48) for name in ("jwt_secret", "jwt_refresh_secret")}
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(secrets_, file)
    return secrets_


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_HOSTS or host.startswith("127.")


def _env(name: str) -> AliasChoices:
    """Accept both `PEAL_NAME` and the plan's plain `NAME`."""
    return AliasChoices(f"PEAL_{name}", name)


def _duration_seconds(value: str | int) -> int:
    """Parse `15m`, `7d`, `3600s`, `2h` or a plain number of seconds."""
    if isinstance(value, int):
        return value
    text = value.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text and text[-1] in units:
        return int(text[:-1]) * units[text[-1]]
    return int(text)


def default_hash_concurrency(cores: int | None) -> int:
    """One fewer than the cores, at least one."""
    return max(1, (cores or 1) - 1)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", populate_by_name=True, env_ignore_empty=True
    )

    environment: Literal["development", "test", "production", "staging"] = Field(
        "development", validation_alias=_env("NODE_ENV")
    )
    port: int = Field(3000, validation_alias=_env("PORT"))
    host: str = Field("127.0.0.1", validation_alias=_env("HOST"))
    frontend_url: str = Field("http://localhost:5173", validation_alias=_env("FRONTEND_URL"))
    # Empty: http://localhost:PORT, so `PORT=3999 make run` hands out URLs on port 3999.
    public_url: str = Field("", validation_alias=_env("PUBLIC_URL"))

    database_url: str = Field(
        "sqlite+aiosqlite:///./peal.db", validation_alias=_env("DATABASE_URL")
    )
    # The connections each process keeps open (PostgreSQL), and its most: 20 holds a busy
    # process's concurrent requests (wrk's 16 in bench/hot_reads.py); see `db.create_engine`.
    database_pool_size: int = Field(20, validation_alias=_env("DATABASE_POOL_SIZE"))
    database_echo: bool = Field(False, validation_alias=_env("DATABASE_ECHO"))
    redis_url: str | None = Field(None, validation_alias=_env("REDIS_URL"))

    jwt_secret: str = Field(DEV_JWT_SECRET, validation_alias=_env("JWT_SECRET"))
    jwt_refresh_secret: str = Field(DEV_REFRESH_SECRET, validation_alias=_env("JWT_REFRESH_SECRET"))
    jwt_issuer: str = Field("peal-api", validation_alias=_env("JWT_ISSUER"))
    jwt_audience: str = Field("peal-web", validation_alias=_env("JWT_AUDIENCE"))
    access_token_expiry: int = Field(900, validation_alias=_env("ACCESS_TOKEN_EXPIRY"))
    refresh_token_expiry: int = Field(7 * 86400, validation_alias=_env("REFRESH_TOKEN_EXPIRY"))
    # A refresh token presented again this soon after its rotation (two tabs, a retry) gets a
    # valid pair of the same sign-in instead of counting as theft; 0 turns the grace off.
    refresh_reuse_grace_seconds: int = Field(
        20, ge=0, le=120, validation_alias=_env("REFRESH_REUSE_GRACE_SECONDS")
    )
    # Hashes at once in a process. Unset: one fewer than the cores, so the event loop keeps a
    # core to itself during a login storm (on 2 cores /health p99 went 57 -> 17 ms, logins/s
    # 46 -> 42, with 20 concurrent sign-ins: see bench/login_vs_health.py).
    password_hash_concurrency: int = Field(
        default_factory=lambda: default_hash_concurrency(os.cpu_count()),
        ge=1,
        validation_alias=_env("PASSWORD_HASH_CONCURRENCY"),
    )
    # Sign-ins that may queue for a hash slot; beyond it they are refused at once (503 busy,
    # Retry-After) before any database work, so a login burst cannot pile up behind the hasher.
    password_hash_queue_limit: int = Field(
        64, ge=1, validation_alias=_env("PASSWORD_HASH_QUEUE_LIMIT")
    )
    argon2_memory_kib: int = Field(19456, validation_alias=_env("ARGON2_MEMORY_KIB"))
    argon2_time_cost: int = Field(2, validation_alias=_env("ARGON2_TIME_COST"))

    # Google sign-in (POST /api/auth/google): the OAuth client ID of the web app, which ID
    # tokens must be issued to (`aud`). Empty: Google sign-in is refused (503).
    google_client_id: str = Field("", validation_alias=_env("GOOGLE_CLIENT_ID"))
    # Google's published signing keys (a JWKS), kept for GOOGLE_JWKS_CACHE_TTL.
    google_jwks_url: str = Field(
        "https://www.googleapis.com/oauth2/v3/certs", validation_alias=_env("GOOGLE_JWKS_URL")
    )
    google_issuers: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["accounts.google.com", "https://accounts.google.com"],
        validation_alias=_env("GOOGLE_ISSUERS"),
    )
    google_jwks_cache_ttl: int = Field(3600, ge=1, validation_alias=_env("GOOGLE_JWKS_CACHE_TTL"))

    rate_limit_enabled: bool = Field(True, validation_alias=_env("RATE_LIMIT_ENABLED"))
    rate_limit_per_minute: int = Field(100, ge=1, validation_alias=_env("RATE_LIMIT_PER_MINUTE"))
    auth_rate_limit_per_minute: int = Field(
        10, ge=1, validation_alias=_env("AUTH_RATE_LIMIT_PER_MINUTE")
    )
    # Per e-mail address on login/register/forgot-password, whatever the IP: slows down
    # credential stuffing spread over many addresses and mail bombing of one inbox.
    auth_account_rate_limit_per_minute: int = Field(
        5, ge=1, validation_alias=_env("AUTH_ACCOUNT_RATE_LIMIT_PER_MINUTE")
    )
    # Failed logins (only failures count; a success clears them). Per account and client IP:
    # this many in a minute, twice as many in 15 minutes, four times as many in a day, so the
    # wait grows with the failures. Per account from all IPs (looser, so an attacker on one IP
    # locks out only that IP) and per IP over all accounts: per hour.
    login_failures_per_account_ip: int = Field(
        5, ge=1, validation_alias=_env("LOGIN_FAILURES_PER_ACCOUNT_IP")
    )
    login_failures_per_account_per_hour: int = Field(
        50, ge=1, validation_alias=_env("LOGIN_FAILURES_PER_ACCOUNT_PER_HOUR")
    )
    login_failures_per_ip_per_hour: int = Field(
        100, ge=1, validation_alias=_env("LOGIN_FAILURES_PER_IP_PER_HOUR")
    )
    # Reset emails to one address per hour; requests beyond it get the same answer, no mail.
    password_reset_emails_per_hour: int = Field(
        3, ge=1, validation_alias=_env("PASSWORD_RESET_EMAILS_PER_HOUR")
    )
    # Email-change confirmations per account and per new address per hour; beyond it, 429.
    email_change_emails_per_hour: int = Field(
        3, ge=1, validation_alias=_env("EMAIL_CHANGE_EMAILS_PER_HOUR")
    )
    # Prefix of the rate limit keys in Redis, so several deployments can share one server.
    rate_limit_key_prefix: str = Field(
        "peal:ratelimit", min_length=1, validation_alias=_env("RATE_LIMIT_KEY_PREFIX")
    )
    donation_rate_limit_per_minute: int = Field(
        10, ge=1, validation_alias=_env("DONATION_RATE_LIMIT_PER_MINUTE")
    )
    # Distinct reporters of one piece of content that hide it until an admin reviews it.
    moderation_auto_hide_threshold: int = Field(
        3, ge=1, validation_alias=_env("MODERATION_AUTO_HIDE_THRESHOLD")
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=_env("TRUSTED_PROXIES")
    )
    # Global search per client IP, inside the general limit: each search costs several
    # ranked queries, so it gets a tighter budget of its own.
    search_rate_limit_per_minute: int = Field(
        30, ge=1, validation_alias=_env("SEARCH_RATE_LIMIT_PER_MINUTE")
    )
    # PostgreSQL gives up a search query after this many milliseconds (SET LOCAL
    # statement_timeout), answering 503 rather than holding a connection and a core.
    search_statement_timeout_ms: int = Field(
        2000, ge=100, validation_alias=_env("SEARCH_STATEMENT_TIMEOUT_MS")
    )
    max_body_bytes: int = Field(1_048_576, validation_alias=_env("MAX_BODY_BYTES"))

    storage_backend: Literal["local", "s3"] = Field(
        "local", validation_alias=_env("STORAGE_BACKEND")
    )
    storage_local_path: Path = Field(
        Path("./var/uploads"), validation_alias=_env("STORAGE_LOCAL_PATH")
    )
    storage_bucket: str = Field("peal-assets", validation_alias=_env("STORAGE_BUCKET"))
    storage_region: str = Field("us-east-1", validation_alias=_env("STORAGE_REGION"))
    storage_endpoint_url: str | None = Field(None, validation_alias=_env("STORAGE_ENDPOINT_URL"))
    storage_access_key: str = Field("", validation_alias=_env("STORAGE_ACCESS_KEY"))
    storage_secret_key: str = Field("", validation_alias=_env("STORAGE_SECRET_KEY"))
    # Where stored files are read from: a CDN or the bucket's public address. Unset: the local
    # backend serves them at PUBLIC_URL/media/, S3 at its endpoint (or AWS's bucket address).
    storage_public_url: str | None = Field(None, validation_alias=_env("STORAGE_PUBLIC_URL"))
    # Key of the local backend's upload signatures; empty derives one from JWT_SECRET.
    storage_signing_secret: str = Field("", validation_alias=_env("STORAGE_SIGNING_SECRET"))
    upload_url_expiry: int = Field(900, ge=60, validation_alias=_env("UPLOAD_URL_EXPIRY"))
    # A PUT of the local backend may wait this long for each part of the body, and take this
    # long in all (408 past either): a stalled client cannot keep a request open for ever.
    upload_idle_timeout: float = Field(30.0, gt=0, validation_alias=_env("UPLOAD_IDLE_TIMEOUT"))
    upload_max_seconds: float = Field(3600.0, gt=0, validation_alias=_env("UPLOAD_MAX_SECONDS"))
    max_image_upload_bytes: int = Field(
        10 * 1024 * 1024, ge=1, validation_alias=_env("MAX_IMAGE_UPLOAD_BYTES")
    )
    max_video_upload_bytes: int = Field(
        500 * 1024 * 1024, ge=1, validation_alias=_env("MAX_VIDEO_UPLOAD_BYTES")
    )
    # What one account may keep in completed uploads, and upload in any 24 hours (bytes).
    storage_quota_bytes: int = Field(
        5 * 1024**3, ge=1, validation_alias=_env("STORAGE_QUOTA_BYTES")
    )
    daily_upload_bytes: int = Field(2 * 1024**3, ge=1, validation_alias=_env("DAILY_UPLOAD_BYTES"))
    # A completed video upload never attached to a video is deleted this long after completion.
    unattached_upload_ttl: int = Field(
        86400, ge=3600, validation_alias=_env("UNATTACHED_UPLOAD_TTL")
    )
    # Hosts whose https images a profile's avatarUrl or an event's coverImage may show, besides
    # the owner's own uploads (comma-separated, e.g. `lh3.googleusercontent.com`). Any other
    # address is refused: a viewer's browser would fetch it and tell its owner her IP.
    external_image_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=_env("EXTERNAL_IMAGE_HOSTS")
    )
    # Salt of the anonymous viewer hash (of the IP); empty derives one from JWT_SECRET.
    view_hash_salt: str = Field("", validation_alias=_env("VIEW_HASH_SALT"))
    # A video still `processing` this long after its last attempt started is re-queued.
    video_processing_timeout: int = Field(
        900, ge=60, validation_alias=_env("VIDEO_PROCESSING_TIMEOUT")
    )
    video_processing_max_attempts: int = Field(
        3, ge=1, validation_alias=_env("VIDEO_PROCESSING_MAX_ATTEMPTS")
    )
    # FFmpeg decodes at once per process: each holds a frame buffer and a CPU core.
    video_processing_concurrency: int = Field(
        2, ge=1, validation_alias=_env("VIDEO_PROCESSING_CONCURRENCY")
    )
    trending_window: int = Field(7 * 86400, ge=3600, validation_alias=_env("TRENDING_WINDOW"))
    trending_half_life: int = Field(24 * 3600, ge=60, validation_alias=_env("TRENDING_HALF_LIFE"))
    trending_top_n: int = Field(20, ge=1, validation_alias=_env("TRENDING_TOP_N"))

    email_backend: Literal["file", "smtp"] = Field("file", validation_alias=_env("EMAIL_BACKEND"))
    email_from: str = Field("noreply@peal.app", validation_alias=_env("EMAIL_FROM"))
    # Named in security emails ("your address was changed: not you? write to us").
    support_email: str = Field("support@peal.app", validation_alias=_env("SUPPORT_EMAIL"))
    email_api_key: str = Field("", validation_alias=_env("EMAIL_API_KEY"))
    email_file_path: Path = Field(Path("./var/mail"), validation_alias=_env("EMAIL_FILE_PATH"))
    smtp_host: str = Field("127.0.0.1", validation_alias=_env("SMTP_HOST"))
    smtp_port: int = Field(25, validation_alias=_env("SMTP_PORT"))
    smtp_username: str = Field("", validation_alias=_env("SMTP_USERNAME"))
    smtp_password: str = Field("", validation_alias=_env("SMTP_PASSWORD"))
    smtp_starttls: bool = Field(False, validation_alias=_env("SMTP_STARTTLS"))
    smtp_timeout: float = Field(10.0, validation_alias=_env("SMTP_TIMEOUT"))

    jobs_backend: Literal["memory", "redis"] | None = Field(
        None, validation_alias=_env("JOBS_BACKEND")
    )
    # Periodic jobs inside the web process when jobs run in-process (no Redis). Default: on in
    # development, off in tests; with Redis, run `peal scheduler` instead.
    in_process_scheduler: bool | None = Field(None, validation_alias=_env("IN_PROCESS_SCHEDULER"))
    jobs_queue: str = Field("peal:jobs", validation_alias=AliasChoices("PEAL_JOBS_QUEUE"))
    # How often each `peal serve` process hands the job outbox's leftovers (jobs the broker
    # refused after their commit, e.g. while Redis was down) to the broker. 0 = never.
    # Empty = 5 seconds, off in tests.
    outbox_relay_seconds: float | None = Field(
        None, ge=0, validation_alias=_env("OUTBOX_RELAY_SECONDS")
    )

    stripe_secret_key: str = Field("", validation_alias=_env("STRIPE_SECRET_KEY"))
    stripe_webhook_secret: str = Field("", validation_alias=_env("STRIPE_WEBHOOK_SECRET"))
    # Who moves the money: `development` (payments succeed at once, refused in production)
    # or `stripe` (PaymentIntents confirmed by the client, settled by signed webhooks).
    payment_provider: Literal["development", "stripe"] = Field(
        "development", validation_alias=_env("PAYMENT_PROVIDER")
    )
    # Another address for Stripe's API: a fake server in tests, a proxy in some deployments.
    stripe_api_base: str | None = Field(None, validation_alias=_env("STRIPE_API_BASE"))
    stripe_timeout: float = Field(20.0, gt=0, validation_alias=_env("STRIPE_TIMEOUT"))
    # How long an `Idempotency-Key` answer is kept and replayed (API.md: at least 24 h).
    idempotency_key_ttl: int = Field(86400, ge=86400, validation_alias=_env("IDEMPOTENCY_KEY_TTL"))
    mux_api_key: str = Field("", validation_alias=_env("MUX_API_KEY"))
    mux_api_secret: str = Field("", validation_alias=_env("MUX_API_SECRET"))
    firebase_project_id: str = Field("", validation_alias=_env("FIREBASE_PROJECT_ID"))
    firebase_private_key: str = Field("", validation_alias=_env("FIREBASE_PRIVATE_KEY"))
    firebase_client_email: str = Field("", validation_alias=_env("FIREBASE_CLIENT_EMAIL"))
    sentry_dsn: str = Field("", validation_alias=_env("SENTRY_DSN"))

    log_level: str = Field("INFO", validation_alias=_env("LOG_LEVEL"))
    log_json: bool = Field(True, validation_alias=_env("LOG_JSON"))

    @field_validator(
        "access_token_expiry",
        "refresh_token_expiry",
        "upload_url_expiry",
        "unattached_upload_ttl",
        "video_processing_timeout",
        "trending_window",
        "trending_half_life",
        "idempotency_key_ttl",
        "google_jwks_cache_ttl",
        mode="before",
    )
    @classmethod
    def _parse_duration(cls, value: str | int) -> int:
        return _duration_seconds(value)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("external_image_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().lower() for part in value.split(",") if part.strip()]
        return value

    @field_validator("google_issuers", mode="before")
    @classmethod
    def _split_issuers(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        """Accept the usual `postgresql://` and `sqlite:///` URLs and pick the async drivers."""
        if value.startswith(("postgres://", "postgresql://")):
            return "postgresql+asyncpg://" + value.split("://", 1)[1]
        if value.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + value.split(":///", 1)[1]
        return value

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> Settings:
        if self.environment == "development":
            # Unset secrets: this instance's own random ones, never the published defaults.
            generated: dict[str, str] | None = None
            for name, default in (
                ("jwt_secret", DEV_JWT_SECRET),
                ("jwt_refresh_secret", DEV_REFRESH_SECRET),
            ):
                if getattr(self, name) == default:
                    generated = generated or generated_dev_secrets()
                    setattr(self, name, generated[name])
            return self
        if self.is_development_like:
            return self
        for name, value, default in (
            ("JWT_SECRET", self.jwt_secret, DEV_JWT_SECRET),
            ("JWT_REFRESH_SECRET", self.jwt_refresh_secret, DEV_REFRESH_SECRET),
        ):
            if not value or value == default or len(value) < 32:
                raise ValueError(
                    f"{name} must be set to a random value of at least 32 characters "
                    f"when NODE_ENV={self.environment}"
                )
        return self

    @model_validator(mode="after")
    def _public_url_follows_port(self) -> Settings:
        if not self.public_url:
            self.public_url = f"http://localhost:{self.port}"
        return self

    @model_validator(mode="after")
    def _google_keys_over_https(self) -> Settings:
        # Whoever can change the keys in transit can sign in as anyone: TLS outside development.
        if not self.is_development_like and not self.google_jwks_url.startswith("https://"):
            raise ValueError(f"GOOGLE_JWKS_URL must be https when NODE_ENV={self.environment}")
        return self

    @property
    def uses_published_secret(self) -> bool:
        """Tokens signed with a secret anyone can read in this repository (or too short)."""
        return any(
            value in (DEV_JWT_SECRET, DEV_REFRESH_SECRET) or len(value) < 32
            for value in (self.jwt_secret, self.jwt_refresh_secret)
        )

    @property
    def is_development_like(self) -> bool:
        return self.environment in ("development", "test")

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def runs_in_process_scheduler(self) -> bool:
        if self.uses_redis_jobs:
            return False
        if self.in_process_scheduler is not None:
            return self.in_process_scheduler
        return self.environment != "test"

    @property
    def outbox_relay_interval(self) -> float:
        if self.outbox_relay_seconds is not None:
            return self.outbox_relay_seconds
        return 0.0 if self.environment == "test" else 5.0

    @property
    def uses_redis_jobs(self) -> bool:
        if self.jobs_backend is not None:
            return self.jobs_backend == "redis"
        return self.redis_url is not None


@lru_cache
def get_settings() -> Settings:
    return Settings()
