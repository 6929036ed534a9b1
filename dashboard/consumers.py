"""/ws/live: a tenant's live event stream.

Authenticates like the API (session cookie or API key header; see tenants.channels_auth),
requires the `read` scope, joins only its tenant's feed, optionally one bot's (`?bot=ID`).
A client that dropped sends `?since=SEQ` (or `{"type": "resume", "since": SEQ}`) to get the
events it missed; when too many were missed it is told to re-fetch through REST.
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.utils import timezone
from redis.exceptions import RedisError

from aitrader.errors import NotFound
from dashboard.events import events_since
from dashboard.live import hub
from dashboard.ratelimits import ws_slot_keys, ws_slots
from trading import selectors

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_MANY = 4429
CLOSE_TRY_AGAIN = 1013
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

    async def connect(self) -> None:
        actor = self.scope.get("actor")
        if actor is None:
            return await self.close(code=CLOSE_UNAUTHENTICATED)
        if not actor.can("read"):
            return await self.close(code=CLOSE_FORBIDDEN)
        query = parse_qs(self.scope.get("query_string", b"").decode())
        self.tenant_id = actor.tenant.pk
        self.bot_id = await self._bot_filter(query.get("bot", [None])[0])
        if self.bot_id == -1:
            return await self.close(code=CLOSE_NOT_FOUND)
        self.token = next(_tokens)
        self.slot_keys = ws_slot_keys(actor)
        self.slot_id = f"{uuid.uuid4().hex}:{self.token}"
        try:
            self.holds_slot = await sync_to_async(ws_slots().take)(self.slot_keys, self.slot_id)
        except RedisError:  # the shared counter is down: refuse rather than count nothing
            return await self.close(code=CLOSE_TRY_AGAIN)
        if not self.holds_slot:
            return await self.close(code=CLOSE_TOO_MANY)
        await hub().subscribe(self.tenant_id, self.token, self._deliver)
        await self.accept()
        self.heartbeat = asyncio.create_task(self._heartbeat())
        since = _int(query.get("since", [None])[0])
        if since is not None:
            await self._resume(since)

    async def _bot_filter(self, raw: str | None) -> int | None:
        if raw is None:
            return None
        bot_id = _int(raw)
        if bot_id is None:
            return -1
        try:
            await database_sync_to_async(selectors.bot_get)(tenant=self.tenant_id, bot_id=bot_id)
        except NotFound:
            return -1
        return bot_id

    async def disconnect(self, code: int) -> None:
        if self.heartbeat is not None:
            self.heartbeat.cancel()
        if self.holds_slot:
            await hub().unsubscribe(self.tenant_id, self.token)
            self.holds_slot = False
            with contextlib.suppress(RedisError):  # an unreleased slot lapses by itself
                await sync_to_async(ws_slots().release)(self.slot_keys, self.slot_id)

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


def _int(raw) -> int | None:
    try:
        return int(raw)
    except (TypeError, ValueError):
        return None
