"""One tick of one bot: read shared candles, sync orders, decide, act, record, publish.

A tick is short and bounded (no loops waiting on the market): the scheduler calls it again.
Ticks of one bot never overlap (a lease in the database). Orders go through
trading.services.orders, which makes placement idempotent, so a tick retried after a crash
at any point converges on exactly one order per decision.
"""
from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from dashboard.events import event_batch, publish_on_commit
from trading import selectors
from trading.breakers import BreakerSettings
from trading.decisions import BotView, Decision, MarketView, decide
from trading.exchanges.base import ExchangeError, RateLimited
from trading.exchanges.factory import exchange_for, market_source
from trading.marketdata import MarketDataUnavailable, MarketSnapshot, feed_key, get_snapshot
from trading.models import Bot, Thought
from trading.services import bots as bot_services
from trading.services import engine_records, orders
from trading.strategies import get_strategy
from trading.strategies.presets import risk_for
from trading.timeframes import timeframe_ms

logger = logging.getLogger(__name__)

IDLE_RECHECK = timedelta(hours=1)
AMOUNT_STEP = Decimal("0.00000001")


@dataclass(frozen=True)
class TickOutcome:
    bot_id: int
    status: str  # skipped | idle | ticked | paused | error
    detail: str = ""


def run_tick(*, tenant_id: int, bot_id: int, now: datetime | None = None) -> TickOutcome:
    """Advance one bot by one tick; safe to call concurrently and to retry."""
    now = now or timezone.now()
    if not bot_services.bot_claim_tick(bot_id=bot_id, now=now):
        return TickOutcome(bot_id, "skipped", "another tick holds the lease")
    bot = selectors.bot_get(tenant=tenant_id, bot_id=bot_id)
    with event_batch():
        return _guarded_tick(bot, now)


def _guarded_tick(bot: Bot, now: datetime) -> TickOutcome:
    try:
        if bot.status == Bot.Status.PAUSED:
            return _sync_only(bot, now)
        return _tick(bot, now)
    except Exception as exc:  # a tick must never kill the scheduler; the lease is released
        logger.exception("tick of bot %s failed", bot.pk)
        bot_services.bot_finish_tick(bot=bot, next_tick_at=now + _interval())
        return TickOutcome(bot.pk, "error", type(exc).__name__)


def _interval() -> timedelta:
    return timedelta(seconds=settings.AITRADER_ENGINE_TICK_SECONDS)


def bot_market_snapshot(bot: Bot) -> MarketSnapshot:
    """The shared candles of the bot's feed (the same read a tick makes)."""
    source = market_source(bot.account.exchange_id)
    return get_snapshot(source, bot.account.exchange_id, bot.symbol, bot.timeframe)


def _tick(bot: Bot, now: datetime) -> TickOutcome:
    breakers = BreakerSettings.from_overrides(bot.breakers)
    try:
        snapshot = bot_market_snapshot(bot)
    except MarketDataUnavailable as exc:
        return _market_down(bot, now, breakers, str(exc))
    closed = snapshot.closed()
    newest = int(closed.timestamp[-1]) if len(closed) else None
    if newest is None or (bot.last_candle_ts is not None and newest <= bot.last_candle_ts):
        return _no_new_candle(bot, now, snapshot, breakers)
    return _on_new_candle(bot, now, snapshot, newest)


def _market_down(bot: Bot, now: datetime, breakers: BreakerSettings, why: str) -> TickOutcome:
    feed = selectors.market_feed_last_success(exchange_id=bot.account.exchange_id,
                                              symbol=bot.symbol, timeframe=bot.timeframe)
    age = (now - feed).total_seconds() if feed else None
    if age is None or age >= breakers.disconnect_seconds:
        reason = (f"market data unavailable for {int(age)} s" if age is not None
                  else "market data unavailable")
        bot_services.bot_auto_pause(bot=bot, reason=reason, data={"error": why})
        bot_services.bot_finish_tick(bot=bot, next_tick_at=now + IDLE_RECHECK)
        return TickOutcome(bot.pk, "paused", reason)
    bot_services.bot_finish_tick(bot=bot, next_tick_at=now + _interval())
    return TickOutcome(bot.pk, "idle", "market data unavailable, within the limit")


