"""What a bot does on a closed candle: the risk rules around the strategy's signal.

Pure: plain numbers in, a Decision out, no ORM. The engine gathers the inputs (position,
equity, peaks) and carries the decision out; the backtester applies the same trading.risk
rules in its own loop.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trading import risk
from trading.strategies.presets import RiskSettings


@dataclass(frozen=True)
class MarketView:
    """The newest closed candle and the strategy's signal on it."""

    candle_ts: int
    open: float
    high: float
    low: float
    close: float
    signal: int
    note: str = ""  # why the strategy could not give a signal (held at 0), if so


@dataclass(frozen=True)
class BotView:
    """The bot's state as the engine read it."""

    equity: float
    peak_equity: float
    day_start_equity: float
    position_amount: float
    average_price: float
    entries: int
    entry_limit: int
    fee_rate: float
    slippage: float
    in_cooldown: bool
    open_positions_elsewhere: int


@dataclass(frozen=True)
class Decision:
    """An order to place (side/amount/reason) or none, and the why for the Thought."""

    summary: str
    side: str | None = None
    amount: float = 0.0
    reason: str = ""
    pause_reason: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


def decide(market: MarketView, bot: BotView, settings: RiskSettings) -> Decision:
    """The one decision of a tick: protective exits first, then the drawdown guard, then the
    strategy's exit, then an entry if every protection allows it."""
    holding = bot.position_amount > 0
    if holding:
        protective = _protective_exit(market, bot, settings)
        if protective is not None:
            return protective
    if risk.drawdown_breached(bot.peak_equity, bot.equity, settings.max_drawdown_pct or 0.0):
        return _drawdown_stop(bot, settings, holding)
    if holding and market.signal < 0:
        return Decision("Strategy signalled an exit; selling the position.", side="sell",
                        amount=bot.position_amount, reason="exit")
    if market.signal > 0:
        return _entry(market, bot, settings, holding)
    return Decision("Holding position; no signal." if holding else "No signal; staying flat.")


def _protective_exit(market: MarketView, bot: BotView, settings: RiskSettings) -> Decision | None:
    stop = risk.stop_loss_price(bot.average_price, settings.stop_loss_pct or 0.0)
    target = risk.take_profit_price(bot.average_price, settings.take_profit_pct or 0.0)
    hit, level = risk.protective_exit(market.open, market.high, market.low, stop, target)
    if hit == risk.EXIT_NONE:
        return None
    reason = risk.EXIT_REASONS[hit]
    words = "Stop loss" if hit == risk.EXIT_STOP_LOSS else "Take profit"
    return Decision(f"{words} at {level:.8g} reached (entry {bot.average_price:.8g}); selling.",
                    side="sell", amount=bot.position_amount, reason=reason,
                    data={"level": level})


def _drawdown_stop(bot: BotView, settings: RiskSettings, holding: bool) -> Decision:
    drawdown = risk.drawdown_pct(bot.peak_equity, bot.equity)
    why = (f"max drawdown {settings.max_drawdown_pct:g}% reached "
           f"({drawdown:.2f}% below the peak)")
    if holding:
        return Decision(f"{why[0].upper()}{why[1:]}; closing the position and pausing.",
                        side="sell", amount=bot.position_amount, reason="max_drawdown",
                        pause_reason=why)
    return Decision(f"{why[0].upper()}{why[1:]}; pausing.", pause_reason=why)


def _entry(market: MarketView, bot: BotView, settings: RiskSettings, holding: bool) -> Decision:
    refusal = _entry_refusal(bot, settings, holding)
    if refusal:
        return Decision(f"Entry signal ignored: {refusal}.", data={"refused": refusal})
    stake = settings.stake_fraction / max(1, bot.entry_limit)
    price = market.close * (1.0 + bot.slippage)
    amount = risk.position_units(bot.equity, stake, price, bot.fee_rate)
    if amount <= 0:
        return Decision("Entry signal ignored: no equity left to stake.")
    verb = "Adding to the position" if holding else "Entering long"
    return Decision(f"{verb}: {amount:.8g} at about {market.close:.8g} "
                    f"({stake * 100:.0f}% of equity).", side="buy", amount=amount,
                    reason="entry", data={"stake_fraction": stake})


def _entry_refusal(bot: BotView, settings: RiskSettings, holding: bool) -> str:
    if holding and bot.entries >= bot.entry_limit:
        return f"the position already has its {bot.entry_limit} entr" + \
            ("y" if bot.entry_limit == 1 else "ies")
    if bot.in_cooldown:
        return "cooling down after a stop loss"
    if risk.daily_loss_breached(bot.day_start_equity, bot.equity,
                                settings.daily_loss_limit_pct or 0.0):
        return f"daily loss limit of {settings.daily_loss_limit_pct:g}% reached"
    if not holding and not risk.can_open_position(bot.open_positions_elsewhere,
                                                  settings.max_open_positions):
        return f"{settings.max_open_positions} positions are open on this account already"
    return ""
