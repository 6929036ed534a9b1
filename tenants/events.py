"""The event seam: domain code publishes facts about a tenant; the web layer delivers them.

Services, the engine and the ML lifecycle call `publish_on_commit` (or `publish_now`, and
`event_batch` around a tick) without knowing who listens. The dashboard subscribes one
delivery function at start-up (`subscribe`) and turns the facts into `/ws/live` frames. This
keeps the import direction one way: every app may import this module, it imports no app.
Modelled on Zulip's `send_event_on_commit`.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import transaction

logger = logging.getLogger(__name__)

#: One raw fact: (event type, bot id or None, JSON-ready data).
RawEvent = tuple[str, int | None, dict[str, Any]]
#: A subscriber receives a tenant id and that tenant's facts, in order.
Deliver = Callable[[int, list[RawEvent]], None]

_subscribers: list[Deliver] = []
_batch = threading.local()


def subscribe(deliver: Deliver) -> None:
    """Register a delivery function (idempotent: an app's `ready()` may run twice)."""
    if deliver not in _subscribers:
        _subscribers.append(deliver)


def _deliver(tenant_id: int, raw: list[RawEvent]) -> None:
    """Hand `raw` to every subscriber; one failing subscriber never stops the others."""
    if not raw:
        return
    for deliver in list(_subscribers):
        try:
            deliver(tenant_id, raw)
        except Exception:  # delivery is best effort: REST stays the source of truth
            logger.warning("%d events for tenant %s not delivered", len(raw), tenant_id,
                           exc_info=True)


@contextmanager
def event_batch() -> Iterator[None]:
    """Collect the facts published inside the block and deliver them as one list per tenant
    at its end (a tick publishes several; one channel-layer send is much cheaper)."""
    if getattr(_batch, "pending", None) is not None:
        yield  # already batching: the outer block delivers
        return
    _batch.pending = {}
    try:
        yield
    finally:
        pending, _batch.pending = _batch.pending, None
        for tenant_id, raw in pending.items():
            _deliver(tenant_id, raw)


def publish_now(tenant_id: int, event_type: str, bot_id: int | None,
                data: dict[str, Any]) -> None:
    """Deliver one fact about the tenant (or add it to the current batch)."""
    pending = getattr(_batch, "pending", None)
    if pending is not None:
        pending.setdefault(tenant_id, []).append((event_type, bot_id, data))
        return
    _deliver(tenant_id, [(event_type, bot_id, data)])


def publish_on_commit(tenant_id: int, event_type: str, bot_id: int | None,
                      data: dict[str, Any]) -> None:
    """Publish once the surrounding transaction commits (at once outside a transaction), so
    nobody sees a rolled-back state."""
    transaction.on_commit(lambda: publish_now(tenant_id, event_type, bot_id, data))