def _no_new_candle(bot: Bot, now: datetime, snapshot: MarketSnapshot,
                   breakers: BreakerSettings) -> TickOutcome:
    lag = snapshot.age_ms(snapshot.now_ms)
    if lag <= breakers.stale_after_candles * timeframe_ms(bot.timeframe):
        bot_services.bot_finish_tick(bot=bot, next_tick_at=now + _interval())
        return TickOutcome(bot.pk, "idle", "no new candle yet")
    checks = bot.stale_checks + 1
    if checks >= breakers.stale_checks:
        reason = (f"market data stale: newest candle {lag // 1000} s past its close "
                  f"on {checks} consecutive checks")
        bot_services.bot_auto_pause(bot=bot, reason=reason)
        bot_services.bot_finish_tick(bot=bot, next_tick_at=now + IDLE_RECHECK, stale_checks=0)
        return TickOutcome(bot.pk, "paused", reason)
    engine_records.thought_record(bot=bot, kind=Thought.Kind.BREAKER,
                                  summary=f"Market data is stale ({lag // 1000} s); waiting "
                                          f"({checks}/{breakers.stale_checks}).")
    bot_services.bot_finish_tick(bot=bot, next_tick_at=now + _interval(), stale_checks=checks)
    return TickOutcome(bot.pk, "idle", "stale market data")


def _sync_pending(bot: Bot, exchange) -> int:
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


def _sync_only(bot: Bot, now: datetime) -> TickOutcome:
    """A paused bot places nothing but still follows its pending orders to the end."""
    snapshot = bot_market_snapshot(bot)
    exchange = exchange_for(bot.account, snapshot.closed())
    _sync_pending(bot, exchange)
    still_pending = selectors.order_pending_for_bot(bot=bot).exists()
    bot_services.bot_finish_tick(
        bot=bot, next_tick_at=now + (_interval() if still_pending else IDLE_RECHECK))
    return TickOutcome(bot.pk, "idle", "paused; orders synced")


def _on_new_candle(bot: Bot, now: datetime, snapshot: MarketSnapshot,
                   candle_ts: int) -> TickOutcome:
    closed = snapshot.closed()
    exchange = exchange_for(bot.account, closed)
    try:
        errors = _sync_pending(bot, exchange)
    except RateLimited as exc:
        return _rate_limited(bot, now, exc)
    if errors:
        return _exchange_trouble(bot, now, errors)
    position = selectors.position_for_bot(bot=bot)
    market = _market_view(bot, snapshot, candle_ts)
    view = _bot_view(bot, market, position)
    decision = decide(market, view, risk_for(bot.preset, bot.risk))
    order = _act(bot, exchange, decision, candle_ts)
    return _record(bot, now, market, view, decision, order)


def _rate_limited(bot: Bot, now: datetime, exc: RateLimited) -> TickOutcome:
    wait = max(exc.retry_after or 0.0, float(settings.AITRADER_ENGINE_TICK_SECONDS))
    bot_services.bot_finish_tick(bot=bot, next_tick_at=now + timedelta(seconds=wait))
    return TickOutcome(bot.pk, "idle", f"rate limited; next try in {wait:.0f} s")


def _exchange_trouble(bot: Bot, now: datetime, errors: int) -> TickOutcome:
    count = bot_services.bot_count_exchange_error(bot=bot)
    limit = BreakerSettings.from_overrides(bot.breakers).exchange_errors
    if count >= limit:
        reason = f"{count} consecutive exchange errors"
        bot_services.bot_auto_pause(bot=bot, reason=reason)
        bot_services.bot_finish_tick(bot=bot, next_tick_at=now + IDLE_RECHECK)
        return TickOutcome(bot.pk, "paused", reason)
    bot_services.bot_finish_tick(bot=bot, next_tick_at=now + _interval())
    return TickOutcome(bot.pk, "idle", f"exchange errors ({count}/{limit})")


