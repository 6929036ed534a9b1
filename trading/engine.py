"""Ticks: read shared candles, sync orders, decide, act, record, publish, for a batch of bots.

A tick is short and bounded (no loops waiting on the market): the scheduler calls it again.
Ticks of one bot never overlap (a lease in the database). Bots of one tenant tick in
batches (`run_ticks`; `run_tick` is a batch of one) so the common tick (a new candle, nothing
to order) costs a share of a few bulk queries instead of a handful of its own. Orders go
through trading.services.orders, which makes placement idempotent, so a tick retried after a
crash at any point converges on exactly one order per decision.
"""
from __future__ import annotations

import functools
import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from aitrader.errors import ServiceError
from tenants.events import event_batch, publish_on_commit
from trading import money, selectors
from trading.breakers import BreakerSettings
from trading.candles import Candles
from trading.decisions import (
    BotView,
    Decision,
    MarketView,
    MissedCandles,
    PriceBar,
    catch_up,
    decide,
    protect,
)
from trading.exchanges.base import Exchange, ExchangeError, RateLimited
from trading.exchanges.factory import exchange_for, market_source
from trading.marketdata import (
    MarketDataUnavailable,
    MarketSnapshot,
    feed_key,
    get_newest_price,
    get_snapshot,
)
from trading.models import Bot, EquitySnapshot, Order, Position, Thought
from trading.services import bots as bot_services
from trading.services import engine_records, ledger, orders, protection
from trading.strategies import SignalUnavailable, Strategy, StrategyScope, get_strategy
from trading.strategies.presets import risk_for
from trading.timeframes import timeframe_ms
from trading.working_orders import WorkingOrder, WorkingPlan, plan_with_working

logger = logging.getLogger(__name__)

IDLE_RECHECK = timedelta(hours=1)
AMOUNT_STEP = Decimal("0.00000001")
PRICE_STEP = Decimal("1e-12")  # a stop/target level as the Order row stores it
TICK_BATCH_SIZE = 200  # bots per run_ticks call from the scheduler (one tick_bots task)


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
    # Of `pending`, the bots with an entry or exit in flight (not only a resting stop).
    in_flight: set[int] = field(default_factory=set)
    thoughts: list[Thought] = field(default_factory=list)
    equities: list[EquitySnapshot] = field(default_factory=list)
    states: dict[int, dict[str, Any]] = field(default_factory=dict)
    tick_events: list[tuple[Bot, dict]] = field(default_factory=list)
    # Orders of each bot still working after this tick's sync (one per side, see
    # trading.working_orders): what a decision must follow, cancel or wait for.
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
                   pending=pending, in_flight=in_flight)

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
                        outcomes[bot.pk] = _guarded_tick(bot, batch)
            finally:  # even if the loop dies, what ticked so far is written, every lease freed
                _write_batch(tenant_id, lease.value, batch, bots)
    return list(outcomes.values())


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


def _guarded_tick(bot: Bot, batch: TickBatch) -> TickOutcome:
    """The bot's tick; a failure is counted toward its breaker, never raised to the batch.

    Expected failures (no or missing credentials, an exchange that refuses or does not answer,
    no market data) log one line; anything else is a bug and keeps its traceback. Both count:
    `exchange_errors` failed ticks in a row pause the bot with the reason (`_failed_tick`).
    """
    try:
        if bot.close_requested_at is not None:  # "close all" comes before anything else
            return _close_step(bot, batch)
        if bot.status == Bot.Status.PAUSED:
            return _sync_only(bot, batch)
        problem = _money_problem(bot)
        if problem is not None:
            return _money_out_of_range(bot, batch, problem)
        return _tick(bot, batch)
    except EXPECTED_FAILURES as exc:
        return _failed_tick(bot, batch, _failure_text(exc))
    except Exception as exc:  # a tick must never kill the batch; the lease is released
        logger.exception("tick of bot %s failed", bot.pk)
        return _failed_tick(bot, batch, f"unexpected {type(exc).__name__} (see the server "
                                        f"log)", logged=True)


# What a tick can meet without a bug: their messages are safe to show and say what is wrong.
EXPECTED_FAILURES = (ServiceError, ExchangeError, MarketDataUnavailable)


def _failure_text(exc: Exception) -> str:
    return getattr(exc, "message", None) or str(exc) or type(exc).__name__


def _failed_tick(bot: Bot, batch: TickBatch, why: str, *, logged: bool = False) -> TickOutcome:
    """Drop what the tick queued and count it toward the `exchange_errors` breaker; at the
    limit pause the bot with `why` (Thought and alert), then look again only hourly."""
    batch.discard(bot)
    count = bot_services.bot_count_exchange_error(bot=bot)
    limit = _breakers(bot).exchange_errors
    if not logged:
        logger.warning("tick of bot %s failed (%s/%s): %s", bot.pk, count, limit, why)
    if count < limit:
        batch.finish(bot, next_tick_at=batch.now + _interval())
        return TickOutcome(bot.pk, "error", f"{why} ({count}/{limit})")
    reason = f"{why} ({count} times in a row)"
    if bot.close_requested_at is not None:
        bot_services.bot_close_give_up(bot=bot, reason=f"close all failed: {reason}")
    else:
        bot_services.bot_auto_pause(bot=bot, reason=reason, data={"error": why})
    batch.finish(bot, next_tick_at=batch.now + IDLE_RECHECK)
    return TickOutcome(bot.pk, "paused", reason)


