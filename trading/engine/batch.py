"""A batch of ticks: what it preloads and writes at its end, its lease, how a tick ends."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from trading import selectors
from trading.models import Bot, EquitySnapshot, Order, Position, Thought
from trading.services import bots as bot_services
from trading.services import engine_records

IDLE_RECHECK = timedelta(hours=1)


@dataclass(frozen=True)
class TickOutcome:
    """How one bot's tick ended, for the caller (tasks, scheduler, demo, tests)."""

    bot_id: int
    status: str  # skipped | idle | ticked | paused | error
    detail: str = ""


@dataclass
class TickBatch:
    """What a batch of ticks reads up front and writes at its end.

    Up front: every claimed bot's position and which bots have orders to follow, one query
    each. At the end: every Thought and EquitySnapshot in one INSERT per model and every
    bot's engine state in one UPDATE (`_write_batch`). A bot that must sync or place an order,
    or trips a breaker, still does that through the per-bot services as it goes.
    """

    now: datetime
    positions: dict[tuple[int, str], Position]
    pending: set[int]
    # Bots with a manual order (trading.services.manual) waiting for this tick.
    manual: set[int] = field(default_factory=set)
    # Of `pending`, the bots with an entry or exit in flight (not only a resting stop).
    in_flight: set[int] = field(default_factory=set)
    thoughts: list[Thought] = field(default_factory=list)
    equities: list[EquitySnapshot] = field(default_factory=list)
    states: dict[int, dict[str, Any]] = field(default_factory=dict)
    tick_events: list[tuple[Bot, dict]] = field(default_factory=list)
    # Orders of each bot still working after this tick's sync (one per side, see
    # trading.core.working_orders): what a decision must follow, cancel or wait for.
    working: dict[int, list[Order]] = field(default_factory=dict)
    lease: TickLease | None = None  # set by run_ticks once the bots are claimed

    @classmethod
    def load(cls, tenant_id: int, bots: list[Bot], now: datetime) -> TickBatch:
        """Preload what every tick of `bots` reads from the database."""
        bot_ids = [bot.pk for bot in bots]
        pending, in_flight = selectors.bots_with_pending_orders(tenant=tenant_id,
                                                                bot_ids=bot_ids)
        return cls(now=now,
                   positions=selectors.positions_for_bots(tenant=tenant_id, bot_ids=bot_ids),
                   pending=pending, in_flight=in_flight,
                   manual=selectors.bots_with_manual_orders(tenant=tenant_id, bot_ids=bot_ids))

    def position(self, bot: Bot) -> Position | None:
        """The bot's position in its symbol as preloaded (None before its first fill)."""
        return self.positions.get((bot.pk, bot.symbol))

    def refresh_position(self, bot: Bot) -> None:
        """Re-read the position after a sync that may have recorded fills, and the realized
        P&L they changed: an entry decided in this tick is sized on the equity after them."""
        self.positions[(bot.pk, bot.symbol)] = selectors.position_for_bot(bot=bot)
        bot.realized_pnl = selectors.bot_realized_pnl(bot=bot)

    def finish(self, bot: Bot, *, next_tick_at: datetime, **state: Any) -> None:
        """The engine state the batch writes for `bot` (the lease is released with it)."""
        self.states[bot.pk] = {"next_tick_at": next_tick_at, **state}

    def think(self, bot: Bot, kind: str, summary: str, *, data: dict | None = None,
              candle_ts: int | None = None) -> None:
        """Queue a Thought of `bot` (timestamped now, written with the batch)."""
        self.thoughts.append(engine_records.thought_build(
            bot=bot, kind=kind, summary=summary, data=data, candle_ts=candle_ts))

    def discard(self, bot: Bot) -> None:
        """Drop what a failed tick of `bot` had queued: half a tick is not recorded."""
        self.thoughts = [row for row in self.thoughts if row.bot_id != bot.pk]
        self.equities = [row for row in self.equities if row.bot_id != bot.pk]
        self.tick_events = [event for event in self.tick_events if event[0].pk != bot.pk]
        self.states.pop(bot.pk, None)


# The clock a batch measures its own running time by (monotonic: immune to clock changes).
_monotonic = time.monotonic


@dataclass
class TickLease:
    """A batch's claim on its bots: one tick interval long, renewed as the batch runs.

    A batch renews once half of the lease has run (checked before each bot, and before a
    bot places an order), so a slow batch keeps its bots while a dead worker's lease lapses
    within one interval. A bot whose lease lapsed and was taken by another tick meanwhile is
    no longer held: the batch leaves it alone and writes nothing of it.
    """

    tenant_id: int
    value: datetime
    claimed_at: datetime
    started: float
    held: set[int] = field(default_factory=set)
    renewed_after: float = 0.0  # seconds into the batch of the last renewal

    @classmethod
    def claim(cls, tenant_id: int, bot_ids: list[int], now: datetime) -> TickLease:
        value = bot_services.bot_claim_ticks(tenant_id=tenant_id, bot_ids=bot_ids, now=now)
        return cls(tenant_id=tenant_id, value=value, claimed_at=now, started=_monotonic())

    def keep(self, bot_id: int) -> bool:
        """Renew when due; True while the batch still holds `bot_id`."""
        elapsed = _monotonic() - self.started
        if self.held and elapsed - self.renewed_after >= bot_services.tick_lease_seconds() / 2:
            self.value, self.held = bot_services.bot_renew_ticks(
                tenant_id=self.tenant_id, lease=self.value, bot_ids=sorted(self.held),
                now=self.claimed_at + timedelta(seconds=elapsed))
            self.renewed_after = elapsed
        return bot_id in self.held


def _interval() -> timedelta:
    return timedelta(seconds=settings.AITRADER_ENGINE_TICK_SECONDS)
