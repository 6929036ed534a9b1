"""Delivering the event seam's facts (`tenants.events`) to a tenant's /ws/live subscribers.

Events read `{"type", "ts", "bot", "data", "seq"}` and travel in batches (one channel-layer
message per tick, say). `seq` rises per tenant, and recent events
are kept in the shared cache for a few minutes so a client that dropped can resume from the
last `seq` it saw. They go to the channel-layer group of their tenant only; domain code
publishes through `tenants.events`, which calls `send_to_live_feed` here.
"""
from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.cache import cache
from django.utils import timezone

from tenants.events import RawEvent

REPLAY_SECONDS = 300
REPLAY_LIMIT = 500


def tenant_group(tenant_id: int) -> str:
    """The channel-layer group of one tenant's live feed."""
    return f"tenant-{tenant_id}"


def _seq_key(tenant_id: int) -> str:
    return f"live:{tenant_id}:seq"


def _event_key(tenant_id: int, seq: int) -> str:
    return f"live:{tenant_id}:event:{seq}"


def _reserve_seqs(tenant_id: int, count: int) -> int:
    """Reserve `count` sequence numbers; returns the last one."""
    key = _seq_key(tenant_id)
    cache.add(key, 0, timeout=None)
    try:
        return cache.incr(key, count)
    except ValueError:  # evicted between add and incr
        cache.set(key, count, timeout=None)
        return count


def number_events(tenant_id: int, raw: list[RawEvent]) -> list[dict[str, Any]]:
    """Number `(type, bot, data)` triples in order and remember them for resuming clients."""
    last = _reserve_seqs(tenant_id, len(raw))
    stamp = timezone.now().isoformat()
    events = [{"type": event_type, "ts": stamp, "bot": bot_id, "data": data, "seq": seq}
              for seq, (event_type, bot_id, data) in enumerate(raw, start=last - len(raw) + 1)]
    cache.set_many({_event_key(tenant_id, e["seq"]): e for e in events}, timeout=REPLAY_SECONDS)
    return events


def events_since(tenant_id: int, since: int) -> tuple[list[dict[str, Any]], bool]:
    """Remembered events after `since`, and whether they are complete (no gap)."""
    last = cache.get(_seq_key(tenant_id)) or 0
    first = max(since + 1, last - REPLAY_LIMIT + 1)
    found = cache.get_many([_event_key(tenant_id, seq) for seq in range(first, last + 1)])
    events = [found[key] for key in sorted(found, key=lambda k: int(k.rsplit(":", 1)[1]))]
    complete = first == since + 1 and len(events) == last - since
    return events, complete


def send_to_live_feed(tenant_id: int, raw: list[RawEvent]) -> None:
    """Deliver a tenant's facts from the event seam as one channel-layer message to its
    /ws/live group (subscribed in `DashboardConfig.ready`)."""
    layer = get_channel_layer()
    if layer is None or not raw:
        return
    events = number_events(tenant_id, raw)
    async_to_sync(layer.group_send)(tenant_group(tenant_id),
                                    {"type": "live.events", "events": events})