def _breakers(bot: Bot) -> BreakerSettings:
    """The bot's breaker settings; the defaults if the stored ones no longer validate (the
    failure being counted may be exactly that)."""
    try:
        return BreakerSettings.from_overrides(bot.breakers)
    except ServiceError:
        return BreakerSettings()


def _interval() -> timedelta:
    return timedelta(seconds=settings.AITRADER_ENGINE_TICK_SECONDS)


def _money_problem(bot: Bot) -> str | None:
    """Why the bot's stored money (settings, paper balances) is out of range, else None."""
    currency = getattr(bot, "paper_currency_out_of_range", None)
    if currency is not None:
        return (f"paper balance of {currency} is beyond "
                f"{money.grouped(money.LEDGER_CEILING)}")
    return money.bot_money_problem(bot)


def _money_out_of_range(bot: Bot, batch: TickBatch, problem: str) -> TickOutcome:
    """A value written around the limits (a raw UPDATE, an old row) pauses this bot with the
    reason; trading on it could overflow the ledger's columns and fail the whole batch."""
    bot_services.bot_auto_pause(bot=bot, reason=problem)
    batch.finish(bot, next_tick_at=batch.now + IDLE_RECHECK)
    return TickOutcome(bot.pk, "paused", problem)


def bot_market_snapshot(bot: Bot) -> MarketSnapshot:
    """The shared candles of the bot's feed (the same read a tick makes), holding as many
    closed candles as the bot's strategy needs to signal."""
    source = market_source(bot.account.exchange_id)
    return get_snapshot(source, bot.account.exchange_id, bot.symbol, bot.timeframe,
                        candles=_window(bot))


def _window(bot: Bot) -> int:
    """Closed candles the bot's strategy needs: its warm-up plus the candle it decides on."""
    try:
        return _strategy(bot).warmup(bot.parameters) + 1
    except SignalUnavailable:  # no model to ask (ml_signal): the tick holds and says why
        return 0


def _exchange_once(bot: Bot, closed: Candles) -> Callable[[], Exchange]:
    """The bot's exchange, built on first use: most ticks never talk to the exchange (and a
    live client costs a credential read)."""
    return functools.cache(lambda: exchange_for(bot.account, closed))


def _tick(bot: Bot, batch: TickBatch) -> TickOutcome:
    breakers = BreakerSettings.from_overrides(bot.breakers)
    try:
        snapshot = bot_market_snapshot(bot)
    except MarketDataUnavailable as exc:
        return _market_down(bot, batch, breakers, str(exc))
    closed = snapshot.closed()
    newest = int(closed.timestamp[-1]) if len(closed) else None
    if bot.resume_pending:
        return _resumed(bot, batch, closed, newest)
    if newest is None or (bot.last_candle_ts is not None and newest <= bot.last_candle_ts):
        _resolve_unanswered(bot, batch, closed)
        return (_watch_newest_price(bot, batch, snapshot, closed)
                or _no_new_candle(bot, batch, snapshot, breakers))
    return _on_new_candle(bot, batch, snapshot, closed, newest)


def _resumed(bot: Bot, batch: TickBatch, closed: Candles, newest: int | None) -> TickOutcome:
    """The first tick after a resume: every candle closed so far closed while the bot was
    paused, so none is acted on (no catch-up over them); the bot acts from the next one."""
    skipped = (int((closed.timestamp > bot.last_candle_ts).sum()) if bot.last_candle_ts
               is not None else 0)
    words = (f"{skipped} candle{'s' if skipped != 1 else ''} closed while the bot was paused; "
             "they are not acted on. " if skipped else "")
    batch.think(bot, Thought.Kind.CONTROL, f"{words}Acting from the next candle on.",
                candle_ts=newest, data={"resumed_after_candles": skipped})
    state = {"last_candle_ts": newest} if newest is not None else {}
    batch.finish(bot, next_tick_at=batch.now + _interval(), resume_pending=False, **state)
    return TickOutcome(bot.pk, "idle", "resumed; acting from the next candle")


def _watch_newest_price(bot: Bot, batch: TickBatch, snapshot: MarketSnapshot,
                        closed: Candles) -> TickOutcome | None:
    """Between candle closes, hold the position's stop and target against the newest price
    (the forming candle widened by the feed's ticker, see `_forming_bar`). Costs no query
    unless one was touched; a bot with an order in flight waits for it (the next close syncs it)."""
    position = batch.position(bot)
    if (position is None or position.amount <= 0 or bot.pk in batch.in_flight
            or len(snapshot.candles) <= len(closed)):
        return None
    forming = snapshot.candles[len(closed):len(closed) + 1]
    bar, close = _forming_bar(bot, forming)
    market = MarketView(candle_ts=bar.ts, open=bar.open, high=bar.high, low=bar.low,
                        close=close, signal=0)
    view = _bot_view(bot, market, position)
    decision = protect(bar, view, risk_for(bot.preset, bot.risk))
    if decision is None or not selectors.bot_is_running(bot=bot):
        return None
    decision, order = _act(bot, batch, _exchange_once(bot, closed), decision, bar.ts,
                           expected_price=Decimal(repr(market.close)))
    batch.think(bot, Thought.Kind.DECISION, f"Newest price: {decision.summary}",
                candle_ts=bar.ts, data=_thought_data(market, view, decision, order))
    batch.finish(bot, next_tick_at=batch.now + _interval(),
                 **_cooldown_state(bot, decision, bar.ts))
    return TickOutcome(bot.pk, "ticked", decision.summary)


