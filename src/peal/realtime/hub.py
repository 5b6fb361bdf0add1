"""The real-time layer: the Socket.IO server, the SSE streams, and the fan-out between processes.

One `RealtimeHub` per application. With `REDIS_URL`, python-socketio's Redis manager carries
socket events to every API process and one Redis pub/sub channel carries what the sockets'
manager cannot (notifications for SSE streams, "disconnect this user"); presence (who holds a
live socket) is a Redis counter per user. Without Redis, everything stays in this process.

Services reach it only through `peal.core.realtime` (wired at start-up), never by import.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import socketio
import structlog
from redis.asyncio import Redis

from peal.auth.service import user_for_access_token
from peal.config import Settings
from peal.core.errors import AppError, NotFound
from peal.core.realtime import get_sink
from peal.core.security import AccessTokens
from peal.db import Database
from peal.messaging.service import live_peers

log = structlog.get_logger("peal.realtime")

CHANNEL = "peal:realtime"
SOCKETIO_CHANNEL = "peal:socketio"
PRESENCE_KEY = "peal:online:{user_id}"
PROCESS_KEY = "peal:realtime-process:{process}"
PRESENCE_TTL_SECONDS = 24 * 3600
# A process that stops beating is taken for dead after this long.
PROCESS_TTL_SECONDS = 90
# Per socket: at most BURST events at once, refilled at RATE per second (typing, joins).
EVENT_BURST = 20
EVENT_RATE = 5.0
# An SSE stream that falls this far behind is closed (the client reconnects and replays).
STREAM_QUEUE_SIZE = 256
CLOSE_STREAM: dict[str, Any] = {"__close__": True}


def user_room(user_id: uuid.UUID | str) -> str:
    return f"user:{user_id}"


def conversation_room(conversation_id: uuid.UUID | str) -> str:
    return f"conversation:{conversation_id}"


@dataclass
class TokenBucket:
    tokens: float = EVENT_BURST
    updated: float = field(default_factory=time.monotonic)

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(EVENT_BURST, self.tokens + (now - self.updated) * EVENT_RATE)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


@dataclass
class SocketState:
    user_id: uuid.UUID
    bucket: TokenBucket = field(default_factory=TokenBucket)
    # Joined conversation id -> the other participants (typing goes to them only).
    joined: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)
    # Joined conversations whose typing peers may still change (a message request not yet
    # accepted, or nothing sent yet): checked again on each typing event until settled.
    unsettled: set[uuid.UUID] = field(default_factory=set)


def _error(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


class RealtimeHub:
    """Implements `peal.core.realtime.RealtimeSink` for one application."""

    def __init__(self, settings: Settings, db: Database, tokens: AccessTokens) -> None:
        self.settings = settings
        self.db = db
        self.tokens = tokens
        manager = None
        if settings.redis_url:
            manager = socketio.AsyncRedisManager(settings.redis_url, channel=SOCKETIO_CHANNEL)
        self.sio = socketio.AsyncServer(
            async_mode="asgi",
            client_manager=manager,
            cors_allowed_origins=[settings.frontend_url],
            logger=False,
            engineio_logger=False,
        )
        self.asgi = socketio.ASGIApp(self.sio, socketio_path="socket.io")
        self.sockets: dict[str, SocketState] = {}
        self.online: dict[uuid.UUID, int] = defaultdict(int)
        self.streams: dict[uuid.UUID, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(set)
        self._redis: Redis | None = None
        self._listener: asyncio.Task[None] | None = None
        self._beat: asyncio.Task[None] | None = None
        self.process_id = uuid.uuid4().hex
        self._auth_slots = asyncio.Semaphore(max(1, settings.database_pool_size // 2))
        self._register_handlers()

    # --- life cycle ----------------------------------------------------------------------

    async def start(self) -> None:
        if not self.settings.redis_url:
            return
        # A client of its own, without the request client's short read timeout: the listener
        # waits on the channel indefinitely.
        self._redis = Redis.from_url(self.settings.redis_url, health_check_interval=30)
        # Subscribed inside the task: the app starts (degraded, /health says so) while Redis
        # is away, and the listener keeps retrying.
        self._listener = asyncio.create_task(self._listen())
        self._beat = asyncio.create_task(self._heartbeat())

    async def stop(self) -> None:
        for queues in list(self.streams.values()):
            for queue in list(queues):
                _offer(queue, CLOSE_STREAM, force=True)
        for task in (self._listener, self._beat):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.delete(PROCESS_KEY.format(process=self.process_id))
            await self._redis.aclose()

    async def _listen(self) -> None:
        assert self._redis is not None
        while True:
            pubsub: Any = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(CHANNEL)
                while True:
                    message = await pubsub.get_message(timeout=30.0)
                    if message is None or message.get("type") != "message":
                        continue
                    try:
                        await self._dispatch(json.loads(message["data"]))
                    except Exception:  # one bad message must not end the listener
                        log.exception("realtime_message_failed")
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                raise
            except Exception:  # Redis away: subscribe again in a moment
                log.warning("realtime_listener_reconnecting", exc_info=True)
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                await asyncio.sleep(1.0)

    # --- the sink the services use (peal.core.realtime) ----------------------------------

    async def emit_to_users(self, event: str, payload: Any, user_ids: Iterable[uuid.UUID]) -> None:
        for user_id in user_ids:
            await self.sio.emit(event, payload, room=user_room(user_id))

    async def publish_notification(self, user_id: uuid.UUID, payload: dict[str, Any]) -> None:
        await self.sio.emit("notification", payload, room=user_room(user_id))
        await self._publish({"kind": "notification", "userId": str(user_id), "payload": payload})

    async def disconnect_user(self, user_id: uuid.UUID) -> None:
        """Close every socket and SSE stream of `user_id`, in every API process."""
        await self._publish({"kind": "disconnect", "userId": str(user_id)})

    async def _publish(self, message: dict[str, Any]) -> None:
        if self._redis is not None:
            await self._redis.publish(CHANNEL, json.dumps(message))
        else:
            await self._dispatch(message)

    async def _dispatch(self, message: dict[str, Any]) -> None:
        """What one process does with a fan-out message: its own streams and sockets only."""
        user_id = uuid.UUID(message["userId"])
        if message["kind"] == "notification":
            for queue in list(self.streams.get(user_id, ())):
                if not _offer(queue, message["payload"]):
                    _offer(queue, CLOSE_STREAM, force=True)
        elif message["kind"] == "disconnect":
            for queue in list(self.streams.get(user_id, ())):
                _offer(queue, CLOSE_STREAM, force=True)
            for sid in self._local_sids(user_id):
                await self.sio.disconnect(sid, ignore_queue=True)

    def _local_sids(self, user_id: uuid.UUID) -> list[str]:
        return [sid for sid, state in list(self.sockets.items()) if state.user_id == user_id]

    # --- SSE streams ---------------------------------------------------------------------

    def open_stream(self, user_id: uuid.UUID) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=STREAM_QUEUE_SIZE)
        self.streams[user_id].add(queue)
        return queue

    def close_stream(self, user_id: uuid.UUID, queue: asyncio.Queue[dict[str, Any]]) -> None:
        queues = self.streams.get(user_id)
        if queues is None:
            return
        queues.discard(queue)
        if not queues:
            self.streams.pop(user_id, None)

    # --- presence ------------------------------------------------------------------------
    # With Redis: per user a hash {process id: live sockets there}, and per process a
    # heartbeat key that expires if the process dies, so a crashed process's sockets stop
    # counting within PROCESS_TTL_SECONDS instead of silencing notifications for a day.

    async def _heartbeat(self) -> None:
        assert self._redis is not None
        while True:
            try:
                await self._redis.set(
                    PROCESS_KEY.format(process=self.process_id), 1, ex=PROCESS_TTL_SECONDS
                )
            except Exception:  # Redis away for a moment: try again at the next beat
                log.exception("realtime_heartbeat_failed")
            await asyncio.sleep(PROCESS_TTL_SECONDS / 3)

    async def _came_online(self, user_id: uuid.UUID) -> None:
        self.online[user_id] += 1
        await self._share_presence(user_id)

    async def _went_offline(self, user_id: uuid.UUID) -> None:
        self.online[user_id] -= 1
        if self.online[user_id] <= 0:
            self.online.pop(user_id, None)
        await self._share_presence(user_id)

    async def _share_presence(self, user_id: uuid.UUID) -> None:
        if self._redis is None:
            return
        key = PRESENCE_KEY.format(user_id=user_id)
        count = self.online.get(user_id, 0)
        async with self._redis.pipeline(transaction=False) as pipe:
            if count:
                pipe.hset(key, self.process_id, count)
                pipe.expire(key, PRESENCE_TTL_SECONDS)
            else:
                pipe.hdel(key, self.process_id)
            await pipe.execute()

    async def is_online(self, user_id: uuid.UUID) -> bool:
        if self.online.get(user_id, 0) > 0:
            return True
        return self._redis is not None and await online_in_redis(self._redis, user_id)

    # --- Socket.IO events ----------------------------------------------------------------

    def _register_handlers(self) -> None:
        sio = self.sio
        sio.on("connect", self.on_connect)
        sio.on("disconnect", self.on_disconnect)
        sio.on("join_conversation", self.on_join_conversation)
        sio.on("leave_conversation", self.on_leave_conversation)
        sio.on("typing", self.on_typing)

    async def on_connect(self, sid: str, _environ: dict[str, Any], auth: Any = None) -> None:
        """The handshake's `auth.token` is an access token, checked exactly as HTTP checks it."""
        token = auth.get("token") if isinstance(auth, dict) else None
        if not isinstance(token, str) or not token or len(token) > 4096:
            raise socketio.exceptions.ConnectionRefusedError(
                _error("unauthorized", "Authentication required")
            )
        try:
            # A reconnect storm (a deploy, a network blip) must queue here rather than take
            # every pooled database connection from the REST requests.
            async with self._auth_slots, self.db.sessionmaker() as session:
                user, _claims = await user_for_access_token(session, self.tokens, token)
        except AppError as exc:
            raise socketio.exceptions.ConnectionRefusedError(
                _error(exc.code, exc.message)
            ) from None
        except Exception:  # the database is away or saturated: refuse, the client retries
            log.warning("socket_auth_unavailable", exc_info=True)
            raise socketio.exceptions.ConnectionRefusedError(
                _error("unavailable", "Try again shortly")
            ) from None
        self.sockets[sid] = SocketState(user_id=user.id)
        await self.sio.enter_room(sid, user_room(user.id))
        await self._came_online(user.id)

    async def on_disconnect(self, sid: str, *_args: Any) -> None:
        state = self.sockets.pop(sid, None)
        if state is not None:
            await self._went_offline(state.user_id)

    def _state(self, sid: str) -> SocketState | None:
        return self.sockets.get(sid)

    async def _refuse(self, sid: str, code: str, message: str) -> dict[str, Any]:
        error = _error(code, message)
        await self.sio.emit("error", error, to=sid)
        return {"ok": False, "error": error}

    async def _admit(self, sid: str) -> SocketState | dict[str, Any]:
        state = self._state(sid)
        if state is None:
            return await self._refuse(sid, "unauthorized", "Authentication required")
        if not state.bucket.take():
            return await self._refuse(sid, "rate_limited", "Too many events; slow down")
        return state

    async def on_join_conversation(self, sid: str, data: Any = None) -> dict[str, Any]:
        """Participants only: anyone else gets an `error` event and joins nothing.
        The acknowledgement says which (`{"ok": true, "conversationId"}`)."""
        state = await self._admit(sid)
        if not isinstance(state, SocketState):
            return state
        conversation_id = _conversation_id(data)
        if conversation_id is None:
            return await self._refuse(sid, "invalid_conversation", "A conversation id is required")
        try:
            peers = await self._live_peers(conversation_id, state)
        except NotFound:
            return await self._refuse(sid, "conversation_not_found", "Conversation not found")
        state.joined[conversation_id] = peers
        await self.sio.enter_room(sid, conversation_room(conversation_id))
        return {"ok": True, "conversationId": str(conversation_id)}

    async def _live_peers(self, conversation_id: uuid.UUID, state: SocketState) -> list[uuid.UUID]:
        async with self.db.sessionmaker() as session:
            peers, unsettled = await live_peers(session, conversation_id, state.user_id)
        if unsettled:
            state.unsettled.add(conversation_id)
        else:
            state.unsettled.discard(conversation_id)
        return peers

    async def on_leave_conversation(self, sid: str, data: Any = None) -> dict[str, Any]:
        state = await self._admit(sid)
        if not isinstance(state, SocketState):
            return state
        conversation_id = _conversation_id(data)
        if conversation_id is not None:
            state.unsettled.discard(conversation_id)
        if conversation_id is not None and state.joined.pop(conversation_id, None) is not None:
            await self.sio.leave_room(sid, conversation_room(conversation_id))
        return {"ok": True}

    async def on_typing(self, sid: str, data: Any = None) -> dict[str, Any]:
        """`user_typing` to the other participants of a joined conversation, never the typist."""
        state = await self._admit(sid)
        if not isinstance(state, SocketState):
            return state
        conversation_id = _conversation_id(data)
        others = state.joined.get(conversation_id) if conversation_id is not None else None
        if conversation_id is None or others is None:
            return await self._refuse(sid, "not_joined", "Join the conversation first")
        if conversation_id in state.unsettled:
            try:
                others = await self._live_peers(conversation_id, state)
            except NotFound:
                others = []
            state.joined[conversation_id] = others
        is_typing = bool(data.get("isTyping", True)) if isinstance(data, dict) else True
        await self.emit_to_users(
            "user_typing",
            {
                "userId": str(state.user_id),
                "conversationId": str(conversation_id),
                "isTyping": is_typing,
            },
            others,
        )
        return {"ok": True}


