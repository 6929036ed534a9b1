"""A bot's profit and loss, in one place for every surface (pages, API, Telegram, the engine).

A bot's P&L is its equity (cash plus its position at the latest mark) less the capital it
started with; before its first equity snapshot it has none. A position's open P&L is its
value at the mark less what it cost.
"""
from __future__ import annotations

from decimal import Decimal


def bot_pnl(*, capital: Decimal, equity: Decimal | None) -> Decimal | None:
    """Equity less starting capital; None while the bot has no equity yet."""
    return None if equity is None else equity - capital


def open_pnl(*, amount: Decimal, average_price: Decimal,
             position_value: Decimal | None) -> Decimal | None:
    """A held position's value at the mark less its cost; None when flat or never marked."""
    if amount <= 0 or position_value is None:
        return None
    return position_value - amount * average_price


def marked_equity(*, capital: float, realized: float, amount: float, average_price: float,
                  price: float) -> float:
    """The engine's running equity (floats, as its risk rules use): capital and realized P&L
    plus the open position marked at `price`."""
    return capital + realized + amount * (price - average_price)
