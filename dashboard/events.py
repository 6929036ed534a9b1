"""Publishing live events to a tenant's /ws/live subscribers.

Events read `{"type", "ts", "bot", "data", "seq"}`. `seq` rises per tenant, and recent events
are kept in the shared cache for a few minutes so a client that dropped can resume from the
last `seq` it saw. They go to the channel-layer group of their tenant only; services publish
after their transaction commits so nobody sees a rolled-back state.
"""
from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

REPLAY_SECONDS = 300
REPLAY_LIMIT = 500


def tenant_group(tenant_id: int) -> str:
    """The channel-layer group of one tenant's live feed."""
    return f"tenant-{tenant_id}"


def _seq_key(tenant_id: int) -> str:
    return f"live:{tenant_id}:seq"


def _event_key(tenant_id: int, seq: int) -> str:
    return f"live:{tenant_id}:event:{seq}"


def _next_seq(tenant_id: int) -> int:
    key = _seq_key(tenant_id)
    cache.add(key, 0, timeout=None)
    try:
        return cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, timeout=None)
        return 1


def build_event(tenant_id: int, event_type: str, bot_id: int | None,
                data: dict[str, Any]) -> dict[str, Any]:
    """A numbered event, remembered for resuming clients."""
    seq = _next_seq(tenant_id)
    event = {"type": event_type, "ts": timezone.now().isoformat(), "bot": bot_id,
             "data": data, "seq": seq}
    cache.set(_event_key(tenant_id, seq), event, timeout=REPLAY_SECONDS)
    return event


def events_since(tenant_id: int, since: int) -> tuple[list[dict[str, Any]], bool]:
    """Remembered events after `since`, and whether they are complete (no gap)."""
    last = cache.get(_seq_key(tenant_id)) or 0
    first = max(since + 1, last - REPLAY_LIMIT + 1)
    found = cache.get_many([_event_key(tenant_id, seq) for seq in range(first, last + 1)])
    events = [found[key] for key in sorted(found, key=lambda k: int(k.rsplit(":", 1)[1]))]
    complete = first == since + 1 and len(events) == last - since
    return events, complete


def publish_now(tenant_id: int, event_type: str, bot_id: int | None,
                data: dict[str, Any]) -> None:
    """Send one event to the tenant's group; a dead channel layer is logged, never raised."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        message = {"type": "live.event",
                   "event": build_event(tenant_id, event_type, bot_id, data)}
        async_to_sync(layer.group_send)(tenant_group(tenant_id), message)
    except Exception:  # the feed is best effort: REST stays the source of truth
        logger.warning("live event %s for tenant %s not delivered", event_type, tenant_id,
                       exc_info=True)


def publish_on_commit(tenant_id: int, event_type: str, bot_id: int | None,
                      data: dict[str, Any]) -> None:
    """Publish once the surrounding transaction commits (at once outside a transaction)."""
    transaction.on_commit(lambda: publish_now(tenant_id, event_type, bot_id, data))