async def online_in_redis(redis: Redis, user_id: uuid.UUID) -> bool:
    """Whether a live API process holds a socket of `user_id` (see the presence notes above)."""
    holders = await redis.hgetall(PRESENCE_KEY.format(user_id=user_id))
    processes = [
        (p.decode() if isinstance(p, bytes) else str(p))
        for p, count in holders.items()
        if int(count) > 0
    ]
    if not processes:
        return False
    alive = await redis.mget([PROCESS_KEY.format(process=p) for p in processes])
    return any(value is not None for value in alive)


class ExternalPublisher:
    """The sink of a process that holds no sockets (the job worker), with Redis: what its jobs
    raise (a `video_ready` notification...) reaches the sockets and streams of the API
    processes through the same channels."""

    def __init__(self, redis_url: str) -> None:
        self.manager = socketio.AsyncRedisManager(
            redis_url, channel=SOCKETIO_CHANNEL, write_only=True
        )
        self.redis = Redis.from_url(redis_url, health_check_interval=30)

    async def emit_to_users(self, event: str, payload: Any, user_ids: Iterable[uuid.UUID]) -> None:
        for user_id in user_ids:
            await self.manager.emit(event, payload, namespace="/", room=user_room(user_id))

    async def publish_notification(self, user_id: uuid.UUID, payload: dict[str, Any]) -> None:
        await self.emit_to_users("notification", payload, [user_id])
        message = {"kind": "notification", "userId": str(user_id), "payload": payload}
        await self.redis.publish(CHANNEL, json.dumps(message))

    async def disconnect_user(self, user_id: uuid.UUID) -> None:
        await self.redis.publish(
            CHANNEL, json.dumps({"kind": "disconnect", "userId": str(user_id)})
        )

    async def is_online(self, user_id: uuid.UUID) -> bool:
        return await online_in_redis(self.redis, user_id)

    async def close(self) -> None:
        await self.redis.aclose()


def _conversation_id(data: Any) -> uuid.UUID | None:
    """The client sends the id as a string; `{conversationId}` is accepted too."""
    raw = data.get("conversationId") if isinstance(data, dict) else data
    if not isinstance(raw, str) or len(raw) > 64:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


def _offer(
    queue: asyncio.Queue[dict[str, Any]], item: dict[str, Any], *, force: bool = False
) -> bool:
    """Put without waiting; with `force`, make room by dropping the oldest item."""
    try:
        queue.put_nowait(item)
        return True
    except asyncio.QueueFull:
        if not force:
            return False
        with contextlib.suppress(asyncio.QueueEmpty):
            queue.get_nowait()
        queue.put_nowait(item)
        return True


async def disconnect_user(user_id: uuid.UUID) -> None:
    """Close every socket and SSE stream of `user_id` now, in every API process.

    For callers at the top layer (routers, tasks, CLI). Services call
    `peal.core.realtime.disconnect_after_commit(session, user_id)` instead, so that nothing
    is sent for a write that rolls back.
    """
    sink = get_sink()
    if sink is not None:
        await sink.disconnect_user(user_id)