def _forming_bar(bot: Bot, forming: Candles) -> tuple[PriceBar, float]:
    """The forming candle's range so far and its newest price. The snapshot's copy is only as
    fresh as the period's first fetch, so the feed's shared ticker (read once per tick
    interval, a cache read for every other bot) widens it when read inside this candle."""
    bar = _price_bars(forming)[0]
    exchange_id = bot.account.exchange_id
    newest = get_newest_price(market_source(exchange_id), exchange_id, bot.symbol,
                              interval_ms=int(_interval().total_seconds() * 1000))
    if newest is None or not (bar.ts <= newest.fetched_at_ms
                              < bar.ts + timeframe_ms(bot.timeframe)):
        return bar, float(forming.close[0])
    price = float(newest.price)
    return replace(bar, high=max(bar.high, price), low=min(bar.low, price)), price


def _market_down(bot: Bot, batch: TickBatch, breakers: BreakerSettings,
                 why: str) -> TickOutcome:
    feed = selectors.market_feed_last_success(exchange_id=bot.account.exchange_id,
                                              symbol=bot.symbol, timeframe=bot.timeframe)
    age = (batch.now - feed).total_seconds() if feed else None
    if age is None or age >= breakers.disconnect_seconds:
        reason = (f"market data unavailable for {int(age)} s" if age is not None
                  else "market data unavailable")
        bot_services.bot_auto_pause(bot=bot, reason=reason, data={"error": why})
        batch.finish(bot, next_tick_at=batch.now + IDLE_RECHECK)
        return TickOutcome(bot.pk, "paused", reason)
    batch.finish(bot, next_tick_at=batch.now + _interval())
    return TickOutcome(bot.pk, "idle", "market data unavailable, within the limit")


def _no_new_candle(bot: Bot, batch: TickBatch, snapshot: MarketSnapshot,
                   breakers: BreakerSettings) -> TickOutcome:
    lag = snapshot.age_ms(snapshot.now_ms)
    if lag <= breakers.stale_after_candles * timeframe_ms(bot.timeframe):
        batch.finish(bot, next_tick_at=batch.now + _interval())
        return TickOutcome(bot.pk, "idle", "no new candle yet")
    checks = bot.stale_checks + 1
    if checks >= breakers.stale_checks:
        reason = (f"market data stale: newest candle {lag // 1000} s past its close "
                  f"on {checks} consecutive checks")
        bot_services.bot_auto_pause(bot=bot, reason=reason)
        batch.finish(bot, next_tick_at=batch.now + IDLE_RECHECK, stale_checks=0)
        return TickOutcome(bot.pk, "paused", reason)
    batch.think(bot, Thought.Kind.BREAKER,
                f"Market data is stale ({lag // 1000} s); waiting "
                f"({checks}/{breakers.stale_checks}).")
    batch.finish(bot, next_tick_at=batch.now + _interval(), stale_checks=checks)
    return TickOutcome(bot.pk, "idle", "stale market data")


def _sync_pending(bot: Bot, exchange: Exchange,
                  newest_candle_ts: int | None) -> tuple[int, list[Order]]:
    """Bring every pending order up to date; returns how many exchange errors it met and the
    orders still working afterwards (an order whose sync failed is still working). An intent
    older than its bound expires instead of being sent (`newest_candle_ts` dates it)."""
    errors, working = 0, []
    for order in selectors.order_pending_for_bot(bot=bot):
        try:
            order = orders.order_sync(bot=bot, order=order, exchange=exchange,
                                      newest_candle_ts=newest_candle_ts)
        except RateLimited:
            raise
        except ExchangeError as exc:
            logger.warning("sync of order %s failed: %s", order.client_order_id, exc)
            errors += 1
        if order.is_pending:
            working.append(order)
    return errors, working


def _newest(closed: Candles) -> int | None:
    return int(closed.timestamp[-1]) if len(closed) else None


def _resolve_unanswered(bot: Bot, batch: TickBatch, closed: Candles) -> None:
    """Between candles, settle the bot's orders whose answer was lost (or never sent): an
    unknown order is looked up by its client id on the next tick, not a candle later. Open
    orders wait for the candle (following them every tick would cost a request each)."""
    if bot.pk not in batch.pending:
        return
    unanswered = list(selectors.order_unanswered_for_bot(bot=bot))
    if not unanswered:
        return
    exchange = exchange_for(bot.account, closed)
    for order in unanswered:
        try:
            orders.order_sync(bot=bot, order=order, exchange=exchange,
                              newest_candle_ts=_newest(closed))
        except ExchangeError as exc:  # still unknown: the next tick asks again
            logger.warning("sync of order %s failed: %s", order.client_order_id, exc)
    batch.refresh_position(bot)


