"""Fuzz the live API with schemathesis: every operation in /openapi.json, every check.

Starts `peal serve` on a free loopback port (on its own SQLite file, or on the database given
with `--database-url`), with rate limits off, registers a user, and runs `st run --checks all`
signed in with that user's bearer token. Exits with schemathesis' status: non-zero on any
failure. Used by `make fuzz` (the long run) and `make fuzz-ci` (bounded and seeded).

    python scripts/fuzz.py [--max-examples N] [--seed S] [--database-url URL] [-- st options]
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

from peal.core.schemas import encode_cursor
from peal.videos.ranking import FeedCursor

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_environment(workdir: Path, port: int, database_url: str | None) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        # Only what this run decides: a developer's .env or CI's test URLs don't leak in.
        if not key.startswith(("PEAL_", "REDIS_", "DATABASE_", "STRIPE_", "GOOGLE_"))
    }
    env.update(
        {
            "NODE_ENV": "test",
            "PORT": str(port),
            "DATABASE_URL": database_url or f"sqlite+aiosqlite:///{workdir / 'fuzz.db'}",
            "JOBS_BACKEND": "memory",
            "IN_PROCESS_SCHEDULER": "false",
            "RATE_LIMIT_ENABLED": "false",
            "EMAIL_BACKEND": "file",
            "EMAIL_FILE_PATH": str(workdir / "mail"),
            "STORAGE_LOCAL_PATH": str(workdir / "uploads"),
            "ACCESS_TOKEN_EXPIRY": "86400",
            # Configured, so the webhook's signature checks are fuzzed (not its 503).
            "STRIPE_WEBHOOK_SECRET": f"whsec_{secrets.token_hex(16)}",
            "LOG_LEVEL": "WARNING",
            "LOG_JSON": "false",
        }
    )
    return env


def wait_until_up(base_url: str, server: subprocess.Popen[bytes], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"fuzz: peal serve exited with {server.returncode}")
        try:
            if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"fuzz: peal serve did not answer /health with 200 in {timeout:.0f} s")


def register_user(base_url: str) -> str:
    answer = httpx.post(
        f"{base_url}/api/auth/register",
        json={
            "email": f"fuzz-{secrets.token_hex(6)}@example.com",
            "password": f"Fuzz-{secrets.token_urlsafe(12)}-9",
            "name": "Fuzz Tester",
        },
        timeout=30,
    )
    answer.raise_for_status()
    return str(answer.json()["accessToken"])


# Answers that are right although schemathesis counts every 5xx as a failure: listed, with
# their reason, in the README ("Fuzzing").
EXPECTED_SERVER_ERRORS = {
    # Google sign-in answers 503 `google_not_configured` without GOOGLE_CLIENT_ID (documented).
    "POST /api/auth/google": [503],
}


# Schema-valid requests that a rule the schema cannot state refuses (so positive-data
# acceptance must allow that answer there). Listed, with the reason, in the README.
RULES_BEYOND_THE_SCHEMA = {
    # A password on the list of the most common ones is refused (422); JSON Schema cannot
    # carry that list.
    "POST /api/auth/register": [422],
    # A random token is never a live link (400 invalid_token); nor a common password (422).
    "POST /api/auth/reset-password": [400, 422],
    "POST /api/auth/verify-email": [400],
    "POST /api/auth/confirm-email-change": [400],
    # The Stripe signature covers the raw bytes with the server's secret (400).
    "POST /api/payments/webhook": [400],
    # Media URLs must name the caller's own finished uploads, a story's request must be the
    # author's own (422).
    "POST /api/requests": [422],
    "PUT /api/requests/{requestId}": [422],
    "PATCH /api/requests/{requestId}": [422],
    "POST /api/videos": [422],
    "PUT /api/videos/{videoId}": [422],
    "POST /api/stories": [422],
    "PUT /api/stories/{storyId}": [422],
    "PATCH /api/stories/{storyId}": [422],
    # Following, blocking, muting or asking yourself for mentoring is refused (400
    # cannot_follow_self, ...), and the fuzzer knows its own ids.
    "POST /api/users/{userId}/follow": [400],
    "POST /api/users/{userId}/block": [400],
    "POST /api/users/{userId}/mute": [400],
    "POST /api/mentors/{mentorId}/connect": [400],
    # An avatar must be the caller's own uploaded image, or on EXTERNAL_IMAGE_HOSTS (422).
    "PUT /api/users/{userId}": [422],
    "PATCH /api/users/{userId}": [422],
    # An event starts in the future, relative to the server's clock (422).
    "POST /api/events": [422],
    "PUT /api/events/{eventId}": [422],
    "PATCH /api/events/{eventId}": [422],
}


def write_config(path: Path, token: str, deletable_token: str, logout_token: str) -> None:
    """schemathesis.toml: the user's token everywhere, but account deletion and logout get users
    of their own (deleting the fuzzing user, or ending her sign-in, which kills her access token
    at once, would turn the rest of the run into 401s); a well-formed
    keyset cursor (an opaque server-made value: a random string is rightly refused)."""
    cursor = encode_cursor(datetime(2026, 1, 1, tzinfo=UTC), uuid.UUID(int=1))
    lines = [
        f'headers = {{ Authorization = "Bearer {token}" }}',
        f'parameters = {{ "query.cursor" = "{cursor}" }}',
        "",
    ]
    feed_cursor = FeedCursor(as_of=datetime(2026, 1, 1, tzinfo=UTC), offset=0).encode()
    lines += [
        "[[operations]]",
        'include-name = "GET /api/videos/feed"',
        f'parameters = {{ "query.cursor" = "{feed_cursor}" }}',
        "",
        "[[operations]]",
        'include-name = "DELETE /api/users/{userId}"',
        f'headers = {{ Authorization = "Bearer {deletable_token}" }}',
        "",
        "[[operations]]",
        'include-name = "POST /api/auth/logout"',
        f'headers = {{ Authorization = "Bearer {logout_token}" }}',
        "",
    ]
    for operation, statuses in EXPECTED_SERVER_ERRORS.items():
        expected = ", ".join(f'"{status}"' for status in ["2xx", "3xx", "4xx", *statuses])
        lines += [
            "[[operations]]",
            f'include-name = "{operation}"',
            f"checks.not_a_server_error.expected-statuses = [{expected}]",
            "",
        ]
    for operation, statuses in RULES_BEYOND_THE_SCHEMA.items():
        expected = ", ".join(
            f'"{status}"' for status in ["2xx", "3xx", 401, 403, 404, 409, 429, "5xx", *statuses]
        )
        lines += [
            "[[operations]]",
            f'include-name = "{operation}"',
            f"checks.positive_data_acceptance.expected-statuses = [{expected}]",
            "",
        ]
    path.write_text("\n".join(lines))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=50)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--database-url", default=os.environ.get("FUZZ_DATABASE_URL") or None)
    parser.add_argument("st_args", nargs="*", help="more `st run` options, after `--`")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="peal-fuzz-"))
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = server_environment(workdir, port, args.database_url)
    subprocess.run([str(BIN / "peal"), "migrate"], env=env, cwd=workdir, check=True)  # noqa: S603
    server = subprocess.Popen(  # noqa: S603
        [str(BIN / "peal"), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=workdir,
    )
    try:
        wait_until_up(base_url, server)
        config = workdir / "schemathesis.toml"
        write_config(
            config, register_user(base_url), register_user(base_url), register_user(base_url)
        )
        command = [
            str(BIN / "st"),
            "--no-color",
            "--config-file",
            str(config),
            "run",
            f"{base_url}/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            str(args.max_examples),
            "--workers",
            "1",
            *(["--seed", str(args.seed)] if args.seed is not None else []),
            *args.st_args,
        ]
        print("fuzz:", " ".join(command), flush=True)
        return subprocess.run(command, cwd=workdir, check=False).returncode  # noqa: S603
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
