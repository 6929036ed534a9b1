"""Entry points: one tick, a batch of one tenant's bots, every due bot, a close step.

Bots of one tenant tick in batches (`run_ticks`; `run_tick` is a batch of one) so the common
tick (a new candle, nothing to order) costs a share of a few bulk queries instead of a handful
of its own. Ticks of one bot never overlap (a lease in the database)."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from aitrader.log_context import log_context
from tenants.events import event_batch, publish_on_commit
from trading import selectors
from trading.engine.batch import TickBatch, TickLease, TickOutcome
from trading.engine.tick import _guarded_tick
from trading.models import Bot
from trading.services import bots as bot_services
from trading.services import engine_records

TICK_BATCH_SIZE = 200  # bots per run_ticks call from the scheduler (one tick_bots task)


def run_tick(*, tenant_id: int, bot_id: int, now: datetime | None = None) -> TickOutcome:
    """Advance one bot by one tick; safe to call concurrently and to retry.

    A batch of one: the single tick and the batch share every line of the tick.
    """
    return run_ticks(tenant_id=tenant_id, bot_ids=[bot_id], now=now)[0]


def run_ticks(*, tenant_id: int, bot_ids: list[int],
              now: datetime | None = None) -> list[TickOutcome]:
    """Advance many bots of one tenant by one tick each; one outcome per id, in order.

    Without orders to place or follow, a batch costs the same few queries whatever its size:
    claim (one UPDATE), load the claimed bots, their positions and pending orders, then write
    thoughts, equity and engine state in one transaction. Bots another tick holds are
    skipped; one bot's failure releases its lease and leaves the others' results intact.
    """
    now = now or timezone.now()
    bot_ids = list(dict.fromkeys(bot_ids))
    outcomes = {bot_id: TickOutcome(bot_id, "skipped", "another tick holds the lease")
                for bot_id in bot_ids}
    lease = TickLease.claim(tenant_id, bot_ids, now)
    bots = selectors.bots_claimed(tenant=tenant_id, lease=lease.value, bot_ids=bot_ids)
    lease.held = {bot.pk for bot in bots}
    if bots:
        with event_batch():
            batch = TickBatch.load(tenant_id, bots, now)
            batch.lease = lease
            try:
                for bot in bots:
                    if lease.keep(bot.pk):  # else another tick took it: leave it alone
                        with log_context(tenant_id=tenant_id, bot_id=bot.pk):
                            outcomes[bot.pk] = _guarded_tick(bot, batch)
            finally:  # even if the loop dies, what ticked so far is written, every lease freed
                _write_batch(tenant_id, lease.value, batch, bots)
    return list(outcomes.values())


def _write_batch(tenant_id: int, lease: datetime, batch: TickBatch, bots: list[Bot]) -> None:
    """One transaction: the batch's thoughts, equity and engine state, events on commit.

    Every claimed bot's lease is released, also of a bot the loop never reached (its state
    is left as it was, so the scheduler's next pass picks it up)."""
    states = {bot.pk: batch.states.get(bot.pk, {}) for bot in bots}
    with transaction.atomic():
        engine_records.records_write(thoughts=batch.thoughts, equities=batch.equities)
        bot_services.bot_finish_ticks(tenant_id=tenant_id, lease=lease, states=states)
        for bot, data in batch.tick_events:
            publish_on_commit(bot.tenant_id, "tick", bot.pk, data)


def close_all(*, tenant_id: int, bot_id: int) -> TickOutcome:
    """Carry a requested close (`bot_services.bot_close_all` records it) one step further now:
    a tick of the bot, which runs `_close_step` while the request stands."""
    return run_tick(tenant_id=tenant_id, bot_id=bot_id)


def tick_batches(due: Iterable[tuple[int, int]],
                 size: int = TICK_BATCH_SIZE) -> list[tuple[int, list[int]]]:
    """Group (tenant id, bot id) pairs into (tenant id, bot ids) batches of at most `size`:
    a batch ticks one tenant's bots, so every query in it stays scoped to that tenant."""
    by_tenant: dict[int, list[int]] = defaultdict(list)
    for tenant_id, bot_id in due:
        by_tenant[tenant_id].append(bot_id)
    return [(tenant_id, bot_ids[start:start + size])
            for tenant_id, bot_ids in by_tenant.items()
            for start in range(0, len(bot_ids), size)]


def run_due_ticks(*, now: datetime | None = None, limit: int = 1000) -> list[TickOutcome]:
    """Tick every due bot in this process, batch by batch (the embedded scheduler and
    run_engine).

    Without an explicit `now`, each batch claims its bots at its own start: a pass longer
    than a tick interval must not hand its later batches leases that lapsed already."""
    due = selectors.bots_due(now=now or timezone.now(), limit=limit)
    return [outcome
            for tenant_id, bot_ids in tick_batches(due)
            for outcome in run_ticks(tenant_id=tenant_id, bot_ids=bot_ids, now=now)]