def _sync_only(bot: Bot, batch: TickBatch) -> TickOutcome:
    """A paused bot places nothing but still follows its pending orders to the end (and
    keeps its resting stop, looked at once a candle)."""
    wait = IDLE_RECHECK
    if bot.pk in batch.pending:
        closed = bot_market_snapshot(bot).closed()
        exchange = exchange_for(bot.account, closed)
        _errors, working = _sync_pending(bot, exchange, _newest(closed))
        if any(not order.is_protective for order in working):
            wait = _interval()
        elif working:  # only a stop resting at the exchange: it may rest for weeks
            wait = max(_interval(), timedelta(milliseconds=timeframe_ms(bot.timeframe)))
    batch.finish(bot, next_tick_at=batch.now + wait)
    return TickOutcome(bot.pk, "idle", "paused; orders synced")


def _on_new_candle(bot: Bot, batch: TickBatch, snapshot: MarketSnapshot, closed: Candles,
                   candle_ts: int) -> TickOutcome:
    exchange = _exchange_once(bot, closed)
    if bot.pk in batch.pending:
        trouble = _sync_before_deciding(bot, batch, exchange, candle_ts)
        if trouble is not None:
            return trouble
    market = _market_view(bot, snapshot, candle_ts)
    view = _bot_view(bot, market, batch.position(bot))
    decision = _decide(bot, closed, market, view, batch.position(bot))
    if _places_order(decision) and not selectors.bot_is_running(bot=bot):
        batch.finish(bot, next_tick_at=batch.now + _interval())
        return TickOutcome(bot.pk, "idle", "paused during the tick; nothing placed")
    if _places_order(decision) and batch.lease is not None and not batch.lease.keep(bot.pk):
        batch.discard(bot)  # another tick holds the bot now: it decides, this one places nothing
        return TickOutcome(bot.pk, "skipped", "the tick lease lapsed; nothing placed")
    decision, order = _act(bot, batch, exchange, decision, candle_ts,
                           expected_price=Decimal(repr(market.close)))
    _protect(bot, batch, exchange, candle_ts, order)
    return _record(bot, batch, market, view, decision, order)


def _decide(bot: Bot, closed: Candles, market: MarketView, view: BotView,
            position: Position | None) -> Decision:
    """The tick's decision: the ordinary one, or a catch-up when candles closed unwatched."""
    settings_ = risk_for(bot.preset, bot.risk)
    missed = _missed_candles(bot, closed, position)
    if missed is None:
        return decide(market, view, settings_)
    return catch_up(missed, market, view, settings_)


def _missed_candles(bot: Bot, closed: Candles, position: Position | None
                    ) -> MissedCandles | None:
    """The candles that closed since the bot's last tick when more than one did (workers
    down, a deploy, a crash), at most AITRADER_ENGINE_CATCH_UP_CANDLES of the newest, with the
    strategy's signal on each; None for an ordinary tick."""
    if bot.last_candle_ts is None:
        return None
    count = int((closed.timestamp > bot.last_candle_ts).sum())
    if count <= 1:
        return None
    window = closed[len(closed) - min(count, settings.AITRADER_ENGINE_CATCH_UP_CANDLES):]
    return MissedCandles(closed_count=count, bars=_price_bars(window),
                         signals=_missed_signals(bot, closed, len(window)),
                         held_from_ts=_held_from(position))


def _missed_signals(bot: Bot, closed: Candles, count: int) -> tuple[int, ...]:
    """The strategy's signals on the newest `count` closed candles. A path-dependent strategy
    (DCA, grid) has walked them already in `_signal`, which acts on the newest one; its
    earlier signals are not looked back for, nor is any of a strategy that cannot signal."""
    strategy = _strategy(bot)
    if strategy.path_dependent:
        return (0,) * count
    try:
        signals = strategy.signals(closed, bot.parameters)[len(closed) - count:]
    except SignalUnavailable:  # the stop and target still count
        return (0,) * count
    return tuple(int(value) for value in signals)


def _held_from(position: Position | None) -> int | None:
    """The candle time of the position's first fill (a stop counts from there)."""
    if position is None or position.opened_at is None:
        return None
    return int(position.opened_at.timestamp() * 1000)


def _price_bars(candles: Candles) -> tuple[PriceBar, ...]:
    return tuple(PriceBar(int(ts), float(o), float(h), float(lo)) for ts, o, h, lo in zip(
        candles.timestamp, candles.open, candles.high, candles.low, strict=True))


def _sync_before_deciding(bot: Bot, batch: TickBatch, exchange: Callable[[], Exchange],
                          candle_ts: int) -> TickOutcome | None:
    """Follow the bot's pending orders; an outcome ends the tick (rate limit, errors)."""
    try:
        errors, batch.working[bot.pk] = _sync_pending(bot, exchange(), candle_ts)
    except RateLimited as exc:
        return _rate_limited(bot, batch, exc)
    if errors:
        return _exchange_trouble(bot, batch, errors)
    batch.refresh_position(bot)
    return None


