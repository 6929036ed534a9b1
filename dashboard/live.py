"""Per-process fan-out of tenant events to WebSocket consumers.

Each server process subscribes to a tenant's channel-layer group once, however many of its
clients watch that tenant, and hands every event to its local consumers directly. A
channel-layer send per consumer costs ~10x more here (bench/ws.py).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver

from dashboard.events import tenant_group
from tenants.selectors import membership_list_for_user
from tenants.signals import access_changed

logger = logging.getLogger(__name__)
Deliver = Callable[[dict], Awaitable[None]]
STOP = "hub.stop"  # the message that ends a tenant's reader
ACCESS = "live.access"  # a grant of this tenant ended or changed: consumers re-check theirs


def access_message(*, user_id: int | None = None, key_id: int | None = None,
                   session_key: str | None = None) -> dict:
    """The control message that tells a tenant's sockets whose access changed."""
    return {"type": ACCESS, "user": user_id, "key": key_id, "session": session_key}


class TenantHub:
    """One subscription per tenant per process; local subscribers get every event."""

    def __init__(self) -> None:
        self._subscribers: dict[int, dict[int, Deliver]] = {}
        self._controls: dict[int, dict[int, Deliver]] = {}
        self._readers: dict[int, asyncio.Task] = {}
        self._channels: dict[int, str] = {}
        self._lock = asyncio.Lock()

    def count(self, tenant_id: int) -> int:
        return len(self._subscribers.get(tenant_id, {}))

    async def subscribe(self, tenant_id: int, token: int, deliver: Deliver,
                        control: Deliver | None = None) -> None:
        """Hand the tenant's events to `deliver` and its access messages to `control`."""
        async with self._lock:
            subscribers = self._subscribers.setdefault(tenant_id, {})
            subscribers[token] = deliver
            if control is not None:
                self._controls.setdefault(tenant_id, {})[token] = control
            if tenant_id not in self._readers:
                await self._start(tenant_id)

    async def unsubscribe(self, tenant_id: int, token: int) -> None:
        async with self._lock:
            subscribers = self._subscribers.get(tenant_id, {})
            subscribers.pop(token, None)
            self._controls.get(tenant_id, {}).pop(token, None)
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
        self._controls.pop(tenant_id, None)
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
            if message.get("type") == ACCESS:
                await self._fan_out_control(tenant_id, message)
                continue
            await self._fan_out(tenant_id, message.get("events") or [])

    async def _fan_out(self, tenant_id: int, events: list[dict]) -> None:
        for deliver in list(self._subscribers.get(tenant_id, {}).values()):
            with contextlib.suppress(Exception):  # one dead socket must not stop the rest
                for event in events:
                    await deliver(event)


    async def _fan_out_control(self, tenant_id: int, message: dict) -> None:
        for control in list(self._controls.get(tenant_id, {}).values()):
            with contextlib.suppress(Exception):
                await control(message)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, TenantHub] = \
    weakref.WeakKeyDictionary()


def hub() -> TenantHub:
    """The hub of the running event loop (one per server process in practice)."""
    loop = asyncio.get_running_loop()
    if loop not in _hubs:
        _hubs[loop] = TenantHub()
    return _hubs[loop]


# --- Access changes: the tenants app announces them, the live feed acts on them ------------------

def announce_access_change(tenant_id: int, **who) -> None:
    """Tell every server process's sockets of `tenant_id` that a grant ended or changed.

    Best effort: a lost message is caught by each socket's periodic re-check."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(tenant_group(tenant_id), access_message(**who))
    except Exception:
        logger.warning("access change of tenant %s not announced to live sockets", tenant_id,
                       exc_info=True)


@receiver(access_changed, dispatch_uid="dashboard.live.access_changed")
def on_access_changed(sender, tenant_id: int, user_id: int | None = None,
                      key_id: int | None = None, **kwargs) -> None:
    """A key was revoked or a member removed or given another role."""
    announce_access_change(tenant_id, user_id=user_id, key_id=key_id)


@receiver(user_logged_out, dispatch_uid="dashboard.live.logged_out")
def on_logged_out(sender, request, user, **kwargs) -> None:
    """A signed-out session's sockets close at once, in every workspace of the user."""
    if user is None:
        return
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    for membership in membership_list_for_user(user=user):
        announce_access_change(membership.tenant_id, user_id=user.pk, session_key=session_key)
