"""Stops that rest at the exchange, so a live bot's stop loss survives the platform being down.

After each candle's tick of a live bot whose exchange accepts stop-loss-limit orders, the
exchange holds exactly one stop for the bot's position (`protection_ensure`): a sell of the whole
position, triggered at the stop-loss level of its average entry. It moves with the position:
a new entry, a partial exit or a changed stop loss replaces it (the old one is cancelled
first, so both never lock the coins at once), and a flat position cancels it. While an entry
or exit of the bot is still working, the stop waits for it. Every exit cancels the stop
before selling (`protection_release`; "close all" cancels all the bot's orders first), so
the amount is free and nothing is sold twice.

A stop that fills at the exchange while the platform is down is an ordinary pending order:
the next tick's order sync, or reconciliation, records its fills, and the trade closes as a
stop loss. Where a stop cannot rest (paper accounts, exchanges without stop orders) the
platform watches it instead: the bot's ticks compare the market with the level
(trading.core.decisions), which protects nothing while the platform is down; the bot's page
says which of the two applies.

A stop's client id is `ait-<bot>-<entry candle>-st<n>`: one series per entry, `n` counting
replacements, so a retried tick finds the stop it placed instead of sending another.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from aitrader.errors import ServiceError
from trading import selectors
from trading.core import risk
from trading.core.strategies.presets import risk_for
from trading.core.timeframes import timeframe_ms
from trading.exchanges.base import Exchange, ExchangeError, round_down_to_step
from trading.models import Bot, ExchangeAccount, Order, Position, TradingMode
from trading.services import orders

logger = logging.getLogger(__name__)

# A triggered stop sells down to 1 % below its trigger; a gap past that leaves it resting as
# a limit order, and the platform's own check of the next candle sells at market.
STOP_LIMIT_RATIO = Decimal("0.99")
# Stops placed for one entry at most: one the exchange keeps refusing or cancelling is not
# sent again every candle (the platform watches the stop then).
MAX_STOPS_PER_ENTRY = 5
PRICE_STEP = Decimal("0.00000001")
# What became of a stop that is not sent again for the same entry.
NOT_RESENT = (Order.Status.REJECTED, Order.Status.SKIPPED)


@dataclass(frozen=True)
class StopProtection:
    """Where a bot's stop loss is watched, for its page and the API."""

    rests_at: str  # "exchange" or "platform"
    summary: str
    order: Order | None = None  # the stop resting at the exchange now, if one does


def stops_rest_at_exchange(*, account: ExchangeAccount) -> bool:
    """Whether the stops of `account`'s bots rest at the exchange (a live account on an
    exchange that accepts stop-loss-limit orders) rather than being watched by the platform."""
    if account.mode != TradingMode.LIVE:
        return False
    # Imported here: ccxt costs a web process ~65 MB, and paper accounts never need it.
    from trading.exchanges.live import supports_resting_stops
    return supports_resting_stops(account.exchange_id)


def stop_level(*, bot: Bot, position: Position | None) -> Decimal | None:
    """The stop-loss price of the bot's open position (the rule the platform checks too);
    None when flat or when the bot's stop loss is off."""
    if position is None or position.amount <= 0:
        return None
    percent = risk_for(bot.preset, bot.risk).stop_loss_pct or 0.0
    if percent <= 0:
        return None
    level = risk.stop_loss_price(float(position.average_price), percent)
    return Decimal(repr(level)).quantize(PRICE_STEP, rounding=ROUND_DOWN)


def stop_cooldown_until(*, bot: Bot) -> int | None:
    """Where the cooldown after the bot's newest resting-stop fill ends: the candle the stop
    filled in plus the preset's cooldown, the rule of a stop loss the platform sells (the
    engine's `_cooldown_state`). None before any stop filled."""
    filled_ms = selectors.fill_last_of_stops_ms(bot=bot)
    if filled_ms is None:
        return None
    period = timeframe_ms(bot.timeframe)
    cooldown = risk_for(bot.preset, bot.risk).cooldown_candles
    return filled_ms - filled_ms % period + cooldown * period


