"""Registered strategies: the one list the API, the bot form, backtests and live ticks share."""
from __future__ import annotations

from typing import Any

from trading.core.errors import ValidationFailed
from trading.core.strategies.base import Param, Strategy
from trading.core.strategies.bollinger_breakout import BollingerBreakout
from trading.core.strategies.dca import Dca
from trading.core.strategies.grid import Grid
from trading.core.strategies.ml_signal import MlSignal, SignalUnavailable, StrategyScope
from trading.core.strategies.rsi_reversion import RsiReversion
from trading.core.strategies.sma_cross import SmaCross

STRATEGIES: dict[str, type[Strategy]] = {
    strategy.key: strategy
    for strategy in (SmaCross, RsiReversion, BollingerBreakout, Dca, Grid, MlSignal)
}

__all__ = ["STRATEGIES", "Param", "SignalUnavailable", "Strategy", "StrategyScope",
           "get_strategy", "longest_warmup", "strategy_list"]


def get_strategy(key: str, *, scope: StrategyScope | None = None) -> type[Strategy]:
    """The strategy class registered as `key`; ValidationFailed naming `strategy` otherwise.

    With `scope` (the bot's tenant, symbol and timeframe), ml_signal comes bound to it: it is
    the one strategy that reads tenant data (a model). The others ignore the scope.
    """
    try:
        strategy = STRATEGIES[key]
    except (KeyError, TypeError):
        known = ", ".join(sorted(STRATEGIES))
        raise ValidationFailed(f"Unknown strategy {key!r}; choose one of: {known}.",
                               field="strategy") from None
    if scope is not None and issubclass(strategy, MlSignal):
        return strategy.bound(scope)
    return strategy


def strategy_list() -> list[dict[str, Any]]:
    """Every registered strategy as JSON (key, name, description, parameters), by key."""
    return [STRATEGIES[key].describe() for key in sorted(STRATEGIES)]


def longest_warmup() -> int:
    """The longest warm-up any registered strategy allows within its parameter bounds."""
    return max(strategy.longest_warmup() for strategy in STRATEGIES.values())
