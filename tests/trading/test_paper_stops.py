"""Paper stops and targets fill like the backtester's: at their level inside the candle that
touched them (at the open when the candle gaps through), not one candle late at the next open.

Driven through the real tick path on the paper exchange; the backtester's reference loop over
the same candles is the yardstick.
"""
from __future__ import annotations

import math
from decimal import Decimal

import pytest

from tests.trading.conftest import make_paper_bot
from tests.trading.stops import (
    SLIPPAGE,
    calm,
    decimal,
    force_signal,
    holding_bot,
    scripted,  # noqa: F401 (the fixture the tests below use)
    scripted_bot,
    shape_candle,
    tick,
)
from trading.core import risk
from trading.core.backtest.config import BacktestConfig
from trading.core.backtest.reference import simulate_reference
from trading.exchanges.base import InvalidOrder
from trading.exchanges.factory import exchange_for
from trading.exchanges.paper_fills import Bar, FillConfig, simulate_trigger_fill
from trading.models import Fill, Order, Position, Trade
from trading.services import orders


def _backtest(bot, market, first: int, last: int, *, closed_only: bool = True):
    """The backtester's trades (closed ones, or all) from its reference loop over
    candles[first:last] with the bot's settings, on the signals a tick sees (the strategy over
    every candle closed so far)."""
    config = BacktestConfig(strategy=bot.strategy, params=bot.parameters, preset=bot.preset,
                            risk=bot.risk, cash=float(bot.capital),
                            fee=float(bot.account.taker_fee),
                            slippage=float(bot.account.slippage)).resolve()
    signals = config.strategy.signals(market.candles, config.params)
    trades = simulate_reference(market.candles[first:last], signals[first:last],
                                config.simulation()).trades
    return trades.closed() if closed_only else trades


def _trades(bot) -> list[tuple[int, int, str]]:
    """(entry candle, exit candle, reason) of the bot's closed trades."""
    return [(int(trade.entry_time.timestamp() * 1000), int(trade.exit_time.timestamp() * 1000),
             trade.exit_reason)
            for trade in Trade.objects.filter(bot=bot, status="closed").order_by("entry_time")]


@pytest.mark.usefixtures("scripted")
def test_the_cooldown_after_a_stop_refuses_the_entries_the_backtester_refuses(world, market):
    bot = scripted_bot(world, name="cool", stop_pct=1.0, target_pct=50.0, cooldown=2)
    first = market.cursor
    entry = first + 2  # decided on first + 1, filled at the open of first + 2
    force_signal(market, first + 1, 1)
    stop = entry + 1
    price = float(market.candles.open[entry])
    for index in range(first, first + 12):
        calm(market, index, price)
    shape_candle(market, stop, low=price * 0.98)
    for index in range(stop, stop + 5):  # entry signals on the stop candle and after it
        force_signal(market, index, 1)
    tick(bot, market, 11)

    expected = _backtest(bot, market, first, market.cursor, closed_only=False)
    stamps = market.candles.timestamp[first:]
    # No entry fills on stop + 1 and stop + 2 (decided on stop, stop + 1); stop + 3 may.
    assert [int(stamps[int(index)]) for index in expected.entry_index] == [
        int(market.candles.timestamp[entry]), int(market.candles.timestamp[stop + 3])]
    buys = Fill.objects.filter(bot=bot, side="buy").order_by("timestamp_ms")
    assert [fill.timestamp_ms for fill in buys] == [int(stamps[int(index)])
                                                   for index in expected.entry_index]
    assert _trades(bot) == [(int(market.candles.timestamp[entry]),
                             int(market.candles.timestamp[stop]), "stop_loss")]


def test_a_paper_bot_and_the_backtester_exit_at_the_same_prices_with_stop_losses(
        world, market):
    # A tight stop and target on the aggressive preset: dozens of protective exits.
    bot = make_paper_bot(world.tenant_a, risk={"stop_loss_pct": 0.15, "take_profit_pct": 0.2,
                                               "max_drawdown_pct": None,
                                               "daily_loss_limit_pct": None})
    first = market.cursor  # the first tick decides on candle cursor - 1 + 1
    tick(bot, market, 500)
    expected = _backtest(bot, market, first, market.cursor)

    trades = list(Trade.objects.filter(bot=bot, status="closed").order_by("entry_time"))
    # The backtest calls a strategy exit "signal", the engine's order reason is "exit".
    reasons = [risk.EXIT_REASONS[int(code)].replace("signal", "exit")
               for code in expected.reason]
    assert reasons.count("stop_loss") >= 10 and reasons.count("take_profit") >= 2
    assert [trade.exit_reason for trade in trades] == reasons
    offset = first
    for trade, exit_index, exit_price in zip(trades, expected.exit_index, expected.exit_price,
                                             strict=True):
        stamp = int(market.candles.timestamp[offset + int(exit_index)])
        assert int(trade.exit_time.timestamp() * 1000) == stamp
        assert math.isclose(float(trade.exit_price), float(exit_price), rel_tol=1e-9)


