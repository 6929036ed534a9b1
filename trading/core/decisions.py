"""What a bot does on a closed candle: the risk rules around the strategy's signal.

Pure: plain numbers in, a Decision out, no ORM. The engine gathers the inputs (position,
equity, peaks) and carries the decision out; the backtester applies the same trading.core.risk
rules in its own loop. Two more entry points: `protect` holds the stop and target against
any candle (the engine also calls it on the forming one, between closes), and `catch_up`
decides a late tick that found several candles closed while no tick ran.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from trading.core import risk
from trading.core.display import amount_text, price_text
from trading.core.strategies.presets import RiskSettings


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
class PriceBar:
    """One candle's prices as a stop or target is checked against them: a closed candle, or
    the one still forming (its high and low so far, the newest price the platform has)."""

    ts: int
    open: float
    high: float
    low: float


@dataclass(frozen=True)
class MissedCandles:
    """The candles that closed while no tick ran (a late tick), oldest first, capped.

    `closed_count` is how many closed since the bot's last tick, before the cap; `signals`
    holds the strategy's signal on each of `bars`; the stop and target count only from
    `held_from_ts` on (the candle the position's first fill happened in).
    """

    closed_count: int
    bars: tuple[PriceBar, ...]
    signals: tuple[int, ...]
    held_from_ts: int | None = None


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
    # The bot's capital not in its position (capital + realized P&L - the position's cost):
    # an entry never spends more, the backtest's rule (risk.affordable_units).
    cash: float = float("inf")


@dataclass(frozen=True)
class Decision:
    """An order to place (side/amount/reason) or none, and the why for the Thought."""

    summary: str
    side: str | None = None
    amount: float = 0.0
    reason: str = ""
    pause_reason: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    # A protective exit the platform watched: the stop or target level that was touched and
    # the candle it was checked against (the paper exchange fills the sale there).
    trigger: float | None = None
    checked_ts: int | None = None


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
    return protect(PriceBar(market.candle_ts, market.open, market.high, market.low), bot,
                   settings)


def protect(bar: PriceBar, bot: BotView, settings: RiskSettings) -> Decision | None:
    """The sale of the position when `bar` touched its stop loss or take profit, else None.

    The rule of trading.core.risk.protective_exit (stop first when both lie inside the candle):
    the decision carries the touched level and the candle, so the sale fills at the level, or
    at the open when the candle opened beyond it.
    """
    if bot.position_amount <= 0:
        return None
    hit, quote, trigger = _touched(bar, bot, settings)
    if hit == risk.EXIT_NONE:
        return None
    words = "Stop loss" if hit == risk.EXIT_STOP_LOSS else "Take profit"
    return Decision(f"{words} at {price_text(quote)} reached (entry "
                    f"{price_text(bot.average_price)}); selling.",
                    side="sell", amount=bot.position_amount, reason=risk.EXIT_REASONS[hit],
                    data={"level": quote, "trigger": trigger}, trigger=trigger,
                    checked_ts=bar.ts)


def _touched(bar: PriceBar, bot: BotView, settings: RiskSettings) -> tuple[int, float, float]:
    """(risk.EXIT_*, price before slippage, level) of the position's stop/target on `bar`."""
    stop = risk.stop_loss_price(bot.average_price, settings.stop_loss_pct or 0.0)
    target = risk.take_profit_price(bot.average_price, settings.take_profit_pct or 0.0)
    hit, quote = risk.protective_exit(bar.open, bar.high, bar.low, stop, target)
    return hit, quote, stop if hit == risk.EXIT_STOP_LOSS else target


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
    amount = min(risk.position_units(bot.equity, stake, price, bot.fee_rate),
                 risk.affordable_units(max(bot.cash, 0.0), price, bot.fee_rate))
    if amount <= 0:
        return Decision("Entry signal ignored: no equity left to stake.")
    verb = "Adding to the position" if holding else "Entering long"
    return Decision(f"{verb}: {amount_text(amount)} at about {price_text(market.close)} "
                    f"({stake * 100:.0f}% of equity).", side="buy", amount=amount,
                    reason="entry", data={"stake_fraction": stake})


def manual_entry(market: MarketView, bot: BotView, settings: RiskSettings) -> Decision:
    """A trader's "enter now": the entry a signal on this candle would make, with the same
    refusals (entries per position, cooldown, daily loss limit, open positions) and sizing."""
    decision = _entry(market, bot, settings, bot.position_amount > 0)
    if decision.side is None:
        return Decision(decision.summary.replace("Entry signal ignored", "Manual entry refused"),
                        data=decision.data)
    return Decision(f"By hand: {decision.summary}", side="buy", amount=decision.amount,
                    reason="manual_entry", data=decision.data)


def manual_exit(bot: BotView, fraction: float) -> Decision:
    """A trader's "exit now": sell `fraction` (0-1] of the position at the next price."""
    amount = bot.position_amount * min(max(fraction, 0.0), 1.0)
    if amount <= 0:
        return Decision("Manual exit: nothing held to sell.")
    share = "the position" if fraction >= 1 else f"{fraction * 100:g}% of the position"
    return Decision(f"By hand: selling {share} ({amount_text(amount)}).", side="sell",
                    amount=amount, reason="manual_exit", data={"fraction": fraction})


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


def catch_up(missed: MissedCandles, market: MarketView, bot: BotView,
             settings: RiskSettings) -> Decision:
    """The decision of a late tick, after `missed` candles closed while no tick ran.

    A held position is sold at the next price when a missed candle touched its stop or
    target or the strategy signalled an exit there (the first such event is named). An entry
    signalled on a missed candle is not chased: only the newest candle's signal may enter, as
    on any tick. The summary says what the look-back found.
    """
    gap = _gap_words(missed)
    event = _first_exit(missed, bot, settings) if bot.position_amount > 0 else None
    if event is not None:
        reason, what, data = event
        return Decision(f"{gap}; {what}; selling.", side="sell", amount=bot.position_amount,
                        reason=reason, data={"catch_up": {**_gap_data(missed), **data}})
    decision = decide(market, bot, settings)
    skipped = [bar for bar, signal in zip(missed.bars[:-1], missed.signals[:-1], strict=True)
               if signal > 0]
    found = ("; nothing to act on" if not skipped or decision.side == "buy" else
             f"; an entry signalled at {_time(skipped[-1].ts)} is not chased")
    return replace(decision, summary=f"{gap}{found}. {decision.summary}",
                   data={**decision.data, "catch_up": {
                       **_gap_data(missed), "entries_not_chased": len(skipped)}})


def _first_exit(missed: MissedCandles, bot: BotView,
                settings: RiskSettings) -> tuple[str, str, dict] | None:
    """The first missed event that closes the position: (reason, words, data), else None.

    Within a candle the stop and target come before the strategy's signal on its close, as
    in the backtester."""
    for bar, signal in zip(missed.bars, missed.signals, strict=True):
        if missed.held_from_ts is not None and bar.ts < missed.held_from_ts:
            continue
        hit, _quote, level = _touched(bar, bot, settings)
        if hit != risk.EXIT_NONE:
            words = "a stop" if hit == risk.EXIT_STOP_LOSS else "a take profit"
            return risk.EXIT_REASONS[hit], f"{words} at {price_text(level)} was touched at " \
                f"{_time(bar.ts)}", {"event": risk.EXIT_REASONS[hit], "level": level,
                                      "candle": _time(bar.ts)}
        if signal < 0:
            return "exit", f"the strategy signalled an exit at {_time(bar.ts)}", {
                "event": "exit", "candle": _time(bar.ts)}
    return None


def _gap_words(missed: MissedCandles) -> str:
    words = f"{missed.closed_count} candles closed while no tick ran"
    if len(missed.bars) < missed.closed_count:
        words += f" (looked back over the last {len(missed.bars)})"
    return words


def _gap_data(missed: MissedCandles) -> dict[str, Any]:
    return {"closed": missed.closed_count, "checked": len(missed.bars),
            "from": _time(missed.bars[0].ts), "to": _time(missed.bars[-1].ts)}


def _time(timestamp_ms: int) -> str:
    """A candle's open time for a person: 2024-05-01 12:34 UTC."""
    return datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
