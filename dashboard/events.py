"""Publishing live events to a tenant's /ws/live subscribers.

Events read `{"type", "ts", "bot", "data"}`. They go to the channel-layer group of their
tenant only; services publish after their transaction commits so nobody sees a rolled-back
state.
"""
from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.utils import timezone

logger = logging.getLogger(__name__)


def tenant_group(tenant_id: int) -> str:
    """The channel-layer group of one tenant's live feed."""
    return f"tenant-{tenant_id}"


def build_event(event_type: str, bot_id: int | None, data: dict[str, Any]) -> dict[str, Any]:
    return {"type": event_type, "ts": timezone.now().isoformat(), "bot": bot_id, "data": data}


def publish_now(tenant_id: int, event_type: str, bot_id: int | None,
                data: dict[str, Any]) -> None:
    """Send one event to the tenant's group; a dead channel layer is logged, never raised."""
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "live.event", "event": build_event(event_type, bot_id, data)}
    try:
        async_to_sync(layer.group_send)(tenant_group(tenant_id), message)
    except Exception:  # the feed is best effort: REST stays the source of truth
        logger.warning("live event %s for tenant %s not delivered", event_type, tenant_id,
                       exc_info=True)


def publish_on_commit(tenant_id: int, event_type: str, bot_id: int | None,
                      data: dict[str, Any]) -> None:
    """Publish once the surrounding transaction commits (at once outside a transaction)."""
    transaction.on_commit(lambda: publish_now(tenant_id, event_type, bot_id, data))
