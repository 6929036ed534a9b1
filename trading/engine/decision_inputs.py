"""What a decision sees (trading.core.decisions views of the market and the bot) and what a
Thought keeps of it."""
from __future__ import annotations

from datetime import UTC, datetime

from trading import selectors
from trading.core.decisions import BotView, Decision, MarketView
from trading.core.pnl import marked_equity
from trading.core.strategies import SignalUnavailable
from trading.engine.strategy_signals import _signal, _strategy
from trading.marketdata import MarketSnapshot
from trading.models import Bot
from trading.services import protection


def _market_view(bot: Bot, snapshot: MarketSnapshot, candle_ts: int) -> MarketView:
    closed = snapshot.closed()
    try:
        signal, note = _signal(bot, snapshot, candle_ts), ""
    except SignalUnavailable as exc:  # e.g. a stale or retired model: hold, and say why
        signal, note = 0, exc.message
    return MarketView(candle_ts=candle_ts, open=float(closed.open[-1]),
                      high=float(closed.high[-1]), low=float(closed.low[-1]),
                      close=float(closed.close[-1]), signal=signal, note=note)


def _bot_view(bot: Bot, market: MarketView, position) -> BotView:
    amount = float(position.amount) if position else 0.0
    average = float(position.average_price) if position else 0.0
    equity = marked_equity(capital=float(bot.capital), realized=float(bot.realized_pnl),
                           amount=amount, average_price=average, price=market.close)
    # Dust an exit left below the lot size (entries 0) is held and valued, not acted on.
    held = amount if position and position.entries > 0 else 0.0
    wants_entry = market.signal > 0
    return BotView(
        equity=equity,
        peak_equity=max(float(bot.peak_equity or 0), equity),
        day_start_equity=(selectors.equity_at_day_start(bot=bot, candle_ts=market.candle_ts)
                          if wants_entry else equity),
        position_amount=held, average_price=average,
        entries=position.entries if held > 0 else 0,
        entry_limit=_strategy(bot).entry_limit(bot.parameters),
        fee_rate=float(bot.account.taker_fee), slippage=float(bot.account.slippage),
        # An entry decided on candle s+k fills at s+k+1: after a stop in candle s the
        # backtest refuses fills up to s+cooldown, so decisions before s+cooldown.
        in_cooldown=market.candle_ts < (_cooldown_until(bot, wants_entry) or 0),
        open_positions_elsewhere=(selectors.open_position_count_on_account(bot=bot)
                                  if wants_entry and held == 0 else 0),
        cash=float(bot.capital + bot.realized_pnl) - amount * average,
    )


def _cooldown_until(bot: Bot, wants_entry: bool) -> int | None:
    """The end of the bot's stop-loss cooldown: after a stop loss it sold, or after its stop
    resting at the exchange filled (that is read only when the bot wants to enter)."""
    until = bot.cooldown_until_ts
    if wants_entry and protection.stops_rest_at_exchange(account=bot.account):
        until = max(until or 0, protection.stop_cooldown_until(bot=bot) or 0) or None
    return until


def _thought_data(market: MarketView, view: BotView, decision: Decision, order) -> dict:
    data = {"candle": {"ts": market.candle_ts, "time": _iso(market.candle_ts),
                       "open": market.open, "high": market.high, "low": market.low,
                       "close": market.close},
            "signal": market.signal, "equity": round(view.equity, 8),
            "position": view.position_amount, **decision.data}
    if market.note:
        data["strategy_note"] = market.note
    if order is not None:
        data["order"] = {"client_order_id": order.client_order_id, "status": order.status,
                         "error": order.error}
    return data


def _iso(timestamp_ms: int) -> str:
    return datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC).isoformat()