def protection_ensure(*, bot: Bot, exchange: Exchange, candle_ts: int) -> Order | None:
    """Make the exchange hold exactly the stop the bot's position needs; returns the stop
    resting now (None: nothing rests). Idempotent: a matching stop is left alone.

    Cancelling a stale stop may raise ExchangeError; the next tick tries again.
    """
    if not stops_rest_at_exchange(account=bot.account):
        return None
    pending = list(selectors.order_pending_for_bot(bot=bot))
    stops = [order for order in pending if order.is_protective]
    if len(stops) < len(pending):  # an entry or exit is working: the stop waits for it
        return stops[0] if stops else None
    step = exchange.amount_step(bot.symbol)
    position = selectors.position_for_bot(bot=bot)
    level = stop_level(bot=bot, position=position)
    if len(stops) == 1 and _covers(stops[0], _sellable(position, step), level):
        return stops[0]
    if stops:
        if not protection_release(bot=bot, exchange=exchange, stops=stops):
            return None
        position = selectors.position_for_bot(bot=bot)  # the cancels may have found fills
        level = stop_level(bot=bot, position=position)
    amount = _sellable(position, step)
    if level is None or amount <= 0:  # flat, stop loss off, or dust the exchange won't take
        return None
    return _place(bot, exchange, candle_ts, amount, level)


def protection_release(*, bot: Bot, exchange: Exchange,
                       stops: Iterable[Order] | None = None) -> bool:
    """Cancel the bot's resting stops (`stops`, or all of them) before an exit sells, or to
    replace them; True when none of them can fill any more. Fills found on the way are
    recorded, so the position re-read afterwards is what is left to sell."""
    if stops is None:
        stops = list(selectors.order_resting_stops_for_bot(bot=bot))
    released = True
    for stop in stops:
        try:
            released = not orders.order_cancel(bot=bot, order=stop,
                                               exchange=exchange).is_pending and released
        except ExchangeError as exc:
            logger.warning("cancel of stop %s failed: %s", stop.client_order_id, exc)
            released = False
    return released


def _sellable(position: Position | None, step: Decimal) -> Decimal:
    """What of the position the exchange can sell: whole lots (the dust below one stays)."""
    return round_down_to_step(position.amount, step) if position is not None else Decimal(0)


def _covers(stop: Order, amount: Decimal, level: Decimal | None) -> bool:
    """Whether `stop` sells exactly `amount` at `level` (a stop partly filled still covers
    what is left of the position)."""
    return level is not None and stop.stop_price == level and stop.amount - stop.filled == amount


def _place(bot: Bot, exchange: Exchange, candle_ts: int, amount: Decimal,
           level: Decimal) -> Order | None:
    entry_ts = selectors.order_last_entry_candle(bot=bot)
    if entry_ts is None:  # a position without a recorded entry order: nothing to key it by
        return None
    earlier = selectors.order_stops_in_series(bot=bot,
                                              series=orders.stop_series(bot.pk, entry_ts))
    if earlier and earlier[-1].status in NOT_RESENT:
        return None  # refused (alerted) or below the market's limits (thought): not resent
    if len(earlier) >= MAX_STOPS_PER_ENTRY:
        return None
    stop, _created = orders.order_stop_intent_create(
        bot=bot, candle_ts=candle_ts, entry_candle_ts=entry_ts, attempt=len(earlier),
        amount=amount, stop_price=level,
        price=(level * STOP_LIMIT_RATIO).quantize(PRICE_STEP, rounding=ROUND_DOWN))
    stop = orders.order_submit(bot=bot, order=stop, exchange=exchange)
    return stop if stop.is_pending else None


def stop_protection_get(*, bot: Bot) -> StopProtection:
    """Where the bot's stop loss is watched now, in words a customer can act on."""
    if not stops_rest_at_exchange(account=bot.account):
        why = ("paper account" if bot.account.mode == TradingMode.PAPER
               else f"{bot.account.exchange_id} takes no stop orders from the platform")
        return StopProtection("platform", (
            f"Stop loss watched by the platform, not resting at the exchange ({why}): the "
            f"bot's ticks check it against the market, so it does not act while the platform "
            f"is down."))
    stop = selectors.order_resting_stops_for_bot(bot=bot).last()
    if stop is not None:
        return StopProtection("exchange", (
            f"Stop loss resting at {bot.account.exchange_id}: sells "
            f"{(stop.amount - stop.filled).normalize():f} {bot.base_currency} if the price "
            f"trades at {stop.stop_price.normalize():f} {bot.quote_currency} or lower, also "
            f"while the platform is down."), stop)
    return StopProtection("exchange", _no_stop_now(bot))


def _no_stop_now(bot: Bot) -> str:
    try:
        off = not (risk_for(bot.preset, bot.risk).stop_loss_pct or 0.0)
    except ServiceError:  # a preset renamed since the bot was made
        off = False
    if off:
        return "Stop loss is off for this bot; nothing rests at the exchange."
    refused = selectors.order_last_stop_for_bot(bot=bot)
    if refused is not None and refused.status in NOT_RESENT:
        return (f"The last stop could not rest at the exchange ({refused.error}); the "
                f"platform watches the stop loss until the next entry.")
    return (f"After each entry the stop loss rests at {bot.account.exchange_id} as a "
            f"stop-loss-limit order; none rests while the bot is flat.")