@pytest.mark.usefixtures("scripted")
@pytest.mark.parametrize(("case", "expected_reason"), [
    ("touched", "stop_loss"), ("gapped", "stop_loss"), ("target", "take_profit")])
def test_a_protective_exit_fills_inside_the_candle_that_touched_it(
        world, market, case, expected_reason):
    bot, entry = holding_bot(world, market, stop_pct=1.0, target_pct=2.0)
    stop, target = entry * Decimal("0.99"), entry * Decimal("1.02")
    touch = market.cursor + 1  # the candle after the entry candle
    if case == "touched":
        shape_candle(market, touch, open_=float(entry), close=float(entry) * 0.995,
                     high=float(entry) * 1.001, low=float(stop) * 0.998)
    elif case == "gapped":
        shape_candle(market, touch, open_=float(stop) * 0.99, close=float(stop) * 0.985,
                     high=float(stop) * 0.995, low=float(stop) * 0.98)
    else:
        shape_candle(market, touch, open_=float(entry), close=float(entry) * 1.01,
                     high=float(target) * 1.002, low=float(entry) * 0.999)
    calm(market, touch + 1, float(market.candles.close[touch]))
    tick(bot, market, 3)  # the entry candle closes, the touching candle closes, one more

    sell = Order.objects.get(bot=bot, side="sell")
    fill = Fill.objects.get(order=sell)
    assert (sell.reason, sell.candle_ts) == (expected_reason,
                                             int(market.candles.timestamp[touch]))
    assert fill.timestamp_ms == int(market.candles.timestamp[touch])
    level = {"touched": stop, "gapped": decimal(market.candles.open[touch]),
             "target": target}[case]
    assert abs(fill.price - level * (1 - SLIPPAGE)) <= level * Decimal("1e-12")
    assert Position.objects.get(bot=bot).amount == 0
    assert Trade.objects.get(bot=bot).exit_reason == expected_reason


@pytest.mark.usefixtures("scripted")
def test_a_protective_exit_is_recorded_once_however_often_it_is_synced(world, market):
    bot, entry = holding_bot(world, market)
    touch = market.cursor + 1
    shape_candle(market, touch, open_=float(entry), low=float(entry) * 0.98,
                 close=float(entry) * 0.985)
    tick(bot, market, 2)
    sell = Order.objects.get(bot=bot, side="sell")
    exchange = exchange_for(bot.account, market.candles[:market.cursor])
    for _ in range(3):  # a redelivered task, reconciliation, a restarted worker
        orders.order_sync(bot=bot, order=sell, exchange=exchange)
    assert Fill.objects.filter(order=sell).count() == 1
    assert Position.objects.get(bot=bot).amount == 0


# --- The fill rule itself (trading.exchanges.paper_fills.simulate_trigger_fill) -----------

CONFIG = FillConfig(slippage=Decimal("0.001"), maker_fee=Decimal("0.0002"),
                    taker_fee=Decimal("0.001"), max_volume_fraction=Decimal("0.1"))
BAR = Bar(Decimal("100"), Decimal("105"), Decimal("95"), Decimal("102"), Decimal("1000"))


def _trigger(level: str, kind: str, *, side: str = "sell", amount: str = "1", bar: Bar = BAR):
    return simulate_trigger_fill(side=side, amount=Decimal(amount),
                                 trigger_price=Decimal(level), kind=kind, bar=bar,
                                 config=CONFIG)


def test_a_touched_stop_fills_at_its_level_less_slippage_as_a_taker():
    result = _trigger("97", "stop")
    assert (result.filled, result.average, result.is_maker) == (
        Decimal("1"), Decimal("97") * Decimal("0.999"), False)
    assert result.fee == Decimal("0.001") * result.average


def test_a_stop_the_candle_opened_below_fills_at_the_open():
    assert _trigger("101", "stop").average == Decimal("100") * Decimal("0.999")


def test_a_target_fills_at_its_level_or_at_an_open_above_it():
    assert _trigger("104", "target").average == Decimal("104") * Decimal("0.999")
    assert _trigger("99", "target").average == Decimal("100") * Decimal("0.999")


def test_an_untouched_level_fills_nothing():
    for level, kind in (("94.99", "stop"), ("105.01", "target")):
        result = _trigger(level, kind)
        assert (result.filled, result.average, result.remaining) == (0, None, Decimal("1"))


def test_a_buy_mirrors_the_levels_and_the_volume_cap_holds():
    assert _trigger("104", "stop", side="buy").average == Decimal("104") * Decimal("1.001")
    assert _trigger("96", "target", side="buy").average == Decimal("96") * Decimal("1.001")
    partial = _trigger("97", "stop", amount="150")
    assert (partial.filled, partial.remaining) == (Decimal("100.0"), Decimal("50.0"))


def test_a_trigger_is_a_stop_or_a_target():
    with pytest.raises(InvalidOrder):
        _trigger("97", "trailing")
