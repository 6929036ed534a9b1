"""Live-order guards: the last check before an order of a live account leaves for the exchange.

A bot may trade only the symbols of its `allowed_symbols` (when the list is not empty), and
one order may be worth at most `max_order_value` (quote currency, when set). The limits are
the customer's own brake against a tampered configuration or a misbehaving strategy: in
December 2022 leaked trade-only keys were used to pump illiquid pairs. A refusal raises
`LiveOrderRefused`, is logged and sends `trading.signals.order_failed`; the caller sends
nothing. Selling what the bot itself holds is never capped by `max_order_value`, so a stop
loss or "close all" can always get the bot out.
"""
from __future__ import annotations

import logging
from decimal import Decimal

from aitrader.errors import ValidationFailed
from trading import selectors
from trading.exchanges.base import Exchange, ExchangeError
from trading.models import Bot, Order, Side, TradingMode
from trading.signals import order_failed

logger = logging.getLogger(__name__)


class LiveOrderRefused(ValidationFailed):
    """A live order broke its bot's allowlist or value cap; nothing was sent."""

    code = "live_order_refused"


class ReplayedMarketData(ValidationFailed):
    """A live account was asked to trade while this server replays sample candles."""

    code = "replayed_market_data"


def require_real_market_data(*, exchange_id: str) -> None:
    """Raise ReplayedMarketData when a live bot on `exchange_id` would trade on replayed
    samples: prices that never happened must never move a customer's money."""
    # Imported here: the factory imports the paper exchange, which imports this module.
    from trading.exchanges.factory import replayed_data_refusal

    refusal = replayed_data_refusal(exchange_id)
    if refusal is not None:
        raise ReplayedMarketData(f"This bot cannot trade live: {refusal}.", field="account_id")


def live_order_check(*, bot: Bot, side: str, amount: Decimal, price: Decimal | None,
                     symbol: str | None = None) -> None:
    """Raise LiveOrderRefused (logged and alerted) unless the order fits the bot's guards.

    `symbol` defaults to the bot's own; `price` is the expected execution price. An order
    the cap applies to cannot be valued without one, so it is refused (fail closed).
    """
    symbol = symbol or bot.symbol
    refusal = (_symbol_refusal(bot, symbol)
               or _value_refusal(bot, side=side, amount=Decimal(amount), price=price))
    if refusal is None:
        return
    logger.warning("live order refused: tenant %s bot %s %s %s %s: %s", bot.tenant_id, bot.pk,
                   side, amount, symbol, refusal)
    # send_robust: a failing alert receiver must not let the order through or mask the refusal.
    order_failed.send_robust(sender=Bot, tenant_id=bot.tenant_id, bot_id=bot.pk,
                             order_id=None, error=refusal)
    raise LiveOrderRefused(refusal)


def live_order_guard(*, bot: Bot, order: Order, exchange: Exchange) -> None:
    """`live_order_check` for an order about to be sent; nothing to check on paper accounts.

    A market order carries no price, so when the cap applies it is valued at the exchange's
    current price (a public read; no order is sent before the check passes).
    """
    if bot.account.mode != TradingMode.LIVE:
        return
    price = order.price
    if (price is None and _symbol_refusal(bot, order.symbol) is None
            and _capped(bot, side=order.side, amount=order.amount)):
        price = _market_price(exchange, order.symbol, order.side)
    live_order_check(bot=bot, side=order.side, amount=order.amount, price=price,
                     symbol=order.symbol)


def _symbol_refusal(bot: Bot, symbol: str) -> str | None:
    allowed = {str(entry).strip().upper() for entry in bot.allowed_symbols or []}
    if symbol.upper() != bot.symbol.upper():
        return f"Bot '{bot.name}' trades {bot.symbol}; an order for {symbol} was refused."
    if allowed and symbol.upper() not in allowed:
        return (f"{symbol} is not in the allowed symbols of bot '{bot.name}' "
                f"({', '.join(sorted(allowed))}); the order was refused.")
    return None


def _value_refusal(bot: Bot, *, side: str, amount: Decimal, price: Decimal | None) -> str | None:
    if not _capped(bot, side=side, amount=amount):
        return None
    if price is None or price <= 0:
        return (f"Bot '{bot.name}' caps orders at {_plain(bot.max_order_value)} "
                f"{bot.quote_currency} but no price was known to value this one; the order "
                f"was refused.")
    value = amount * Decimal(price)
    if value <= bot.max_order_value:
        return None
    return (f"This order is worth {value:.2f} {bot.quote_currency}, above the "
            f"{_plain(bot.max_order_value)} {bot.quote_currency} maximum of bot '{bot.name}'; "
            f"the order was refused.")


def _plain(amount: Decimal) -> str:
    return f"{Decimal(amount).normalize():f}"


def _capped(bot: Bot, *, side: str, amount: Decimal) -> bool:
    """Whether the value cap applies: to every order except a sell of what the bot holds."""
    if bot.max_order_value is None:
        return False
    if side != Side.SELL:
        return True
    position = selectors.position_for_bot(bot=bot)
    return position is None or Decimal(amount) > position.amount


def _market_price(exchange: Exchange, symbol: str, side: str) -> Decimal | None:
    """The price a market order would meet (ask to buy, bid to sell), or None if unknown."""
    try:
        ticker = exchange.fetch_ticker(symbol)
    except ExchangeError as exc:
        logger.warning("no price to value a live %s order on %s: %s", side, symbol, exc)
        return None
    quote = ticker.ask if side == Side.BUY else ticker.bid
    return quote or ticker.last
