"""/ws/live: a tenant's live event stream.

Authenticates like the API (session cookie or API key header; see dashboard.channels_auth),
requires the `read` scope, joins only its tenant's feed, optionally one bot's (`?bot=ID`).
A client that dropped sends `?since=SEQ` (or `{"type": "resume", "since": SEQ}`) to get the
events it missed; when too many were missed it is told to re-fetch through REST.

Every refusal accepts the handshake and then closes with its code, so the code reaches the
browser (a close before accepting is an HTTP 403 that says nothing). Access ends when the grant
does: a revoked key, a removed or re-roled member or a signed-out session closes the socket as
soon as the tenants app announces it, and every socket re-checks its credential each
AITRADER_WS_RECHECK_SECONDS in case an announcement was lost (or a key simply expired).
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import uuid
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.utils import timezone
from redis.exceptions import RedisError

from aitrader.bounded_input import object_id
from aitrader.errors import NotFound
from dashboard.channels_auth import actor_now
from dashboard.events import events_since
from dashboard.live import hub
from dashboard.ws_slots import ws_slot_keys, ws_slots
from tenants.actors import Actor
from trading import selectors

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401  # no valid credential, or it ended: sign in again (no retry)
CLOSE_FORBIDDEN = 4403  # the credential may not read this feed (no retry)
CLOSE_NOT_FOUND = 4404  # no such bot in this workspace (no retry)
CLOSE_ACCESS_CHANGED = 4409  # the member's role changed: reconnect at once with the new one
CLOSE_TOO_MANY = 4429  # too many open connections: retry later
CLOSE_TRY_AGAIN = 1013  # the shared slot counter is down: retry later
_tokens = itertools.count(1)


class LiveConsumer(AsyncJsonWebsocketConsumer):
    """One client's view of its tenant's events."""

    # Events reach consumers through the process's hub (dashboard.live), never through a
    # channel of their own, so a consumer takes no channel on the layer. With channels-redis
    # such a channel meant a blocking pop per consumer whose cancellation on disconnect
    # redis-py can swallow (redis/redis-py#2028), leaving a task that polls Redis forever.
    channel_layer_alias = None
    holds_slot = False
    token = None
    heartbeat = None
    recheck = None
    actor: Actor | None = None

    async def connect(self) -> None:
        refusal = await self._open()
        if refusal is not None:
            await self.accept()
            await self.close(code=refusal)

    async def _open(self) -> int | None:
        """Take a slot, subscribe and accept; the close code of a refusal otherwise."""
        actor = self.actor = self.scope.get("actor")
        if actor is None:
            return CLOSE_UNAUTHENTICATED
        if not actor.can("read"):
            return CLOSE_FORBIDDEN
        query = parse_qs(self.scope.get("query_string", b"").decode())
        self.tenant_id = actor.tenant.pk
        self.bot_id = await self._bot_filter(query.get("bot", [None])[0])
        if self.bot_id == -1:
            return CLOSE_NOT_FOUND
        self.token = next(_tokens)
        self.slot_keys = ws_slot_keys(actor)
        self.slot_id = f"{uuid.uuid4().hex}:{self.token}"
        try:
            self.holds_slot = await sync_to_async(ws_slots().take)(self.slot_keys, self.slot_id)
        except RedisError:  # the shared counter is down: refuse rather than count nothing
            return CLOSE_TRY_AGAIN
        if not self.holds_slot:
            return CLOSE_TOO_MANY
        await hub().subscribe(self.tenant_id, self.token, self._deliver, self._access_changed)
        await self.accept()
        self.heartbeat = asyncio.create_task(self._heartbeat())
        self.recheck = asyncio.create_task(self._recheck_periodically())
        since = _int(query.get("since", [None])[0])
        if since is not None:
            await self._resume(since)
        return None

    async def _bot_filter(self, raw: str | None) -> int | None:
        if raw is None:
            return None
        bot_id = object_id(raw)
        if bot_id is None:
            return -1
        try:
            await database_sync_to_async(selectors.bot_get)(tenant=self.tenant_id, bot_id=bot_id)
        except NotFound:
            return -1
        return bot_id

    async def __call__(self, scope, receive, send) -> None:
        # A consumer that dies on an error never sees its disconnect message: free what it
        # holds here, whatever ended it.
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._release()

    async def disconnect(self, code: int) -> None:
        await self._release()

    async def _release(self) -> None:
        for task in (self.heartbeat, self.recheck):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        if self.holds_slot:
            self.holds_slot = False
            await hub().unsubscribe(self.tenant_id, self.token)
            with contextlib.suppress(RedisError):  # an unreleased slot lapses by itself
                await sync_to_async(ws_slots().release)(self.slot_keys, self.slot_id)

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        try:
            content = json.loads(text_data if text_data is not None else bytes_data or b"")
        except (ValueError, UnicodeDecodeError):
            await self._error("frames must be JSON objects, such as {\"type\": \"ping\"}")
            return
        await self.receive_json(content, **kwargs)

    async def _error(self, message: str) -> None:
        await self.send_json({"type": "error", "ts": timezone.now().isoformat(),
                              "data": {"message": message}})

    # -- the end of access --

    async def _access_changed(self, message: dict) -> None:
        """An access message of this tenant: close at once for its session, else re-check
        when it names this socket's user, key or key creator."""
        if message.get("session") and message["session"] == self._session_key():
            return await self._end(CLOSE_UNAUTHENTICATED)
        actor = self.actor
        concerned = {actor.user.pk if actor.user else None,
                     actor.api_key.created_by_id if actor.api_key else None}
        if message.get("user") in concerned - {None} or (
                actor.api_key is not None and message.get("key") == actor.api_key.pk):
            await self._check_access()

    def _session_key(self) -> str | None:
        session = self.scope.get("session")
        return getattr(session, "session_key", None)

    async def _recheck_periodically(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            while True:
                await asyncio.sleep(settings.AITRADER_WS_RECHECK_SECONDS)
                await self._check_access()

    async def _check_access(self) -> None:
        """Close with the code that says why, when the credential no longer grants this feed
        as it did at connect."""
        try:
            now = await actor_now(self.scope)
        except Exception:  # the database is down: keep streaming, try again next time
            logger.warning("live socket could not re-check its access", exc_info=True)
            return
        code = _access_verdict(self.actor, now)
        if code is not None:
            await self._end(code)

    async def _end(self, code: int) -> None:
        if self.holds_slot:
            await self._release()
            await self.close(code=code)

    async def receive_json(self, content, **kwargs) -> None:
        if isinstance(content, dict) and content.get("type") == "resume":
            since = _int(content.get("since"))
            if since is not None:
                await self._resume(since)
        elif isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong", "ts": timezone.now().isoformat()})

    async def _resume(self, since: int) -> None:
        events, complete = await database_sync_to_async(events_since)(self.tenant_id, since)
        if not complete:
            await self.send_json({"type": "resync", "ts": timezone.now().isoformat(),
                                  "data": {"reason": "missed events are no longer kept; "
                                                     "re-fetch state through the REST API"}})
        for event in events:
            await self._deliver(event)

    async def _deliver(self, event: dict) -> None:
        if self.bot_id is not None and event.get("bot") not in (None, self.bot_id):
            return
        await self.send_json(event)

    async def _heartbeat(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            while True:
                await asyncio.sleep(settings.AITRADER_WS_HEARTBEAT_SECONDS)
                await self.send_json({"type": "ping", "ts": timezone.now().isoformat()})
                with contextlib.suppress(RedisError):  # keeps the shared slot from lapsing
                    await sync_to_async(ws_slots().refresh)(self.slot_keys, self.slot_id)


def _access_verdict(before: Actor, now: Actor | None) -> int | None:
    """The close code when the grant `now` no longer matches the one at connect, else None."""
    if now is None or now.tenant is None or now.tenant.pk != before.tenant.pk:
        return CLOSE_UNAUTHENTICATED
    if not now.can("read"):
        return CLOSE_FORBIDDEN
    if (now.role, now.key_ceiling) != (before.role, before.key_ceiling):
        return CLOSE_ACCESS_CHANGED
    return None


def _int(raw) -> int | None:
    try:
        return int(raw)
    except (TypeError, ValueError):
        return None
