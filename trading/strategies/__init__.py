"""Registered strategies: the one list the API, the bot form, backtests and live ticks share."""
from __future__ import annotations

from typing import Any

from aitrader.errors import ValidationFailed
from trading.strategies.base import Param, Strategy
from trading.strategies.bollinger_breakout import BollingerBreakout
from trading.strategies.dca import Dca
from trading.strategies.grid import Grid
from trading.strategies.rsi_reversion import RsiReversion
from trading.strategies.sma_cross import SmaCross

STRATEGIES: dict[str, type[Strategy]] = {
    strategy.key: strategy
    for strategy in (SmaCross, RsiReversion, BollingerBreakout, Dca, Grid)
}

__all__ = ["STRATEGIES", "Param", "Strategy", "get_strategy", "strategy_list"]


def get_strategy(key: str) -> type[Strategy]:
    """The strategy class registered as `key`; ValidationFailed naming `strategy` otherwise."""
    try:
        return STRATEGIES[key]
    except (KeyError, TypeError):
        known = ", ".join(sorted(STRATEGIES))
        raise ValidationFailed(f"Unknown strategy {key!r}; choose one of: {known}.",
                               field="strategy") from None


def strategy_list() -> list[dict[str, Any]]:
    """Every registered strategy as JSON (key, name, description, parameters), by key."""
    return [STRATEGIES[key].describe() for key in sorted(STRATEGIES)]
