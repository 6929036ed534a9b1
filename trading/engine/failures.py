"""How a tick fails without a bug, and the breakers that pause a bot that keeps failing."""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings

from aitrader.errors import ServiceError
from trading import selectors
from trading.core import money
from trading.core.breakers import BreakerSettings
from trading.core.timeframes import timeframe_ms
from trading.engine.batch import IDLE_RECHECK, TickBatch, TickOutcome, _interval
from trading.exchanges.base import ExchangeError, RateLimited
from trading.marketdata import MarketDataUnavailable, MarketSnapshot
from trading.models import Bot, ManualOrder, Order, Thought
from trading.services import bots as bot_services
from trading.services import manual

# The whole engine logs as one logger, "trading.engine", as it did as one module, so
# log levels, filters and alerts set on that name keep covering every part of a tick.
logger = logging.getLogger("trading.engine")


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


def _market_went_back(bot: Bot, batch: TickBatch, newest: int) -> TickOutcome:
    """The feed's newest candle is older than one the bot already acted on: the source lost
    its place (a replay whose start was forgotten starts over). Waiting would leave the bot
    "running" and idle for as long as it takes to catch up, so it is paused with the reason."""
    behind = (bot.last_candle_ts - newest) // timeframe_ms(bot.timeframe)
    reason = (f"market data went back in time: the newest candle is {behind} candle"
              f"{'s' if behind != 1 else ''} older than the last one this bot acted on (the "
              f"data source lost its place); resume to act from the next candle")
    bot_services.bot_auto_pause(bot=bot, reason=reason,
                                data={"newest_candle_ts": newest,
                                      "last_candle_ts": bot.last_candle_ts})
    batch.finish(bot, next_tick_at=batch.now + IDLE_RECHECK)
    return TickOutcome(bot.pk, "paused", reason)


def _live_on_replay(bot: Bot, batch: TickBatch, refusal: str,
                    request: ManualOrder | None = None) -> TickOutcome:
    """A live bot whose feed is a replay of sample candles (the server's market data source
    changed under it) is paused before it reads a candle, and an order by hand it was asked
    for is refused, so no order leaves on them."""
    if request is not None:
        manual.manual_order_finish(request=request, done=False, note=refusal)
    bot_services.bot_auto_pause(bot=bot, reason=refusal)
    batch.finish(bot, next_tick_at=batch.now + IDLE_RECHECK)
    return TickOutcome(bot.pk, "paused", refusal)


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
