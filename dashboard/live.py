"""Per-process fan-out of tenant events to WebSocket consumers.

Each server process subscribes to a tenant's channel-layer group once, however many of its
clients watch that tenant, and hands every event to its local consumers directly. A
channel-layer send per consumer costs ~10x more here (DESIGN.md section 6).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable

from channels.layers import get_channel_layer

from dashboard.events import tenant_group

logger = logging.getLogger(__name__)
Deliver = Callable[[dict], Awaitable[None]]
STOP = "hub.stop"  # the message that ends a tenant's reader


class TenantHub:
    """One subscription per tenant per process; local subscribers get every event."""

    def __init__(self) -> None:
        self._subscribers: dict[int, dict[int, Deliver]] = {}
        self._readers: dict[int, asyncio.Task] = {}
        self._channels: dict[int, str] = {}
        self._lock = asyncio.Lock()

    def count(self, tenant_id: int) -> int:
        return len(self._subscribers.get(tenant_id, {}))

    async def subscribe(self, tenant_id: int, token: int, deliver: Deliver) -> None:
        async with self._lock:
            subscribers = self._subscribers.setdefault(tenant_id, {})
            subscribers[token] = deliver
            if tenant_id not in self._readers:
                await self._start(tenant_id)

    async def unsubscribe(self, tenant_id: int, token: int) -> None:
        async with self._lock:
            subscribers = self._subscribers.get(tenant_id, {})
            subscribers.pop(token, None)
            if not subscribers and tenant_id in self._readers:
                await self._stop(tenant_id)

    async def _start(self, tenant_id: int) -> None:
        layer = get_channel_layer()
        # The default prefix matters with channels-redis: every process-local channel then
        # shares one Redis list, so the hub and the consumers' own receives do not starve
        # each other of the layer's single receive lock.
        channel = await layer.new_channel()
        await layer.group_add(tenant_group(tenant_id), channel)
        self._channels[tenant_id] = channel
        self._readers[tenant_id] = asyncio.create_task(self._read(tenant_id, channel))

    async def _stop(self, tenant_id: int) -> None:
        layer = get_channel_layer()
        reader = self._readers.pop(tenant_id)
        self._subscribers.pop(tenant_id, None)
        channel = self._channels.pop(tenant_id)
        # The reader is told to stop through its own channel rather than cancelled: redis-py
        # can swallow the cancellation of a blocking pop (redis/redis-py#2028), and the reader
        # would then poll a channel nobody sends to for the life of the process.
        try:
            await layer.group_discard(tenant_group(tenant_id), channel)
            await layer.send(channel, {"type": STOP})
        except Exception:  # the layer is down: cancelling is all that is left
            logger.warning("live hub for tenant %s could not stop its reader by message",
                           tenant_id, exc_info=True)
            reader.cancel()

    async def _read(self, tenant_id: int, channel: str) -> None:
        layer = get_channel_layer()
        while True:
            try:
                message = await layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception:  # a broken layer connection: wait and keep listening
                logger.warning("live hub for tenant %s lost its channel layer", tenant_id,
                               exc_info=True)
                await asyncio.sleep(1)
                continue
            if message.get("type") == STOP:
                return
            await self._fan_out(tenant_id, message.get("events") or [])

    async def _fan_out(self, tenant_id: int, events: list[dict]) -> None:
        for deliver in list(self._subscribers.get(tenant_id, {}).values()):
            with contextlib.suppress(Exception):  # one dead socket must not stop the rest
                for event in events:
                    await deliver(event)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, TenantHub] = \
    weakref.WeakKeyDictionary()


def hub() -> TenantHub:
    """The hub of the running event loop (one per server process in practice)."""
    loop = asyncio.get_running_loop()
    if loop not in _hubs:
        _hubs[loop] = TenantHub()
    return _hubs[loop]
