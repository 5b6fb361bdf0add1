"""The application's Redis client (redis-py asyncio), when `REDIS_URL` is set."""

from __future__ import annotations

from redis.asyncio import Redis

from peal.config import Settings

# Short socket timeouts: Redis sits on the path of every request (rate limits), so an
# unreachable server must fail fast and let the caller degrade, not hang the request.
SOCKET_TIMEOUT_SECONDS = 2.0


def create_redis(settings: Settings) -> Redis | None:
    """A client with a lazily connected pool; close it with `await client.aclose()`."""
    if not settings.redis_url:
        return None
    client: Redis = Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        health_check_interval=30,
    )
    return client