def _rate_limited(bot: Bot, batch: TickBatch, exc: RateLimited) -> TickOutcome:
    wait = max(exc.retry_after or 0.0, float(settings.AITRADER_ENGINE_TICK_SECONDS))
    batch.finish(bot, next_tick_at=batch.now + timedelta(seconds=wait))
    return TickOutcome(bot.pk, "idle", f"rate limited; next try in {wait:.0f} s")


def _exchange_trouble(bot: Bot, batch: TickBatch, errors: int) -> TickOutcome:
    count = bot_services.bot_count_exchange_error(bot=bot)
    limit = BreakerSettings.from_overrides(bot.breakers).exchange_errors
    if count >= limit:
        reason = f"{count} consecutive exchange errors"
        bot_services.bot_auto_pause(bot=bot, reason=reason)
        batch.finish(bot, next_tick_at=batch.now + IDLE_RECHECK)
        return TickOutcome(bot.pk, "paused", reason)
    batch.finish(bot, next_tick_at=batch.now + _interval())
    return TickOutcome(bot.pk, "idle", f"exchange errors ({count}/{limit})")


_signal_memo: dict[tuple, int] = {}
_signal_lock = threading.Lock()
SIGNAL_MEMO_LIMIT = 50_000


def forget_signal_memo() -> None:
    """Drop the memoised signals (tests; after a model is promoted or retired mid-candle)."""
    with _signal_lock:
        _signal_memo.clear()


def _strategy(bot: Bot) -> type[Strategy]:
    """The bot's strategy class, bound to its tenant and market (ml_signal reads a model of
    that tenant; the rule-based strategies ignore the scope)."""
    return get_strategy(bot.strategy,
                        scope=StrategyScope(bot.tenant_id, bot.symbol, bot.timeframe))


def _signal(bot: Bot, snapshot: MarketSnapshot, candle_ts: int) -> int:
    """The strategy's signal on the newest closed candle, computed once per candle for every
    bot sharing the feed, strategy (class: one per tenant for ml_signal) and parameters."""
    strategy = _strategy(bot)
    if strategy.path_dependent:
        return _walk_signal(bot, strategy, snapshot)
    key = (feed_key(bot.account.exchange_id, bot.symbol, bot.timeframe), candle_ts,
           strategy, json.dumps(bot.parameters, sort_keys=True))
    with _signal_lock:
        cached = _signal_memo.get(key)
    if cached is not None:
        return cached
    value = int(strategy.signals(snapshot.closed(), bot.parameters)[-1])
    with _signal_lock:
        if len(_signal_memo) >= SIGNAL_MEMO_LIMIT:
            _signal_memo.clear()
        _signal_memo[key] = value
    return value


def _walk_signal(bot: Bot, strategy: type[Strategy], snapshot: MarketSnapshot) -> int:
    """A path-dependent strategy (DCA, grid) continues the walk the bot's previous tick saved,
    from the bot's first candle on, so it signals what a backtest from that candle signals.
    The state it reaches is the bot's own (never memoised across bots); `_record` writes it
    with the tick's engine state, so a tick that fails saves nothing and is walked again."""
    signals, bot.strategy_state = strategy.resume(snapshot.closed(), bot.parameters,
                                                  bot.strategy_state)
    return int(signals[-1]) if len(signals) else 0


def _walk_state(bot: Bot) -> dict[str, Any]:
    """The strategy state this tick reached, for the engine state (path-dependent only)."""
    return {"strategy_state": bot.strategy_state} if _strategy(bot).path_dependent else {}


def _market_view(bot: Bot, snapshot: MarketSnapshot, candle_ts: int) -> MarketView:
    closed = snapshot.closed()
    try:
        signal, note = _signal(bot, snapshot, candle_ts), ""
    except SignalUnavailable as exc:  # e.g. a stale or retired model: hold, and say why
        signal, note = 0, exc.message
    return MarketView(candle_ts=candle_ts, open=float(closed.open[-1]),
                      high=float(closed.high[-1]), low=float(closed.low[-1]),
                      close=float(closed.close[-1]), signal=signal, note=note)


def _bot_view(bot: Bot, market: MarketView, position) -> BotView:
    amount = float(position.amount) if position else 0.0
    average = float(position.average_price) if position else 0.0
    equity = float(bot.capital + bot.realized_pnl) + amount * (market.close - average)
    # Dust an exit left below the lot size (entries 0) is held and valued, not acted on.
    held = amount if position and position.entries > 0 else 0.0
    wants_entry = market.signal > 0
    return BotView(
        equity=equity,
        peak_equity=max(float(bot.peak_equity or 0), equity),
        day_start_equity=(selectors.equity_at_day_start(bot=bot, candle_ts=market.candle_ts)
                          if wants_entry else equity),
        position_amount=held, average_price=average,
        entries=position.entries if held > 0 else 0,
        entry_limit=_strategy(bot).entry_limit(bot.parameters),
        fee_rate=float(bot.account.taker_fee), slippage=float(bot.account.slippage),
        # An entry decided on candle s+k fills at s+k+1: after a stop in candle s the
        # backtest refuses fills up to s+cooldown, so decisions before s+cooldown.
        in_cooldown=market.candle_ts < (_cooldown_until(bot, wants_entry) or 0),
        open_positions_elsewhere=(selectors.open_position_count_on_account(bot=bot)
                                  if wants_entry and held == 0 else 0),
        cash=float(bot.capital + bot.realized_pnl) - amount * average,
    )


