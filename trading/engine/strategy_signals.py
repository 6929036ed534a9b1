"""The strategy's signal on a candle: memoised per feed and candle for every bot that shares it,
or walked on from the bot's saved state for a path-dependent strategy."""
from __future__ import annotations

import json
import threading
from typing import Any

from trading.core.candles import Candles
from trading.core.strategies import SignalUnavailable, Strategy, StrategyScope, get_strategy
from trading.marketdata import MarketSnapshot, feed_key
from trading.models import Bot

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
