"""What a tick reads of the market: the shared candles, the forming bar, the exchange."""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import replace

from trading.core.candles import Candles
from trading.core.decisions import PriceBar
from trading.core.strategies import SignalUnavailable
from trading.core.timeframes import timeframe_ms
from trading.engine.batch import _interval
from trading.engine.strategy_signals import _strategy
from trading.exchanges.base import Exchange
from trading.exchanges.factory import exchange_for, market_source
from trading.marketdata import MarketSnapshot, get_newest_price, get_snapshot
from trading.models import Bot


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


def _newest(closed: Candles) -> int | None:
    return int(closed.timestamp[-1]) if len(closed) else None


def _price_bars(candles: Candles) -> tuple[PriceBar, ...]:
    return tuple(PriceBar(int(ts), float(o), float(h), float(lo)) for ts, o, h, lo in zip(
        candles.timestamp, candles.open, candles.high, candles.low, strict=True))