def _cooldown_until(bot: Bot, wants_entry: bool) -> int | None:
    """The end of the bot's stop-loss cooldown: after a stop loss it sold, or after its stop
    resting at the exchange filled (that is read only when the bot wants to enter)."""
    until = bot.cooldown_until_ts
    if wants_entry and protection.stops_rest_at_exchange(account=bot.account):
        until = max(until or 0, protection.stop_cooldown_until(bot=bot) or 0) or None
    return until


def _places_order(decision: Decision) -> bool:
    return decision.side is not None and decision.amount > 0


def _act(bot: Bot, batch: TickBatch, exchange: Callable[[], Exchange], decision: Decision,
         candle_ts: int, *, expected_price: Decimal) -> tuple[Decision, Order | None]:
    """Carry the decision out beside the bot's working orders (one per side): follow, cancel
    or wait for them as `plan_with_working` says; returns the decision as carried out.

    A market order carries the price it expects (a touched stop/target level, else the
    decision candle's close), so an order below the market's minimum is skipped unsent."""
    if not _places_order(decision):
        return decision, None
    # A stop resting at the exchange is not a working exit: an exit cancels it first.
    working = [order for order in batch.working.get(bot.pk, []) if not order.is_protective]
    plan = plan_with_working(decision.side, [_working_view(order) for order in working])
    if plan.cancel and not _cancel_working(bot, batch, exchange(), working, plan):
        return _noted(decision, "The working entry could not be canceled; the exit waits "
                                "for the next tick."), None
    if not plan.place:
        return _noted(decision, plan.note), None
    if decision.side == "sell" and not _release_stops(bot, batch, exchange):
        return _noted(decision, "The stop resting at the exchange could not be canceled; "
                                "the exit waits for the next tick."), None
    amount = _order_amount(bot, batch, decision, exchange)
    if amount <= 0:
        return decision, None
    order, _created = orders.order_intent_create(bot=bot, candle_ts=candle_ts,
                                                 action=decision.reason, side=decision.side,
                                                 amount=amount,
                                                 stop_price=_trigger_price(decision),
                                                 expected_price=(_trigger_price(decision)
                                                                 or expected_price))
    return _noted(decision, plan.note), orders.order_submit(bot=bot, order=order,
                                                            exchange=exchange(),
                                                            newest_candle_ts=candle_ts)


def _trigger_price(decision: Decision) -> Decimal | None:
    """The touched stop/target level a protective exit carries (the paper exchange fills it
    there, on the candle it was checked against)."""
    if decision.trigger is None:
        return None
    return Decimal(repr(decision.trigger)).quantize(PRICE_STEP)


def _release_stops(bot: Bot, batch: TickBatch, exchange: Callable[[], Exchange]) -> bool:
    """Cancel the bot's resting stops before it sells, so their coins are free and nothing is
    sold twice; True when none can fill any more. A stop that filled meanwhile has been
    recorded, so the position re-read here is what is left to sell."""
    if not protection.stops_rest_at_exchange(account=bot.account):
        return True
    released = protection.protection_release(bot=bot, exchange=exchange())
    batch.refresh_position(bot)
    return released


def _protect(bot: Bot, batch: TickBatch, exchange: Callable[[], Exchange], candle_ts: int,
             order: Order | None) -> None:
    """Leave the stop the position needs resting at the exchange, where stops can rest there
    (live accounts on exchanges with stop orders); exchange trouble waits for the next tick."""
    if not protection.stops_rest_at_exchange(account=bot.account):
        return
    position = batch.position(bot)
    if order is None and bot.pk not in batch.pending and (position is None
                                                          or position.amount <= 0):
        return  # flat, nothing ordered, nothing resting: nothing to protect or cancel
    try:
        protection.protection_ensure(bot=bot, exchange=exchange(), candle_ts=candle_ts)
    except ExchangeError as exc:
        logger.warning("stop of bot %s not updated: %s", bot.pk, exc)


def _working_view(order: Order) -> WorkingOrder:
    return WorkingOrder(client_order_id=order.client_order_id, side=order.side,
                        amount=order.amount, filled=order.filled, status=order.status)


def _cancel_working(bot: Bot, batch: TickBatch, exchange: Exchange, working: list[Order],
                    plan: WorkingPlan) -> bool:
    """Cancel the plan's orders; True when none of them can fill any more. The fills they
    made up to the cancel are recorded, so the position re-read here is what the exit sells."""
    ids = {order.client_order_id for order in plan.cancel}
    done = True
    for order in (order for order in working if order.client_order_id in ids):
        try:
            done = not orders.order_cancel(bot=bot, order=order, exchange=exchange).is_pending \
                and done
        except ExchangeError as exc:
            logger.warning("cancel of order %s failed: %s", order.client_order_id, exc)
            done = False
    batch.refresh_position(bot)
    return done


