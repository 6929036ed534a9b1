"""Risk rules shared by the backtester and the live engine: sizing, SL/TP, protections.

Every function is a small pure function of plain numbers (no ORM, no settings objects), so the
backtest's compiled fill loop compiles these very functions and a live tick calls them as they
are: one rule, written once. Percent arguments are in percent (3.0 = 3 %), and 0 switches the
rule off; callers holding a `RiskSettings` pass `settings.stop_loss_pct or 0.0`.
"""
from __future__ import annotations

import math

# Why a position was closed; the report and the live Trade row use the names.
EXIT_NONE = 0
EXIT_SIGNAL = 1
EXIT_STOP_LOSS = 2
EXIT_TAKE_PROFIT = 3
EXIT_MAX_DRAWDOWN = 4
EXIT_REASONS = {EXIT_SIGNAL: "signal", EXIT_STOP_LOSS: "stop_loss",
                EXIT_TAKE_PROFIT: "take_profit", EXIT_MAX_DRAWDOWN: "max_drawdown"}


def position_units(equity: float, stake_fraction: float, price: float, fee_rate: float) -> float:
    """Units to buy so that cost plus entry fee is `stake_fraction` of equity.

    units = equity * stake / (price * (1 + fee)): the fee is inside the stake, so a full stake
    never drives cash below zero.
    """
    return equity * stake_fraction / (price * (1.0 + fee_rate))


def affordable_units(cash: float, price: float, fee_rate: float) -> float:
    """The most units `cash` pays for, fee included (caps later DCA entries)."""
    return cash / (price * (1.0 + fee_rate))


def stop_loss_price(average_entry: float, stop_loss_pct: float) -> float:
    """Price at which the stop loss fires; -inf when stop_loss_pct is 0 (off)."""
    if stop_loss_pct <= 0.0:
        return -math.inf
    return average_entry * (1.0 - stop_loss_pct / 100.0)


def take_profit_price(average_entry: float, take_profit_pct: float) -> float:
    """Price at which the take profit fires; +inf when take_profit_pct is 0 (off)."""
    if take_profit_pct <= 0.0:
        return math.inf
    return average_entry * (1.0 + take_profit_pct / 100.0)


def protective_exit(open_price: float, high: float, low: float, stop_price: float,
                    target_price: float) -> tuple[int, float]:
    """Whether a candle hits the stop loss or take profit, and the fill price before slippage.

    Returns (EXIT_STOP_LOSS | EXIT_TAKE_PROFIT | EXIT_NONE, price). When both levels lie
    inside one candle, the order of high and low is unknown: the stop loss is assumed first,
    the conservative answer. A candle that opens beyond a level fills at its open (a gap).
    """
    if low <= stop_price:
        return EXIT_STOP_LOSS, min(open_price, stop_price)
    if high >= target_price:
        return EXIT_TAKE_PROFIT, max(open_price, target_price)
    return EXIT_NONE, 0.0


def drawdown_pct(peak_equity: float, equity: float) -> float:
    """How far equity is below its peak, in percent (0 at a new peak)."""
    if peak_equity <= 0.0:
        return 0.0
    return (1.0 - equity / peak_equity) * 100.0


def drawdown_breached(peak_equity: float, equity: float, max_drawdown_pct: float) -> bool:
    """True when equity has fallen max_drawdown_pct or more below its peak (0: never)."""
    return max_drawdown_pct > 0.0 and equity <= peak_equity * (1.0 - max_drawdown_pct / 100.0)


def daily_loss_breached(day_start_equity: float, equity: float,
                        daily_loss_limit_pct: float) -> bool:
    """True when today's loss from the day's opening equity reaches the limit (0: never).

    The day is the UTC day; its opening equity is the equity at the previous day's last close.
    A breach blocks new entries until the next UTC day; open positions keep their exits.
    """
    return (daily_loss_limit_pct > 0.0
            and equity <= day_start_equity * (1.0 - daily_loss_limit_pct / 100.0))


def cooldown_active(candle_index: int, stop_loss_index: int, cooldown_candles: int) -> bool:
    """Stop-loss guard: True while an entry at `candle_index` is too soon after a stop loss.

    After a stop loss during candle s, entries are refused on candles s+1 .. s+cooldown, so a
    bot does not buy straight back into the move that just stopped it out. stop_loss_index < 0
    means no stop loss yet.
    """
    return stop_loss_index >= 0 and candle_index <= stop_loss_index + cooldown_candles


def can_open_position(open_positions: int, max_open_positions: int) -> bool:
    """True when a bot holding `open_positions` positions may open another one."""
    return open_positions < max_open_positions
