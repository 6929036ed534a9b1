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
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from dashboard.events import event_batch, publish_on_commit
from trading import selectors
from trading.breakers import BreakerSettings
from trading.candles import Candles
from trading.decisions import BotView, Decision, MarketView, decide
from trading.exchanges.base import Exchange, ExchangeError, RateLimited
from trading.exchanges.factory import exchange_for, market_source
from trading.marketdata import MarketDataUnavailable, MarketSnapshot, feed_key, get_snapshot
from trading.models import Bot, EquitySnapshot, Position, Thought
from trading.services import bots as bot_services
from trading.services import engine_records, orders
from trading.strategies import SignalUnavailable, Strategy, StrategyScope, get_strategy
from trading.strategies.presets import risk_for
from trading.timeframes import timeframe_ms

logger = logging.getLogger(__name__)

IDLE_RECHECK = timedelta(hours=1)
AMOUNT_STEP = Decimal("0.00000001")
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
    thoughts: list[Thought] = field(default_factory=list)
    equities: list[EquitySnapshot] = field(default_factory=list)
    states: dict[int, dict[str, Any]] = field(default_factory=dict)
    tick_events: list[tuple[Bot, dict]] = field(default_factory=list)

    @classmethod
    def load(cls, tenant_id: int, bots: list[Bot], now: datetime) -> TickBatch:
        """Preload what every tick of `bots` reads from the database."""
        bot_ids = [bot.pk for bot in bots]
        return cls(now=now,
                   positions=selectors.positions_for_bots(tenant=tenant_id, bot_ids=bot_ids),
                   pending=selectors.bots_with_pending_orders(tenant=tenant_id,
                                                              bot_ids=bot_ids))

    def position(self, bot: Bot) -> Position | None:
        """The bot's position in its symbol as preloaded (None before its first fill)."""
        return self.positions.get((bot.pk, bot.symbol))

    def refresh_position(self, bot: Bot) -> None:
        """Re-read the position after a sync that may have recorded fills."""
        self.positions[(bot.pk, bot.symbol)] = selectors.position_for_bot(bot=bot)

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
    lease = bot_services.bot_claim_ticks(tenant_id=tenant_id, bot_ids=bot_ids, now=now)
    bots = selectors.bots_claimed(tenant=tenant_id, lease=lease, bot_ids=bot_ids)
    if bots:
        with event_batch():
            batch = TickBatch.load(tenant_id, bots, now)
            try:
                for bot in bots:
                    outcomes[bot.pk] = _guarded_tick(bot, batch)
            finally:  # even if the loop dies, what ticked so far is written, every lease freed
                _write_batch(tenant_id, lease, batch, bots)
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


def _guarded_tick(bot: Bot, batch: TickBatch) -> TickOutcome:
    try:
        if bot.status == Bot.Status.PAUSED:
            return _sync_only(bot, batch)
        return _tick(bot, batch)
    except Exception as exc:  # a tick must never kill the batch; the lease is released
        logger.exception("tick of bot %s failed", bot.pk)
        batch.discard(bot)
        batch.finish(bot, next_tick_at=batch.now + _interval())
        return TickOutcome(bot.pk, "error", type(exc).__name__)


def _interval() -> timedelta:
    return timedelta(seconds=settings.AITRADER_ENGINE_TICK_SECONDS)


def bot_market_snapshot(bot: Bot) -> MarketSnapshot:
    """The shared candles of the bot's feed (the same read a tick makes)."""
    source = market_source(bot.account.exchange_id)
    return get_snapshot(source, bot.account.exchange_id, bot.symbol, bot.timeframe)


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
    if newest is None or (bot.last_candle_ts is not None and newest <= bot.last_candle_ts):
        return _no_new_candle(bot, batch, snapshot, breakers)
    return _on_new_candle(bot, batch, snapshot, closed, newest)


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


def _sync_pending(bot: Bot, exchange: Exchange) -> int:
    """Bring every pending order up to date; returns how many exchange errors it met."""
    errors = 0
    for order in selectors.order_pending_for_bot(bot=bot):
        try:
            orders.order_sync(bot=bot, order=order, exchange=exchange)
        except RateLimited:
            raise
        except ExchangeError as exc:
            logger.warning("sync of order %s failed: %s", order.client_order_id, exc)
            errors += 1
    return errors


def _sync_only(bot: Bot, batch: TickBatch) -> TickOutcome:
    """A paused bot places nothing but still follows its pending orders to the end."""
    still_pending = False
    if bot.pk in batch.pending:
        exchange = exchange_for(bot.account, bot_market_snapshot(bot).closed())
        _sync_pending(bot, exchange)
        still_pending = selectors.order_pending_for_bot(bot=bot).exists()
    batch.finish(bot, next_tick_at=batch.now + (_interval() if still_pending else IDLE_RECHECK))
    return TickOutcome(bot.pk, "idle", "paused; orders synced")