def _order_amount(bot: Bot, batch: TickBatch, decision: Decision,
                  exchange: Callable[[], Exchange]) -> Decimal:
    """The amount to order: an exit sells what the bot holds now by the ledger (never more:
    net of fees taken in the coin, after a canceled entry what filled, rounded down to the
    exchange's lot size), an entry buys what the decision sized."""
    if decision.side == "sell":
        return ledger.position_exit_amount(bot=bot, step=exchange().amount_step(bot.symbol))
    return Decimal(repr(decision.amount)).quantize(AMOUNT_STEP, rounding=ROUND_DOWN)


def _noted(decision: Decision, note: str) -> Decision:
    """The decision with what the working orders made of it added to its summary."""
    if not note:
        return decision
    return replace(decision, summary=f"{decision.summary} {note}",
                   data={**decision.data, "working_orders": note})


def _record(bot: Bot, batch: TickBatch, market: MarketView, view: BotView, decision: Decision,
            order) -> TickOutcome:
    """Queue the tick's equity, Thought, engine state and event; pause when risk says so."""
    state = {"last_candle_ts": market.candle_ts, "stale_checks": 0,
             "peak_equity": Decimal(repr(view.peak_equity)),
             **_cooldown_state(bot, decision, market.candle_ts), **_walk_state(bot),
             **_errors_forgiven(bot, batch, order)}
    batch.equities.append(engine_records.equity_build(
        bot=bot, candle_ts=market.candle_ts, equity=view.equity,
        position_value=view.position_amount * market.close))
    summary = f"{market.note} {decision.summary}" if market.note else decision.summary
    batch.think(bot, Thought.Kind.DECISION, summary, candle_ts=market.candle_ts,
                data=_thought_data(market, view, decision, order))
    batch.finish(bot, next_tick_at=batch.now + _interval(), **state)
    batch.tick_events.append((bot, {
        "candle_ts": market.candle_ts, "close": market.close, "signal": market.signal,
        "equity": round(view.equity, 8), "decision": decision.reason or "hold"}))
    if _order_failed(order):
        refusal = _count_order_failure(bot, batch, order, state)
        if refusal is not None:
            return refusal
    if decision.pause_reason:
        bot_services.bot_auto_pause(bot=bot, reason=decision.pause_reason)
        return TickOutcome(bot.pk, "paused", decision.pause_reason)
    return TickOutcome(bot.pk, "ticked", decision.summary)


def _order_failed(order: Order | None) -> bool:
    """The exchange (or a live guard) refused the tick's order, or its answer was lost."""
    return order is not None and order.status in (Order.Status.REJECTED, Order.Status.UNKNOWN)


def _errors_forgiven(bot: Bot, batch: TickBatch, order: Order | None) -> dict[str, int]:
    """Reset the breaker's count when the tick dealt with the exchange and it worked (an order
    taken, working orders synced). A tick that never reached it leaves the count: a revoked
    key only shows when an order is sent, and the quiet ticks between two refusals must not
    forgive the first."""
    reached = order is not None or bot.pk in batch.pending
    return {"exchange_errors": 0} if reached and not _order_failed(order) else {}


def _count_order_failure(bot: Bot, batch: TickBatch, order: Order,
                         state: dict[str, Any]) -> TickOutcome | None:
    """Count a refused or unanswered order toward the `exchange_errors` breaker; at the limit
    pause the bot with the exchange's answer as the reason (the tick itself is recorded)."""
    count = bot_services.bot_count_exchange_error(bot=bot)
    limit = _breakers(bot).exchange_errors
    why = f"order {order.client_order_id} {order.status}: {order.error}"
    logger.warning("tick of bot %s failed (%s/%s): %s", bot.pk, count, limit, why)
    if count < limit:
        return None
    reason = f"{why} ({count} times in a row)"
    bot_services.bot_auto_pause(bot=bot, reason=reason, data={"error": order.error})
    batch.finish(bot, next_tick_at=batch.now + IDLE_RECHECK, **state)
    return TickOutcome(bot.pk, "paused", reason)


def _cooldown_state(bot: Bot, decision: Decision, candle_ts: int) -> dict[str, int]:
    """After a stop loss on candle `candle_ts` (closed, or forming when the newest price
    touched it), where its cooldown ends (`_bot_view` refuses entries decided before it)."""
    if decision.reason != "stop_loss":
        return {}
    cooldown = risk_for(bot.preset, bot.risk).cooldown_candles
    return {"cooldown_until_ts": candle_ts + cooldown * timeframe_ms(bot.timeframe)}


def _thought_data(market: MarketView, view: BotView, decision: Decision, order) -> dict:
    data = {"candle": {"ts": market.candle_ts, "time": _iso(market.candle_ts),
                       "open": market.open, "high": market.high, "low": market.low,
                       "close": market.close},
            "signal": market.signal, "equity": round(view.equity, 8),
            "position": view.position_amount, **decision.data}
    if market.note:
        data["strategy_note"] = market.note
    if order is not None:
        data["order"] = {"client_order_id": order.client_order_id, "status": order.status,
                         "error": order.error}
    return data


def _iso(timestamp_ms: int) -> str:
    return datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC).isoformat()



def close_all(*, tenant_id: int, bot_id: int) -> TickOutcome:
    """Carry a requested close (`bot_services.bot_close_all` records it) one step further now:
    a tick of the bot, which runs `_close_step` while the request stands."""
    return run_tick(tenant_id=tenant_id, bot_id=bot_id)


