"""One bot's tick: read shared candles, sync orders, decide, act, record.

A tick is short and bounded (no loops waiting on the market): the scheduler calls it again.
Orders go through trading.services.orders, which makes placement idempotent, so a tick retried
after a crash at any point converges on exactly one order per decision."""
from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

from django.conf import settings

from trading import selectors
from trading.core.breakers import BreakerSettings
from trading.core.candles import Candles
from trading.core.decisions import (
    BotView,
    Decision,
    MarketView,
    MissedCandles,
    catch_up,
    decide,
    protect,
)
from trading.core.strategies.presets import risk_for
from trading.core.timeframes import timeframe_ms
from trading.engine.batch import IDLE_RECHECK, TickBatch, TickOutcome, _interval
from trading.engine.closing import _close_step
from trading.engine.decision_inputs import _bot_view, _market_view, _thought_data
from trading.engine.failures import (
    EXPECTED_FAILURES,
    _count_order_failure,
    _errors_forgiven,
    _failed_tick,
    _failure_text,
    _live_on_replay,
    _market_down,
    _market_went_back,
    _money_out_of_range,
    _money_problem,
    _no_new_candle,
    _order_failed,
)
from trading.engine.feed import (
    _exchange_once,
    _forming_bar,
    _newest,
    _price_bars,
    bot_market_snapshot,
)
from trading.engine.manual import _manual_step
from trading.engine.order_flow import (
    _act,
    _places_order,
    _protect,
    _resolve_unanswered,
    _sync_before_deciding,
    _sync_pending,
)
from trading.engine.strategy_signals import _missed_signals, _walk_state
from trading.exchanges.factory import exchange_for, replayed_data_refusal
from trading.marketdata import MarketDataUnavailable, MarketSnapshot
from trading.models import Bot, Position, Thought, TradingMode
from trading.services import bots as bot_services
from trading.services import engine_records, manual

# The whole engine logs as one logger, "trading.engine", as it did as one module, so
# log levels, filters and alerts set on that name keep covering every part of a tick.
logger = logging.getLogger("trading.engine")


def _guarded_tick(bot: Bot, batch: TickBatch) -> TickOutcome:
    """The bot's tick; a failure is counted toward its breaker, never raised to the batch.

    Expected failures (no or missing credentials, an exchange that refuses or does not answer,
    no market data) log one line; anything else is a bug and keeps its traceback. Both count:
    `exchange_errors` failed ticks in a row pause the bot with the reason (`_failed_tick`).
    """
    try:
        if bot.close_requested_at is not None:  # "close all" comes before anything else
            return _close_step(bot, batch)
        request = manual.manual_order_pending(bot=bot) if bot.pk in batch.manual else None
        refusal = _replayed_feed(bot) if request is not None or bot.status != Bot.Status.PAUSED \
            else None
        if refusal is not None:  # before anything is sized on candles that never happened
            return _live_on_replay(bot, batch, refusal, request)
        if request is not None:  # a trader's order by hand, before the bot's own decision
            return _manual_step(bot, batch, request)
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


def _replayed_feed(bot: Bot) -> str | None:
    """Why a live bot may not act on this server's feed (it replays samples), or None."""
    if bot.account.mode != TradingMode.LIVE:
        return None
    return replayed_data_refusal(bot.account.exchange_id)


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
    if newest is not None and bot.last_candle_ts is not None and newest < bot.last_candle_ts:
        return _market_went_back(bot, batch, newest)
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


def _held_from(position: Position | None) -> int | None:
    """The candle time of the position's first fill (a stop counts from there)."""
    if position is None or position.opened_at is None:
        return None
    return int(position.opened_at.timestamp() * 1000)


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


def _cooldown_state(bot: Bot, decision: Decision, candle_ts: int) -> dict[str, int]:
    """After a stop loss on candle `candle_ts` (closed, or forming when the newest price
    touched it), where its cooldown ends (`_bot_view` refuses entries decided before it)."""
    if decision.reason != "stop_loss":
        return {}
    cooldown = risk_for(bot.preset, bot.risk).cooldown_candles
    return {"cooldown_until_ts": candle_ts + cooldown * timeframe_ms(bot.timeframe)}