def _on_new_candle(bot: Bot, batch: TickBatch, snapshot: MarketSnapshot, closed: Candles,
                   candle_ts: int) -> TickOutcome:
    exchange = _exchange_once(bot, closed)
    if bot.pk in batch.pending:
        trouble = _sync_before_deciding(bot, batch, exchange)
        if trouble is not None:
            return trouble
    market = _market_view(bot, snapshot, candle_ts)
    view = _bot_view(bot, market, batch.position(bot))
    decision = decide(market, view, risk_for(bot.preset, bot.risk))
    if _places_order(decision) and not selectors.bot_is_running(bot=bot):
        batch.finish(bot, next_tick_at=batch.now + _interval())
        return TickOutcome(bot.pk, "idle", "paused during the tick; nothing placed")
    order = _act(bot, exchange, decision, candle_ts)
    return _record(bot, batch, market, view, decision, order)


def _sync_before_deciding(bot: Bot, batch: TickBatch,
                          exchange: Callable[[], Exchange]) -> TickOutcome | None:
    """Follow the bot's pending orders; an outcome ends the tick (rate limit, errors)."""
    try:
        errors = _sync_pending(bot, exchange())
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
    wants_entry = market.signal > 0
    return BotView(
        equity=equity,
        peak_equity=max(float(bot.peak_equity or 0), equity),
        day_start_equity=(selectors.equity_at_day_start(bot=bot, candle_ts=market.candle_ts)
                          or equity) if wants_entry else equity,
        position_amount=amount, average_price=average,
        entries=position.entries if position and amount > 0 else 0,
        entry_limit=_strategy(bot).entry_limit(bot.parameters),
        fee_rate=float(bot.account.taker_fee), slippage=float(bot.account.slippage),
        in_cooldown=bool(bot.cooldown_until_ts and market.candle_ts <= bot.cooldown_until_ts),
        open_positions_elsewhere=(selectors.open_position_count_on_account(bot=bot)
                                  if wants_entry and amount == 0 else 0),
    )


def _places_order(decision: Decision) -> bool:
    return decision.side is not None and decision.amount > 0


def _act(bot: Bot, exchange: Callable[[], Exchange], decision: Decision, candle_ts: int):
    if not _places_order(decision):
        return None
    amount = Decimal(repr(decision.amount)).quantize(AMOUNT_STEP, rounding=ROUND_DOWN)
    if amount <= 0:
        return None
    order, _created = orders.order_intent_create(bot=bot, candle_ts=candle_ts,
                                                 action=decision.reason, side=decision.side,
                                                 amount=amount)
    return orders.order_submit(bot=bot, order=order, exchange=exchange())


def _record(bot: Bot, batch: TickBatch, market: MarketView, view: BotView, decision: Decision,
            order) -> TickOutcome:
    """Queue the tick's equity, Thought, engine state and event; pause when risk says so."""
    state = {"last_candle_ts": market.candle_ts, "stale_checks": 0, "exchange_errors": 0,
             "peak_equity": Decimal(repr(view.peak_equity))}
    if decision.reason == "stop_loss":
        cooldown = risk_for(bot.preset, bot.risk).cooldown_candles
        state["cooldown_until_ts"] = market.candle_ts + cooldown * timeframe_ms(bot.timeframe)
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
    if decision.pause_reason:
        bot_services.bot_auto_pause(bot=bot, reason=decision.pause_reason)
        return TickOutcome(bot.pk, "paused", decision.pause_reason)
    return TickOutcome(bot.pk, "ticked", decision.summary)


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



def close_all(*, tenant_id: int, bot_id: int) -> None:
    """Cancel the bot's pending orders and sell its position at the next price.

    The sell's client order id comes from the newest closed candle, so pressing "close all"
    twice within one candle sends one order.
    """
    bot = selectors.bot_get(tenant=tenant_id, bot_id=bot_id)
    snapshot = bot_market_snapshot(bot)
    closed = snapshot.closed()
    exchange = exchange_for(bot.account, closed)
    for order in selectors.order_pending_for_bot(bot=bot):
        if order.reason != "close_all":
            orders.order_cancel(bot=bot, order=order, exchange=exchange)
    position = selectors.position_for_bot(bot=bot)
    if position is not None and position.amount > 0 and len(closed):
        order, _ = orders.order_intent_create(
            bot=bot, candle_ts=int(closed.timestamp[-1]), action="close_all", side="sell",
            amount=position.amount)
        orders.order_submit(bot=bot, order=order, exchange=exchange)
    bot_services.bot_finish_tick(bot=bot, next_tick_at=timezone.now())


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
    run_engine)."""
    now = now or timezone.now()
    return [outcome
            for tenant_id, bot_ids in tick_batches(selectors.bots_due(now=now, limit=limit))
            for outcome in run_ticks(tenant_id=tenant_id, bot_ids=bot_ids, now=now)]