_signal_memo: dict[tuple, int] = {}
_signal_lock = threading.Lock()
SIGNAL_MEMO_LIMIT = 50_000


def _signal(bot: Bot, snapshot: MarketSnapshot, candle_ts: int) -> int:
    """The strategy's signal on the newest closed candle, computed once per candle for every
    bot sharing the feed, strategy and parameters."""
    key = (feed_key(bot.account.exchange_id, bot.symbol, bot.timeframe), candle_ts,
           bot.strategy, json.dumps(bot.parameters, sort_keys=True))
    with _signal_lock:
        cached = _signal_memo.get(key)
    if cached is not None:
        return cached
    value = int(get_strategy(bot.strategy).signals(snapshot.closed(), bot.parameters)[-1])
    with _signal_lock:
        if len(_signal_memo) >= SIGNAL_MEMO_LIMIT:
            _signal_memo.clear()
        _signal_memo[key] = value
    return value


def _market_view(bot: Bot, snapshot: MarketSnapshot, candle_ts: int) -> MarketView:
    closed = snapshot.closed()
    return MarketView(candle_ts=candle_ts, open=float(closed.open[-1]),
                      high=float(closed.high[-1]), low=float(closed.low[-1]),
                      close=float(closed.close[-1]), signal=_signal(bot, snapshot, candle_ts))


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
        entry_limit=get_strategy(bot.strategy).entry_limit(bot.parameters),
        fee_rate=float(bot.account.taker_fee), slippage=float(bot.account.slippage),
        in_cooldown=bool(bot.cooldown_until_ts and market.candle_ts <= bot.cooldown_until_ts),
        open_positions_elsewhere=(selectors.open_position_count_on_account(bot=bot)
                                  if wants_entry and amount == 0 else 0),
    )


def _act(bot: Bot, exchange, decision: Decision, candle_ts: int):
    if decision.side is None or decision.amount <= 0:
        return None
    amount = Decimal(repr(decision.amount)).quantize(AMOUNT_STEP, rounding=ROUND_DOWN)
    if amount <= 0:
        return None
    order, _created = orders.order_intent_create(bot=bot, candle_ts=candle_ts,
                                                 action=decision.reason, side=decision.side,
                                                 amount=amount)
    return orders.order_submit(bot=bot, order=order, exchange=exchange)


def _record(bot: Bot, now: datetime, market: MarketView, view: BotView, decision: Decision,
            order) -> TickOutcome:
    with transaction.atomic():
        state = {"last_candle_ts": market.candle_ts, "stale_checks": 0, "exchange_errors": 0,
                 "peak_equity": Decimal(repr(view.peak_equity))}
        if decision.reason == "stop_loss":
            cooldown = risk_for(bot.preset, bot.risk).cooldown_candles
            state["cooldown_until_ts"] = market.candle_ts + cooldown * timeframe_ms(bot.timeframe)
        engine_records.equity_record(bot=bot, candle_ts=market.candle_ts, equity=view.equity,
                                     position_value=view.position_amount * market.close)
        engine_records.thought_record(
            bot=bot, kind=Thought.Kind.DECISION, candle_ts=market.candle_ts,
            summary=decision.summary, data=_thought_data(market, view, decision, order))
        bot_services.bot_finish_tick(bot=bot, next_tick_at=now + _interval(), **state)
        publish_on_commit(bot.tenant_id, "tick", bot.pk, {
            "candle_ts": market.candle_ts, "close": market.close, "signal": market.signal,
            "equity": round(view.equity, 8), "decision": decision.reason or "hold"})
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


def run_due_ticks(*, now: datetime | None = None, limit: int = 1000) -> list[TickOutcome]:
    """Tick every due bot in this process (the embedded scheduler and run_engine)."""
    now = now or timezone.now()
    return [run_tick(tenant_id=tenant_id, bot_id=bot_id, now=now)
            for tenant_id, bot_id in selectors.bots_due(now=now, limit=limit)]