CLOSE_RETRY_CAP = timedelta(seconds=60)


def _close_step(bot: Bot, batch: TickBatch) -> TickOutcome:
    """One attempt at a requested close: cancel the bot's other orders, follow its close
    order, then sell what is left. Done when nothing is held or working any more.

    The sell's client order id comes from the newest closed candle and a new sell is only
    made while no close order is working, so retries never sell twice (a sell this candle
    ended without emptying the position is followed by another on the next candle). An
    attempt that the exchange or the market feed fails is counted; see `_close_failed`.
    """
    try:
        closed = bot_market_snapshot(bot).closed()
        exchange = exchange_for(bot.account, closed)
        _close_cancel_others(bot, exchange)
        order, sent = _close_sell(bot, exchange, closed)
        finished = order is None or (not order.is_pending and _nothing_left(bot, exchange))
    except EXPECTED_FAILURES as exc:
        return _close_failed(bot, batch, _failure_text(exc))
    if finished:
        return _close_done(bot, batch)
    if order.status == Order.Status.UNKNOWN or (sent and order.status == Order.Status.REJECTED):
        return _close_failed(bot, batch, order.error or f"the close order is {order.status}")
    batch.finish(bot, next_tick_at=batch.now + _interval())
    return TickOutcome(bot.pk, "idle", f"close all: the sell is {order.status}")


def _close_cancel_others(bot: Bot, exchange: Exchange) -> None:
    """Cancel what is not the close (entries, exits, resting stops); bring close orders up to
    date (a lost answer is looked up by its client id, resent only if the exchange has none)."""
    for order in selectors.order_pending_for_bot(bot=bot):
        if order.reason == "close_all":
            orders.order_sync(bot=bot, order=order, exchange=exchange)
        else:
            orders.order_cancel(bot=bot, order=order, exchange=exchange)


def _close_sell(bot: Bot, exchange: Exchange, closed: Candles) -> tuple[Order | None, bool]:
    """(close order, whether this attempt sent it): the close order still working, else this
    candle's sell of what is left; (None, False) when nothing is left to sell."""
    working = selectors.order_pending_for_bot(bot=bot).filter(reason="close_all").first()
    if working is not None:
        return working, False
    amount = _exit_amount(bot, exchange)
    if amount <= 0:
        return None, False
    if not len(closed):
        raise MarketDataUnavailable("no closed candle yet to place the close on")
    order, _created = orders.order_intent_create(
        bot=bot, candle_ts=int(closed.timestamp[-1]), action="close_all", side="sell",
        amount=amount)
    if order.status != Order.Status.INTENT:  # this candle's sell has ended already
        return order, False
    return orders.order_submit(bot=bot, order=order, exchange=exchange), True


def _exit_amount(bot: Bot, exchange: Exchange) -> Decimal:
    return ledger.position_exit_amount(bot=bot, step=exchange.amount_step(bot.symbol))


def _nothing_left(bot: Bot, exchange: Exchange) -> bool:
    return _exit_amount(bot, exchange) <= 0


def _close_failed(bot: Bot, batch: TickBatch, why: str) -> TickOutcome:
    """Count a failed close attempt and try again later, waiting twice as long each time
    (from one tick interval up to a minute). The close is given up, the bot left paused with
    the reason, a Thought and an alert, once both the breaker's `exchange_errors` attempts
    have failed and its `disconnect_seconds` have passed since "close all" was pressed."""
    count = bot_services.bot_count_exchange_error(bot=bot)
    breakers = _breakers(bot)
    waited = (batch.now - bot.close_requested_at).total_seconds()
    logger.warning("close all of bot %s failed (attempt %s): %s", bot.pk, count, why)
    if count >= breakers.exchange_errors and waited >= breakers.disconnect_seconds:
        reason = f"close all failed: {why} ({count} attempts over {int(waited)} s)"
        bot_services.bot_close_give_up(bot=bot, reason=reason, data={"error": why})
        batch.finish(bot, next_tick_at=batch.now + IDLE_RECHECK)
        return TickOutcome(bot.pk, "paused", reason)
    wait = min(_interval() * 2 ** min(count - 1, 16), CLOSE_RETRY_CAP)
    batch.think(bot, Thought.Kind.BREAKER,
                f"Close all did not go through (attempt {count}): {why}; trying again in "
                f"{int(wait.total_seconds())} s.", data={"error": why})
    batch.finish(bot, next_tick_at=batch.now + wait)
    return TickOutcome(bot.pk, "error", f"close all: {why}")


def _close_done(bot: Bot, batch: TickBatch) -> TickOutcome:
    """Nothing held, nothing working: the request is cleared and the counter reset (a newer
    "close all" pressed meanwhile stays, and runs on the next tick)."""
    cleared = bot_services.bot_close_clear(bot=bot)
    if cleared:
        batch.think(bot, Thought.Kind.CONTROL,
                    "Close all done: no position is held and no order is working.")
    idle = cleared and bot.status == Bot.Status.PAUSED
    batch.finish(bot, next_tick_at=batch.now + (IDLE_RECHECK if idle else _interval()),
                 exchange_errors=0)
    return TickOutcome(bot.pk, "ticked", "close all done")


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
