"""'Close all': the steps a requested close takes on each tick until nothing is held or working."""
from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

from trading import selectors
from trading.core.candles import Candles
from trading.engine.batch import IDLE_RECHECK, TickBatch, TickOutcome, _interval
from trading.engine.failures import EXPECTED_FAILURES, _breakers, _failure_text
from trading.engine.feed import bot_market_snapshot
from trading.exchanges.base import Exchange
from trading.exchanges.factory import exchange_for
from trading.marketdata import MarketDataUnavailable
from trading.models import Bot, Order, Thought
from trading.services import bots as bot_services
from trading.services import ledger, orders

# The whole engine logs as one logger, "trading.engine", as it did as one module, so
# log levels, filters and alerts set on that name keep covering every part of a tick.
logger = logging.getLogger("trading.engine")
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
